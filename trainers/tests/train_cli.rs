//! The training binary's guards on its run folder: one trainer per folder, and a run whose losses
//! become NaN or infinite stops with an error instead of writing a broken checkpoint; and the
//! binaries' override of the shipped data folder.

use std::path::PathBuf;
use std::process::Command;

use rmapf_train::ppo::TrainConfig;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rmapf-train-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small Bottleneck run's config, with `edit` applied, written to `dir/config.toml`.
fn small_config(dir: &std::path::Path, edit: impl FnOnce(&mut TrainConfig)) -> PathBuf {
    let mut c = TrainConfig::srmt_bottleneck();
    c.env.max_instances = Some(2);
    c.env.threads = 1;
    c.ppo.rollout = 4;
    c.ppo.chunks = 2;
    c.ppo.minibatches = 1;
    c.run.total_agent_steps = 2_000;
    edit(&mut c);
    let path = dir.join("config.toml");
    std::fs::write(&path, toml::to_string(&c).unwrap()).unwrap();
    path
}

fn train(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_train-srmt"))
        .args(args)
        .output()
        .expect("run train-srmt");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "train-srmt panicked:\n{text}");
    (out.status.success(), text)
}

#[test]
fn a_second_trainer_on_one_run_folder_is_refused() {
    let dir = temp_dir("lock");
    let config = small_config(&dir, |_| {});
    let runs = dir.join("runs");
    std::fs::create_dir_all(runs.join("busy")).unwrap();
    // Another trainer holds the run's lock (as a running `train-srmt` does).
    let held = std::fs::File::create(runs.join("busy/lock")).unwrap();
    held.try_lock().unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
        "--run",
        "busy",
        "--quiet",
    ];
    let (ok, text) = train(&args);
    assert!(!ok && text.contains("another trainer is running"), "{text}");
    assert!(
        !runs.join("busy/config.toml").exists(),
        "the refused trainer wrote into the folder"
    );
    // Released (the other trainer ended, however it ended): the run starts.
    drop(held);
    let (ok, text) = train(&args);
    assert!(ok, "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn nan_losses_stop_the_run_and_keep_no_broken_checkpoint() {
    let dir = temp_dir("nan");
    // Finite but absurd learning rates: the weights blow up within a few updates.
    let config = small_config(&dir, |c| {
        c.ppo.lr = 1e30;
        c.ppo.lr_max = 1e30;
        c.ppo.epochs = 4;
        c.run.checkpoint_every = 1;
    });
    let runs = dir.join("runs");
    let (ok, text) = train(&[
        "--config",
        config.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
        "--run",
        "nan",
        "--quiet",
    ]);
    assert!(!ok && text.contains("training stopped"), "{text}");
    assert!(
        text.contains("keeps the last good checkpoint (lower ppo.lr"),
        "{text}"
    );
    // Every line of the history and the checkpoint's state are finite.
    let metrics = std::fs::read_to_string(runs.join("nan/metrics.jsonl")).unwrap();
    assert!(
        !metrics.contains("NaN") && !metrics.contains("null"),
        "{metrics}"
    );
    if let Ok(state) = std::fs::read_to_string(runs.join("nan/checkpoint/trainer.json")) {
        assert!(!state.contains("NaN") && !state.contains("null"), "{state}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_stdout_ends_the_output_not_the_run() {
    use std::io::BufRead;
    let dir = temp_dir("pipe");
    let config = small_config(&dir, |_| {});
    let runs = dir.join("runs");
    // `train-srmt ... | head -1`: the reader goes away after the first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_train-srmt"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--runs",
            runs.to_str().unwrap(),
        ])
        .args(["--run", "piped", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run train-srmt");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(runs.join("piped/checkpoint/trainer.json").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// The `held_out` results of each line of a run's `metrics.jsonl` (`Null` where it has none).
fn held_out_by_iteration(run: &std::path::Path) -> Vec<(u64, serde_json::Value)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["iteration"].as_u64().unwrap(),
                v.get("held_out").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// `best/` is chosen on held-out episodes at every checkpoint: the lines that checkpoint carry
/// the held-out results, `best.json` holds the best of them (ties to the later model), `eval.md`
/// recommends it, `eval.csv` holds both models' test episodes, and a resumed run validates
/// exactly as the uninterrupted one.
#[test]
fn best_model_is_chosen_on_held_out_episodes_at_every_checkpoint() {
    let dir = temp_dir("held-out");
    let suite = dir.join("valid.toml");
    std::fs::write(
        &suite,
        "name = \"tiny-valid\"\ndescription = \"two held-out corridors\"\nagents = [2]\nseeds = [100]\nmax_episode_steps = [2, 20]\n\
         [env]\non_target = \"finish\"\ncollision_system = \"block_both\"\n\
         observation_type = \"default\"\nobs_radius = 2\n\
         [maps]\nkind = \"bottleneck\"\nlengths = [9, 13]\n",
    )
    .unwrap();
    let config = small_config(&dir, |c| {
        c.run.checkpoint_every = 3;
        c.run.total_agent_steps = 600;
        c.run.validation = Some(suite.to_str().unwrap().into());
        // Stopped early and extended below: the constant cap keeps the run the whole run's.
        c.ppo.lr_anneal_from = None;
    });
    let runs = dir.join("runs");
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--runs",
            runs.to_str().unwrap(),
            "--run",
            name,
            "--quiet",
            "--eval-lengths",
            "3,5",
            "--eval-seeds",
            "2",
        ];
        args.extend_from_slice(extra);
        let (ok, text) = train(&args);
        assert!(ok, "{text}");
        text
    };
    let config_arg = config.to_str().unwrap();
    run("whole", &["--config", config_arg]);
    let whole = runs.join("whole");
    let lines = held_out_by_iteration(&whole);
    let last = lines.last().unwrap().0;
    for (iteration, held_out) in &lines {
        let checkpoints = iteration % 3 == 0 || *iteration == last;
        assert_eq!(!held_out.is_null(), checkpoints, "iteration {iteration}");
        if checkpoints {
            assert_eq!(held_out["episodes"], 2);
            assert_eq!(held_out["suite"], suite.to_str().unwrap());
        }
    }
    // best.json: the latest of the validated iterations with the highest (CSR, ISR).
    let key = |h: &serde_json::Value| (h["csr"].as_f64().unwrap(), h["isr"].as_f64().unwrap());
    let expected = lines
        .iter()
        .filter(|(_, h)| !h.is_null())
        .fold(None::<&(u64, serde_json::Value)>, |best, line| match best {
            Some(b) if key(&b.1) > key(&line.1) => Some(b),
            _ => Some(line),
        })
        .unwrap();
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("best/best.json")).unwrap())
            .unwrap();
    assert_eq!(best["iteration"].as_u64().unwrap(), expected.0);
    assert_eq!(best["held_out"], expected.1);
    let eval = std::fs::read_to_string(whole.join("eval.md")).unwrap();
    let advice = if expected.0 == last {
        "Recommended: the final model, which is also `best/`"
    } else {
        "Recommended: the best model (`best/`)"
    };
    assert!(eval.contains(advice), "{eval}");
    let csv = std::fs::read_to_string(whole.join("eval.csv")).unwrap();
    let policies: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(policies.len(), 8, "{csv}");
    assert_eq!(
        policies.iter().filter(|p| **p == "best").count(),
        4,
        "{csv}"
    );
    // Stopped at a checkpoint (iteration 9: 4 agents × 8 steps an iteration) and resumed: the
    // same held-out results at the same iterations.
    run(
        "halves",
        &["--config", config_arg, "--total-agent-steps", "288"],
    );
    // Killed after the checkpoint of iteration 9 but before its `best/`: the resume finds the
    // checkpoint's model better than the older `best/` and makes it the best.
    let best_json = runs.join("halves/best/best.json");
    let mut older: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&best_json).unwrap()).unwrap();
    older["iteration"] = 3.into();
    older["held_out"]["csr"] = (-1.0).into();
    std::fs::write(&best_json, older.to_string()).unwrap();
    run("halves", &["--resume"]);
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&best_json).unwrap()).unwrap();
    assert_eq!(best["iteration"], 9);
    run("halves", &["--resume", "--total-agent-steps", "600"]);
    let resumed = held_out_by_iteration(&runs.join("halves"));
    let validated = |l: &[(u64, serde_json::Value)]| -> Vec<(u64, serde_json::Value)> {
        l.iter()
            .filter(|(i, h)| !h.is_null() && i % 3 == 0)
            .cloned()
            .collect()
    };
    assert_eq!(validated(&resumed), validated(&lines));
    std::fs::remove_dir_all(&dir).ok();
}

