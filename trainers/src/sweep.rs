//! The SRMT paper's Bottleneck figure as a sweep: cores × rewards × seeds of `train-srmt` runs,
//! one after the other, each evaluated on the test corridors, then one table and one figure of
//! test CSR against corridor length per core and reward (mean and spread over seeds).
//!
//! A run is finished when its folder holds `eval.csv` (written last and atomically by
//! [`crate::train_cli::run`]); the sweep skips finished runs, resumes partial ones from their
//! checkpoint and starts the others, so it can be stopped at any time and started again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Parser;

use crate::evaluate::EpisodeRecord;
use crate::report::{line_plot_with_spread, read_csv};
use crate::train_cli::TrainArgs;

/// One cell of the sweep: a core, a reward and a seed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// Core name (`srmt`, `rmt`, `attention`, `empty`, `gru`, `rate`).
    pub core: String,
    /// Reward name (`directional`, `sparse`, ...).
    pub reward: String,
    /// Training seed.
    pub seed: u64,
}

impl Cell {
    /// The run folder's name inside the sweep folder.
    pub fn run_name(&self) -> String {
        format!("{}-{}-seed{}", self.core, self.reward, self.seed)
    }
}

/// What the sweep does next for a cell.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// `eval.csv` is there: nothing.
    Skip,
    /// A run folder without `eval.csv`: resume it (it goes on training, or only evaluates).
    Resume,
    /// No run yet: start it from the cell's config file.
    Start,
}

/// What to do for the run in `dir`.
pub fn next_step(dir: &Path) -> Next {
    if dir.join("eval.csv").exists() {
        Next::Skip
    } else if dir.join("config.toml").exists() {
        Next::Resume
    } else {
        Next::Start
    }
}

/// The `train-srmt` arguments that carry `cell` one step further in `runs` (None: finished).
/// `extra` are passed on to every run (`--eval-lengths`, `--quiet`, ...), `fresh` only to a new
/// one (options a resume keeps from its config, such as `--max-instances`); a new run reads
/// `configs/bottleneck-<core>-<reward>.toml`.
pub fn train_args(
    cell: &Cell,
    runs: &Path,
    configs: &Path,
    extra: &[String],
    fresh: &[String],
) -> Result<Option<TrainArgs>> {
    let name = cell.run_name();
    let mut argv: Vec<String> = vec![
        "train-srmt".into(),
        "--runs".into(),
        runs.display().to_string(),
        "--run".into(),
        name.clone(),
    ];
    match next_step(&runs.join(&name)) {
        Next::Skip => return Ok(None),
        Next::Resume => argv.push("--resume".into()),
        Next::Start => {
            let config = configs.join(format!("bottleneck-{}-{}.toml", cell.core, cell.reward));
            if !config.exists() {
                anyhow::bail!(
                    "no config {} for core {:?} and reward {:?} (scripts/make_train_configs.py writes them)",
                    config.display(),
                    cell.core,
                    cell.reward
                );
            }
            argv.extend([
                "--config".into(),
                config.display().to_string(),
                "--seed".into(),
                cell.seed.to_string(),
            ]);
            argv.extend(fresh.iter().cloned());
        }
    }
    argv.extend(extra.iter().cloned());
    Ok(Some(TrainArgs::try_parse_from(&argv).with_context(
        || format!("the arguments of run {name}: {}", argv.join(" ")),
    )?))
}

/// Every cell's `train-srmt` arguments ([`train_args`]), checked before the first run starts so
/// that a typo fails now rather than hours into the sweep: a known core and reward, a config file
/// that parses and validates, and no run folder of another cell's name holding a different run
/// (core, reward or seed).
pub fn plan(
    cells: &[Cell],
    runs: &Path,
    configs: &Path,
    extra: &[String],
    fresh: &[String],
) -> Result<Vec<Option<TrainArgs>>> {
    cells
        .iter()
        .map(|cell| {
            let core = crate::train_cli::parse_core(&cell.core)?;
            let reward: rmapf_env::RewardKind =
                serde_json::from_value(serde_json::Value::String(cell.reward.clone()))
                    .with_context(|| format!("unknown reward {:?}", cell.reward))?;
            let args = train_args(cell, runs, configs, extra, fresh)?;
            let dir = runs.join(cell.run_name());
            let file = match next_step(&dir) {
                Next::Start => configs.join(format!("bottleneck-{}-{}.toml", cell.core, cell.reward)),
                _ => dir.join("config.toml"),
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let config = crate::ppo::TrainConfig::from_toml(&text)
                .with_context(|| format!("in {}", file.display()))?;
            if next_step(&dir) == Next::Start {
                if config.model.core != core || config.env.reward != reward {
                    anyhow::bail!(
                        "{} trains core {:?} with reward {:?}, not the cell's {} and {}",
                        file.display(),
                        config.model.core,
                        config.env.reward,
                        cell.core,
                        cell.reward
                    );
                }
            } else if config.model.core != core
                || config.env.reward != reward
                || config.run.seed != cell.seed
            {
                anyhow::bail!(
                    "{} holds another run (core {:?}, reward {:?}, seed {}) than the cell {}: move it or \
                     choose another runs folder",
                    dir.display(),
                    config.model.core,
                    config.env.reward,
                    config.run.seed,
                    cell.run_name()
                );
            }
            Ok(args)
        })
        .collect()
}

/// Per corridor length, the mean over a run's test episodes of `metric` (one run, one model).
fn by_length(
    records: &[EpisodeRecord],
    model: &str,
    metric: fn(&EpisodeRecord) -> Option<f64>,
) -> BTreeMap<usize, f64> {
    let mut sums: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.policy == model) {
        let Some(l) = r.corridor_length() else {
            continue;
        };
        let e = sums.entry(l).or_default();
        e.0 += metric(r).unwrap_or(0.0);
        e.1 += 1;
    }
    sums.into_iter()
        .map(|(l, (s, n))| (l, s / n as f64))
        .collect()
}

