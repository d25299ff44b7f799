//! The training binary's guards on its run folder: one trainer per folder, and a run whose losses
//! become NaN or infinite stops with an error instead of writing a broken checkpoint.

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
