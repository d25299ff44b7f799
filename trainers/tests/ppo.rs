//! PPO pieces against hand-computed values, and resuming from a checkpoint reproduces the
//! uninterrupted run.

use rmapf_train::ppo::{TrainConfig, Trainer, gae};

mod common;

#[test]
fn gae_matches_hand_computed_values() {
    // One agent, three steps, γ = 0.5, λ = 0.5, no terminal: δ_t = r_t + γ V_{t+1} − V_t.
    let (adv, ret) = gae(
        &[1.0, 0.0, 2.0],
        &[0.5, 1.0, 0.0],
        &[false, false, false],
        &[4.0],
        3,
        0.5,
        0.5,
    );
    // δ = [1 + 0.5·1 − 0.5, 0 + 0 − 1, 2 + 0.5·4 − 0] = [1, −1, 4]
    // A_2 = 4; A_1 = −1 + 0.25·4 = 0; A_0 = 1 + 0.25·0 = 1.
    assert_eq!(adv, vec![1.0, 0.0, 4.0]);
    assert_eq!(ret, vec![1.5, 1.0, 4.0]);
    // A terminal step cuts both the bootstrap and the recursion.
    let (adv, _) = gae(
        &[1.0, 0.0],
        &[0.0, 0.0],
        &[true, false],
        &[10.0],
        2,
        0.5,
        0.5,
    );
    assert_eq!(adv, vec![1.0, 5.0]);
}

fn tiny() -> TrainConfig {
    let mut c = TrainConfig::srmt_bottleneck();
    c.env.max_instances = Some(4);
    c.env.threads = 2;
    c.ppo.rollout = 4;
    c.ppo.chunks = 2;
    c.ppo.minibatches = 2;
    c.run.total_agent_steps = 10_000;
    c
}

#[test]
fn training_runs_and_resume_reproduces_the_uninterrupted_run() {
    for overlap in [false, true] {
        let mut c = tiny();
        c.ppo.overlap = overlap;
        resume_reproduces(c, &format!("overlap{overlap}"));
    }
}

#[test]
fn a_killed_lifelong_run_resumes_exactly() {
    // SRMT-lite on one of Follower's mazes, Follower's planner in the observation.
    let mut c = common::shipped_config("lifelong-srmt-lite-ppo.toml");
    c.env.max_instances = Some(1);
    c.ppo.minibatches = 1;
    resume_reproduces(c, "lifelong");
}

