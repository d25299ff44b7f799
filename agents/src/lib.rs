//! # rmapf-agents
//!
//! Policies behind one [`Policy`] trait, so that the evaluator treats learned and classical
//! policies alike: a uniform [`planners::RandomPolicy`], the greedy decentralised
//! [`planners::AstarFollower`] (each agent follows its shortest path on the static map and waits
//! when the next cell is occupied), the centralised [`planners::Pibt`] family (PIBT, PIBT with
//! LaCAM3's swap, and a windowed look-ahead over priority orders), and the burn networks in
//! [`nn`] (SRMT and its ablations).
//!
//! Axis vocabulary: `E` episodes, `N` agents in the batch, `C` channels, `R = 2r + 1`.

pub mod agreement;
pub mod nn;
pub mod planners;
pub mod policy;

pub use policy::{EpisodeView, Policy};