/// A finished run: its cell and its test episodes (`eval.csv`).
pub type FinishedRun = (Cell, Vec<EpisodeRecord>);

/// Mean and sample standard deviation (0 for fewer than two values).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = crate::ppo::mean(values.iter().copied());
    if n < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// A run counts as having learned when its final model's mean test CSR is at least this.
pub const LEARNED_CSR: f64 = 0.5;

/// The sweep's report (Markdown) from the finished runs: per core and reward, the number of seeds,
/// the final and best models' mean test CSR (mean ± sd over seeds), test CSR by corridor length
/// for the final model, and the runs that did not learn. Also returns the figure's series: per
/// core and reward, (L, mean CSR, lowest seed, highest seed) of the final model.
pub fn report(runs: &[FinishedRun]) -> (String, BTreeMap<String, Vec<[f64; 4]>>) {
    let mut groups: BTreeMap<(String, String), Vec<&FinishedRun>> = BTreeMap::new();
    for run in runs {
        groups
            .entry((run.0.core.clone(), run.0.reward.clone()))
            .or_default()
            .push(run);
    }
    let lengths: Vec<usize> = {
        let mut all: Vec<usize> = runs
            .iter()
            .flat_map(|(_, r)| by_length(r, "final", |r| r.csr).into_keys())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Test CSR on the Bottleneck test corridors (bottleneck-test), mean ± sample sd over seeds; \
         each seed's value is its mean over the corridor lengths (and the evaluation seeds) \
         below. `final`: the model at the end of training; `best`: the run's `best/` model.\n"
    );
    md.push_str(
        "| core | reward | seeds | final CSR | best CSR | final ISR | final sum of costs |\n",
    );
    md.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    let mut figure = BTreeMap::new();
    let mut failed = Vec::new();
    let mut per_length = String::from("| core | reward |");
    for l in &lengths {
        let _ = write!(per_length, " L={l} |");
    }
    per_length.push_str("\n|---|---|");
    per_length.push_str(&"---:|".repeat(lengths.len()));
    per_length.push('\n');
    for ((core, reward), members) in &groups {
        let overall = |model: &str, metric: fn(&EpisodeRecord) -> Option<f64>| {
            let per_seed: Vec<f64> = members
                .iter()
                .map(|(_, r)| {
                    let v = by_length(r, model, metric);
                    v.values().sum::<f64>() / v.len().max(1) as f64
                })
                .collect();
            mean_sd(&per_seed)
        };
        let f = overall("final", |r| r.csr);
        let b = overall("best", |r| r.csr);
        let isr = overall("final", |r| r.isr);
        let soc = overall("final", |r| r.sum_of_costs);
        let _ = writeln!(
            md,
            "| {core} | {reward} | {} | {:.2} ± {:.2} | {:.2} ± {:.2} | {:.2} ± {:.2} | {:.1} ± {:.1} |",
            members.len(),
            f.0,
            f.1,
            b.0,
            b.1,
            isr.0,
            isr.1,
            soc.0,
            soc.1
        );
        let _ = write!(per_length, "| {core} | {reward} |");
        let mut points = Vec::new();
        let seeds: Vec<BTreeMap<usize, f64>> = members
            .iter()
            .map(|(_, r)| by_length(r, "final", |r| r.csr))
            .collect();
        for l in &lengths {
            let values: Vec<f64> = seeds.iter().filter_map(|s| s.get(l).copied()).collect();
            let (m, sd) = mean_sd(&values);
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let _ = write!(per_length, " {m:.2} ± {sd:.2} |");
            if !values.is_empty() {
                points.push([*l as f64, m, lo, hi]);
            }
        }
        per_length.push('\n');
        figure.insert(format!("{core} {reward}"), points);
        for (cell, r) in members {
            let v = by_length(r, "final", |r| r.csr);
            let mean = v.values().sum::<f64>() / v.len().max(1) as f64;
            if mean < LEARNED_CSR {
                failed.push(format!(
                    "{} (final mean test CSR {mean:.2})",
                    cell.run_name()
                ));
            }
        }
    }
    md.push_str("\nFinal model, test CSR by corridor length (mean ± sd over seeds):\n\n");
    md.push_str(&per_length);
    md.push_str(&format!(
        "\nRuns that did not learn (final mean test CSR below {LEARNED_CSR}): {}\n",
        if failed.is_empty() {
            "none".to_string()
        } else {
            failed.join(", ")
        }
    ));
    (md, figure)
}

