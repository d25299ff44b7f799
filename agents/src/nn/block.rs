//! One GPT-2 style pre-LN transformer block with optional cross-attention (the SRMT core):
//! `X += SelfAttn(LN1(X)); X += CrossAttn(LN_c(X), pool); X += MLP(LN2(X))`, MLP `H → 4H → H`
//! with GELU (tanh approximation, GPT-2's `gelu_new`), dropout 0.

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu_approximate;
use burn::tensor::{Bool, Device, Tensor};

use super::init::{self, Gaussian};

/// The block.
#[derive(Module, Debug)]
pub struct Block {
    ln_1: LayerNorm,
    attn: MultiHeadAttention,
    ln_cross: Option<LayerNorm>,
    cross: Option<MultiHeadAttention>,
    ln_2: LayerNorm,
    fc: Linear,
    proj: Linear,
}

fn mha(width: usize, heads: usize, g: &mut Gaussian, device: &Device) -> MultiHeadAttention {
    let m = MultiHeadAttentionConfig::new(width, heads)
        .with_dropout(0.0)
        .init(device);
    // GPT-2's Conv1D init: N(0, 0.02), zero bias.
    let w = |l: Linear, g: &mut Gaussian| Linear {
        weight: init::normal(l.weight.dims(), 0.02, g, device),
        bias: l.bias.map(|b| init::zeros(b.val())),
    };
    MultiHeadAttention {
        query: w(m.query, g),
        key: w(m.key, g),
        value: w(m.value, g),
        output: w(m.output, g),
        ..m
    }
}

impl Block {
    /// A block of width `width` with `heads` heads; `cross` adds cross-attention to a memory pool.
    pub(crate) fn new(
        width: usize,
        heads: usize,
        cross: bool,
        g: &mut Gaussian,
        device: &Device,
    ) -> Self {
        let ln = || LayerNormConfig::new(width).init(device);
        let lin = |i: usize, o: usize, g: &mut Gaussian| {
            let l = LinearConfig::new(i, o).init(device);
            Linear {
                weight: init::normal([i, o], 0.02, g, device),
                bias: l.bias.map(|b| init::zeros(b.val())),
            }
        };
        Self {
            ln_1: ln(),
            attn: mha(width, heads, g, device),
            ln_cross: cross.then(ln),
            cross: cross.then(|| mha(width, heads, g, device)),
            ln_2: ln(),
            fc: lin(width, 4 * width, g),
            proj: lin(4 * width, width, g),
        }
    }

    /// Whether the block has cross-attention.
    pub(crate) fn has_cross(&self) -> bool {
        self.cross.is_some()
    }

    /// # Shapes
    /// `x [E, A, L, H]`, `mask [E·A, L, L]` (true = blocked), `pool [E, A, H]` (each agent of an
    /// episode attends to all `A` memories of that episode) → `[E, A, L, H]`.
    pub(crate) fn forward(
        &self,
        x: Tensor<4>,
        mask: Tensor<3, Bool>,
        pool: Option<Tensor<3>>,
    ) -> Tensor<4> {
        let [e, a, l, h] = x.dims();
        let flat = x.reshape([e * a, l, h]); // [E·A, L, H]
        let att = self
            .attn
            .forward(MhaInput::self_attn(self.ln_1.forward(flat.clone())).mask_attn(mask))
            .context;
        let mut x = flat + att; // [E·A, L, H]
        if let (Some(ln), Some(cross), Some(pool)) = (&self.ln_cross, &self.cross, pool) {
            let q = ln.forward(x.clone()).reshape([e, a * l, h]); // [E, A·L, H]
            let ctx = cross.forward(MhaInput::new(q, pool.clone(), pool)).context; // [E, A·L, H]
            x = x + ctx.reshape([e * a, l, h]);
        }
        let mlp = self.proj.forward(gelu_approximate(
            self.fc.forward(self.ln_2.forward(x.clone())),
        ));
        (x + mlp).reshape([e, a, l, h])
    }
}
