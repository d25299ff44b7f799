//! Evaluation is deterministic across thread counts and batch sizes, and the A*-follower beats
//! random actions on the Bottleneck, and the summary tables hold what the episodes say.

use rmapf_train::evaluate::{EpisodeRecord, load_suite, run_instances};
use rmapf_train::report::{bottleneck_markdown, summary_markdown};

#[test]
fn evaluation_does_not_depend_on_threads_or_batching() {
    let (_, instances) = load_suite("random", None, None, Some(&[8, 16]), Some(6)).unwrap();
    for policy in [
        "astar-follower",
        "pibt",
        "pibt-swap",
        "pibt-follower",
        "pibt-swap-follower",
        "pibt-follower-local:3",
        "pibt-lookahead:4:3",
    ] {
        let run = |threads, batch| {
            let records = run_instances("random", &instances, policy, threads, batch, |_| {});
            outcomes(&records.unwrap())
        };
        let one = run(1, 64);
        assert_eq!(one.len(), 12);
        assert_eq!(one, run(2, 5), "{policy}");
        assert!(
            one.iter()
                .all(|r| r.avg_throughput.is_some_and(|t| t > 0.0)),
            "{policy}"
        );
    }
}

/// The records without their wall-clock timing column.
fn outcomes(records: &[EpisodeRecord]) -> Vec<EpisodeRecord> {
    records.iter().map(EpisodeRecord::outcome).collect()
}

