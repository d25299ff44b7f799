//! Every shipped training config loads and validates, its suite builds, and one short iteration of
//! each Bottleneck core trains from it.

use std::path::PathBuf;

use rmapf_env::CollisionSystem;
use rmapf_train::ppo::{TrainConfig, Trainer, build_envs, check_checkpoint_interval};

mod common;

/// Every shipped config, with YAML suites pointed at the test data.
fn configs() -> Vec<(String, TrainConfig)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut out: Vec<(String, TrainConfig)> = std::fs::read_dir(&dir)
        .expect("trainers/configs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let config = common::shipped_config(&name);
            (name, config)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_core_and_reward_has_a_bottleneck_config_and_the_lifelong_config_builds() {
    let all = configs();
    assert_eq!(all.len(), 6 * 5 + 1 + 10);
    for (name, c) in &all {
        let (envs, agents) = build_envs(c).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        // What `Trainer::new` checks beyond `validate` (a lifelong config that checkpointed
        // more often than its episodes end once shipped unnoticed).
        check_checkpoint_interval(c, &envs).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        // The best lifelong config, and the Follower-sized one built on its recipe, train denser
        // episodes under the benchmark's collision rule.
        let expected = match name.as_str() {
            "lifelong-srmt-lite.toml"
            | "lifelong-srmt-lite-intents.toml"
            | "lifelong-srmt-lite-no-intents.toml"
            | "lifelong-srmt-lite-priorities.toml"
            | "lifelong-srmt-lite-pibt-follower.toml"
            | "lifelong-srmt-lite-pibt-follower-local.toml"
            | "lifelong-mazes-srmt.toml" => 128,
            n if n.starts_with("lifelong") => 64,
            _ => 2,
        };
        assert_eq!(agents, expected, "{name}");
        // With one chunk per iteration the chunk is always collected with the current
        // parameters, so `overlap` would change nothing but the thread it runs on.
        assert!(
            !c.ppo.overlap || c.ppo.chunks >= 2,
            "{name}: ppo.overlap with ppo.chunks = 1 overlaps nothing"
        );
        let observation = match name.as_str() {
            "lifelong-srmt-lite-intents.toml" => rmapf_env::ObservationType::FollowerIntents,
            "lifelong-srmt-lite-priorities.toml"
            | "lifelong-srmt-lite-pibt-follower.toml"
            | "lifelong-srmt-lite-pibt-follower-local.toml"
            | "lifelong-srmt-lite.toml" => rmapf_env::ObservationType::FollowerPriorities,
            _ => rmapf_env::ObservationType::Follower,
        };
        assert!(
            envs.iter().all(|e| e.observation_type == observation),
            "{name}: the intents and priorities planes exactly where the config asks for them"
        );
        let advice = (name == "lifelong-srmt-lite.toml").then_some("pibt-follower-local:3");
        assert_eq!(c.env.advice.as_deref(), advice, "{name}");
        if expected == 128 {
            assert!(
                envs.iter()
                    .all(|e| e.collision_system == CollisionSystem::Soft)
            );
        }
    }
}

#[test]
fn each_core_trains_one_iteration_from_its_config() {
    for (name, mut c) in configs() {
        if !name.ends_with("-directional.toml") {
            continue;
        }
        c.env.max_instances = Some(2);
        let mut trainer = Trainer::new(c).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let log = trainer.iteration().unwrap();
        assert!(
            log.value_loss.is_finite() && log.entropy > 0.0,
            "{name}: {log:?}"
        );
    }
}

#[test]
fn lifelong_lite_configs_train_and_report_throughput() {
    for (name, mut c) in configs() {
        if !name.contains("-lite") {
            continue;
        }
        // One maze (64 or 128 agents); 64 iterations of 8 steps finish its first 512-step
        // episode.
        c.env.max_instances = Some(1);
        c.ppo.minibatches = 1;
        let c_imitates = c.ppo.expert.is_some();
        let mut trainer = Trainer::new(c).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(trainer.lifelong());
        let mut last = None;
        for _ in 0..64 {
            last = Some(trainer.iteration().unwrap());
        }
        let log = last.unwrap();
        assert_eq!(log.episodes, 1, "{name}: {log:?}");
        assert_eq!((log.window, log.warming_up), (1, false), "{name}: {log:?}");
        assert!(
            log.throughput.is_finite() && log.throughput >= 0.0,
            "{name}: {log:?}"
        );
        // A barely trained policy may reach no goal in its first episode (GRU-lite reached none
        // in one fresh-clone run and some in others); the ones that imitate the planner reach
        // goals from their first episode.
        if c_imitates {
            assert!(log.throughput > 0.0, "{name}: {log:?}");
        }
    }
}

#[test]
fn env_agents_sets_the_agents_of_every_training_episode_and_too_many_is_a_clear_error() {
    let (_, mut c) = configs()
        .into_iter()
        .find(|(n, _)| n == "lifelong-srmt-lite-ppo.toml")
        .unwrap();
    c.env.max_instances = Some(2);
    c.env.agents = Some(256);
    let (envs, agents) = build_envs(&c).unwrap();
    assert_eq!(agents, 256);
    assert!(envs.iter().all(|e| e.num_agents == Some(256)));
    // More agents than a 65×65 maze has free cells.
    c.env.agents = Some(100_000);
    let Err(err) = Trainer::new(c) else {
        panic!("accepted 100,000 agents on a maze");
    };
    let err = format!("{err:#}");
    assert!(err.contains("100000"), "{err}");
}

#[test]
fn lifelong_checkpoints_must_let_episodes_finish() {
    let (_, mut c) = configs()
        .into_iter()
        .find(|(n, _)| n == "lifelong-srmt-lite-ppo.toml")
        .unwrap();
    c.env.max_instances = Some(1);
    c.run.checkpoint_every = 10;
    let Err(err) = Trainer::new(c) else {
        panic!("accepted");
    };
    let err = err.to_string();
    assert!(err.contains("checkpoint_every ≥ 64"), "{err}");
}

#[test]
fn values_that_would_divide_by_zero_or_train_on_nan_are_rejected_by_name() {
    type Edit = fn(&mut TrainConfig);
    let cases: [(&str, Edit); 13] = [
        ("run.checkpoint_every", |c| c.run.checkpoint_every = 0),
        ("run.total_agent_steps", |c| c.run.total_agent_steps = 0),
        ("env.max_instances", |c| c.env.max_instances = Some(0)),
        ("env.agents", |c| c.env.agents = Some(0)),
        ("ppo.lr", |c| c.ppo.lr = f64::INFINITY),
        ("ppo.lr", |c| c.ppo.lr_max = f64::NAN),
        ("ppo.entropy_coef", |c| c.ppo.entropy_coef = f32::NAN),
        ("ppo.clip", |c| c.ppo.clip = -0.2),
        ("ppo.value_clip", |c| c.ppo.value_clip = f32::INFINITY),
        ("ppo.max_grad_norm", |c| c.ppo.max_grad_norm = 0.0),
        ("ppo.expert", |c| {
            c.ppo.expert = Some("no-such-planner".into());
            c.ppo.imitation_coef = 1.0;
        }),
        ("ppo.imitation_coef", |c| c.ppo.expert = Some("pibt".into())),
        ("ppo.imitation_coef", |c| c.ppo.imitation_coef = 1.0),
    ];
    for (field, edit) in cases {
        let mut c = TrainConfig::srmt_bottleneck();
        edit(&mut c);
        let e = c.validate().expect_err(field).to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
    TrainConfig::srmt_bottleneck().validate().unwrap();
}
