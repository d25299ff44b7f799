//! The `train` and `train-srmt` command line: run folder, progress bar, JSONL metrics, learning
//! curves, atomic checkpoints, `--resume`, and a final Bottleneck evaluation table.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rmapf_agents::Policy;
use rmapf_agents::nn::CoreKind;
use rmapf_env::RewardKind;

use crate::evaluate::{EpisodeRecord, load_suite, run_instances_with};
use crate::held_out::Validation;
use crate::neural::{CheckpointInputs, NeuralPolicy, check_window};
use crate::ppo::{IterationLog, TrainConfig, Trainer, recover_dir};
use crate::report::{line_plot, write_csv};

/// Train a policy with recurrent PPO.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct TrainArgs {
    /// A TOML `TrainConfig` (the defaults of this binary otherwise).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run name (folder under `--runs`); default `<core>-<reward>-seed<seed>`.
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding the runs.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Continue the run in `--runs/--run` from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Override the core: srmt, rmt, attention, empty, gru, rate (RATE wants `ppo.rollout` ≥ 2 segments: use its config file).
    #[arg(long)]
    pub core: Option<String>,
    /// Override the reward: directional, sparse, dense, directional_negative, moving_negative.
    #[arg(long)]
    pub reward: Option<String>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the agent-step budget (with `--resume`: extend the run to this many steps).
    #[arg(long)]
    pub total_agent_steps: Option<u64>,
    /// Stop after this many minutes of training (checkpointing first).
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Override the device: cpu, tch-cpu, cuda.
    #[arg(long)]
    pub device: Option<String>,
    /// Override the simulator threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Folder holding the suite's YAML map file (overrides `env.maps_dir`, also on `--resume`:
    /// it only says where the data is).
    #[arg(long)]
    pub maps_dir: Option<PathBuf>,
    /// Override the number of suite instances used.
    #[arg(long)]
    pub max_instances: Option<usize>,
    /// Corridor lengths of the final evaluation (comma-separated); empty to skip it.
    #[arg(long, default_value = "3,5,8,12,16,20,30,40,50,100", value_parser = parse_lengths)]
    pub eval_lengths: Lengths,
    /// Seeds of the final evaluation.
    #[arg(long, default_value_t = 10)]
    pub eval_seeds: u64,
    /// Take the most likely action in the final evaluation instead of sampling (the SRMT
    /// reference samples, with a seeded generator).
    #[arg(long)]
    pub greedy_eval: bool,
    /// Hide the progress bar (logs one line per iteration instead).
    #[arg(long)]
    pub quiet: bool,
}

/// Corridor lengths from the command line (possibly none).
#[derive(Clone, Debug)]
pub struct Lengths(pub Vec<usize>);

fn parse_lengths(s: &str) -> Result<Lengths, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            let max = rmapf_env::maps::generators::MAX_CORRIDOR;
            match x.parse::<usize>() {
                Ok(l) if (1..=max).contains(&l) => Ok(l),
                Ok(l) => Err(format!(
                    "corridor length {l} is outside 1..={max} (the map must fit pogema's 4096 rows)"
                )),
                Err(_) => Err(format!("{x:?} is not a corridor length")),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Lengths)
}

/// A core by its config name (`srmt`, `rmt`, `attention`, `empty`, `gru`, `rate`).
pub fn parse_core(s: &str) -> Result<CoreKind> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .with_context(|| format!("unknown core {s:?}"))
}

fn parse_reward(s: &str) -> Result<RewardKind> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .with_context(|| format!("unknown reward {s:?}"))
}