#[test]
fn records_carry_the_decision_time_per_step() {
    let (_, instances) = load_suite("random", None, None, Some(&[8]), Some(2)).unwrap();
    let records = run_instances("random", &instances, "pibt", 1, 64, |_| {}).unwrap();
    assert!(records.iter().all(|r| {
        r.policy_ms_per_step
            .is_some_and(|t| t.is_finite() && t >= 0.0)
    }));
    // The summary shows the time beside the throughput, and files without the column still load.
    let summary = summary_markdown(&records, &Default::default());
    assert!(
        summary.contains("| avg_throughput | policy ms/step |"),
        "{summary}"
    );
    let dir = std::env::temp_dir().join(format!("rmapf-eval-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("episodes.csv");
    rmapf_train::report::write_csv(&path, &records).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let old: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    assert!(old.starts_with("policy,suite,map,agents,seed,"));
    std::fs::write(&path, old).unwrap();
    let back = rmapf_train::report::read_csv(&path).unwrap();
    assert_eq!(back, outcomes(&records));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn follower_solves_short_bottlenecks_and_random_does_not() {
    let (_, instances) =
        load_suite("bottleneck-test", None, Some(&[0, 1, 2]), None, Some(4)).unwrap();
    let follower = run_instances(
        "bottleneck-test",
        &instances,
        "astar-follower",
        2,
        64,
        |_| {},
    )
    .unwrap();
    let random = run_instances("bottleneck-test", &instances, "random", 2, 64, |_| {}).unwrap();
    let csr = |rs: &[EpisodeRecord]| rs.iter().filter_map(|r| r.csr).sum::<f64>() / rs.len() as f64;
    assert!(
        csr(&follower) > csr(&random),
        "follower {} vs random {}",
        csr(&follower),
        csr(&random)
    );
    assert!(
        follower
            .iter()
            .all(|r| r.sum_of_costs.is_some() && r.soc_reference.is_some())
    );
    // The summary has the reference SoC column and a CSR-by-length table, one row per length
    // and one column per policy, holding the same means.
    let mut both = follower.clone();
    both.extend(random.iter().cloned());
    let summary = summary_markdown(&both, &Default::default());
    assert!(summary.contains("| soc_reference |"));
    let table = bottleneck_markdown(&both);
    assert!(table.contains("| L | astar-follower | random |"), "{table}");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| {
            l.starts_with("| 3 |")
                || l.starts_with("| 4 |")
                || l.starts_with("| 5 |")
                || l.starts_with("| 6 |")
        })
        .collect();
    assert_eq!(rows.len(), 4, "{table}");
    let l3: Vec<&EpisodeRecord> = follower
        .iter()
        .filter(|r| r.map == "bottleneck-3")
        .collect();
    let mean = l3.iter().filter_map(|r| r.csr).sum::<f64>() / l3.len() as f64;
    assert!(
        rows[0].starts_with(&format!("| 3 | {mean:.3} |")),
        "{}",
        rows[0]
    );
}

#[test]
fn a_checkpoint_evaluates_identically_on_any_thread_count() {
    use rmapf_agents::Policy;
    use rmapf_agents::nn::{CoreKind, PolicyConfig};
    use rmapf_env::ObservationType;
    use rmapf_train::evaluate::run_instances_with;
    use rmapf_train::neural::NeuralPolicy;
    let dir = std::env::temp_dir().join(format!("rmapf-eval-ckpt-{}", std::process::id()));
    PolicyConfig {
        seed: 5,
        ..PolicyConfig::bottleneck(CoreKind::Srmt)
    }
    .init(&burn::tensor::Device::flex())
    .save(&dir)
    .unwrap();
    // Lifelong random maps with the Bottleneck model's window: sampled actions reach goals now and
    // then, so the throughput depends on every sampled action.
    // Two agent counts: a batch must never mix them (SRMT pools memories per episode).
    let (_, mut instances) = load_suite("random", None, None, Some(&[8, 4]), Some(6)).unwrap();
    for i in &mut instances {
        i.config.observation_type = ObservationType::Follower;
        i.config.obs_radius = 2;
        i.config.max_episode_steps = 48;
    }
    let run_as = |threads, batch, greedy, temperature| {
        let make = |_| -> anyhow::Result<Box<dyn Policy>> {
            Ok(Box::new(
                NeuralPolicy::load(&dir, burn::tensor::Device::flex(), greedy, 0)?
                    .with_temperature(temperature),
            ))
        };
        run_instances_with(
            "random",
            &instances,
            "checkpoint",
            threads,
            batch,
            make,
            |_| {},
        )
        .unwrap()
    };
    let run = |threads, batch| outcomes(&run_as(threads, batch, false, 1.0));
    let one = run(1, 64);
    assert_eq!(one.len(), 12);
    // Records come back in the order of the instances.
    for (r, i) in one.iter().zip(&instances) {
        assert_eq!((&r.map, r.agents), (&i.map_name, i.num_agents));
    }
    assert!(
        one.iter()
            .any(|r| r.avg_throughput.is_some_and(|t| t > 0.0)),
        "the test needs arrivals to mean anything"
    );
    assert_eq!(run(2, 64), one);
    assert_eq!(run(3, 64), one);
    assert_eq!(run(2, 4), one);
    assert_eq!(run(1, 5), one);
    // A temperature near zero samples the most likely action: the greedy run.
    let greedy = outcomes(&run_as(2, 64, true, 1.0));
    assert_ne!(greedy, one);
    assert_eq!(outcomes(&run_as(2, 64, false, 1e-4)), greedy);
    assert_ne!(outcomes(&run_as(2, 64, false, 3.0)), one);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn planner_names_are_checked() {
    use rmapf_train::evaluate::builtin_policy;
    for good in [
        "pibt",
        "pibt-swap",
        "pibt-follower",
        "pibt-swap-follower",
        "pibt-follower-local:3",
        "pibt-lookahead",
        "pibt-lookahead:8:4",
        "noisy:0.05:pibt-follower-local:3",
    ] {
        assert_eq!(
            builtin_policy(good, 0).unwrap().name().split(':').next(),
            Some(good.split(':').next().unwrap())
        );
    }
    for bad in [
        "pibt-lookahead:0:4",
        "pibt-lookahead:8",
        "pibt-lookahead:8:x",
        "pibt-lookahead:8:4:1",
        "pibt-lookahead:1:1000",
        "pibt-follower-local",
        "pibt-follower-local:0",
        "pibt-follower-local:17",
        "pibt-follower-local:3:1",
        "PIBT",
        "noisy:1.5:pibt",
        "noisy:x:pibt",
        "noisy:0.1",
        "noisy:0.1:nope",
    ] {
        let e = builtin_policy(bad, 0)
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[test]
fn an_empty_selection_is_an_error_not_an_empty_file() {
    let e = load_suite("random", None, None, None, Some(0)).unwrap_err();
    assert!(e.to_string().contains("no instance"), "{e}");
    assert!(load_suite("random", None, None, Some(&[]), None).is_err());
}

#[test]
fn plots_skip_infinite_values_instead_of_hanging() {
    let (_, instances) = load_suite("bottleneck-test", None, Some(&[0, 1]), None, Some(2)).unwrap();
    let mut records =
        run_instances("bottleneck-test", &instances, "random", 1, 64, |_| {}).unwrap();
    records[0].soc_reference = Some(f64::INFINITY);
    records[1].sum_of_costs = Some(f64::NAN);
    for r in &mut records[2..] {
        r.csr = Some(f64::INFINITY);
    }
    let dir = std::env::temp_dir().join(format!("rmapf-eval-inf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = rmapf_train::report::plots(&dir, &records, &Default::default()).unwrap();
    assert!(
        files
            .iter()
            .any(|f| f == "bottleneck-test-soc_reference.png"),
        "{files:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_maps_dir_without_the_benchmark_folders_is_an_error() {
    use rmapf_train::evaluation::{Evaluation, EvaluationRequest};
    // Random is generated (no map file is read), so only the published results need the
    // folder: a mistyped one used to drop the baselines without a word.
    let missing = std::env::temp_dir().join(format!("rmapf-no-maps-{}", std::process::id()));
    for dir in [missing.clone(), std::env::temp_dir()] {
        let mut request = EvaluationRequest::new("random", vec!["random".into()]);
        request.maps_dir = Some(dir.clone());
        request.max_maps = Some(1);
        let e = Evaluation::new(request).err().expect("refused");
        assert!(e.to_string().contains("01-random"), "{e}");
    }
    // Suites without published results do not need it.
    let mut request = EvaluationRequest::new("random", vec!["bottleneck-test".into()]);
    request.maps_dir = Some(missing);
    request.max_maps = Some(1);
    assert!(Evaluation::new(request).is_ok());
}
