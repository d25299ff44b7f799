//! One seed gives the same results on 1 thread or many, with auto-reset across many episodes.

use rmapf_env::{BatchBuffers, BatchSimulator, CollisionSystem, EnvConfig, OnTarget, StepBuffers};

fn configs() -> Vec<EnvConfig> {
    (0..24u64)
        .map(|k| EnvConfig {
            seed: Some(k * 7),
            size: 8 + (k % 5) as i64 * 3,
            num_agents: Some(1 + (k % 9) as i64 * 2),
            max_episode_steps: 10 + (k % 4) as i64 * 7,
            on_target: [OnTarget::Finish, OnTarget::Nothing, OnTarget::Restart][k as usize % 3],
            collision_system: [
                CollisionSystem::Priority,
                CollisionSystem::BlockBoth,
                CollisionSystem::Soft,
            ][(k / 3) as usize % 3],
            obs_radius: 3,
            ..Default::default()
        })
        .collect()
}

/// Everything the batch writes, concatenated in episode order, over `steps` steps.
fn run(threads: usize, steps: usize) -> Vec<u8> {
    run_resetting(threads, steps, true).0
}

/// [`run`] with auto-reset on, or off with finished episodes rebuilt by `reset_finished`
/// after each step; also returns how many episodes that rebuilt.
fn run_resetting(threads: usize, steps: usize, auto_reset: bool) -> (Vec<u8>, usize) {
    let mut sim = BatchSimulator::new(&configs(), threads).unwrap();
    sim.set_auto_reset(auto_reset);
    let mut rebuilt = 0;
    let mut b: BatchBuffers = sim.new_buffers();
    sim.reset(&mut b).unwrap();
    let n: usize = b.shards.iter().map(|s| s.actions.len()).sum();
    let mut state = 12345u64;
    let mut trace = Vec::new();
    let mut actions = vec![0u8; n];
    for _ in 0..steps {
        rmapf_env::rng::lcg_actions(&mut state, &mut actions);
        b.set_actions(&actions).unwrap();
        sim.step(&mut b).unwrap();
        // Field by field across shards, so the layout does not depend on the shard boundaries.
        let shards = &b.shards;
        shards.iter().for_each(|s| trace.extend_from_slice(&s.obs));
        shards
            .iter()
            .for_each(|s| trace.extend(s.rewards.iter().flat_map(|r| r.to_le_bytes())));
        let flags: [fn(&StepBuffers) -> &Vec<bool>; 4] = [
            |s| &s.terminated,
            |s| &s.truncated,
            |s| &s.active,
            |s| &s.episode_done,
        ];
        for field in flags {
            shards
                .iter()
                .for_each(|s| trace.extend(field(s).iter().map(|&v| v as u8)));
        }
        for m in shards.iter().flat_map(|s| s.metrics.iter().flatten()) {
            trace.extend(m.pogema_pairs().flat_map(|(_, v)| v.to_le_bytes()));
        }
        if !auto_reset {
            rebuilt += sim.reset_finished(&mut b).unwrap();
            b.shards
                .iter()
                .for_each(|s| trace.extend_from_slice(&s.obs));
        }
    }
    (trace, rebuilt)
}

/// [`run`] with the batch writing straight into one set of caller-owned flat arrays
/// (`step_into`), as the Python `VecEnv` does.
fn run_into(threads: usize, steps: usize) -> Vec<u8> {
    let mut sim = BatchSimulator::new(&configs(), threads).unwrap();
    sim.set_auto_reset(true);
    let mut flat = StepBuffers::with_sizes(sim.output_sizes());
    sim.reset_into(flat.io()).unwrap();
    let mut state = 12345u64;
    let mut trace = Vec::new();
    let mut actions = vec![0u8; flat.actions.len()];
    for _ in 0..steps {
        rmapf_env::rng::lcg_actions(&mut state, &mut actions);
        flat.actions.copy_from_slice(&actions);
        sim.step_into(flat.io()).unwrap();
        trace.extend_from_slice(&flat.obs);
        trace.extend(flat.rewards.iter().flat_map(|r| r.to_le_bytes()));
        for field in [
            &flat.terminated,
            &flat.truncated,
            &flat.active,
            &flat.episode_done,
        ] {
            trace.extend(field.iter().map(|&v| v as u8));
        }
        for m in flat.metrics.iter().flatten() {
            trace.extend(m.pogema_pairs().flat_map(|(_, v)| v.to_le_bytes()));
        }
    }
    trace
}

#[test]
fn caller_arrays_get_what_the_shards_own_buffers_get() {
    let owned = run(1, 60);
    for threads in [1, 2, 5] {
        assert!(run_into(threads, 60) == owned, "{threads} threads");
    }
}

#[test]
fn episodes_rebuilt_between_steps_do_not_depend_on_the_thread_count() {
    let (one, rebuilt) = run_resetting(1, 80, false);
    // Episodes last 10-31 steps: each of the 24 has finished at least twice by step 80.
    assert!(rebuilt >= 48, "{rebuilt} episodes rebuilt");
    for threads in [2, 5] {
        let (other, n) = run_resetting(threads, 80, false);
        assert_eq!(n, rebuilt, "{threads} threads");
        assert!(other == one, "{threads} threads differ from 1");
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let one = run(1, 120);
    assert!(one.len() > 100_000);
    for threads in [2, 5] {
        let other = run(threads, 120);
        let first = one.iter().zip(&other).position(|(a, b)| a != b);
        assert!(
            other.len() == one.len() && first.is_none(),
            "{threads} threads differ from 1 at byte {first:?} of {}",
            one.len()
        );
    }
}
