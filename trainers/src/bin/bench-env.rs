//! Simulator throughput on named configurations (the POGEMA reference measurements): env-steps/s
//! and agent-steps/s with observations written, and reset time measured separately.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use rmapf_env::maps::generators::{MazeSettings, bottleneck, to_text};
use rmapf_env::maps::suites::Suite;
use rmapf_env::{
    BatchSimulator, CollisionSystem, EnvConfig, MapSpec, ObservationType, OnTarget, PathPlanner,
    TargetsSpec,
};
use rmapf_train::cli::lcg_actions;

/// Measure rmapf's simulator on a named configuration.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// a | b64 | b256 | c | x | bottleneck | follower | follower-shortest (see `--list`).
    #[arg(long, default_value = "b256")]
    config: String,
    /// Worker threads (episodes are sharded over them).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds of stepping to measure.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Episodes in the batch.
    #[arg(long, default_value_t = 64)]
    episodes: usize,
    /// The 32x32 maze of config `c` as a string map file (default: generated from seed 0).
    #[arg(long)]
    maze_file: Option<std::path::PathBuf>,
    /// Folder holding Follower's `training-maps.yaml` (configs `follower*`; default: the copy
    /// shipped in maps/data/learn-to-follow-training-maps).
    #[arg(long)]
    follower_maps_dir: Option<std::path::PathBuf>,
    /// Actions: `random` (a fixed LCG stream) or `follow` (follower observations only: each agent
    /// steps onto the first neighbour its drawn path covers, as a path-following policy does).
    #[arg(long, default_value = "random")]
    actions: String,
    /// Finished episodes rebuild themselves inside the timed step (as the Python `VecEnv` does)
    /// instead of in separately timed `reset_finished` calls.
    #[arg(long)]
    auto_reset: bool,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// List the configurations and exit.
    #[arg(long)]
    list: bool,
    /// Also measure the write-bandwidth bound: the same observation bytes per step, written by
    /// copying from a small source (no simulation), reported as agent-steps/s.
    #[arg(long)]
    bound: bool,
}

const CONFIGS: [(&str, &str); 10] = [
    (
        "a",
        "8x8, density 0.3, 4 agents, r=5, finish, priority, 64 steps",
    ),
    (
        "b64",
        "64x64, density 0.3, 64 agents, r=5, finish, priority, 256 steps",
    ),
    (
        "b256",
        "64x64, density 0.3, 256 agents, r=5, finish, priority, 256 steps",
    ),
    (
        "c",
        "32x32 maze, 64 agents, r=5, restart, priority, 256 steps",
    ),
    (
        "x",
        "64x64, density 0.3, 256 agents, r=5, soft, restart, POMAPF, 256 steps",
    ),
    (
        "bottleneck",
        "Bottleneck L=20 (9x24), 2 agents, r=2, block_both, finish, 140 steps",
    ),
    (
        "follower",
        "Follower's 65x65 training mazes (episode k on maze k mod 40), 64 agents, r=5, priority, restart, follower observation with Follower's planner, 512 steps",
    ),
    (
        "follower-shortest",
        "as follower, with the static shortest path instead of Follower's planner",
    ),
    (
        "follower-intents",
        "as follower, with the other agents' intents as a fourth plane (follower_intents)",
    ),
    (
        "follower-priorities",
        "as follower-intents, with the other agents' priorities as a fifth plane (follower_priorities)",
    ),
];

fn maze(file: Option<&std::path::Path>) -> Result<String> {
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map(|s| s.trim().to_string());
    }
    let rows = MazeSettings {
        width: 32,
        height: 32,
        obstacle_density: 0.5,
        wall_components: 8,
        go_straight: 0.8,
        seed: 0,
    }
    .generate();
    Ok(rows
        .iter()
        .take(32)
        .map(|r| r[..32].to_string())
        .collect::<Vec<_>>()
        .join("\n"))
}

