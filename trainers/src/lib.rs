//! # rmapf-train
//!
//! The binaries of rmapf: `rollout-demo` (a headless rollout of the simulator with random actions
//! that prints POGEMA's metrics), `bench-env` (simulator throughput), `rmapf-maps` (suites and
//! pictures) and `evaluate` (a policy over a published protocol: CSV, Markdown, plots). PPO
//! training will live here too.

pub mod cli;
pub mod evaluate;
pub mod report;