fn resolve(args: &TrainArgs, defaults: TrainConfig) -> Result<TrainConfig> {
    let mut c = match &args.config {
        Some(path) => TrainConfig::from_toml(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => defaults,
    };
    if let Some(core) = &args.core {
        c.model.core = parse_core(core)?;
    }
    if let Some(r) = &args.reward {
        c.env.reward = parse_reward(r)?;
    }
    if let Some(s) = args.seed {
        c.run.seed = s;
    }
    if let Some(n) = args.total_agent_steps {
        c.run.total_agent_steps = n;
    }
    if let Some(d) = &args.device {
        c.run.device = d.clone();
    }
    if let Some(t) = args.threads {
        c.env.threads = t;
    }
    if let Some(d) = &args.maps_dir {
        c.env.maps_dir = Some(d.clone());
    }
    if args.max_instances.is_some() {
        c.env.max_instances = args.max_instances;
    }
    c.validate()?;
    if c.model.core == CoreKind::Rate && c.ppo.rollout < 2 * c.model.rate.segment {
        eprintln!(
            "warning: ppo.rollout {} < 2 × rate.segment {}: backpropagation never reaches RATE's \
             memory valve (trainers/configs/bottleneck-rate-*.toml use 16)",
            c.ppo.rollout, c.model.rate.segment
        );
    }
    Ok(c)
}

fn curves(dir: &std::path::Path, logs: &[IterationLog], lifelong: bool) -> Result<()> {
    let progress: (&str, fn(&IterationLog) -> f64) = if lifelong {
        ("throughput", |l| l.throughput)
    } else {
        ("csr", |l| l.csr)
    };
    for (name, f) in [progress, ("return", |l| l.episode_return)] {
        let mut series = BTreeMap::new();
        // Warming-up points would show the early successes only (see `IterationLog::warming_up`).
        series.insert(
            format!("training {name}"),
            logs.iter()
                .filter(|l| !l.warming_up)
                .map(|l| (l.agent_steps as f64, f(l)))
                .collect(),
        );
        if name != "return" {
            let held_out: Vec<(f64, f64)> = logs
                .iter()
                .filter_map(|l| {
                    let h = l.held_out.as_ref()?;
                    Some((
                        l.agent_steps as f64,
                        if lifelong { h.throughput } else { h.csr },
                    ))
                })
                .collect();
            if !held_out.is_empty() {
                series.insert(format!("held-out {name}"), held_out);
            }
        }
        line_plot(
            &dir.join(format!("curve-{name}")),
            &format!("{name} vs agent steps"),
            "agent steps",
            name,
            &series,
        )?;
    }
    Ok(())
}

/// Checks that `name` names one folder inside `--runs` (not a path that leaves it).
fn check_run_name(name: &str) -> Result<()> {
    let mut parts = std::path::Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(_)), None) => Ok(()),
        _ => bail!(
            "--run {name:?} must be a plain folder name inside --runs (no '/', '..' or absolute path)"
        ),
    }
}

/// Locks `dir/lock` for this process (an OS file lock, released when the process ends, however it
/// ends), or fails when another trainer holds it.
fn lock_run(dir: &std::path::Path) -> Result<std::fs::File> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the run's lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another trainer is running in {} (it holds {}); wait for it to end or use another --run",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Stops the run when an iteration's losses are NaN or infinite: the model is then broken, and the
/// last checkpoint (written before it) is kept as it is.
fn check_finite(log: &IterationLog, dir: &std::path::Path) -> Result<()> {
    let values = [
        ("policy loss", log.policy_loss),
        ("value loss", log.value_loss),
        ("entropy", log.entropy),
        ("approx KL", log.approx_kl),
        ("learning rate", log.lr),
    ];
    if let Some((name, v)) = values.iter().find(|(_, v)| !v.is_finite()) {
        bail!(
            "iteration {}: the {name} is {v}; training stopped, and {} keeps the last good \
             checkpoint (lower ppo.lr, or check the loss coefficients)",
            log.iteration,
            dir.join("checkpoint").display()
        );
    }
    Ok(())
}

/// The requested test corridor lengths must all be in the `bottleneck-test` suite (else the
/// final table would silently leave them out); checked before training starts.
fn check_eval_lengths(lengths: &[usize]) -> Result<()> {
    let (_, instances) = load_suite("bottleneck-test", None, Some(&[0]), None, None)?;
    let known: Vec<&str> = instances.iter().map(|i| i.map_name.as_str()).collect();
    let missing: Vec<usize> = lengths
        .iter()
        .copied()
        .filter(|l| !known.contains(&format!("bottleneck-{l}").as_str()))
        .collect();
    if !missing.is_empty() {
        let all: Vec<&str> = known
            .iter()
            .map(|n| n.trim_start_matches("bottleneck-"))
            .collect();
        bail!(
            "--eval-lengths {missing:?} are not test corridors of the bottleneck-test suite (its lengths: {})",
            all.join(",")
        );
    }
    Ok(())
}

