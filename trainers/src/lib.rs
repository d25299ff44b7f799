//! # rmapf-train
//!
//! Recurrent PPO ([`ppo`]) and the binaries of rmapf: `train-srmt` and `train` (training),
//! `evaluate` (a policy over a published protocol: CSV, Markdown, plots), `rmapf-maps` (suites and
//! pictures), `bench-env` (simulator throughput), `bench-policy` (policy throughput) and
//! `rollout-demo` (random actions, POGEMA's metrics).

pub mod advice;
pub mod allocator;
pub mod cli;
pub mod evaluate;
pub mod evaluation;
pub mod held_out;
pub mod high_level;
pub mod neural;
pub mod ppo;
pub mod report;
pub mod sweep;
pub mod train_cli;