#[test]
fn a_resumed_run_logs_the_same_means_over_recent_episodes() {
    // Four-step corridor episodes, so that episodes finish before the checkpoint and the logged
    // means run over episodes from before and after it.
    let dir = std::env::temp_dir().join(format!("rmapf-ppo-{}-window", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let suite = dir.join("short.toml");
    std::fs::write(
        &suite,
        "name = \"short\"\ndescription = \"4-step corridors\"\nagents = [2]\nseeds = [0, 1]\n\
         max_episode_steps = 4\n[env]\non_target = \"finish\"\ncollision_system = \"block_both\"\n\
         observation_type = \"default\"\nobs_radius = 2\n[maps]\nkind = \"bottleneck\"\nlengths = [3]\n",
    )
    .unwrap();
    let mut c = tiny();
    c.env.suite = suite.to_string_lossy().into_owned();
    c.env.max_instances = None;
    let mut a = Trainer::new(c.clone()).unwrap();
    a.iteration().unwrap();
    a.checkpoint(&dir).unwrap();
    let next = a.iteration().unwrap();
    let mut b = Trainer::new(c).unwrap();
    b.restore(&dir).unwrap();
    let resumed = b.iteration().unwrap();
    assert!(next.episodes >= 4, "{} episodes", next.episodes);
    assert_eq!(resumed.episodes, next.episodes);
    assert_eq!(resumed.episode_return, next.episode_return);
    assert_eq!((resumed.csr, resumed.isr), (next.csr, next.isr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn overlapped_collection_is_deterministic() {
    let mut c = tiny();
    c.ppo.overlap = true;
    c.ppo.chunks = 3;
    assert_eq!(first_iterations(&c, 2), first_iterations(&c, 2));
}

/// Losses, entropy and learning rate of the first `n` iterations of a fresh run of `c`.
fn first_iterations(c: &TrainConfig, n: usize) -> Vec<(f64, f64, f64, f64)> {
    let mut t = Trainer::new(c.clone()).unwrap();
    (0..n)
        .map(|_| {
            let l = t.iteration().unwrap();
            (l.policy_loss, l.value_loss, l.entropy, l.lr)
        })
        .collect()
}

#[test]
fn the_annealed_learning_rate_falls_with_its_ceiling_and_resumes_exactly() {
    // A fixed rate (no KL rule) at the ceiling, annealed over the second half of a run of ten
    // chunks: the rate in use is the ceiling at the start of each chunk.
    let mut c = tiny();
    c.ppo.kl_threshold = 0.0;
    c.ppo.lr = 1e-3;
    c.ppo.lr_max = 1e-3;
    assert_eq!(c.ppo.lr_anneal_from, Some(0.5), "the default run anneals");
    let chunk_steps = {
        let mut t = Trainer::new(c.clone()).unwrap();
        t.iteration().unwrap().agent_steps / c.ppo.chunks as u64
    };
    c.run.total_agent_steps = 5 * c.ppo.chunks as u64 * chunk_steps;
    let mut t = Trainer::new(c.clone()).unwrap();
    let lrs: Vec<f64> = (0..5).map(|_| t.iteration().unwrap().lr).collect();
    // Iteration k's last chunk starts after 2k + 1 of the ten chunks; the ceiling starts falling
    // after chunk 5.
    let expected = [1e-3, 1e-3, 1e-3, 1e-3 * 0.6, 1e-3 * 0.2];
    for (lr, want) in lrs.iter().zip(expected) {
        assert!((lr - want).abs() < 1e-12, "{lrs:?} != {expected:?}");
    }
    assert_eq!(
        c.lr_ceiling(c.run.total_agent_steps),
        1e-6,
        "never under 1e-6"
    );
    // Not annealed: the fixed rate stays.
    c.ppo.lr_anneal_from = None;
    let lrs: Vec<f64> = first_iterations(&c, 3).iter().map(|l| l.3).collect();
    assert_eq!(lrs, vec![1e-3; 3]);
    // Annealed over the whole run, the KL rule keeps the rate under the ceiling too, and a
    // killed run resumes it exactly.
    let mut c = tiny();
    c.ppo.lr = c.ppo.lr_max;
    c.ppo.lr_anneal_from = Some(0.0);
    c.run.total_agent_steps = 4 * c.ppo.chunks as u64 * chunk_steps;
    let mut t = Trainer::new(c.clone()).unwrap();
    for _ in 0..3 {
        let log = t.iteration().unwrap();
        assert!(log.lr <= c.lr_ceiling(log.agent_steps - chunk_steps) + 1e-15);
    }
    resume_reproduces(c, "anneal");
}

#[test]
fn batch_parts_split_the_work_and_keep_the_maths() {
    // Two parts of whole episodes (SRMT's memory couples an episode's agents): the same
    // numbers on one, two or three threads.
    let mut c = tiny();
    c.ppo.batch_parts = 2;
    let run = |threads: usize| {
        let mut c = c.clone();
        c.env.threads = threads;
        first_iterations(&c, 3)
    };
    let two = run(2);
    assert_eq!(run(1), two);
    assert_eq!(run(3), two);
    // And the same update as one pass over the batch, up to float rounding: the first
    // iteration collects the same chunk (identical parameters) and its losses agree. So does a
    // split into one episode per part (more parts than episodes); a part that cut an episode
    // would change what SRMT's shared memory reads.
    let mut whole = c.clone();
    whole.ppo.batch_parts = 1;
    let one = first_iterations(&whole, 1)[0];
    let mut each = c.clone();
    each.ppo.batch_parts = 64;
    for (parts, split) in [(2, two[0]), (64, first_iterations(&each, 1)[0])] {
        let (policy, value, entropy, lr) = split;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-2);
        assert!(
            close(one.0, policy),
            "{parts} parts: policy loss {} vs {policy}",
            one.0
        );
        assert!(
            close(one.1, value),
            "{parts} parts: value loss {} vs {value}",
            one.1
        );
        assert!(
            close(one.2, entropy),
            "{parts} parts: entropy {} vs {entropy}",
            one.2
        );
        assert_eq!(one.3, lr);
    }
}

#[test]
fn one_seed_gives_the_same_run_for_every_core() {
    // GRU and RATE once drew burn's layers from its unseeded global stream: two runs with one
    // seed differed from the first iteration.
    for name in [
        "bottleneck-gru-directional.toml",
        "bottleneck-rate-directional.toml",
        "bottleneck-srmt-directional.toml",
    ] {
        let mut c = common::shipped_config(name);
        c.env.max_instances = Some(4);
        assert_eq!(first_iterations(&c, 2), first_iterations(&c, 2), "{name}");
    }
}

#[test]
fn a_planner_is_imitated_its_weight_decays_and_the_run_resumes_exactly() {
    // SRMT-lite on one of Follower's mazes, labelled by PIBT (DAgger: the policy acts).
    let mut c = common::shipped_config("lifelong-srmt-lite-ppo.toml");
    c.env.max_instances = Some(1);
    c.ppo.minibatches = 1;
    c.ppo.expert = Some("pibt".into());
    c.ppo.imitation_coef = 1.0;
    c.ppo.lr = 1e-3;
    // 64 agents × 8 steps = 512 agent steps per iteration: the weight reaches 0 after 40.
    c.ppo.imitation_steps = Some(40 * 512);
    let mut t = Trainer::new(c.clone()).unwrap();
    let logs: Vec<_> = (0..42).map(|_| t.iteration().unwrap()).collect();
    let (first, late) = (logs[0].imitation_loss, logs[30].imitation_loss);
    assert!(first > 1.2, "an untrained policy is near uniform: {first}");
    assert!(
        late < 0.7 * first,
        "the labels are not learned: {first} → {late}"
    );
    assert_eq!(logs[0].imitation_weight, 1.0);
    assert!((logs[20].imitation_weight - 0.5).abs() < 1e-6);
    // Once the weight is 0 the expert no longer runs and the loss is pure PPO.
    assert_eq!(
        (logs[41].imitation_weight, logs[41].imitation_loss),
        (0.0, 0.0)
    );
    c.ppo.imitation_steps = None;
    resume_reproduces(c, "imitation");
}

#[test]
fn imitation_and_advice_give_the_same_run_on_one_thread_or_two() {
    // Two mazes: two simulator shards with two threads, one with one; the planners' labels and
    // advice are keyed by episode, not by shard.
    for name in [
        "lifelong-srmt-lite-imitation.toml",
        "lifelong-srmt-lite.toml",
    ] {
        let mut c = common::shipped_config(name);
        c.env.max_instances = Some(2);
        c.env.agents = Some(64);
        c.ppo.minibatches = 2;
        let run = |threads: usize| {
            let mut c = c.clone();
            c.env.threads = threads;
            let mut t = Trainer::new(c).unwrap();
            (0..2)
                .map(|_| {
                    let l = t.iteration().unwrap();
                    (l.imitation_loss, l.policy_loss, l.value_loss, l.lr)
                })
                .collect::<Vec<_>>()
        };
        let one = run(1);
        assert!(one[0].0 > 0.0, "{name}: {one:?}");
        assert_eq!(one, run(2), "{name}");
    }
}

#[test]
fn an_advised_network_learns_its_advice_resumes_and_evaluates_with_it() {
    // SRMT-lite reading a planner's proposals as a sixth plane, on one of Follower's mazes with
    // 32 agents. Advised and labelled by the same uniformly random planner (one seed, one
    // shard: the same actions), the labels are learnable only through the plane.
    let mut c = common::shipped_config("lifelong-srmt-lite.toml");
    c.env.max_instances = Some(1);
    c.env.agents = Some(32);
    c.env.advice = Some("random".into());
    c.ppo.expert = Some("random".into());
    c.ppo.minibatches = 1;
    c.ppo.lr = 1e-3;
    c.ppo.imitation_steps = None;
    // The mean imitation loss of iterations 80 to 90, and the trainer.
    let imitate = |c: &TrainConfig| {
        let mut t = Trainer::new(c.clone()).unwrap();
        let logs: Vec<_> = (0..90).map(|_| t.iteration().unwrap()).collect();
        let late = logs[80..].iter().map(|l| l.imitation_loss).sum::<f64>() / 10.0;
        (late, t)
    };
    let (advised, mut t) = imitate(&c);
    let mut blind = c.clone();
    blind.env.advice = None;
    blind.model.encoder.channels -= 1;
    let (unadvised, _) = imitate(&blind);
    let uniform = 5f64.ln();
    assert!(
        advised < 0.6 * uniform && unadvised > 0.9 * uniform,
        "random labels are learned with the advice plane ({advised} nats) and not without it \
         ({unadvised} nats; uniform: {uniform})"
    );
    // The checkpoint records the advice; `evaluate` runs the planner beside the network.
    let dir = std::env::temp_dir().join(format!("rmapf-ppo-{}-advised", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    t.checkpoint(&dir).unwrap();
    let checkpoint = dir.join("checkpoint");
    let inputs = rmapf_train::neural::CheckpointInputs::load(&checkpoint).unwrap();
    assert_eq!(inputs.advice.as_deref(), Some("random"));
    let (_, mut instances) =
        rmapf_train::evaluate::load_suite("random", None, None, Some(&[8]), Some(2)).unwrap();
    for i in &mut instances {
        inputs.apply(&mut i.config);
        i.config.max_episode_steps = 32;
    }
    let make = |_| -> anyhow::Result<Box<dyn rmapf_agents::Policy>> {
        Ok(Box::new(rmapf_train::neural::NeuralPolicy::load(
            &checkpoint,
            burn::tensor::Device::flex(),
            true,
            0,
        )?))
    };
    let records = rmapf_train::evaluate::run_instances_with(
        "random",
        &instances,
        "advised",
        2,
        64,
        make,
        |_| {},
    )
    .unwrap();
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| r.avg_throughput.is_some()),
        "{records:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
    // The shipped advice (a planner keyed by the instance, unlike `random`'s one stream)
    // resumes exactly.
    let mut shipped = common::shipped_config("lifelong-srmt-lite.toml");
    shipped.env.max_instances = Some(1);
    shipped.env.agents = Some(32);
    shipped.ppo.minibatches = 1;
    resume_reproduces(shipped, "advised");
}

fn resume_reproduces(config: TrainConfig, tag: &str) {
    let dir = std::env::temp_dir().join(format!("rmapf-ppo-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tiny = || config.clone();
    // Uninterrupted: iteration 1, checkpoint, iteration 2.
    let mut a = Trainer::new(tiny()).unwrap();
    let first = a.iteration().unwrap();
    assert!(first.agent_steps > 0 && first.entropy > 0.0 && first.value_loss.is_finite());
    a.checkpoint(&dir).unwrap();
    let next = a.iteration().unwrap();
    // "Killed" after the checkpoint: a fresh trainer restores it and runs iteration 2.
    let mut b = Trainer::new(tiny()).unwrap();
    b.restore(&dir).unwrap();
    let resumed = b.iteration().unwrap();
    assert_eq!(resumed.agent_steps, next.agent_steps);
    assert_eq!(resumed.policy_loss, next.policy_loss);
    assert_eq!(resumed.value_loss, next.value_loss);
    assert_eq!(resumed.imitation_loss, next.imitation_loss);
    assert_eq!(resumed.lr, next.lr);
    // Killed between the checkpoint's two renames: only `checkpoint.old` is left, and it restores.
    std::fs::rename(dir.join("checkpoint"), dir.join("checkpoint.old")).unwrap();
    let mut c = Trainer::new(tiny()).unwrap();
    c.restore(&dir).unwrap();
    assert_eq!(c.iteration().unwrap().policy_loss, next.policy_loss);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_configs_are_rejected() {
    let mut c = tiny();
    c.ppo.rollout = 0;
    assert!(Trainer::new(c).is_err());
    let mut c = tiny();
    c.ppo.lr_max = 0.0;
    assert!(Trainer::new(c).is_err());
    // Run folders written before `ppo.lr_max` existed still load, with the reference's 1e-2.
    let text = toml::to_string(&tiny()).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("lr_max"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    assert_eq!(TrainConfig::from_toml(&old).unwrap().ppo.lr_max, 1e-2);
    // ... and before `ppo.lr_anneal_from`: they keep the constant ceiling.
    let old = text.replace("lr_anneal_from = 0.5\n", "");
    assert_ne!(old, text);
    assert_eq!(
        TrainConfig::from_toml(&old).unwrap().ppo.lr_anneal_from,
        None
    );
    for bad in [-0.1, 1.0, f64::NAN] {
        let mut c = tiny();
        c.ppo.lr_anneal_from = Some(bad);
        assert!(Trainer::new(c).is_err(), "lr_anneal_from = {bad}");
    }
    let text = toml::to_string(&tiny())
        .unwrap()
        .replace("gamma", "gamma_typo");
    assert!(TrainConfig::from_toml(&text).is_err());
}

#[test]
fn ppo_loss_matches_hand_computed_values() {
    use burn::tensor::{Device, Tensor, TensorData};
    use rmapf_train::ppo::{PpoBatch, ppo_loss};
    let dev = Device::flex();
    let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, 3]), &dev);
    let p = TrainConfig::srmt_bottleneck().ppo; // ε 0.2, value clip 1, c_v 0.5, c_ent 0.0156
    let ln = |x: f32| x.ln();
    // Ratios 1.5 with a positive advantage (the clipped 1.2 wins the min), 0.5 with a negative
    // advantage (min(0.5·−1, (1/1.2)·−1) = −0.833), and an invalid sample that must not count.
    let b = PpoBatch {
        logp: t(vec![ln(1.5), ln(0.5), 0.0]),
        old_logp: t(vec![0.0, 0.0, 0.0]),
        advantages: t(vec![1.0, -1.0, 100.0]),
        values: t(vec![3.0, 0.0, 0.0]),
        old_values: t(vec![1.0, 0.0, 0.0]),
        returns: t(vec![1.0, 1.0, 0.0]),
        entropy: t(vec![1.0, 2.0, 50.0]),
        valid: t(vec![1.0, 1.0, 0.0]),
    };
    let l = ppo_loss(&p, b, 2.0); // two valid samples
    // Policy: −mean(min(1.5·1, 1.2·1), min(0.5·−1, (1/1.2)·−1)) = −(1.2 − 0.8333)/2.
    let policy = -(1.2 - 1.0 / 1.2) / 2.0;
    // Value: sample 0: max((3−1)², (1 + clip(2, ±1) − 1)²) = max(4, 1) = 4; sample 1: max(1, 1) = 1.
    let value = (4.0 + 1.0) / 2.0;
    let entropy = 1.5;
    let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
    assert!(close(l.policy.into_scalar::<f32>(), policy));
    assert!(close(l.value.into_scalar::<f32>(), value));
    assert!(close(l.entropy.into_scalar::<f32>(), entropy));
    let total = policy + 0.5 * value - p.entropy_coef * entropy;
    assert!(close(l.total.into_scalar::<f32>(), total));
    // KL: mean((1.5 − 1 − ln 1.5), (0.5 − 1 − ln 0.5)); both samples clipped.
    let kl = ((0.5 - 1.5f32.ln()) + (-0.5 - 0.5f32.ln())) / 2.0;
    assert!(close(l.approx_kl, kl));
    assert!(close(l.clipfrac, 1.0));
}
