//! A headless rollout of the simulator: a batch of POGEMA episodes under random actions, with
//! each finished episode's metrics and the throughput printed.

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use rmapf_env::{EnvConfig, Simulator};
use rmapf_train::cli::{CollisionArg, ObsArg, OnTargetArg, lcg_actions};

/// Roll out random actions in a batch of POGEMA episodes and print their metrics.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Episodes stepped together.
    #[arg(long, default_value_t = 8)]
    episodes: usize,
    /// Agents per episode.
    #[arg(long, default_value_t = 32)]
    agents: i64,
    /// Map side.
    #[arg(long, default_value_t = 32)]
    size: i64,
    /// Obstacle density.
    #[arg(long, default_value_t = 0.3)]
    density: f64,
    /// Observation radius.
    #[arg(long, default_value_t = 5)]
    radius: i64,
    /// Episode length.
    #[arg(long, default_value_t = 128)]
    steps: i64,
    /// First instance seed (episode k uses seed + k).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// On-target mode.
    #[arg(long, value_enum, default_value = "restart")]
    on_target: OnTargetArg,
    /// Collision system.
    #[arg(long, value_enum, default_value = "soft")]
    collision: CollisionArg,
    /// Observation type.
    #[arg(long, value_enum, default_value = "default")]
    obs: ObsArg,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let configs: Vec<EnvConfig> = (0..args.episodes as u64)
        .map(|k| EnvConfig {
            seed: Some(args.seed + k),
            size: args.size,
            density: args.density,
            num_agents: Some(args.agents),
            obs_radius: args.radius,
            max_episode_steps: args.steps,
            on_target: args.on_target.into(),
            collision_system: args.collision.into(),
            observation_type: args.obs.into(),
            ..Default::default()
        })
        .collect();
    let mut sim = Simulator::new(&configs)?;
    let mut buffers = sim.new_buffers();
    let start = Instant::now();
    sim.reset(&mut buffers)?;
    let mut state = args.seed;
    let mut finished = vec![false; args.episodes];
    let mut agent_steps = 0u64;
    rmapf_train::say!("episode  seed  metrics");
    while !finished.iter().all(|&f| f) {
        lcg_actions(&mut state, &mut buffers.actions);
        sim.step(&mut buffers)?;
        agent_steps += buffers.actions.len() as u64;
        for (k, done) in buffers.episode_done.iter().enumerate() {
            if *done && !finished[k] {
                finished[k] = true;
                let m = buffers.metrics[k].unwrap_or_default();
                rmapf_train::say!(
                    "{k:>7}  {:>4}  {}",
                    args.seed + k as u64,
                    serde_json::to_string(&m)?
                );
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    rmapf_train::say!(
        "{} episodes, {} agent-steps in {:.3} s: {:.2} M agent-steps/s (reset and observations included, 1 thread)",
        args.episodes,
        agent_steps,
        secs,
        agent_steps as f64 / secs / 1e6
    );
    Ok(())
}