/// A run's `metrics.jsonl` without the timing fields, one JSON value per line.
fn history(run: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let map = v.as_object_mut().unwrap();
            map.remove("seconds");
            map.remove("agent_steps_per_s");
            v
        })
        .collect()
}

/// Kills at any moment leave a history that a resume turns into the uninterrupted run's, line for
/// line: a `kill -9` at a random point of a run, and the states a kill leaves behind while the
/// history is being rewritten (a half-written `metrics.jsonl.tmp` beside the old file, lines past
/// the checkpoint, a half-written last line).
#[test]
fn killed_runs_and_kills_during_the_history_rewrite_resume_to_the_same_history() {
    let dir = temp_dir("kills");
    let config = small_config(&dir, |c| {
        c.run.checkpoint_every = 3;
        c.run.total_agent_steps = 1_600;
        c.run.validation = None;
        // The torn run below stops early and is then extended, which would stretch an annealed
        // learning rate's schedule; the constant cap keeps its history the whole run's.
        c.ppo.lr_anneal_from = None;
    });
    let runs = dir.join("runs");
    let common = |name: &'static str| -> Vec<String> {
        [
            "--runs",
            runs.to_str().unwrap(),
            "--run",
            name,
            "--quiet",
            "--eval-lengths",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let start = |name: &'static str| {
        let mut a = common(name);
        a.extend(["--config".to_string(), config.to_str().unwrap().to_string()]);
        a
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, text) = train(&refs);
        assert!(ok, "{text}");
    };
    run(start("whole"));
    let whole = history(&runs.join("whole"));
    assert_eq!(whole.len(), 50);

    // A real kill, wherever it lands (after the first checkpoint has been written).
    let mut child = Command::new(env!("CARGO_BIN_EXE_train-srmt"))
        .args(start("killed"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let killed = runs.join("killed");
    let t0 = std::time::Instant::now();
    while !killed.join("checkpoint/trainer.json").exists() {
        assert!(
            t0.elapsed().as_secs() < 120,
            "no checkpoint within two minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(
        (std::process::id() % 200).into(),
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut resume = common("killed");
    resume.push("--resume".into());
    run(resume.clone());
    assert_eq!(history(&killed), whole);

    // Killed during the rewrite of the history: the `.tmp` beside it half written, and the old
    // file holding lines past the checkpoint and a torn last line.
    let torn = runs.join("torn");
    let mut first_half = start("torn");
    first_half.extend(["--total-agent-steps".into(), "768".into()]); // iteration 24, a checkpoint
    run(first_half);
    let metrics = torn.join("metrics.jsonl");
    let kept = std::fs::read_to_string(&metrics).unwrap();
    let past: String = std::fs::read_to_string(runs.join("whole/metrics.jsonl"))
        .unwrap()
        .lines()
        .skip(24)
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &metrics,
        format!("{kept}{past}{{\"iteration\": 27, \"agent_st"),
    )
    .unwrap();
    std::fs::write(torn.join("metrics.jsonl.tmp"), &kept[..kept.len() / 2]).unwrap();
    let mut resume = common("torn");
    resume.extend([
        "--resume".into(),
        "--total-agent-steps".into(),
        "1600".into(),
    ]);
    run(resume);
    assert_eq!(history(&torn), whole);
    assert!(!torn.join("metrics.jsonl.tmp").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// `RMAPF_DATA_DIR` moves the shipped datasets (for a build whose checkout has moved): a wrong
/// folder is a clear error that names the variable, the real one works.
#[test]
fn the_data_folder_follows_rmapf_data_dir() {
    let dir = temp_dir("data-dir");
    let evaluate = |data: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_evaluate"))
            .args([
                "run",
                "--policy",
                "random",
                "--suite",
                "puzzles",
                "--max-maps",
                "1",
            ])
            .args(["--seeds", "0", "--agents", "2", "--threads", "1", "--out"])
            .arg(dir.join("out"))
            .env(rmapf_maps::DATA_DIR_VAR, data)
            .output()
            .unwrap()
    };
    let wrong = evaluate(&dir.join("nowhere"));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("RMAPF_DATA_DIR") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let shipped = rmapf_maps::benchmark_dir();
    let right = evaluate(shipped.parent().unwrap());
    let stderr = String::from_utf8_lossy(&right.stderr);
    assert!(right.status.success(), "{stderr}");
    assert!(dir.join("out/episodes.csv").is_file());
}
