//! The RATE core for online PPO (`models-and-training.md` §5.5): recurrent memory tokens, a
//! segment of step tokens, and a Memory Retention Valve.
//!
//! A segment is `[M_n read (m) | K steps × P tokens | M_n write (m)]` with RATE's mask: a step
//! token sees the read tokens and the segment up to itself; write tokens see everything. Each step
//! contributes `P = 3` tokens `(r_{t−1}, a_{t−1}, o_t)` or, with `fused_step_token`, one token
//! `E_o(o_t) + E_a(a_{t−1}) + E_r(r_{t−1})`; policy and value are read at `o_t`. When a segment's
//! `K`-th step is in, the write outputs give the next memory
//! `M_{n+1} = MHA(Q = M_n, K = V = ReLU(write))` (the MRV; `mrv_heads = 0` copies the write
//! outputs as RMT does). `M_0` is learned, one independent row per memory token.
//!
//! Stepping is exact incremental decoding of the segment: the step tokens seen so far are kept
//! in the state, and with one block only the current `o_t` row and the write rows need queries.
//! Segments start at episode starts; one that an episode end cuts short is dropped with the
//! episode. Agents that have finished keep their memory.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{CoreInput, StateWidths};
use crate::nn::block::{Block, Rows};
use crate::nn::init::{self, Gaussian};
use crate::nn::model::{CoreState, PolicyConfig};

/// RATE sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Memory tokens `m`.
    pub memory_tokens: usize,
    /// Steps per segment `K`.
    pub segment: usize,
    /// MRV heads (0: the next memory is the write outputs, as in RMT).
    pub mrv_heads: usize,
    /// One token per step (`E_o + E_a + E_r`) instead of three (`r, a, o`).
    pub fused_step_token: bool,
}

impl Default for RateConfig {
    /// The spec's suggestion with `m = 4`: `K = 8` (SRMT's history), one MRV head, three tokens a
    /// step. With `m = 1` the valve's softmax has one key, so `M_{n+1}` would not depend on `M_n`
    /// and the valve's query and key weights would never train.
    fn default() -> Self {
        Self {
            memory_tokens: 4,
            segment: 8,
            mrv_heads: 1,
            fused_step_token: false,
        }
    }
}

impl RateConfig {
    /// Tokens per step `P`.
    pub fn tokens_per_step(&self) -> usize {
        if self.fused_step_token { 1 } else { 3 }
    }

    /// Tokens per segment `L = 2m + P·K`.
    pub fn tokens(&self) -> usize {
        2 * self.memory_tokens + self.tokens_per_step() * self.segment
    }
}

/// The RATE core: a transformer block and final LayerNorm over memory and segment tokens, and
/// RATE's own parameters.
#[derive(Module, Debug)]
pub struct RateCore {
    /// The transformer block (self-attention only).
    block: Block,
    /// The final LayerNorm of the queried rows.
    ln_f: LayerNorm,
    /// RATE's own parameters.
    parts: RateParts,
}

/// RATE's state: `m` memory tokens of width `H`, and the segment's `P·K` step tokens.
pub(crate) fn state_widths(config: &PolicyConfig) -> StateWidths {
    let r = &config.rate;
    StateWidths {
        memory: r.memory_tokens * config.encoder.width,
        kept_tokens: r.tokens_per_step() * r.segment,
    }
}

/// RATE's own size rules (beyond the limits every config has).
pub(crate) fn validate(config: &PolicyConfig) -> Result<(), String> {
    let (r, h) = (&config.rate, config.encoder.width);
    if r.memory_tokens == 0 || r.segment == 0 {
        return Err("rate.memory_tokens and rate.segment must be positive".into());
    }
    if r.mrv_heads > 0 && !h.is_multiple_of(r.mrv_heads) {
        return Err(format!(
            "width {h} must be a multiple of rate.mrv_heads {}",
            r.mrv_heads
        ));
    }
    Ok(())
}

impl RateCore {
    /// A RATE core for `config` (its `rate` sizes, width and heads), drawing the block's and then
    /// RATE's initial weights from `g`.
    pub(crate) fn new(config: &PolicyConfig, g: &mut Gaussian, device: &Device) -> Self {
        let h = config.encoder.width;
        let block = Block::new(h, config.heads, false, g, device);
        Self {
            block,
            ln_f: LayerNormConfig::new(h).init(device),
            parts: RateParts::new(&config.rate, h, g, device),
        }
    }