/// Reads the finished runs of `cells` in `runs`, writes `sweep.md` and the figure
/// `sweep-csr.png`/`.svg` there. Returns the report.
pub fn write_report(runs: &Path, cells: &[Cell]) -> Result<String> {
    let mut finished = Vec::new();
    for cell in cells {
        let path = runs.join(cell.run_name()).join("eval.csv");
        if path.exists() {
            finished.push((cell.clone(), read_csv(&path)?));
        }
    }
    let (md, figure) = report(&finished);
    let header = format!(
        "# Bottleneck sweep\n\n{} of {} runs finished.\n\n",
        finished.len(),
        cells.len()
    );
    let md = header + &md;
    std::fs::write(runs.join("sweep.md"), &md)
        .with_context(|| format!("writing {}", runs.join("sweep.md").display()))?;
    if !figure.is_empty() {
        line_plot_with_spread(
            &runs.join("sweep-csr"),
            "final model: test CSR vs corridor length (mean, lowest and highest seed)",
            "corridor length L",
            "CSR",
            &figure,
        )?;
    }
    Ok(md)
}

/// The `configs/` folder of this crate (`bottleneck-<core>-<reward>.toml`), for callers that do
/// not run from the repository's root.
pub fn shipped_configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

/// The sweep's cells in the order they run: reward, then core, then seed.
pub fn cells(cores: &[String], rewards: &[String], seeds: &[u64]) -> Vec<Cell> {
    let mut out = Vec::new();
    for reward in rewards {
        for core in cores {
            for &seed in seeds {
                out.push(Cell {
                    core: core.clone(),
                    reward: reward.clone(),
                    seed,
                });
            }
        }
    }
    out
}

