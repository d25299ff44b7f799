//! The follower observation (obstacles −1, planned path +1, agents, other agents' goals) and the
//! SRMT reward variants.

use rmapf_env::{
    CollisionSystem, Env, EnvConfig, EnvError, MapSpec, ObservationType, OnTarget, PathPlanner,
    RewardKind, TargetsSpec,
};

fn config(reward: RewardKind) -> EnvConfig {
    EnvConfig {
        map: Some(MapSpec::Text(".....\n.###.\n.....".into())),
        agents_xy: Some(vec![[0, 0], [2, 2]]),
        targets_xy: Some(TargetsSpec::Single(vec![[2, 4], [0, 2]])),
        obs_radius: 2,
        observation_type: ObservationType::Follower,
        reward,
        ..Default::default()
    }
}

/// Agent `i`'s plane `c` as i8 rows.
fn plane(env: &Env, i: usize, c: usize) -> Vec<Vec<i8>> {
    let area = 25;
    let start = i * 3 * area + c * area;
    env.buffers.obs[start..start + area]
        .chunks(5)
        .map(|r| r.iter().map(|&v| v as i8).collect())
        .collect()
}

#[test]
fn path_obstacles_agents_and_goals_channels() {
    let mut env = Env::new(&config(RewardKind::Pogema)).unwrap();
    env.reset().unwrap();
    // Agent 0 at (0, 0): ring above and to the left (−1), walls at (1, 1) and (1, 2) (−1), and its
    // path to (2, 4) going right first (+1) until it leaves the window.
    assert_eq!(
        plane(&env, 0, 0),
        vec![
            vec![0, 0, 0, 0, 0],
            vec![0, -1, -1, -1, -1],
            vec![0, -1, 1, 1, 1],
            vec![0, -1, 0, -1, -1],
            vec![0, -1, 0, 0, 0]
        ]
    );
    // Agents channel: itself at the centre; agent 1 at (2, 2) is in view at (+2, +2).
    assert_eq!(plane(&env, 0, 1)[2][2], 1);
    assert_eq!(plane(&env, 0, 1)[4][4], 1);
    // Goals channel: agent 1's goal (0, 2) is in view at (0, +2); its own goal (2, 4) is out of view.
    let goals = plane(&env, 0, 2);
    assert_eq!(goals[2][4], 1);
    assert_eq!(goals.iter().flatten().filter(|&&v| v != 0).count(), 1);
    // Agent 1 sees agent 0's goal (2, 4) but not its own (0, 2).
    let goals1 = plane(&env, 1, 2);
    assert_eq!((goals1[2][4], goals1[0][2]), (1, 0));
}

#[test]
fn intents_plane_counts_the_other_agents_next_path_cells() {
    let mut plain = Env::new(&config(RewardKind::Pogema)).unwrap();
    let mut with_intents = Env::new(&EnvConfig {
        observation_type: ObservationType::FollowerIntents,
        ..config(RewardKind::Pogema)
    })
    .unwrap();
    plain.reset().unwrap();
    with_intents.reset().unwrap();
    let (area, n) = (25, 2);
    assert_eq!(with_intents.buffers.obs.len(), n * 4 * area);
    // The first three planes are the follower observation's.
    for i in 0..n {
        assert_eq!(
            with_intents.buffers.obs[i * 4 * area..(i * 4 + 3) * area],
            plain.buffers.obs[i * 3 * area..(i + 1) * 3 * area]
        );
    }
    // Agent 0 at (0, 0) heads right along the top row: (0, 1), (0, 2), (0, 3). Agent 1 at
    // (2, 2) sees them at window row 0, columns 1-3, and not its own next cells (2, 3), (2, 4),
    // (1, 4) (its path to (0, 2) goes right first).
    let seen = intents(&with_intents, 1);
    assert_eq!(seen[0], vec![0, 1, 1, 1, 0]);
    assert_eq!(seen.iter().flatten().map(|&v| u32::from(v)).sum::<u32>(), 3);
    // Agent 1's next cells lie outside agent 0's window (columns 3 and 4 of the map).
    assert!(intents(&with_intents, 0).iter().flatten().all(|&v| v == 0));
    // Both step right. Agent 0 at (0, 1) intends (0, 2), (0, 3), (0, 4); agent 1 at (2, 3)
    // intends (2, 4), (1, 4), (0, 4). Agent 1 sees agent 0's cells at window row 0, columns
    // 1-3 (the shared (0, 4) counts once: its own share is left out); agent 0 sees none of
    // agent 1's (column 4 is out of its view).
    with_intents.step(&[4, 4]).unwrap();
    assert_eq!(intents(&with_intents, 1)[0], vec![0, 1, 1, 1, 0]);
    assert!(intents(&with_intents, 0).iter().flatten().all(|&v| v == 0));
}

