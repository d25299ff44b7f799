//! Headless evaluation of a policy on published protocols: `evaluate run` writes per-episode CSV,
//! an aggregate Markdown table (next to the published baselines where given), SVG plots and
//! animated SVGs; `evaluate compare` merges several results folders.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rmapf_agents::EpisodeView;
use rmapf_env::maps::render::episode_svg;
use rmapf_env::{Env, MapSpec};
use rmapf_train::evaluate::{BUILTIN_POLICIES, EpisodeRecord, builtin_policy};
use rmapf_train::evaluation::{Evaluation, EvaluationRequest, write_outputs};
use rmapf_train::report::read_csv;

/// Evaluate policies on rmapf's suites.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a policy over one or more suites.
    Run {
        #[arg(long, default_value = "astar-follower", help = format!(
            "Built-in policy ({BUILTIN_POLICIES}) or a checkpoint folder written by training."
        ))]
        policy: String,
        /// The policy's name in the results (default: the built-in's name, or for a checkpoint
        /// its run folder's name).
        #[arg(long)]
        label: Option<String>,
        /// Take the checkpoint's most likely action instead of sampling (the SRMT reference samples).
        #[arg(long, conflicts_with = "temperature")]
        greedy: bool,
        /// Sample from the checkpoint's policy at this temperature (probabilities raised to
        /// 1 / T and renormalised; below 1 sharpens it toward the greedy action) [default: 1]
        #[arg(long)]
        temperature: Option<f32>,
        /// Suite names or files (repeatable).
        #[arg(long, required = true)]
        suite: Vec<String>,
        /// Override the suites' seeds (comma-separated).
        #[arg(long, value_delimiter = ',')]
        seeds: Option<Vec<u64>>,
        /// Override the suites' agent counts (comma-separated).
        #[arg(long, value_delimiter = ',')]
        agents: Option<Vec<i64>>,
        /// Use only the first K maps of each suite.
        #[arg(long)]
        max_maps: Option<usize>,
        /// Folder with the POGEMA benchmark map files and published results (default: the copy
        /// shipped in maps/data/pogema-benchmark-lmapf; Follower's training mazes likewise).
        #[arg(long)]
        maps_dir: Option<PathBuf>,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Episodes stepped together.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Results folder.
        #[arg(long, default_value = "results/latest")]
        out: PathBuf,
        /// Animated SVGs of the first K instances of each suite.
        #[arg(long, default_value_t = 0)]
        animate: usize,
        /// Leave the decision-time column empty: the files are then byte-identical between runs
        /// (and equal to a distributed evaluation's, see `python -m rmapf.ray evaluate`).
        #[arg(long)]
        no_timing: bool,
        /// Where a checkpoint's network runs: cpu, or tch-cpu / cuda in a build with the `tch`
        /// feature (see the README's libtorch section).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Also ask this built-in policy, at every step, what it would do in the evaluated
        /// policy's state, and report how often the two agree per suite (printed, and written to
        /// agreement.md); e.g. a checkpoint against the expert it imitated.
        #[arg(long)]
        agreement_with: Option<String>,
    },
    /// Merge results folders into one table and plots.
    Compare {
        /// Results folders (each with episodes.csv).
        dirs: Vec<PathBuf>,
        /// Folder with the POGEMA benchmark published results (default: the shipped copy).
        #[arg(long)]
        maps_dir: Option<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "results/compare")]
        out: PathBuf,
    },
}

/// Writes the evaluation's files into `out` and prints its table.
fn write_and_say(
    out: &std::path::Path,
    records: &[EpisodeRecord],
    published: &std::path::Path,
) -> Result<()> {
    let written = write_outputs(out, records, published)?;
    rmapf_train::say!("{}", written.summary);
    rmapf_train::say!("wrote {}: {}", out.display(), written.files.join(", "));
    Ok(())
}

