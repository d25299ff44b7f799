//! # rmapf-env
//!
//! A multi-agent grid pathfinding simulator with POGEMA 1.4.0's exact semantics: the same
//! collision systems, on-target modes, observations and metrics, and bit-exact seeded instance
//! generation through a port of numpy's PCG64 streams, so that a seed names the same map, starts
//! and goals as in POGEMA.
//!
//! One [`Simulator`] holds many episodes in one bevy_ecs `World` (each episode owns its agents'
//! state as arrays indexed by agent) and steps them with one schedule of chained systems, writing
//! into caller-owned [`StepBuffers`].
//! [`Env`] is the single-episode convenience.
//!
//! ```
//! use rmapf_env::{Env, EnvConfig};
//! let config = EnvConfig { seed: Some(0), num_agents: Some(4), ..Default::default() };
//! let mut env = Env::new(&config).unwrap();
//! env.reset().unwrap();
//! env.step(&[1, 2, 3, 4]).unwrap();
//! assert_eq!(env.buffers.obs.len(), 4 * 3 * 11 * 11); // [N, C, R, R]
//! ```
//!
//! Coordinates are `[row, col]`; actions are `0 stay, 1 up, 2 down, 3 left, 4 right`.

pub mod batch;
pub mod bfs;
pub mod config;
pub mod episode;
pub mod error;
pub mod follower_planner;
pub mod goals;
pub mod grid;
pub mod instance;
pub mod map;
pub mod maps;
pub mod memory;
pub mod metrics;
pub mod observe;
pub mod outputs;
pub mod persistent;
pub mod positions;
pub mod rng;
pub mod rules;
mod shard_schedule;
pub mod world;

pub use batch::{BatchBuffers, BatchSimulator, machine_threads};
pub use config::{
    BugCompat, CollisionSystem, EnvConfig, MapSpec, ObservationType, OnTarget, PathPlanner,
    RewardKind, TargetsSpec,
};
pub use episode::INTENT_STEPS;
pub use error::EnvError;
pub use metrics::EpisodeMetrics;
pub use outputs::{FlatOutputs, StepIo};
pub use world::{BatchLayout, Env, EpisodeSnapshot, Simulator, StepBuffers};