#[test]
fn priorities_plane_marks_the_neighbours_that_held_their_goal_longer() {
    let config = |observation_type| EnvConfig {
        targets_xy: Some(TargetsSpec::Sequences(vec![
            vec![[0, 1], [2, 0]],
            vec![[0, 4], [2, 2]],
        ])),
        on_target: OnTarget::Restart,
        observation_type,
        ..config(RewardKind::Pogema)
    };
    let mut with_intents = Env::new(&config(ObservationType::FollowerIntents)).unwrap();
    let mut env = Env::new(&config(ObservationType::FollowerPriorities)).unwrap();
    with_intents.reset().unwrap();
    env.reset().unwrap();
    let (area, n) = (25, 2);
    assert_eq!(env.buffers.obs.len(), n * 5 * area);
    let check_first_four = |env: &Env, with_intents: &Env| {
        for i in 0..n {
            assert_eq!(
                env.buffers.obs[i * 5 * area..(i * 5 + 4) * area],
                with_intents.buffers.obs[i * 4 * area..(i + 1) * 4 * area]
            );
        }
    };
    check_first_four(&env, &with_intents);
    // Both hold their first goal for 0 steps: the lower index (agent 0) outranks. Agent 1 at
    // (2, 2) sees agent 0 at (-2, -2); agent 0 sees nobody above it (its own cell is 0).
    let marked = |env: &Env, i: usize| -> Vec<(usize, usize)> {
        let start = (i * 5 + 4) * area;
        let plane = &env.buffers.obs[start..start + area];
        assert!(plane.iter().all(|&v| v <= 1));
        (0..area)
            .filter(|&k| plane[k] == 1)
            .map(|k| (k / 5, k % 5))
            .collect()
    };
    assert_eq!(marked(&env, 1), vec![(0, 0)]);
    assert_eq!(marked(&env, 0), vec![]);
    // Agent 0 steps onto its goal (0, 1) and gets a new one (age 0), agent 1 waits and has held
    // its goal for one step: now agent 1 outranks. Agent 0 sees it at (+2, +1).
    env.step(&[4, 0]).unwrap();
    with_intents.step(&[4, 0]).unwrap();
    check_first_four(&env, &with_intents);
    assert_eq!(env.snapshot().goals[0], [2, 0]);
    assert_eq!(marked(&env, 0), vec![(4, 3)]);
    assert_eq!(marked(&env, 1), vec![]);
    // A reset starts every age again: agent 0 outranks as at the first step.
    env.reset().unwrap();
    assert_eq!(marked(&env, 1), vec![(0, 0)]);
}