/// Replays instance `inst` with the policy on a single env and writes an animated SVG.
fn animate(
    inst: &rmapf_env::maps::suites::SuiteInstance,
    policy: &str,
    path: &std::path::Path,
) -> Result<()> {
    let mut env = Env::new(&inst.config)?;
    env.reset()?;
    let mut p = builtin_policy(policy, 0)?;
    let radius = inst.config.obs_radius as usize;
    let (mut positions, mut goals, mut active) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let s = env.snapshot();
        positions.push(s.positions);
        goals.push(s.goals);
        active.push(s.active);
        if env.buffers.episode_done[0] {
            break;
        }
        let n = env.num_agents();
        // `Env` lends its simulator only mutably, so the view reads a copy of the grids.
        let (obstacles, stride) = env.simulator().padded_obstacles(0);
        let obstacles = obstacles.to_vec();
        let occupancy = env.simulator().padded_occupancy(0).to_vec();
        let (seed, elapsed) = env.simulator().episode_clock(0);
        let view = EpisodeView {
            obstacles: &obstacles,
            occupancy: &occupancy,
            stride,
            first_row: 0,
            num_agents: n,
            seed,
            elapsed,
        };
        let mut actions = vec![0u8; n];
        p.act(&[view], &env.buffers, radius, &mut actions);
        env.step(&actions)?;
    }
    let rows: Vec<String> = match &inst.config.map {
        Some(MapSpec::Text(t)) => t
            .split_whitespace()
            .map(|r| r.replace(['@', '$', '!'], "."))
            .collect(),
        _ => bail!("instance has no inline map"),
    };
    std::fs::write(path, episode_svg(&rows, &positions, &goals, &active, 0.2))?;
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Run {
            policy,
            label,
            greedy,
            temperature,
            suite,
            seeds,
            agents,
            max_maps,
            maps_dir,
            threads,
            batch,
            out,
            animate: n_anim,
            no_timing,
            device,
            agreement_with,
        } => {
            rmapf_train::cli::warn_threads("--threads", threads);
            let request = EvaluationRequest {
                policy: policy.clone(),
                label,
                greedy,
                temperature,
                suites: suite,
                seeds,
                agents,
                max_maps,
                maps_dir,
                threads,
                batch,
                timing: !no_timing,
                device,
                agreement_with,
            };
            let published = request.published_dir();
            let evaluation = Evaluation::new(request)?;
            let mut results = Vec::new();
            let mut agreement_report = String::new();
            for (k, work) in evaluation.suites().iter().enumerate() {
                let bar = ProgressBar::new(work.instances.len() as u64).with_style(
                    ProgressStyle::with_template(
                        "{prefix:>16} [{bar:30}] {pos}/{len} episodes {elapsed_precise} eta {eta}",
                    )?
                    .progress_chars("=> "),
                );
                bar.set_prefix(work.name.clone());
                let t = std::time::Instant::now();
                let r = evaluation.run_suite(k, |n| bar.inc(n as u64))?;
                bar.finish();
                rmapf_train::say!(
                    "{}: {} episodes in {:.1} s",
                    work.name,
                    work.instances.len(),
                    t.elapsed().as_secs_f64()
                );
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                if evaluation.checkpoint().is_none() {
                    for inst in work.instances.iter().take(n_anim) {
                        let file = out.join(format!(
                            "{}-{}-{}a-seed{}.svg",
                            work.name, inst.map_name, inst.num_agents, inst.seed
                        ));
                        animate(inst, &policy, &file)?;
                    }
                }
                if let (Some(reference), Some(agreement)) = (
                    &evaluation.request().agreement_with,
                    evaluation.agreement(k),
                ) {
                    let rate = agreement.rate().unwrap_or(0.0);
                    let text = format!(
                        "{}: {} took {reference}'s action in {:.2}% of {} active agent-steps\n\n{}",
                        work.name,
                        evaluation.label(),
                        100.0 * rate,
                        agreement.total(),
                        agreement.markdown(reference, evaluation.label())
                    );
                    rmapf_train::say!("{text}");
                    agreement_report += &text;
                    agreement_report += "\n";
                }
                results.extend(r);
            }
            if evaluation.request().agreement_with.is_some() {
                let file = out.join("agreement.md");
                std::fs::write(&file, &agreement_report)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            let records = evaluation.merge(results)?;
            write_and_say(&out, &records, &published)?;
        }
        Command::Compare {
            dirs,
            maps_dir,
            out,
        } => {
            if dirs.is_empty() {
                bail!("give at least one results folder");
            }
            let mut records = Vec::new();
            for d in &dirs {
                records.extend(read_csv(&d.join("episodes.csv"))?);
            }
            let published = maps_dir.unwrap_or_else(rmapf_maps::benchmark_dir);
            write_and_say(&out, &records, &published)?;
        }
    }
    Ok(())
}