fn config(name: &str, maze_file: Option<&std::path::Path>) -> Result<EnvConfig> {
    let base = EnvConfig {
        seed: Some(42),
        obs_radius: 5,
        max_episode_steps: 256,
        ..Default::default()
    };
    Ok(match name {
        "a" => EnvConfig {
            size: 8,
            num_agents: Some(4),
            max_episode_steps: 64,
            ..base
        },
        "b64" => EnvConfig {
            size: 64,
            num_agents: Some(64),
            ..base
        },
        "b256" => EnvConfig {
            size: 64,
            num_agents: Some(256),
            ..base
        },
        "c" => EnvConfig {
            map: Some(MapSpec::Text(maze(maze_file)?)),
            num_agents: Some(64),
            on_target: OnTarget::Restart,
            ..base
        },
        "x" => EnvConfig {
            size: 64,
            num_agents: Some(256),
            on_target: OnTarget::Restart,
            collision_system: CollisionSystem::Soft,
            observation_type: ObservationType::Pomapf,
            ..base
        },
        "bottleneck" => EnvConfig {
            map: Some(MapSpec::Text(to_text(&bottleneck(20)))),
            agents_xy: Some(vec![[0, 0], [23, 0]]),
            targets_xy: Some(TargetsSpec::Single(vec![[23, 8], [0, 8]])),
            obs_radius: 2,
            collision_system: CollisionSystem::BlockBoth,
            max_episode_steps: 140,
            ..base
        },
        other => bail!(
            "unknown config {other:?}; use one of a, b64, b256, c, x, bottleneck, follower, follower-shortest"
        ),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for (name, what) in CONFIGS {
            rmapf_train::say!("{name:<11} {what}");
        }
        return Ok(());
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) || args.episodes == 0 {
        bail!(
            "--seconds must be a positive finite number (got {}) and --episodes at least 1",
            args.seconds
        );
    }
    let configs: Vec<EnvConfig> = match args.config.as_str() {
        "follower" | "follower-shortest" | "follower-intents" | "follower-priorities" => {
            let planner = if args.config == "follower-shortest" {
                PathPlanner::Shortest
            } else {
                PathPlanner::Follower
            };
            let observation_type = match args.config.as_str() {
                "follower-intents" => ObservationType::FollowerIntents,
                "follower-priorities" => ObservationType::FollowerPriorities,
                _ => ObservationType::Follower,
            };
            let instances =
                Suite::load("follower-train")?.instances(args.follower_maps_dir.as_deref())?;
            rmapf_env::memory::check_copies(&[instances[0].config.clone()], args.episodes as u64)?;
            (0..args.episodes)
                .map(|k| EnvConfig {
                    seed: Some(42 + k as u64),
                    observation_type,
                    path_planner: planner,
                    ..instances[k % instances.len()].config.clone()
                })
                .collect()
        }
        name => {
            let base = config(name, args.maze_file.as_deref())?;
            rmapf_env::memory::check_copies(std::slice::from_ref(&base), args.episodes as u64)?;
            (0..args.episodes as u64)
                .map(|k| EnvConfig {
                    seed: Some(42 + k),
                    ..base.clone()
                })
                .collect()
        }
    };
    rmapf_train::cli::warn_threads("--threads", args.threads);
    let mut sim = BatchSimulator::new(&configs, args.threads)?;
    sim.set_auto_reset(args.auto_reset);
    let mut b = sim.new_buffers();
    let t = Instant::now();
    sim.reset(&mut b)?;
    let mut reset_secs = t.elapsed().as_secs_f64();
    let mut resets = args.episodes;
    let agents: usize = b.shards.iter().map(|s| s.actions.len()).sum();
    let mut actions = vec![0u8; agents];
    let (mut state, mut steps, mut step_secs) = (7u64, 0u64, 0.0f64);
    let follow = match args.actions.as_str() {
        "random" => false,
        "follow" if configs[0].observation_type.is_follower() => true,
        "follow" => bail!(
            "--actions follow needs a config with follower observations (follower, follower-shortest, follower-intents)"
        ),
        other => bail!("unknown --actions {other:?}; use random or follow"),
    };
    while step_secs < args.seconds {
        if follow {
            follow_paths(&b, configs[0].obs_radius as usize, &mut actions);
        } else {
            lcg_actions(&mut state, &mut actions);
        }
        b.set_actions(&actions)?;
        let t = Instant::now();
        sim.step(&mut b)?;
        step_secs += t.elapsed().as_secs_f64();
        steps += 1;
        if !args.auto_reset && b.shards.iter().any(|s| s.episode_done.iter().any(|&d| d)) {
            let t = Instant::now();
            resets += sim.reset_finished(&mut b)?;
            reset_secs += t.elapsed().as_secs_f64();
        }
    }
    let agent_steps_per_s = (steps * agents as u64) as f64 / step_secs;
    let bound = args.bound.then(|| write_bound(&b, args.seconds.min(1.0)));
    let env_steps_per_s = (steps * args.episodes as u64) as f64 / step_secs;
    // Wall time per episode reset (with several threads, resets of different shards overlap).
    let reset_ms = reset_secs * 1e3 / resets as f64;
    if args.json {
        rmapf_train::say!(
            "{}",
            serde_json::json!({
                "config": args.config, "threads": sim.threads(), "episodes": args.episodes,
                "agents": agents / args.episodes, "agent_steps_per_s": agent_steps_per_s,
                "env_steps_per_s": env_steps_per_s, "reset_ms": reset_ms, "steps": steps,
                "bound_agent_steps_per_s": bound, "auto_reset": args.auto_reset,
            })
        );
    } else {
        let resets = if args.auto_reset {
            "auto-reset: finished episodes rebuilt inside the timed step".to_string()
        } else {
            format!("reset {reset_ms:.3} ms/episode ({resets} resets)")
        };
        rmapf_train::say!(
            "{}: {} episodes x {} agents, {} threads: {:.2} M agent-steps/s, {:.0} env-steps/s, {}",
            args.config,
            args.episodes,
            agents / args.episodes,
            sim.threads(),
            agent_steps_per_s / 1e6,
            env_steps_per_s,
            resets
        );
        if let Some(bound) = bound {
            rmapf_train::say!(
                "  write bound (observation bytes only, one thread): {:.2} M agent-steps/s; simulator at {:.0}% of it",
                bound / 1e6,
                100.0 * agent_steps_per_s / bound
            );
        }
    }
    Ok(())
}

/// Each agent's action onto the first of its four neighbours (pogema's action order) that its
/// follower observation marks as path (+1 on the obstacle plane); stay when none is.
fn follow_paths(b: &rmapf_env::BatchBuffers, radius: usize, actions: &mut [u8]) {
    let side = 2 * radius + 1;
    let agents: usize = b.shards.iter().map(|s| s.actions.len()).sum();
    let per_agent = b.shards.iter().map(|s| s.obs.len()).sum::<usize>() / agents.max(1);
    let center = radius * side + radius;
    let neighbours = [center - side, center + side, center - 1, center + 1];
    let obs = b.shards.iter().flat_map(|s| s.obs.chunks_exact(per_agent));
    for (action, o) in actions.iter_mut().zip(obs) {
        *action = neighbours
            .iter()
            .position(|&c| o[c] == 1)
            .map_or(0, |k| k as u8 + 1);
    }
}

/// Agent-steps/s if a step did nothing but write each agent's observation (`C·R·R` bytes, copied
/// row by row from a small source window, as the simulator does) into the batch buffers.
fn write_bound(b: &rmapf_env::BatchBuffers, seconds: f64) -> f64 {
    let mut obs: Vec<Vec<u8>> = b.shards.iter().map(|s| s.obs.clone()).collect();
    let agents: usize = b.shards.iter().map(|s| s.actions.len()).sum();
    let per_agent = obs.iter().map(Vec::len).sum::<usize>() / agents.max(1);
    let source = vec![1u8; per_agent];
    let (mut steps, t) = (0u64, Instant::now());
    while t.elapsed().as_secs_f64() < seconds {
        for shard in obs.iter_mut() {
            for chunk in shard.chunks_exact_mut(per_agent) {
                chunk.copy_from_slice(&source);
            }
        }
        steps += 1;
        std::hint::black_box(&obs);
    }
    (steps * agents as u64) as f64 / t.elapsed().as_secs_f64()
}
