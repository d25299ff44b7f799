//! The cores between the encoder and the heads, one file each, and the enum the policy holds.
//!
//! Adding a core: its file (config it reads, parameters, `new` drawing its initial weights from
//! the policy's Gaussian stream, `step`, and its state widths and size rules if it has its own),
//! a variant here with its arms in [`Core`]'s methods, [`StateWidths::of`] and [`validate`], a
//! [`crate::nn::CoreKind`] for configs, and its tests.

pub(crate) mod empty;
pub(crate) mod gru;
pub(crate) mod rate;
pub(crate) mod transformer;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use self::empty::EmptyCore;
use self::gru::GruCore;
use self::rate::RateCore;
use self::transformer::TransformerCore;
use super::init::Gaussian;
use super::model::{CoreKind, CoreState, PolicyConfig};

/// One step's core inputs: the step's observations encoded (`emb [N, H]`) and its `[N]` flags.
pub(crate) struct CoreInput {
    /// `[N, H]` encoded observations.
    pub emb: Tensor<2>,
    /// `[N]` 1.0 for agents still in play.
    pub active: Tensor<1>,
    /// `[N]` the previous action (RATE; ignored at episode starts).
    pub prev_action: Tensor<1, Int>,
    /// `[N]` the previous reward (RATE; ignored at episode starts).
    pub prev_reward: Tensor<1>,
}

/// The per-agent widths of a core's recurrent state ([`CoreState`]'s `memory [N, memory]` and
/// `history [N, kept_tokens, H]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateWidths {
    /// Memory width per agent.
    pub memory: usize,
    /// Tokens kept between steps.
    pub kept_tokens: usize,
}

impl StateWidths {
    /// The widths the core of `config` keeps: RATE's own; the others one memory token and the
    /// history (at least one row; the Empty and GRU cores keep them unused, the GRU's own state
    /// is `hidden`).
    pub(crate) fn of(config: &PolicyConfig) -> Self {
        match config.core {
            CoreKind::Rate => rate::state_widths(config),
            CoreKind::Srmt
            | CoreKind::Rmt
            | CoreKind::Attention
            | CoreKind::Empty
            | CoreKind::Gru => Self {
                memory: config.encoder.width,
                kept_tokens: config.history.max(1),
            },
        }
    }
}

/// The size rules of the core of `config`, beyond the limits every config has.
pub(crate) fn validate(config: &PolicyConfig) -> Result<(), String> {
    match config.core {
        CoreKind::Rate => rate::validate(config),
        CoreKind::Srmt | CoreKind::Rmt | CoreKind::Attention | CoreKind::Empty | CoreKind::Gru => {
            Ok(())
        }
    }
}

/// The width `W` of the core's output, the heads' input: the GRU's hidden size, else `H`.
pub(crate) fn output_width(config: &PolicyConfig) -> usize {
    match config.core {
        CoreKind::Gru => config.gru_hidden,
        CoreKind::Srmt | CoreKind::Rmt | CoreKind::Attention | CoreKind::Empty | CoreKind::Rate => {
            config.encoder.width
        }
    }
}

/// Whether the config's `reference_compat` applies (RATE has no reference code to follow).
pub(crate) fn reference_compat(config: &PolicyConfig) -> bool {
    config.reference_compat && config.core != CoreKind::Rate
}

/// The core of a policy.
// One per network and never in a collection, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Core {
    /// Encoder straight to the heads.
    Empty(EmptyCore),
    /// A one-layer GRU.
    Gru(GruCore),
    /// SRMT, RMT or Attention.
    Transformer(TransformerCore),
    /// RATE.
    Rate(RateCore),
}

impl Core {
    /// The core `config.core` names, drawing its initial weights from `g`.
    pub(crate) fn new(config: &PolicyConfig, g: &mut Gaussian, device: &Device) -> Self {
        match config.core {
            CoreKind::Empty => Core::Empty(EmptyCore::new(config.encoder.width)),
            CoreKind::Gru => Core::Gru(GruCore::new(config, g, device)),
            CoreKind::Srmt | CoreKind::Rmt | CoreKind::Attention => {
                Core::Transformer(TransformerCore::new(config, g, device))
            }
            CoreKind::Rate => Core::Rate(RateCore::new(config, g, device)),
        }
    }

    /// The memory head (SRMT and RMT: `Linear(H, H)`, no bias).
    pub(crate) fn mem_head(&self) -> Option<&Linear> {
        match self {
            Core::Transformer(t) => t.mem_head(),
            _ => None,
        }
    }

    /// One step for `E × A` agents (`episodes = (E, A)`): the heads' input `[N, W]` (`W = H`, or
    /// the GRU's hidden size) and the next state. `keep [N]` is 0 where an episode starts; the
    /// caller has already zeroed the state there.
    pub(crate) fn step(
        &self,
        input: CoreInput,
        state: CoreState,
        keep: Tensor<1>,
        episodes: (usize, usize),
    ) -> (Tensor<2>, CoreState) {
        match self {
            Core::Empty(c) => c.step(input, state),
            Core::Gru(c) => c.step(input, state),
            Core::Transformer(c) => c.step(input, state, episodes),
            Core::Rate(c) => c.step(input, state, keep),
        }
    }
}
