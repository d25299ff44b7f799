//! Fuzz-style test of every binary (issue 15): random argument vectors and randomly mutated TOML
//! training configs, drawn from a fixed seed. Each run must end within a time limit, with exit
//! status 0 (accepted), 1 (a clear error) or 2 (clap's usage error), and never print a panic.
//!
//! Values that are valid but ask for enormous work (`--seconds 1e6`) are left out of the
//! vocabulary: the test checks that bad input is refused quickly, not how long valid work takes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one case may run.
const LIMIT: Duration = Duration::from_secs(90);

/// Hostile and borderline values for any option.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "1000000000",
    "18446744073709551616",
    "1e9",
    "nan",
    "inf",
    "-inf",
    "",
    "abc",
    "0.5",
    "2,999",
    ",",
    "../escape",
    "/proc/forbidden",
    "\u{1F600}",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// The outcome of one run: exit status (`None` if killed at the limit) and its output.
fn run(bin: &str, args: &[String], dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return (None, String::new());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One random option list: `flags` each maybe given a random value, plus `fixed` (which keep the
/// run short) unless a flag of the same name was drawn.
fn random_args(rng: &mut Rng, flags: &[&str], fixed: &[(&str, &str)]) -> Vec<String> {
    let mut args = Vec::new();
    let mut drawn = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let flag = rng.pick(flags);
        drawn.push(flag);
        args.push(flag.to_string());
        args.push(rng.pick(VALUES).to_string());
    }
    for (flag, value) in fixed {
        if !drawn.contains(flag) {
            args.push(flag.to_string());
            args.push(value.to_string());
        }
    }
    args
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A shipped training config with one to three keys set to random values (numbers, wrong types,
/// absurd sizes).
fn mutated_config(rng: &mut Rng) -> String {
    let name = rng.pick(&[
        "bottleneck-rate-directional.toml",
        "lifelong-srmt-lite.toml",
        "bottleneck-srmt-directional.toml",
    ]);
    let path = workspace().join("trainers/configs").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        std::fs::read_to_string(
            workspace().join("trainers/configs/bottleneck-rate-directional.toml"),
        )
        .expect("a shipped config")
    });
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let keys: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = &lines[i];
            l.contains(" = ") && !l.starts_with('#')
        })
        .collect();
    for _ in 0..1 + rng.below(3) {
        let i = keys[rng.below(keys.len())];
        let key = lines[i].split(" = ").next().unwrap_or("x").to_string();
        let value = rng.pick(&[
            "0",
            "-1",
            "1000000000",
            "1e300",
            "nan",
            "inf",
            "\"abc\"",
            "true",
            "[]",
            "3",
            "0.5",
        ]);
        lines[i] = format!("{key} = {value}");
    }
    lines.join("\n") + "\n"
}

/// Runs one case; records a failure, and tallies exit statuses 0, 1 and 2.
fn check(
    bin: &str,
    args: &[String],
    dir: &Path,
    failures: &mut Vec<String>,
    tally: &mut [usize; 3],
) {
    let (code, err) = run(bin, args, dir);
    if let Some(c @ 0..=2) = code {
        tally[c as usize] += 1;
    }
    let name = Path::new(bin)
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    let ok =
        matches!(code, Some(0..=2)) && !err.contains("panicked") && !err.contains("RUST_BACKTRACE");
    if !ok {
        failures.push(format!(
            "{name} {args:?}: exit {code:?}{}",
            err.lines()
                .take(3)
                .map(|l| format!("\n    {l}"))
                .collect::<String>()
        ));
    }
}

