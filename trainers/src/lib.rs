//! # rmapf-train
//!
//! The binaries of rmapf. Today: `rollout-demo` (a headless rollout of the simulator with random
//! actions that prints POGEMA's metrics) and `bench-env` (simulator throughput). PPO training and
//! evaluation will live here too.

pub mod cli;