/// Runs training with `defaults` unless the command line says otherwise.
pub fn main_with(defaults: TrainConfig) -> Result<()> {
    run(&TrainArgs::parse(), defaults).map(drop)
}

/// One training run as the command line `args` describe it (`defaults`: the config without
/// `--config`), from the run folder to the final evaluation; returns the run folder.
pub fn run(args: &TrainArgs, defaults: TrainConfig) -> Result<PathBuf> {
    run_reporting(args, defaults, &mut |_, _| Ok(()))
}

/// [`run`], calling `on_iteration(log, checkpointed)` after every iteration once its metrics line
/// (and, where due, its checkpoint: then `checkpointed` is true) is written; an error from it stops
/// the run there (as a kill would: the run resumes from its last checkpoint).
pub fn run_reporting(
    args: &TrainArgs,
    defaults: TrainConfig,
    on_iteration: &mut dyn FnMut(&IterationLog, bool) -> Result<()>,
) -> Result<PathBuf> {
    check_eval_lengths(&args.eval_lengths.0)?;
    let run_name = args.run.clone();
    if let Some(name) = &run_name {
        check_run_name(name)?;
    }
    // `_lock` is held until the run ends: a second trainer on the same folder is refused.
    let (config, dir, _lock) = if args.resume {
        let Some(name) = &run_name else {
            bail!("--resume needs --run NAME")
        };
        let dir = args.runs.join(name);
        let text = std::fs::read_to_string(dir.join("config.toml"))
            .with_context(|| format!("no run to resume in {}", dir.display()))?;
        let mut c = TrainConfig::from_toml(&text)?;
        let lock = lock_run(&dir)?;
        // A resumed run keeps its config: options that would change what it learns are refused
        // rather than ignored. Where the data lies and how long to go on may change.
        let fixed = [
            ("--config", args.config.is_some()),
            ("--core", args.core.is_some()),
            ("--reward", args.reward.is_some()),
            ("--seed", args.seed.is_some()),
            ("--device", args.device.is_some()),
            ("--threads", args.threads.is_some()),
            ("--max-instances", args.max_instances.is_some()),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, given)| *given) {
            bail!(
                "{flag} cannot change a run on --resume (its config is {}); start a new --run instead",
                dir.join("config.toml").display()
            );
        }
        if let Some(d) = &args.maps_dir {
            c.env.maps_dir = Some(d.clone());
        }
        if let Some(n) = args.total_agent_steps {
            // Extends (or shortens) the run; recorded so that a later resume keeps it.
            c.run.total_agent_steps = n;
            c.validate()?;
            crate::report::write_atomically(
                &dir.join("config.toml"),
                toml::to_string(&c)?.as_bytes(),
            )?;
        }
        (c, dir, lock)
    } else {
        let c = resolve(args, defaults)?;
        let name = run_name.unwrap_or_else(|| {
            format!("{:?}-{:?}-seed{}", c.model.core, c.env.reward, c.run.seed).to_lowercase()
        });
        let dir = args.runs.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the run folder {}", dir.display()))?;
        let lock = lock_run(&dir)?;
        recover_dir(&dir, "checkpoint")?;
        if dir.join("checkpoint").exists() {
            bail!(
                "{} already holds a run; use --resume or another --run",
                dir.display()
            );
        }
        std::fs::write(dir.join("config.toml"), toml::to_string(&c)?)?;
        (c, dir, lock)
    };
    crate::cli::warn_threads("env.threads", config.env.threads);
    // A run that trains on no longer has the evaluation of its earlier end (a sweep takes
    // `eval.csv` as the sign a run is finished): it is written again when this one ends.
    for stale in ["eval.csv", "eval.md"] {
        match std::fs::remove_file(dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.join(stale).display()));
            }
            _ => {}
        }
    }
    let mut trainer = Trainer::new(config.clone())?;
    let mut logs: Vec<IterationLog> = Vec::new();
    let metrics_path = dir.join("metrics.jsonl");
    recover_dir(&dir, "checkpoint")?;
    let checkpointed = dir.join("checkpoint").exists();
    if args.resume && !checkpointed {
        crate::say!(
            "{} has no checkpoint yet (the run stopped before its first): starting it again from \
             its config.toml",
            dir.display()
        );
    }
    if !checkpointed {
        // A new run, or one killed before its first checkpoint: no history to keep.
        match std::fs::remove_file(&metrics_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("clearing {}", metrics_path.display()));
            }
            _ => {}
        }
    }
    if args.resume && checkpointed {
        trainer.restore(&dir)?;
        if let Ok(text) = std::fs::read_to_string(&metrics_path) {
            logs = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|l: &IterationLog| l.iteration <= trainer.progress.iteration)
                .collect();
        }
        let kept: String = logs
            .iter()
            .map(|l| serde_json::to_string(l).unwrap_or_default() + "\n")
            .collect();
        crate::report::write_atomically(&metrics_path, kept.as_bytes())?;
        crate::say!(
            "resumed {} at iteration {} ({} agent steps)",
            dir.display(),
            trainer.progress.iteration,
            trainer.progress.agent_steps
        );
    }
    let lifelong = trainer.lifelong();
    let mut best = best_so_far(&dir, trainer.progress.iteration)?;
    let validation = Validation::load(&config)?;
    if let Some(at_checkpoint) = logs
        .last()
        .filter(|l| l.iteration == trainer.progress.iteration)
    {
        // Killed after the checkpoint but before `best/` was written: the restored model is the
        // checkpoint's, so it can still become the best one.
        if is_new_best(at_checkpoint, best.as_ref(), validation.is_some(), lifelong)
            && best
                .as_ref()
                .is_none_or(|b| b.iteration < at_checkpoint.iteration)
        {
            trainer.save_best(&dir, at_checkpoint)?;
            best = Some(at_checkpoint.clone());
        }
    }
    let total = config.run.total_agent_steps;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} agent steps {elapsed_precise} eta {eta} {msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_position(trainer.progress.agent_steps);
    let started = Instant::now();
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)?;
    crate::say!(
        "run folder: {} ({} agents stepped together)",
        dir.display(),
        trainer.num_agents()
    );
    while trainer.progress.agent_steps < total {
        let mut log = trainer.iteration()?;
        check_finite(&log, &dir)?;
        let out_of_time = args
            .minutes
            .is_some_and(|m| started.elapsed().as_secs_f64() > m * 60.0);
        let checkpoint_now = trainer.progress.iteration % config.run.checkpoint_every == 0
            || out_of_time
            || trainer.progress.agent_steps >= total;
        if let (true, Some(v)) = (checkpoint_now, &validation) {
            log.held_out = Some(v.run(&trainer)?);
        }
        writeln!(metrics, "{}", serde_json::to_string(&log)?)?;
        // `+ 0.0` turns a mean of no episodes (-0.0) into 0.
        let msg = if lifelong && log.episodes == 0 {
            format!(
                "{:.0} agent-steps/s, no episode finished yet (they last {} steps)",
                log.agent_steps_per_s,
                trainer.episode_steps()
            )
        } else if lifelong {
            format!(
                "{:.0} agent-steps/s episodes {} return {:.3} throughput {:.3}",
                log.agent_steps_per_s,
                log.episodes,
                log.episode_return + 0.0,
                log.throughput + 0.0
            )
        } else if log.warming_up {
            format!(
                "{:.0} agent-steps/s, CSR warming up ({} episodes finished; episodes count once \
                 every episode that began with them is known, {} steps after they began)",
                log.agent_steps_per_s,
                log.episodes,
                trainer.episode_steps()
            )
        } else {
            format!(
                "{:.0} agent-steps/s return {:.3} CSR {:.2} ISR {:.2} (last {} episodes)",
                log.agent_steps_per_s, log.episode_return, log.csr, log.isr, log.window
            )
        };
        let msg = match &log.held_out {
            Some(h) if lifelong => format!("{msg}; held-out throughput {:.3}", h.throughput),
            Some(h) => format!("{msg}; held-out CSR {:.2}", h.csr),
            None => msg,
        };
        bar.set_position(log.agent_steps.min(total));
        bar.set_message(msg.clone());
        if args.quiet {
            crate::say!(
                "iteration {} steps {} {msg}",
                log.iteration,
                log.agent_steps
            );
        }
        let new_best = is_new_best(&log, best.as_ref(), validation.is_some(), lifelong);
        logs.push(log);
        // The checkpoint first: a kill between the two leaves the previous `best/` (older than
        // the checkpoint, so kept), and the resume checks the checkpoint's model against it.
        if checkpoint_now {
            trainer.checkpoint(&dir)?;
            curves(&dir, &logs, lifelong)?;
        }
        if new_best {
            let log = logs.last().cloned().unwrap_or_default();
            trainer.save_best(&dir, &log)?;
            best = Some(log);
        }
        if let Some(log) = logs.last() {
            on_iteration(log, checkpoint_now)?;
        }
        if out_of_time {
            break;
        }
    }
    bar.finish();
    trainer.checkpoint(&dir)?;
    curves(&dir, &logs, lifelong)?;
    crate::say!(
        "checkpoint: {}/checkpoint; metrics: {}; curves: curve-{}.png, curve-return.png (and .svg)",
        dir.display(),
        metrics_path.display(),
        if lifelong { "throughput" } else { "csr" }
    );
    if args.eval_lengths.0.is_empty() {
        return Ok(dir);
    }
    // The Bottleneck corridors are seen through r = 2 windows; other models skip the table.
    if let Err(e) = check_window(&config.model, "bottleneck-test", 2) {
        crate::say!("no Bottleneck table: {e}");
        return Ok(dir);
    }
    let mut report = String::new();
    let mut models = vec![("final model".to_string(), "final", dir.join("checkpoint"))];
    // `best/` saved at the last iteration holds the final model's weights: its test episodes are
    // the final model's (the same seeded sampling), relabelled rather than run again.
    let best_is_final = best
        .as_ref()
        .is_some_and(|b| b.iteration == trainer.progress.iteration);
    if let Some(b) = &best {
        let (name, advice) = match &b.held_out {
            Some(h) => (
                format!(
                    "best model (iteration {}, held-out CSR {:.2} on {})",
                    b.iteration, h.csr, h.suite
                ),
                if best_is_final {
                    format!(
                        "Recommended: the final model, which is also `best/` (iteration {}): on \
                         held-out corridors ({}, lengths and seeds training never sees) no \
                         earlier checkpoint did better, so both tables below are this model.\n\n",
                        b.iteration, h.suite
                    )
                } else {
                    format!(
                        "Recommended: the best model (`best/`), iteration {} of {}: chosen on \
                         held-out corridors ({}, lengths and seeds training never sees), where it \
                         is better than every later checkpoint, the final model included, and at \
                         least as good as every earlier one.\n\n",
                        b.iteration, trainer.progress.iteration, h.suite
                    )
                },
            ),
            None => (
                format!(
                    "best model (iteration {}, training CSR {:.2})",
                    b.iteration, b.csr
                ),
                "`best/` was chosen by training CSR (run.validation is not set): training CSR \
                 saturates long before the policy generalises, so compare both models below; \
                 set run.validation = \"bottleneck-valid\" to choose on held-out corridors.\n\n"
                    .to_string(),
            ),
        };
        report.push_str(&advice);
        models.push((name, "best", dir.join("best")));
    }
    let mut all: Vec<EpisodeRecord> = Vec::new();
    for (name, label, path) in models {
        let records = if label == "best" && best_is_final {
            all.iter()
                .map(|r| EpisodeRecord {
                    policy: label.to_string(),
                    ..r.clone()
                })
                .collect()
        } else {
            evaluate_bottleneck(
                &path,
                label,
                &args.eval_lengths.0,
                args.eval_seeds,
                config.env.threads,
                args.greedy_eval,
            )?
        };
        let table = bottleneck_table(&records);
        report.push_str(&format!("{name}, Bottleneck test corridors:\n\n{table}\n"));
        all.extend(records);
    }
    std::fs::write(dir.join("eval.md"), &report)?;
    // Written last, whole or not at all: a sweep takes it as the sign the run is finished.
    write_csv(&dir.join("eval.csv"), &all)?;
    crate::say!("{report}");
    Ok(dir)
}