#[test]
fn random_arguments_and_configs_end_quickly_with_a_clear_status() {
    let dir = std::env::temp_dir().join(format!("rmapf-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let mut tally = [0usize; 3];
    let mut cases = 0;

    let bench_env = env!("CARGO_BIN_EXE_bench-env");
    for _ in 0..60 {
        let mut args = random_args(
            &mut rng,
            &[
                "--config",
                "--threads",
                "--episodes",
                "--seconds",
                "--actions",
                "--follower-maps-dir",
            ],
            &[("--seconds", "0.05"), ("--episodes", "2")],
        );
        if args.iter().any(|a| a == "--seconds") && args.iter().any(|a| a == "1000000000") {
            args.retain(|a| a != "1000000000");
        }
        check(bench_env, &args, &dir, &mut failures, &mut tally);
        cases += 1;
    }

    let bench_policy = env!("CARGO_BIN_EXE_bench-policy");
    for _ in 0..30 {
        let args = random_args(
            &mut rng,
            &["--rollout-agents", "--train-rows", "--core"],
            &[("--seconds", "0.02")],
        );
        check(bench_policy, &args, &dir, &mut failures, &mut tally);
        cases += 1;
    }

    let maps = env!("CARGO_BIN_EXE_rmapf-maps");
    for _ in 0..40 {
        let sub = rng.pick(&["list", "render", "export", "animate", "nope"]);
        let mut args = vec![sub.to_string()];
        args.extend(random_args(
            &mut rng,
            &["--suite", "--index", "--out", "--steps", "--maps-dir"],
            &[
                ("--suite", "bottleneck-test"),
                ("--out", "fuzz-out.svg"),
                ("--steps", "4"),
            ],
        ));
        if sub == "list" {
            args.retain(|a| !a.starts_with("--") || a == "--maps-dir");
            args.truncate(3);
        }
        check(maps, &args, &dir, &mut failures, &mut tally);
        cases += 1;
    }

    let evaluate = env!("CARGO_BIN_EXE_evaluate");
    for _ in 0..40 {
        let mut args = vec!["run".to_string()];
        args.extend(random_args(
            &mut rng,
            &[
                "--policy",
                "--suite",
                "--max-maps",
                "--seeds",
                "--agents",
                "--threads",
                "--batch",
                "--out",
                "--animate",
            ],
            &[
                ("--policy", "random"),
                ("--suite", "bottleneck-test"),
                ("--max-maps", "1"),
                ("--seeds", "0"),
                ("--out", "fuzz-eval"),
            ],
        ));
        // A real long evaluation is valid work, not a hang: keep the suites small.
        if args.iter().any(|a| a == "1000000000") && args.iter().any(|a| a == "--agents") {
            args.retain(|a| a != "1000000000");
        }
        check(evaluate, &args, &dir, &mut failures, &mut tally);
        cases += 1;
    }

    let train = env!("CARGO_BIN_EXE_train-srmt");
    let fixed = [
        ("--runs", "fuzz-runs"),
        ("--total-agent-steps", "512"),
        ("--eval-lengths", "3"),
        ("--eval-seeds", "1"),
    ];
    for k in 0..40 {
        let mut args = random_args(
            &mut rng,
            &[
                "--threads",
                "--max-instances",
                "--eval-lengths",
                "--eval-seeds",
                "--core",
                "--reward",
                "--seed",
                "--run",
                "--minutes",
            ],
            &fixed,
        );
        args.extend([
            "--quiet".to_string(),
            "--run".to_string(),
            format!("args-{k}"),
        ]);
        check(train, &args, &dir, &mut failures, &mut tally);
        cases += 1;
    }
    for k in 0..60 {
        let file = dir.join(format!("config-{k}.toml"));
        std::fs::write(&file, mutated_config(&mut rng)).expect("writable scratch");
        let mut args: Vec<String> = vec!["--config".into(), file.display().to_string()];
        for (flag, value) in fixed {
            args.extend([flag.to_string(), value.to_string()]);
        }
        args.extend(["--quiet".into(), "--run".into(), format!("config-{k}")]);
        check(train, &args, &dir, &mut failures, &mut tally);
        cases += 1;
    }

    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "fuzz: {cases} cases: {} accepted, {} clear errors, {} usage errors; {} failures",
        tally[0],
        tally[1],
        tally[2],
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
