//! `bottleneck-sweep`: the SRMT paper's Bottleneck figure. Trains cores × rewards × seeds with
//! `train-srmt`'s code, one run at a time (each uses every simulator thread), evaluates each on the
//! test corridors, then writes `sweep.md` (mean ± sd over seeds, by corridor length, the runs that
//! did not learn) and `sweep-csr.png`/`.svg`. Stop it at any time: started again with the same
//! arguments it skips finished runs and resumes the others from their last checkpoint.
//!
//! ```sh
//! cargo run --release --bin bottleneck-sweep -- --cores srmt,rmt --rewards sparse --seeds 0,1,2
//! ```

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use rmapf_train::ppo::TrainConfig;
use rmapf_train::say;
use rmapf_train::sweep::{cells, default_runs, plan, write_report};
use rmapf_train::train_cli::run;

/// Train and evaluate cores × rewards × seeds on the Bottleneck, then write the figure.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Cores (comma-separated): srmt, rmt, attention, empty, gru, rate.
    #[arg(long, value_delimiter = ',', default_value = "srmt,rmt")]
    cores: Vec<String>,
    /// Rewards (comma-separated): directional, sparse, dense, directional_negative,
    /// moving_negative.
    #[arg(long, value_delimiter = ',', default_value = "sparse")]
    rewards: Vec<String>,
    /// Training seeds (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// The sweep's folder: one run folder per cell, `sweep.md` and the figure.
    #[arg(long, default_value_os_t = default_runs())]
    runs: PathBuf,
    /// Folder of the `bottleneck-<core>-<reward>.toml` configs new runs start from.
    #[arg(long, default_value = "trainers/configs")]
    configs: PathBuf,
    /// Agent steps per run (the configs' 20 M, the paper's budget, otherwise).
    #[arg(long)]
    total_agent_steps: Option<u64>,
    /// Train each run on only the first K training corridors (all 256 otherwise; for quick
    /// trials).
    #[arg(long)]
    max_instances: Option<usize>,
    /// Corridor lengths of each run's test evaluation (comma-separated).
    #[arg(long, default_value = "3,5,8,12,16,20,30,40,50,100,200,300,400")]
    eval_lengths: String,
    /// Seeds of each run's test evaluation.
    #[arg(long, default_value_t = 10)]
    eval_seeds: u64,
    /// Only write the report from the runs finished so far.
    #[arg(long)]
    report_only: bool,
    /// One log line per iteration instead of progress bars.
    #[arg(long)]
    quiet: bool,
}

/// mimalloc instead of glibc's allocator: burn allocates and frees a buffer for every tensor
/// operation, and training ran 8-12% faster with it (BENCHMARKS.md, "Allocators"); `main` tells it
/// to keep the memory it frees (`rmapf_train::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    rmapf_train::allocator::keep_freed_memory();
    let mut args = Args::parse();
    if args.eval_lengths.trim().is_empty() {
        bail!(
            "--eval-lengths must name at least one corridor length (the runs' tables come from it)"
        );
    }
    dedup(&mut args.cores);
    dedup(&mut args.rewards);
    dedup(&mut args.seeds);
    let cells = cells(&args.cores, &args.rewards, &args.seeds);
    if cells.is_empty() {
        bail!("--cores, --rewards and --seeds leave no run to do");
    }
    std::fs::create_dir_all(&args.runs)?;
    let mut extra = vec![
        "--eval-lengths".to_string(),
        args.eval_lengths.clone(),
        "--eval-seeds".into(),
        args.eval_seeds.to_string(),
    ];
    if let Some(n) = args.total_agent_steps {
        extra.extend(["--total-agent-steps".into(), n.to_string()]);
    }
    if args.quiet {
        extra.push("--quiet".into());
    }
    let mut fresh = Vec::new();
    if let Some(k) = args.max_instances {
        fresh.extend(["--max-instances".into(), k.to_string()]);
    }
    // Every cell's arguments (and config file) are checked before the first run starts, so a
    // typo fails now rather than hours into the sweep.
    let plan = plan(&cells, &args.runs, &args.configs, &extra, &fresh)?;
    let mut failed = Vec::new();
    if !args.report_only {
        for (k, (cell, train)) in cells.iter().zip(plan).enumerate() {
            let Some(train) = train else {
                say!("[{}/{}] {}: finished", k + 1, cells.len(), cell.run_name());
                continue;
            };
            say!("[{}/{}] {}", k + 1, cells.len(), cell.run_name());
            // One failed run (a NaN loss, a panic) does not stop the others; it is reported at
            // the end.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&train, TrainConfig::srmt_bottleneck())
            }));
            let error = match outcome {
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => "panicked".to_string(),
            };
            say!("{}: {error}", cell.run_name());
            failed.push(cell.run_name());
        }
    }
    let report = write_report(&args.runs, &cells)?;
    say!("{report}");
    say!(
        "wrote {}/sweep.md and sweep-csr.png/.svg",
        args.runs.display()
    );
    if !failed.is_empty() {
        bail!("runs that stopped with an error: {}", failed.join(", "));
    }
    Ok(())
}

/// Removes repeated values, keeping the first of each.
fn dedup<T: PartialEq + Clone>(values: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::new();
    values.retain(|v| {
        let new = !seen.contains(v);
        if new {
            seen.push(v.clone());
        }
        new
    });
}
