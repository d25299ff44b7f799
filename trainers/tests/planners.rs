//! The centralised planners on the POGEMA benchmark's instances: their joint moves are vertex- and
//! swap-free, so the `soft` collision rule (the benchmark's) executes every planned move
//! unchanged; under `priority` and `block_both`, which forbid some following moves and every
//! rotation, the env undoes some (counted and printed, not asserted: PIBT does not plan for them).

mod common;

use rmapf_agents::EpisodeView;
use rmapf_env::{CollisionSystem, Simulator};
use rmapf_train::evaluate::{builtin_policy, load_suite};

/// Runs `policy` over the first `maps` maps of `suite` (every agent count, the given seeds) under
/// `rule`; returns (planned moves, moves the env undid, goals reached).
fn undone_moves(
    suite: &str,
    policy: &str,
    rule: CollisionSystem,
    maps: usize,
    seeds: &[u64],
) -> (u64, u64, u64) {
    let dir = common::benchmark_data_dir();
    let (_, instances) = load_suite(suite, Some(&dir), Some(seeds), None, Some(maps)).unwrap();
    let configs: Vec<_> = instances
        .iter()
        .map(|i| {
            let mut c = i.config.clone();
            c.collision_system = rule;
            c
        })
        .collect();
    let mut sim = Simulator::new(&configs).unwrap();
    let mut b = sim.new_buffers();
    sim.reset(&mut b).unwrap();
    let mut p = builtin_policy(policy, 0).unwrap();
    let radius = configs[0].obs_radius as usize;
    let steps = configs.iter().map(|c| c.max_episode_steps).max().unwrap();
    let (mut planned, mut undone, mut goals) = (0, 0, 0);
    let mut actions = vec![0u8; b.actions.len()];
    for _ in 0..steps {
        p.act(&EpisodeView::all(&sim), &b, radius, &mut actions);
        let before = b.global_xy.clone();
        let was_active = b.active.clone();
        let targets = b.global_target_xy.clone();
        b.actions.copy_from_slice(&actions);
        sim.step(&mut b).unwrap();
        for (a, &action) in actions.iter().enumerate() {
            if !was_active[a] || action == 0 {
                continue;
            }
            let [dx, dy] = [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]][action as usize];
            let expected = [before[2 * a] + dx, before[2 * a + 1] + dy];
            planned += 1;
            if b.global_xy[2 * a..2 * a + 2] != expected {
                undone += 1;
            } else if expected == targets[2 * a..2 * a + 2] {
                goals += 1;
            }
        }
    }
    (planned, undone, goals)
}

#[test]
fn soft_executes_every_planned_move_on_the_benchmark_instances() {
    for policy in [
        "pibt",
        "pibt-swap",
        "pibt-follower",
        "pibt-swap-follower",
        "pibt-lookahead:4:3",
    ] {
        for (suite, maps, seeds) in [
            ("random", 4, &[0u64][..]),
            ("mazes", 4, &[0]),
            ("warehouse", 1, &[0, 1]),
            ("movingai", 1, &[0]),
            ("puzzles", 16, &[0, 1, 2]),
        ] {
            let (planned, undone, goals) =
                undone_moves(suite, policy, CollisionSystem::Soft, maps, seeds);
            println!("{policy} {suite} soft: {planned} moves, {undone} undone, {goals} goals");
            assert_eq!(
                undone, 0,
                "{policy} on {suite}: the env undid planned moves"
            );
            assert!(goals > 0 && planned > 0, "{policy} on {suite} did nothing");
        }
    }
}

#[test]
fn priority_and_block_both_undo_some_following_moves() {
    for rule in [CollisionSystem::Priority, CollisionSystem::BlockBoth] {
        let (planned, undone, _) = undone_moves("random", "pibt", rule, 4, &[0]);
        println!("pibt random {rule:?}: {planned} moves, {undone} undone");
        assert!(planned > 0);
    }
}
