//! Learned policies in burn 0.22 (no backend type parameter; the device picks the backend at
//! run time: `Device::flex()` by default, `Device::libtorch()` with the `tch` feature).
//!
//! `obs → ResNet encoder → core → actor (5 logits) and critic (value)`, shared by all agents.
//! Cores: SRMT (each agent keeps a memory token; every agent cross-attends to the pool of its
//! episode's memories), RMT (private memory, no pool), Attention (history, no memory), Empty
//! (encoder → heads), GRU and RATE (memory tokens around a segment of step tokens, with a Memory
//! Retention Valve). Each core lives in its own file under `cores/` (its settings, parameters,
//! initialisation and step) and is a variant of the `Core` enum the policy holds.
//!
//! # Shapes
//! `E` episodes, `A` agents per episode, `N = E·A` rows, `T` steps, `C` channels, `R = 2r+1`
//! window side, `H` token width, `L` tokens per agent (memory + history + current).
//! Rows are episode-major: rows `e·A .. (e+1)·A` are episode `e`'s agents.

mod block;
mod cores;
mod encoder;
mod init;
mod legacy;
mod model;

pub use cores::rate::RateConfig;
pub use encoder::{ResnetEncoder, ResnetEncoderConfig};
pub use model::{
    CheckpointError, CoreKind, CoreState, MemoryMask, NUM_ACTIONS, PolicyConfig, PolicyNet,
    SequenceInput, SequenceOutput, StepInput, StepOutput,
};