/// Agent `i`'s intents plane (the fourth of a `follower_intents` observation, r = 2) as rows.
fn intents(env: &Env, i: usize) -> Vec<Vec<u8>> {
    let area = 25;
    let start = (i * 4 + 3) * area;
    env.buffers.obs[start..start + area]
        .chunks(5)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn directional_reward_pays_for_following_the_path_and_arriving() {
    let mut env = Env::new(&config(RewardKind::Directional)).unwrap();
    env.reset().unwrap();
    // Agent 0 follows its path (right); agent 1 moves away from its path (down into the wall: stays).
    env.step(&[4, 2]).unwrap();
    assert_eq!(env.buffers.rewards, [0.005, 0.0]);
    for _ in 0..3 {
        env.step(&[4, 0]).unwrap();
    }
    env.step(&[2, 0]).unwrap();
    env.step(&[2, 0]).unwrap();
    assert_eq!(env.snapshot().positions[0], [2, 4]);
    assert!((env.buffers.rewards[0] - 1.005).abs() < 1e-6);
    // Finished: no more reward.
    env.step(&[0, 0]).unwrap();
    assert_eq!(env.buffers.rewards[0], 0.0);
}

#[test]
fn negative_variants_and_lifelong_follower_reward() {
    let mut env = Env::new(&config(RewardKind::MovingNegative)).unwrap();
    env.reset().unwrap();
    env.step(&[4, 0]).unwrap();
    assert_eq!(env.buffers.rewards, [-0.01, -0.005]);
    let mut env = Env::new(&config(RewardKind::DirectionalNegative)).unwrap();
    env.reset().unwrap();
    env.step(&[4, 2]).unwrap();
    assert_eq!(env.buffers.rewards, [-0.005, -0.01]);
    let mut env = Env::new(&config(RewardKind::Dense)).unwrap();
    env.reset().unwrap();
    env.step(&[4, 2]).unwrap();
    assert_eq!(env.buffers.rewards, [-0.01, -0.01]);
    let lifelong = EnvConfig {
        on_target: OnTarget::Restart,
        targets_xy: Some(TargetsSpec::Sequences(vec![
            vec![[2, 4], [0, 0]],
            vec![[0, 2], [2, 2]],
        ])),
        ..config(RewardKind::FollowerLifelong)
    };
    let mut env = Env::new(&lifelong).unwrap();
    env.reset().unwrap();
    env.step(&[4, 2]).unwrap();
    assert_eq!(env.buffers.rewards, [0.01, 0.0]);
}

#[test]
fn path_rewards_need_the_follower_observation() {
    let c = EnvConfig {
        observation_type: ObservationType::Default,
        ..config(RewardKind::Directional)
    };
    assert!(matches!(
        Env::new(&c),
        Err(EnvError::InvalidConfig {
            field: "reward",
            ..
        })
    ));
    // Sparse and the moving penalties work with any observation.
    let c = EnvConfig {
        observation_type: ObservationType::Default,
        ..config(RewardKind::Sparse)
    };
    assert!(Env::new(&c).is_ok());
}

#[test]
fn follower_planner_needs_the_follower_observation() {
    let c = EnvConfig {
        observation_type: ObservationType::Pomapf,
        path_planner: PathPlanner::Follower,
        ..config(RewardKind::Pogema)
    };
    let err = Env::new(&c).unwrap_err();
    assert!(
        matches!(
            err,
            EnvError::InvalidConfig {
                field: "path_planner",
                ..
            }
        ),
        "{err}"
    );
}

/// Each agent steps onto the first neighbour (pogema's action order) its drawn path covers.
fn follow(env: &Env, radius: usize) -> Vec<u8> {
    let side = 2 * radius + 1;
    let centre = radius * side + radius;
    env.buffers
        .obs
        .chunks_exact(3 * side * side)
        .map(|o| {
            [centre - side, centre + side, centre - 1, centre + 1]
                .iter()
                .position(|&c| o[c] == 1)
                .map_or(0, |k| k as u8 + 1)
        })
        .collect()
}

#[test]
fn dynamic_costs_break_the_jams_of_pure_path_following() {
    // A 12x12 room with three walls, 16 agents that all obey their plans, lifelong goals.
    let map = "............\n............\n....####....\n............\n".repeat(3);
    let run = |planner: PathPlanner| -> (usize, f32) {
        let c = EnvConfig {
            map: Some(MapSpec::Text(map.trim().into())),
            num_agents: Some(16),
            seed: Some(3),
            obs_radius: 3,
            on_target: OnTarget::Restart,
            collision_system: CollisionSystem::Soft,
            observation_type: ObservationType::Follower,
            path_planner: planner,
            reward: RewardKind::FollowerLifelong,
            max_episode_steps: 1000,
            ..Default::default()
        };
        let mut env = Env::new(&c).unwrap();
        env.reset().unwrap();
        let (mut arrivals, mut followed) = (0, 0.0f32);
        let mut goals = env.snapshot().goals;
        for _ in 0..200 {
            let actions = follow(&env, 3);
            env.step(&actions).unwrap();
            followed += env.buffers.rewards.iter().sum::<f32>();
            let now = env.snapshot().goals;
            arrivals += now.iter().zip(&goals).filter(|(a, b)| a != b).count();
            goals = now;
        }
        (arrivals, followed)
    };
    let jammed = run(PathPlanner::Shortest);
    for planner in [
        PathPlanner::FollowerStaticOnly,
        PathPlanner::FollowerUnitCost,
    ] {
        let (arrivals, _) = run(planner);
        assert!(
            arrivals < 50,
            "{planner:?}: {arrivals} arrivals (static paths jam)"
        );
    }
    for planner in [PathPlanner::Follower, PathPlanner::FollowerDynamicOnly] {
        let (arrivals, followed) = run(planner);
        // Measured: 18 arrivals with shortest paths, 248 and 282 with dynamic costs.
        assert!(
            arrivals > 5 * jammed.0 && arrivals > 150,
            "{planner:?}: {arrivals} arrivals against {} with shortest paths",
            jammed.0
        );
        // Follower's reward pays 0.01 for each move onto the previous step's subgoal.
        assert!(followed > 10.0 * jammed.1, "{planner:?}: reward {followed}");
    }
}