    /// From the parts a checkpoint of the earlier layout holds.
    pub(crate) fn from_parts(block: Block, ln_f: LayerNorm, parts: RateParts) -> Self {
        Self { block, ln_f, parts }
    }

    /// The parts, for a checkpoint of the earlier layout.
    pub(crate) fn into_parts(self) -> (Block, LayerNorm, RateParts) {
        (self.block, self.ln_f, self.parts)
    }

    /// One step (see [`RateParts::step`]): `input.emb [N, H]` → the heads' input `[N, H]`; the
    /// state's memory `[N, m·H]`, history (the segment's step tokens `[N, P·K, H]`) and position
    /// `[N]` advance. `keep [N]` is 0 where an episode starts (the caller has already zeroed
    /// memory and segment there).
    pub(crate) fn step(
        &self,
        input: CoreInput,
        state: CoreState,
        keep: Tensor<1>,
    ) -> (Tensor<2>, CoreState) {
        let CoreInput {
            emb,
            active,
            prev_action,
            prev_reward,
            ..
        } = input;
        let (out, (memory, history, position)) = self.parts.step(
            &self.block,
            |y| self.ln_f.forward(y),
            emb,
            (state.memory, state.history, state.position),
            keep,
            active,
            (prev_action, prev_reward),
        );
        let next = CoreState {
            memory,
            history,
            position,
            hidden: state.hidden,
        };
        (out, next)
    }
}

/// RATE's own parameters (the block and final LayerNorm are [`RateCore`]'s).
#[derive(Module, Debug)]
pub struct RateParts {
    /// `Embedding(5 + 1, H)`: the previous action, index 5 = none (episode start).
    action: Embedding,
    /// `Linear(1, H)`: the previous reward.
    reward: Linear,
    /// `[m, H]` learned `M_0`.
    memory0: Param<Tensor<2>>,
    /// `[L, H]` learned positions within the segment.
    positions: Param<Tensor<2>>,
    /// The Memory Retention Valve.
    mrv: Option<MultiHeadAttention>,
    #[module(skip)]
    config: RateConfig,
}

/// Index of "no previous action".
const NO_ACTION: f32 = 5.0;

impl RateParts {
    /// RATE's parameters for `config` at token width `width`.
    pub(crate) fn new(
        config: &RateConfig,
        width: usize,
        g: &mut Gaussian,
        device: &Device,
    ) -> Self {
        let action = Embedding {
            weight: init::normal([6, width], 1.0, g, device),
        };
        let reward = init::linear(LinearConfig::new(1, width).init(device), 1.0, g, device);
        Self {
            action,
            reward,
            memory0: init::normal([config.memory_tokens, width], 1.0, g, device),
            positions: init::normal([config.tokens(), width], 1.0, g, device),
            mrv: (config.mrv_heads > 0).then(|| {
                let mha = MultiHeadAttentionConfig::new(width, config.mrv_heads)
                    .with_dropout(0.0)
                    .init(device);
                init::attention(mha, g, device)
            }),
            config: config.clone(),
        }
    }

