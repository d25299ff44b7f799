//! Policy micro-benchmark: rollout forward (no autodiff) and training forward+backward over
//! sequences, agents/s for each core at the Bottleneck and lifelong sizes, on burn's flex CPU
//! backend (or libtorch with `--features tch`).

use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use rmapf_agents::nn::{PolicyConfig, SequenceInput, StepInput};
use rmapf_train::train_cli::parse_core;

/// Measure policy throughput.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Sizes: bottleneck, lifelong or both.
    #[arg(long, default_value = "both")]
    size: String,
    /// Cores (comma-separated): srmt, rmt, attention, empty, gru, rate.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "srmt,rmt,attention,empty,gru,rate"
    )]
    cores: Vec<String>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Bottleneck agents per rollout step (episodes of 2 agents).
    #[arg(long, default_value_t = 512)]
    rollout_agents: usize,
    /// Bottleneck training rows (agents) per forward+backward over 8 steps.
    #[arg(long, default_value_t = 256)]
    train_rows: usize,
    /// Backend: flex (default) or tch (needs the `tch` feature).
    #[arg(long, default_value = "flex")]
    backend: String,
}

/// The trainer's device for a backend name: `flex` (the trainer's `cpu`) or `tch` (`tch-cpu`,
/// one libtorch thread unless OMP_NUM_THREADS says otherwise).
fn device(backend: &str) -> Result<Device> {
    match backend {
        "flex" => rmapf_train::ppo::device("cpu"),
        "tch" => rmapf_train::ppo::device("tch-cpu"),
        other => bail!("unknown backend {other:?} (flex, or tch with --features tch)"),
    }
}

/// Repeats `f` for about `seconds` and returns calls per second.
fn rate(seconds: f64, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let (t, mut calls) = (Instant::now(), 0u32);
    while t.elapsed().as_secs_f64() < seconds {
        f();
        calls += 1;
    }
    f64::from(calls) / t.elapsed().as_secs_f64()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let sizes: Vec<&str> = match args.size.as_str() {
        "both" => vec!["bottleneck", "lifelong"],
        s @ ("bottleneck" | "lifelong") => vec![s],
        other => bail!("unknown size {other:?}"),
    };
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!(
            "--seconds must be a positive finite number (got {})",
            args.seconds
        );
    }
    for (flag, rows) in [
        ("--rollout-agents", args.rollout_agents),
        ("--train-rows", args.train_rows),
    ] {
        if rows == 0 || !rows.is_multiple_of(2) {
            bail!(
                "{flag} must be a positive even number (whole Bottleneck episodes of 2 agents), got {rows}"
            );
        }
        // Observations (f32, 3 × 5 × 5 in the Bottleneck), activations and history, generously.
        let needed = (rows as u64).saturating_mul(64 * 1024);
        if let Some(available) = rmapf_env::memory::available_bytes()
            && needed > available
        {
            bail!(
                "{flag} {rows} needs about {} MiB, but only {} MiB of memory is available",
                needed >> 20,
                available >> 20
            );
        }
    }
    let dev = device(&args.backend)?;
    rmapf_train::say!("backend: {}", args.backend);
    rmapf_train::say!("| size | core | params | rollout agents/s | train agent-steps/s (T = 8) |");
    rmapf_train::say!("|---|---|---:|---:|---:|");
    for size in sizes {
        // Batch: 16 envs x 2 agents for the Bottleneck rollout (the reference setting) scaled up to 512
        // agents; 64 agents for the lifelong size.
        let (agents_per_episode, n_roll, n_train) = if size == "bottleneck" {
            (2, args.rollout_agents, args.train_rows)
        } else {
            (64, 64, 64)
        };
        for name in &args.cores {
            let kind = parse_core(name)?;
            let config = if size == "bottleneck" {
                PolicyConfig::bottleneck(kind)
            } else {
                PolicyConfig::lifelong(kind)
            };
            let side = config.encoder.side;
            let net = config.init(&dev);
            let params = burn::module::Module::num_params(&net);
            let obs = Tensor::<4>::from_data(
                TensorData::new(
                    vec![0.5f32; n_roll * 3 * side * side],
                    [n_roll, 3, side, side],
                ),
                &dev,
            );
            let mut state = net.initial_state(n_roll, &dev);
            let roll = rate(args.seconds, || {
                let input = StepInput {
                    obs: obs.clone(),
                    is_first: Tensor::zeros([n_roll], &dev),
                    active: Tensor::ones([n_roll], &dev),
                    prev_action: Tensor::ones([n_roll], &dev),
                    prev_reward: Tensor::zeros([n_roll], &dev),
                };
                let out = net.forward_step(input, state.clone(), agents_per_episode);
                let _ = out.logits.argmax(1).into_data();
                state = out.state;
            }) * n_roll as f64;
            let adev = dev.clone().autodiff();
            let tnet = config.init(&adev);
            let t = 8;
            let seq = Tensor::<5>::from_data(
                TensorData::new(
                    vec![0.5f32; n_train * t * 3 * side * side],
                    [n_train, t, 3, side, side],
                ),
                &adev,
            );
            let train = rate(args.seconds, || {
                let input = SequenceInput {
                    obs: seq.clone(),
                    is_first: Tensor::zeros([n_train, t], &adev),
                    active: Tensor::ones([n_train, t], &adev),
                    prev_action: Tensor::ones([n_train, t], &adev),
                    prev_reward: Tensor::zeros([n_train, t], &adev),
                };
                let out = tnet.forward_sequence(
                    input,
                    tnet.initial_state(n_train, &adev),
                    agents_per_episode,
                );
                let loss = out.logits.powi_scalar(2).mean() + out.values.powi_scalar(2).mean();
                let _ = loss.backward();
            }) * (n_train * t) as f64;
            rmapf_train::say!("| {size} | {name} | {params} | {roll:.0} | {train:.0} |");
        }
    }
    Ok(())
}
