//! The steady-state step allocates nothing: `allocation-counter`'s counting allocator around 200 steps of a
//! batch with every collision system, on-target mode and observation type (with pogema's
//! `avg_agents_density` metric on for the POMAPF batch).

use rmapf_env::{CollisionSystem, EnvConfig, ObservationType, OnTarget, PathPlanner, Simulator};

#[test]
fn steady_state_steps_allocate_nothing() {
    let cases = [
        (ObservationType::Default, PathPlanner::Shortest),
        (ObservationType::Pomapf, PathPlanner::Shortest),
        (ObservationType::Mapf, PathPlanner::Shortest),
        (ObservationType::Follower, PathPlanner::Shortest),
        (ObservationType::Follower, PathPlanner::Follower),
        (ObservationType::FollowerIntents, PathPlanner::Follower),
        (ObservationType::FollowerPriorities, PathPlanner::Follower),
    ];
    for (obs, path_planner) in cases {
        let configs: Vec<EnvConfig> = (0..9u64)
            .map(|k| EnvConfig {
                seed: Some(k),
                size: 24,
                density: 0.2,
                num_agents: Some(40),
                max_episode_steps: 100_000,
                on_target: [OnTarget::Finish, OnTarget::Nothing, OnTarget::Restart][k as usize % 3],
                collision_system: [
                    CollisionSystem::Priority,
                    CollisionSystem::BlockBoth,
                    CollisionSystem::Soft,
                ][(k / 3) as usize],
                observation_type: obs,
                path_planner,
                ..Default::default()
            })
            .collect();
        let mut sim = Simulator::new(&configs).unwrap();
        sim.set_density_metric(obs == ObservationType::Pomapf);
        let mut b = sim.new_buffers();
        sim.reset(&mut b).unwrap();
        let mut state = 1u64;
        let mut step = |sim: &mut Simulator, b: &mut rmapf_env::StepBuffers| {
            rmapf_env::rng::lcg_actions(&mut state, &mut b.actions);
            sim.step(b).unwrap();
        };
        for _ in 0..50 {
            step(&mut sim, &mut b); // warm-up: scratch lists reach their working size
        }
        let info = allocation_counter::measure(|| {
            for _ in 0..200 {
                step(&mut sim, &mut b);
            }
        });
        let during = info.count_total;
        assert_eq!(
            during, 0,
            "{during} allocations in 200 steady-state steps with {obs:?} observations ({path_planner:?} paths)"
        );
    }
}