/// Whether the model of `log` replaces `best`. With a validation suite: when it was validated
/// (at a checkpoint) and is at least as good there as `best` (ties go to the later model). Without:
/// the reference's rule, a strictly better training metric (CSR, or throughput for lifelong runs)
/// over a full window (100 episodes; one for lifelong runs), never while warming up.
fn is_new_best(
    log: &IterationLog,
    best: Option<&IterationLog>,
    validated: bool,
    lifelong: bool,
) -> bool {
    if validated {
        // A best model validated on other episodes (another suite, or an older version of it)
        // cannot be compared: the newly validated model replaces it.
        return log.held_out.as_ref().is_some_and(|h| {
            best.and_then(|b| b.held_out.as_ref())
                .filter(|b| b.suite == h.suite && b.episodes == h.episodes)
                .is_none_or(|b| h.at_least_as_good_as(b))
        });
    }
    let score = |l: &IterationLog| if lifelong { l.throughput } else { l.csr };
    let enough = if lifelong {
        log.episodes >= 1
    } else {
        log.window >= 100 && !log.warming_up
    };
    enough && best.is_none_or(|b| score(log) > score(b))
}

/// The log of the model in `dir/best` when it comes from the run's first `iteration`
/// iterations (those kept by a resume). A best model from later iterations, which a resumed run
/// repeats, is removed, and the resumed run picks its best anew from its checkpoint on.
fn best_so_far(dir: &std::path::Path, iteration: usize) -> Result<Option<IterationLog>> {
    recover_dir(dir, "best")?;
    let best = dir.join("best");
    let Ok(text) = std::fs::read_to_string(best.join("best.json")) else {
        return Ok(None);
    };
    let log: IterationLog = serde_json::from_str(&text)
        .with_context(|| format!("reading {}", best.join("best.json").display()))?;
    if log.iteration <= iteration {
        return Ok(Some(log));
    }
    std::fs::remove_dir_all(&best)?;
    Ok(None)
}

