//! Headless evaluation of a policy on published protocols: `evaluate run` writes per-episode CSV,
//! an aggregate Markdown table (next to the published baselines where given), SVG plots and
//! animated SVGs; `evaluate compare` merges several results folders.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rmapf_agents::EpisodeView;
use rmapf_env::maps::render::episode_svg;
use rmapf_env::{Env, MapSpec};
use rmapf_train::evaluate::{EpisodeRecord, builtin_policy, load_suite, run_instances_with};
use rmapf_train::high_level::high_level_markdown;
use rmapf_train::neural::{CheckpointInputs, NeuralPolicy, check_checkpoint, check_window};
use rmapf_train::report::{
    Baselines, bottleneck_markdown, load_baselines, plots, read_csv, summary_markdown, write_csv,
};

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
        /// Built-in policy (astar-follower, pibt, pibt-swap, pibt-lookahead or
        /// pibt-lookahead:ROLLOUTS:WINDOW, random) or a checkpoint folder written by training.
        #[arg(long, default_value = "astar-follower")]
        policy: String,
        /// The policy's name in the results (default: the built-in's name, or for a checkpoint
        /// its run folder's name).
        #[arg(long)]
        label: Option<String>,
        /// Take the checkpoint's most likely action instead of sampling (the SRMT reference samples).
        #[arg(long)]
        greedy: bool,
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

fn baselines_for(
    records: &[EpisodeRecord],
    published: &std::path::Path,
) -> Result<BTreeMap<String, Baselines>> {
    let mut out = BTreeMap::new();
    for suite in records
        .iter()
        .map(|r| r.suite.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        out.insert(suite.clone(), load_baselines(published, &suite)?);
    }
    Ok(out)
}

/// Writes `episodes.csv`, `summary.md` (with the baselines published in `published`) and the
/// plots into `out`.
fn write_outputs(
    out: &std::path::Path,
    records: &[EpisodeRecord],
    published: &std::path::Path,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_csv(&out.join("episodes.csv"), records)?;
    let baselines = baselines_for(records, published)?;
    let table = summary_markdown(records, &baselines)
        + &bottleneck_markdown(records)
        + &high_level_markdown(records, published)?;
    std::fs::write(out.join("summary.md"), &table)?;
    let files = plots(out, records, &baselines)?;
    rmapf_train::say!("{table}");
    rmapf_train::say!(
        "wrote {}/episodes.csv, summary.md{}",
        out.display(),
        files.iter().map(|f| format!(", {f}")).collect::<String>()
    );
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
        // `Env` lends its simulator only mutably, so the view reads a copy of the obstacles.
        let (obstacles, stride) = env.simulator().padded_obstacles(0);
        let obstacles = obstacles.to_vec();
        let (seed, elapsed) = env.simulator().episode_clock(0);
        let view = EpisodeView {
            obstacles: &obstacles,
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
            suite,
            seeds,
            agents,
            max_maps,
            maps_dir,
            threads,
            batch,
            out,
            animate: n_anim,
        } => {
            rmapf_train::cli::warn_threads("--threads", threads);
            let checkpoint = std::path::Path::new(&policy)
                .exists()
                .then(|| PathBuf::from(&policy));
            let model = match &checkpoint {
                Some(dir) => Some(check_checkpoint(dir)?),
                None => {
                    drop(builtin_policy(&policy, 0)?);
                    None
                }
            };
            let label = label.unwrap_or_else(|| match &checkpoint {
                // `runs/<name>/checkpoint` → `<name>`.
                Some(dir) => {
                    let dir = if dir.ends_with("checkpoint") {
                        dir.parent().unwrap_or(dir)
                    } else {
                        dir
                    };
                    dir.file_name()
                        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned())
                }
                None => policy.clone(),
            });
            let label = label.as_str();
            let make = |shard: usize| -> Result<Box<dyn rmapf_agents::Policy>> {
                match &checkpoint {
                    Some(dir) => Ok(Box::new(NeuralPolicy::load(dir, greedy, 0)?)),
                    None => builtin_policy(&policy, shard as u64),
                }
            };
            let mut records = Vec::new();
            for name in &suite {
                let (s, mut instances) = load_suite(
                    name,
                    maps_dir.as_deref(),
                    seeds.as_deref(),
                    agents.as_deref(),
                    max_maps,
                )?;
                if let (Some(model), Some(dir)) = (&model, &checkpoint) {
                    // Learned policies read the follower observation (with the planner they were
                    // trained with) and their training reward, in their own window size.
                    let inputs = CheckpointInputs::load(dir)?;
                    for i in &mut instances {
                        inputs.apply(&mut i.config);
                        check_window(model, &s.name, i.config.obs_radius)?;
                    }
                }
                let bar = ProgressBar::new(instances.len() as u64).with_style(
                    ProgressStyle::with_template(
                        "{prefix:>16} [{bar:30}] {pos}/{len} episodes {elapsed_precise} eta {eta}",
                    )?
                    .progress_chars("=> "),
                );
                bar.set_prefix(s.name.clone());
                let t = std::time::Instant::now();
                let mut r =
                    run_instances_with(&s.name, &instances, label, threads, batch, make, |k| {
                        bar.inc(k as u64)
                    })?;
                bar.finish();
                rmapf_train::say!(
                    "{}: {} episodes in {:.1} s",
                    s.name,
                    r.len(),
                    t.elapsed().as_secs_f64()
                );
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                if checkpoint.is_none() {
                    for inst in instances.iter().take(n_anim) {
                        let file = out.join(format!(
                            "{}-{}-{}a-seed{}.svg",
                            s.name, inst.map_name, inst.num_agents, inst.seed
                        ));
                        animate(inst, &policy, &file)?;
                    }
                }
                records.append(&mut r);
            }
            let published = maps_dir.unwrap_or_else(rmapf_maps::benchmark_dir);
            write_outputs(&out, &records, &published)?;
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
            write_outputs(&out, &records, &published)?;
        }
    }
    Ok(())
}