    /// One step through the policy's `block`, with `finish` (the policy's final LayerNorm)
    /// applied to the queried rows.
    ///
    /// # Shapes
    /// `emb [N, H]` (encoded `o_t`), `memory [N, m·H]` and `segment [N, P·K, H]` (this
    /// segment's step tokens so far; both zero where an episode starts), `position [N]` (steps
    /// already in the segment), `keep [N]` (0 where an episode starts), `active [N]`,
    /// `prev_action [N]`, `prev_reward [N]` → `o_t`'s output `[N, H]` and the new
    /// `(memory, segment, position)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &self,
        block: &Block,
        finish: impl Fn(Tensor<3>) -> Tensor<3>,
        emb: Tensor<2>,
        (memory, segment, position): (Tensor<2>, Tensor<3>, Tensor<1>),
        keep: Tensor<1>,
        active: Tensor<1>,
        (prev_action, prev_reward): (Tensor<1, Int>, Tensor<1>),
    ) -> (Tensor<2>, (Tensor<2>, Tensor<3>, Tensor<1>)) {
        let c = &self.config;
        let device = emb.device();
        let [n, h] = emb.dims();
        let (m, k, p, l) = (c.memory_tokens, c.segment, c.tokens_per_step(), c.tokens());
        // Episode starts (the caller has already zeroed memory and segment there): M_0, position
        // 0, no previous action or reward.
        let drop2 = keep.clone().neg().add_scalar(1.0).unsqueeze_dim::<2>(1); // [N, 1]
        let memory0 = self.memory0.val().reshape([1, m * h]); // [1, m·H]
        let memory = memory + memory0 * drop2; // [N, m·H]
        let position = position * keep.clone(); // [N]
        let action = (prev_action.float() * keep.clone()
            + keep.clone().neg().add_scalar(1.0) * NO_ACTION)
            .int()
            .reshape([n, 1]); // [N, 1]
        let e_a = self.action.forward(action); // [N, 1, H]
        let e_r = self
            .reward
            .forward((prev_reward * keep).reshape([n, 1]))
            .unsqueeze_dim::<3>(1); // [N, 1, H]
        let e_o = emb.unsqueeze_dim::<3>(1); // [N, 1, H]
        let tokens = if c.fused_step_token {
            e_o + e_a + e_r
        } else {
            Tensor::cat(vec![e_r, e_a, e_o], 1)
        }; // [N, P, H]
        // Write this step's tokens at the segment position.
        let steps = Tensor::<1, Int>::arange(0..k as i64, &device)
            .float()
            .unsqueeze_dim::<2>(0); // [1, K]
        let pos2 = position.clone().unsqueeze_dim::<2>(1); // [N, 1]
        let here = one_hot(pos2.clone(), steps).unsqueeze_dim::<3>(2); // [N, K, 1]
        let segment = segment.reshape([n, k, p * h]); // [N, K, P·H]
        let segment = segment.clone() + (tokens.reshape([n, 1, p * h]) - segment) * here; // [N, K, P·H]
        let segment = segment.reshape([n, p * k, h]); // [N, P·K, H]
        // The whole segment, read and write memory around it.
        let mem3 = memory.clone().reshape([n, m, h]); // [N, m, H]
        let x = Tensor::cat(vec![mem3.clone(), segment.clone(), mem3.clone()], 1)
            + self.positions.val().unsqueeze_dim::<3>(0); // [N, L, H]
        // Queries: o_t's row (varies per agent) and the m write rows.
        let cols = Tensor::<1, Int>::arange(0..l as i64, &device)
            .float()
            .unsqueeze_dim::<2>(0); // [1, L]
        let row = pos2
            .clone()
            .mul_scalar(p as f32)
            .add_scalar((m + p - 1) as f32); // [N, 1]
        let write_rows: Vec<f32> = (0..m)
            .flat_map(|i| (0..l).map(move |j| f32::from(u8::from(j == l - m + i))))
            .collect();
        let write_rows = Tensor::<3>::from_data(TensorData::new(write_rows, [1, m, l]), &device)
            .repeat_dim(0, n); // [N, m, L]
        let select = Tensor::cat(
            vec![
                one_hot(row.clone(), cols.clone()).unsqueeze_dim::<3>(1),
                write_rows,
            ],
            1,
        ); // [N, 1 + m, L]
        // o_t sees the read tokens and the segment up to itself; write rows see everything.
        let blocked = (cols - row).clamp(0.0, 1.0).unsqueeze_dim::<3>(1); // [N, 1, L]
        let mask =
            Tensor::cat(vec![blocked, Tensor::zeros([n, m, l], &device)], 1).greater_elem(0.5); // [N, 1 + m, L]
        let y = finish(block.forward_rows(
            x.reshape([n, 1, l, h]),
            Rows::OneHot(Box::new(select)),
            Some(mask),
            None,
        )); // [N, 1 + m, H]
        let out = y.clone().narrow(1, 0, 1).reshape([n, h]); // [N, H]
        // The segment is complete after its K-th step: the write outputs update the memory.
        let written = y.narrow(1, 1, m); // [N, m, H]
        let next = match &self.mrv {
            Some(mrv) => {
                let v = relu(written);
                mrv.forward(MhaInput::new(mem3.clone(), v.clone(), v))
                    .context
            }
            None => written,
        }; // [N, m, H]
        let last = Tensor::<2>::from_data(TensorData::new(vec![(k - 1) as f32], [1, 1]), &device);
        let complete = one_hot(pos2, last).reshape([n]); // [N]
        let gate = (complete.clone() * active).reshape([n, 1, 1]);
        let memory = (mem3.clone() + (next - mem3) * gate).reshape([n, m * h]); // [N, m·H]
        let position = (position.add_scalar(1.0)) * complete.neg().add_scalar(1.0); // [N]
        (out, (memory, segment, position))
    }
}

/// `1.0` where `x == v` (both whole numbers), broadcasting `x [N, 1]` against `v [1, K]` → `[N, K]`.
fn one_hot(x: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
    (x - v).abs().clamp_max(1.0).neg().add_scalar(1.0)
}