/// The episodes of a checkpoint (sampled, or greedy with `greedy`) on the Bottleneck test
/// corridors of the given lengths, named `label` in their `policy` column.
pub fn evaluate_bottleneck(
    checkpoint: &std::path::Path,
    label: &str,
    lengths: &[usize],
    seeds: u64,
    threads: usize,
    greedy: bool,
) -> Result<Vec<EpisodeRecord>> {
    let seeds: Vec<u64> = (0..seeds).collect();
    let (_, mut instances) = load_suite("bottleneck-test", None, Some(&seeds), None, None)?;
    instances.retain(|i| {
        lengths
            .iter()
            .any(|l| i.map_name == format!("bottleneck-{l}"))
    });
    let inputs = CheckpointInputs::load(checkpoint)?;
    for i in &mut instances {
        inputs.apply(&mut i.config);
    }
    let make = |_shard: usize| -> Result<Box<dyn Policy>> {
        Ok(Box::new(NeuralPolicy::load(
            checkpoint,
            Device::flex(),
            greedy,
            0,
        )?))
    };
    let records = run_instances_with(
        "bottleneck-test",
        &instances,
        label,
        threads,
        256,
        make,
        |_| {},
    )?;
    Ok(records)
}

/// CSR, ISR and sum of costs per corridor length.
pub fn bottleneck_table(records: &[EpisodeRecord]) -> String {
    let mut by: BTreeMap<usize, Vec<&EpisodeRecord>> = BTreeMap::new();
    for r in records {
        let l = r.corridor_length().unwrap_or(0);
        by.entry(l).or_default().push(r);
    }
    let mut s =
        String::from("| L | episodes | CSR | ISR | sum of costs |\n|---:|---:|---:|---:|---:|\n");
    for (l, rs) in by {
        let mean = |f: fn(&EpisodeRecord) -> Option<f64>| {
            rs.iter().filter_map(|r| f(r)).sum::<f64>() / rs.len() as f64
        };
        s.push_str(&format!(
            "| {l} | {} | {:.2} | {:.2} | {:.1} |\n",
            rs.len(),
            mean(|r| r.csr),
            mean(|r| r.isr),
            mean(|r| r.sum_of_costs)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppo::HeldOut;

    #[test]
    fn run_names_stay_inside_the_runs_folder() {
        assert!(check_run_name("srmt-lite").is_ok());
        for bad in ["../x", "a/b", "/tmp/x", "..", ".", ""] {
            assert!(check_run_name(bad).is_err(), "{bad:?}");
        }
    }

    fn held_out(csr: f64, isr: f64, sum_of_costs: f64) -> Option<HeldOut> {
        Some(HeldOut {
            suite: "bottleneck-valid".into(),
            episodes: 60,
            csr,
            isr,
            sum_of_costs,
            throughput: 0.0,
        })
    }

    /// With a validation suite, `best/` follows held-out CSR, then ISR, ties (whatever the sum
    /// of costs) going to the later model; unvalidated iterations never replace it.
    #[test]
    fn best_model_is_chosen_on_held_out_episodes() {
        let at = |iteration, held_out, csr| IterationLog {
            iteration,
            csr,
            window: 100,
            held_out,
            ..IterationLog::default()
        };
        let first = at(20, held_out(0.5, 0.7, 300.0), 1.0);
        assert!(is_new_best(&first, None, true, false));
        // Training CSR 1.00 everywhere does not matter; held-out results do.
        assert!(!is_new_best(&at(21, None, 1.0), Some(&first), true, false));
        assert!(!is_new_best(
            &at(40, held_out(0.4, 0.9, 100.0), 1.0),
            Some(&first),
            true,
            false
        ));
        assert!(is_new_best(
            &at(40, held_out(0.5, 0.8, 400.0), 1.0),
            Some(&first),
            true,
            false
        ));
        assert!(!is_new_best(
            &at(40, held_out(0.5, 0.6, 100.0), 1.0),
            Some(&first),
            true,
            false
        ));
        // Equal CSR and ISR: the later model, even with a higher sum of costs.
        assert!(is_new_best(
            &at(40, held_out(0.5, 0.7, 301.0), 1.0),
            Some(&first),
            true,
            false
        ));
        // A tie goes to the later model.
        assert!(is_new_best(
            &at(40, held_out(0.5, 0.7, 300.0), 0.2),
            Some(&first),
            true,
            false
        ));
        // A best model from a run without validation (no held-out result) is replaced.
        assert!(is_new_best(&first, Some(&at(5, None, 1.0)), true, false));
    }

    /// Without one, the reference's rule: strictly better training CSR over a full window, never
    /// while warming up.
    #[test]
    fn without_validation_best_model_follows_training_csr_after_warm_up() {
        let log = |csr, window, warming_up| IterationLog {
            csr,
            window,
            warming_up,
            episodes: window as u64,
            ..IterationLog::default()
        };
        assert!(!is_new_best(&log(1.0, 100, true), None, false, false));
        assert!(!is_new_best(&log(1.0, 40, false), None, false, false));
        let b = log(0.8, 100, false);
        assert!(is_new_best(&b, None, false, false));
        assert!(!is_new_best(&log(0.8, 100, false), Some(&b), false, false));
        assert!(is_new_best(&log(0.9, 100, false), Some(&b), false, false));
    }

    #[test]
    fn means_of_nothing_are_zero_not_negative_zero() {
        let m = crate::ppo::mean(std::iter::empty());
        assert!(m == 0.0 && m.is_sign_positive());
        assert_eq!(
            format!("{:.2}", crate::ppo::mean([-0.0, -0.0].into_iter())),
            "0.00"
        );
        assert_eq!(crate::ppo::mean([1.0, 0.0].into_iter()), 0.5);
    }

    /// A best model from iterations a resume repeats is dropped; an earlier one is kept.
    #[test]
    fn resume_keeps_only_a_best_model_it_does_not_repeat() {
        let dir = std::env::temp_dir().join(format!("rmapf-best-{}", std::process::id()));
        let best = dir.join("best");
        std::fs::create_dir_all(&best).unwrap();
        let log = IterationLog {
            iteration: 5,
            csr: 0.75,
            ..IterationLog::default()
        };
        std::fs::write(best.join("best.json"), serde_json::to_string(&log).unwrap()).unwrap();
        assert_eq!(best_so_far(&dir, 7).unwrap().unwrap().csr, 0.75);
        // Killed between the two renames of its atomic write: `best.old` is moved back.
        std::fs::rename(&best, dir.join("best.old")).unwrap();
        assert_eq!(best_so_far(&dir, 7).unwrap().unwrap().csr, 0.75);
        assert!(best_so_far(&dir, 4).unwrap().is_none());
        assert!(!best.exists());
        assert!(best_so_far(&dir, 7).unwrap().is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
