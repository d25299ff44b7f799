//! Follower's paths as the planners see them ([`FollowerPaths`]) are the paths the env draws into
//! each agent's follower observation: same planner, same costs, the same agents counted step by
//! step. `pibt-follower` relies on it, since it is an expert for policies that read those paths.

use rmapf_agents::planners::{FollowerPaths, Pibt};
use rmapf_agents::{EpisodeView, Policy};
use rmapf_env::{
    CollisionSystem, EnvConfig, MapSpec, ObservationType, OnTarget, PathPlanner, RewardKind,
    Simulator,
};

#[test]
fn every_next_cell_lies_on_the_path_the_observation_draws() {
    // A 16×16 room with wall stubs, 40 agents with lifelong goals: crowded enough that the
    // planner's dynamic counts bend paths, moved by pibt-follower (which keeps its own paths).
    let row = |k: usize| -> String {
        (0..16)
            .map(|c| if k % 4 == 2 && c % 5 != 0 { '#' } else { '.' })
            .collect()
    };
    let map = (0..16).map(row).collect::<Vec<_>>().join("\n");
    let radius = 5;
    let config = EnvConfig {
        map: Some(MapSpec::Text(map)),
        num_agents: Some(40),
        seed: Some(7),
        obs_radius: radius as i64,
        on_target: OnTarget::Restart,
        collision_system: CollisionSystem::Soft,
        observation_type: ObservationType::Follower,
        path_planner: PathPlanner::Follower,
        reward: RewardKind::FollowerLifelong,
        max_episode_steps: 96,
        ..Default::default()
    };
    let mut sim = Simulator::new(&[config]).unwrap();
    let mut b = sim.new_buffers();
    sim.reset(&mut b).unwrap();
    let mut actor = Pibt::with_follower_paths(false, PathPlanner::Follower);
    let mut paths = FollowerPaths::new(PathPlanner::Follower);
    let (side, mut next) = (2 * radius + 1, Vec::new());
    let plane = 3 * side * side;
    let (mut checked, mut moved) = (0, 0);
    while !b.episode_done[0] {
        let views = EpisodeView::all(&sim);
        let stride = views[0].stride as i64;
        paths.next_cells(0, &views[0], &b, radius, &mut next);
        for (a, &cell) in next.iter().enumerate() {
            if cell == u32::MAX {
                continue;
            }
            let [x, y] = [b.global_xy[2 * a], b.global_xy[2 * a + 1]].map(i64::from);
            let [nx, ny] = [i64::from(cell) / stride, i64::from(cell) % stride];
            assert_eq!(
                (nx - x).abs() + (ny - y).abs(),
                1,
                "agent {a}: not a neighbour"
            );
            let r = radius as i64;
            let at = ((nx - x + r) * side as i64 + ny - y + r) as usize;
            if b.obs[a * plane + at] != 1 {
                for row in b.obs[a * plane..a * plane + side * side].chunks(side) {
                    eprintln!("{:?}", row.iter().map(|&v| v as i8).collect::<Vec<_>>());
                }
                eprintln!(
                    "agent {a} pos {x},{y} next {nx},{ny} goal {:?}",
                    &b.global_target_xy[2 * a..2 * a + 2]
                );
            }
            assert_eq!(
                b.obs[a * plane + at],
                1,
                "agent {a} at step {}: its next cell is not on its drawn path",
                views[0].elapsed
            );
            checked += 1;
        }
        let mut actions = vec![0u8; next.len()];
        actor.act(&views, &b, radius, &mut actions);
        moved += actions.iter().filter(|&&a| a != 0).count();
        b.actions.copy_from_slice(&actions);
        sim.step(&mut b).unwrap();
    }
    assert!(
        checked > 2000 && moved > 1000,
        "{checked} checked, {moved} moves"
    );
}