/// The sweep folder's default.
pub fn default_runs() -> PathBuf {
    PathBuf::from("runs/sweep")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(model: &str, l: usize, seed: u64, csr: f64) -> EpisodeRecord {
        EpisodeRecord {
            policy: model.into(),
            suite: "bottleneck-test".into(),
            map: format!("bottleneck-{l}"),
            agents: 2,
            seed,
            csr: Some(csr),
            isr: Some(csr),
            sum_of_costs: Some(10.0 * l as f64),
            ..EpisodeRecord::default()
        }
    }

    fn run(core: &str, seed: u64, csr_at: [f64; 2]) -> (Cell, Vec<EpisodeRecord>) {
        let cell = Cell {
            core: core.into(),
            reward: "sparse".into(),
            seed,
        };
        let mut records = Vec::new();
        for (l, csr) in [3, 100].into_iter().zip(csr_at) {
            for eval_seed in 0..2 {
                records.push(record("final", l, eval_seed, csr));
                records.push(record("best", l, eval_seed, 1.0));
            }
        }
        (cell, records)
    }

    #[test]
    fn report_gives_mean_and_spread_over_seeds_and_names_runs_that_did_not_learn() {
        let runs = vec![
            run("srmt", 0, [1.0, 1.0]),
            run("srmt", 1, [1.0, 0.0]),
            run("srmt", 2, [0.0, 0.0]),
            run("empty", 0, [1.0, 0.5]),
        ];
        let (md, figure) = report(&runs);
        // srmt: per-seed means 1.0, 0.5, 0.0 → 0.50 ± 0.50.
        assert!(
            md.contains("| srmt | sparse | 3 | 0.50 ± 0.50 | 1.00 ± 0.00 |"),
            "{md}"
        );
        assert!(md.contains("| empty | sparse | 1 | 0.75 ± 0.00 |"), "{md}");
        // By length: L=3 is 1, 1, 0 → 0.67 ± 0.58; L=100 is 1, 0, 0 → 0.33 ± 0.58.
        assert!(
            md.contains("| srmt | sparse | 0.67 ± 0.58 | 0.33 ± 0.58 |"),
            "{md}"
        );
        assert!(
            md.contains("srmt-sparse-seed2 (final mean test CSR 0.00)"),
            "{md}"
        );
        assert!(!md.contains("seed1 (final"), "{md}");
        let srmt = &figure["srmt sparse"];
        assert_eq!(srmt[0][0], 3.0);
        assert_eq!((srmt[1][2], srmt[1][3]), (0.0, 1.0));
    }

    #[test]
    fn finished_runs_are_skipped_partial_ones_resumed_new_ones_started() {
        let runs = std::env::temp_dir().join(format!("rmapf-sweep-{}", std::process::id()));
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let cell = Cell {
            core: "srmt".into(),
            reward: "sparse".into(),
            seed: 4,
        };
        let dir = runs.join(cell.run_name());
        let fresh = ["--max-instances".to_string(), "3".into()];
        let start = train_args(&cell, &runs, &configs, &["--quiet".into()], &fresh)
            .unwrap()
            .unwrap();
        assert!(!start.resume && start.quiet);
        assert_eq!(start.max_instances, Some(3));
        assert_eq!(start.seed, Some(4));
        assert_eq!(
            start.config.unwrap(),
            configs.join("bottleneck-srmt-sparse.toml")
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "").unwrap();
        let resume = train_args(&cell, &runs, &configs, &[], &fresh)
            .unwrap()
            .unwrap();
        assert!(resume.resume && resume.config.is_none() && resume.seed.is_none());
        assert_eq!(resume.max_instances, None);
        std::fs::write(dir.join("eval.csv"), "").unwrap();
        assert!(
            train_args(&cell, &runs, &configs, &[], &[])
                .unwrap()
                .is_none()
        );
        let unknown = Cell {
            reward: "nonsense".into(),
            ..cell
        };
        let err = train_args(&unknown, &runs, &configs, &[], &[]).unwrap_err();
        assert!(err.to_string().contains("no config"), "{err}");
        std::fs::remove_dir_all(&runs).ok();
    }

    #[test]
    fn a_plan_refuses_unknown_cells_bad_configs_and_foreign_run_folders() {
        let runs = std::env::temp_dir().join(format!("rmapf-sweep-plan-{}", std::process::id()));
        std::fs::remove_dir_all(&runs).ok();
        let configs = shipped_configs();
        let cell = |core: &str, reward: &str, seed| Cell {
            core: core.into(),
            reward: reward.into(),
            seed,
        };
        let ok = plan(&[cell("srmt", "sparse", 0)], &runs, &configs, &[], &[]).unwrap();
        assert!(ok[0].as_ref().is_some_and(|a| a.seed == Some(0)));
        let err = |cells: &[Cell], configs: &Path| {
            format!("{:#}", plan(cells, &runs, configs, &[], &[]).unwrap_err())
        };
        assert!(err(&[cell("lstm", "sparse", 0)], &configs).contains("unknown core"));
        assert!(err(&[cell("srmt", "sparce", 0)], &configs).contains("unknown reward"));
        // A config with an unknown field, and one of another core than its name says.
        let bad = runs.join("configs");
        std::fs::create_dir_all(&bad).unwrap();
        let text = std::fs::read_to_string(configs.join("bottleneck-srmt-sparse.toml")).unwrap();
        std::fs::write(
            bad.join("bottleneck-srmt-sparse.toml"),
            text.replace("[ppo]", "[ppo]\nlearning_rate = 1"),
        )
        .unwrap();
        assert!(err(&[cell("srmt", "sparse", 0)], &bad).contains("learning_rate"));
        std::fs::write(
            bad.join("bottleneck-srmt-sparse.toml"),
            text.replace("core = \"srmt\"", "core = \"gru\""),
        )
        .unwrap();
        assert!(err(&[cell("srmt", "sparse", 0)], &bad).contains("not the cell's"));
        // The cell's run folder holding a run of another seed.
        let dir = runs.join("srmt-sparse-seed0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            text.replace("seed = 0\ntotal", "seed = 7\ntotal"),
        )
        .unwrap();
        assert!(err(&[cell("srmt", "sparse", 0)], &configs).contains("holds another run"));
        std::fs::remove_dir_all(&runs).ok();
    }

    #[test]
    fn spread_of_one_value_is_zero() {
        assert_eq!(mean_sd(&[]), (0.0, 0.0));
        assert_eq!(mean_sd(&[0.4]), (0.4, 0.0));
        let (m, sd) = mean_sd(&[1.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((sd - 2f64.sqrt()).abs() < 1e-12);
    }
}
