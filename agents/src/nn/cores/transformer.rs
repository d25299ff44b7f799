//! The transformer cores: SRMT (a memory token per agent, and cross-attention to the pool of
//! its episode's memories), RMT (the memory token without the pool) and Attention (history and
//! observation, no memory). Each step queries one transformer block with
//! `[memory | history | observation]` tokens plus learned positions and reads only the rows it
//! needs: the last one for the heads, the memory row for the next memory.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::CoreInput;
use crate::nn::block::{Block, Rows};
use crate::nn::init::{self, Gaussian};
use crate::nn::model::{CoreKind, CoreState, MemoryMask, PolicyConfig};

/// What a transformer core reads from the policy's config.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerSettings {
    /// History tokens `T_h`.
    history: usize,
    /// Tokens per agent `L` (memory if any, history, observation).
    tokens: usize,
    /// Whether a memory token leads the tokens (SRMT, RMT).
    memory: bool,
    /// Whether the memory row sees only itself (the reference's causal mask).
    causal_memory: bool,
    /// Whether finished agents' memories leave the pool (zeros).
    clear_finished_memory: bool,
}

impl TransformerSettings {
    /// The settings of `config` (an SRMT, RMT or Attention config).
    fn of(config: &PolicyConfig) -> Self {
        let memory = matches!(config.core, CoreKind::Srmt | CoreKind::Rmt);
        Self {
            history: config.history,
            // The memory token (SRMT/RMT), the history and the current observation.
            tokens: usize::from(memory) + config.history + 1,
            memory,
            causal_memory: memory && (config.reference_compat || config.mask == MemoryMask::Causal),
            clear_finished_memory: config.clear_finished_memory,
        }
    }
}

/// An SRMT, RMT or Attention core.
#[derive(Module, Debug)]
pub struct TransformerCore {
    /// The block (with cross-attention for SRMT).
    block: Block,
    /// `[L, H]` learned positions.
    wpe: Param<Tensor<2>>,
    /// The final LayerNorm of the queried rows.
    ln_f: LayerNorm,
    /// SRMT and RMT: `Linear(H, H)`, no bias, from the memory row's output to the next memory.
    mem_head: Option<Linear>,
    #[module(skip)]
    settings: TransformerSettings,
}

impl TransformerCore {
    /// A core for `config`, drawing the block's, the positions' and the memory head's initial
    /// weights from `g`, in that order.
    pub(crate) fn new(config: &PolicyConfig, g: &mut Gaussian, device: &Device) -> Self {
        let settings = TransformerSettings::of(config);
        let h = config.encoder.width;
        let block = Block::new(h, config.heads, config.core == CoreKind::Srmt, g, device);
        let wpe = init::normal([settings.tokens, h], 1.0, g, device);
        let mem_head = settings.memory.then(|| {
            let l = LinearConfig::new(h, h).with_bias(false).init(device);
            init::linear(l, 1.0, g, device)
        });
        Self {
            block,
            wpe,
            ln_f: LayerNormConfig::new(h).init(device),
            mem_head,
            settings,
        }
    }

    /// From the parts a checkpoint of the earlier layout holds.
    pub(crate) fn from_parts(
        config: &PolicyConfig,
        block: Block,
        wpe: Param<Tensor<2>>,
        ln_f: LayerNorm,
        mem_head: Option<Linear>,
    ) -> Self {
        Self {
            block,
            wpe,
            ln_f,
            mem_head,
            settings: TransformerSettings::of(config),
        }
    }

    /// The parts, for a checkpoint of the earlier layout.
    pub(crate) fn into_parts(self) -> (Block, Param<Tensor<2>>, LayerNorm, Option<Linear>) {
        (self.block, self.wpe, self.ln_f, self.mem_head)
    }

    /// The memory head (SRMT and RMT).
    pub(crate) fn mem_head(&self) -> Option<&Linear> {
        self.mem_head.as_ref()
    }

    /// The self-attention mask of the queried rows (memory row if any, then the last row), or
    /// `None` when nothing is blocked: the last row sees every token in every mode, and the
    /// memory row sees only itself in the causal (reference) mode.
    fn query_mask(&self, n: usize, device: &Device) -> Option<Tensor<3, Bool>> {
        if !self.settings.causal_memory {
            return None;
        }
        let l = self.settings.tokens;
        let mut m = vec![false; 2 * l];
        m[1..l].fill(true);
        Some(Tensor::<3, Bool>::from_data(TensorData::new(m, [1, 2, l]), device).repeat_dim(0, n))
    }

    /// One step: `input.emb [N, H]` (rows `e·A .. (e+1)·A` are episode `e`'s agents) → the
    /// heads' input `[N, H]`; the history `[N, T_h, H]` shifts in the observation and, with
    /// memory, active agents write their next memory `[N, H]`.
    pub(crate) fn step(
        &self,
        input: CoreInput,
        state: CoreState,
        (e, a): (usize, usize),
    ) -> (Tensor<2>, CoreState) {
        let s = &self.settings;
        let CoreInput { emb, active, .. } = input;
        let device = emb.device();
        let [n, h] = emb.dims();
        let th = s.history;
        let mut parts = Vec::with_capacity(3);
        if s.memory {
            parts.push(state.memory.clone().unsqueeze_dim::<3>(1)); // [N, 1, H]
        }
        if th > 0 {
            parts.push(state.history.clone()); // [N, T_h, H]
        }
        parts.push(emb.clone().unsqueeze_dim::<3>(1)); // [N, 1, H]
        let l = s.tokens;
        let x = Tensor::cat(parts, 1); // [N, L, H]
        let wpe = self.wpe.val().unsqueeze_dim::<3>(0); // [1, L, H]
        let x = (x + wpe).reshape([e, a, l, h]); // [E, A, L, H]
        let pool = self.block.has_cross().then(|| {
            let pool = if s.clear_finished_memory {
                state.memory.clone() * active.clone().unsqueeze_dim::<2>(1)
            } else {
                state.memory.clone()
            };
            pool.reshape([e, a, h]) // [E, A, H]
        });
        // Only the memory row (for the next memory) and the last row (for the heads) are read,
        // so only they are queried.
        let rows: &[usize] = if s.memory { &[0, l - 1] } else { &[l - 1] };
        let q = rows.len();
        let y = self.ln_f.forward(self.block.forward_rows(
            x,
            Rows::Fixed(rows),
            self.query_mask(n, &device),
            pool,
        )); // [N, Q, H]
        let out = y.clone().narrow(1, q - 1, 1).reshape([n, h]); // [N, H]
        let mut next = state.clone();
        if th > 0 {
            let kept = state.history.clone().narrow(1, 1, th - 1);
            next.history = Tensor::cat(vec![kept, emb.unsqueeze_dim::<3>(1)], 1); // [N, T_h, H]
        }
        if let Some(head) = &self.mem_head {
            let written = head.forward(y.narrow(1, 0, 1).reshape([n, h])); // [N, H]
            // Finished agents keep their memory frozen.
            let act = active.unsqueeze_dim::<2>(1);
            next.memory = state.memory.clone() + (written - state.memory) * act;
        }
        (out, next)
    }
}
