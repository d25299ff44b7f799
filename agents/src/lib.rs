//! # rmapf-agents
//!
//! Policies behind one [`Policy`] trait, so that the evaluator treats learned and classical
//! policies alike. Today: a uniform [`planners::RandomPolicy`] and the greedy
//! [`planners::AstarFollower`] (each agent follows its shortest path on the static map and waits
//! when the next cell is occupied). Learned burn policies (SRMT and its ablations) come next.
//!
//! Axis vocabulary: `E` episodes, `N` agents in the batch, `C` channels, `R = 2r + 1`.

pub mod nn;
pub mod planners;
pub mod policy;

pub use policy::{EpisodeView, Policy};
