//! One GPT-2 style pre-LN transformer block with optional cross-attention (the SRMT core):
//! `X += SelfAttn(LN1(X)); X += CrossAttn(LN_c(X), pool); X += MLP(LN2(X))`, MLP `H → 4H → H`
//! with GELU (tanh approximation, GPT-2's `gelu_new`), dropout 0.

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Tensor};

use super::init::{self, Gaussian};

/// Which rows of each agent's `L` tokens get queries.
pub(crate) enum Rows<'a> {
    /// The same rows for every agent (sorted indices).
    Fixed(&'a [usize]),
    /// `[E·A, Q, L]` one-hot selectors, one row per query (rows that vary per agent).
    OneHot(Box<Tensor<3>>),
}

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

    /// Runs the block for the query rows `rows` of every agent's `L` tokens (all `L` tokens are
    /// keys and values). With one block, rows whose outputs nobody reads need no query, MLP or
    /// cross-attention: this is exact, and several times cheaper than running all `L` rows.
    ///
    /// # Shapes
    /// `x [E, A, L, H]`, `rows` (`Q` rows per agent), `mask [E·A, Q, L]` (true = blocked;
    /// `None` = nothing blocked), `pool [E, A·P, H]` (each agent of an episode attends to all
    /// `A·P` memory tokens of that episode) → `[E·A, Q, H]`.
    pub(crate) fn forward_rows(
        &self,
        x: Tensor<4>,
        rows: Rows<'_>,
        mask: Option<Tensor<3, Bool>>,
        pool: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let [e, a, l, h] = x.dims();
        let q = match &rows {
            Rows::Fixed(r) => r.len(),
            Rows::OneHot(s) => s.dims()[1],
        };
        let flat = x.reshape([e * a, l, h]); // [E·A, L, H]
        let normed = self.ln_1.forward(flat.clone()); // [E·A, L, H]
        let pick = |t: &Tensor<3>| -> Tensor<3> {
            match &rows {
                Rows::Fixed(_) if q == l => t.clone(),
                Rows::Fixed(r) => {
                    Tensor::cat(r.iter().map(|&i| t.clone().narrow(1, i, 1)).collect(), 1)
                }
                Rows::OneHot(s) => (**s).clone().matmul(t.clone()),
            }
        }; // [E·A, Q, H]
        let mut input = MhaInput::new(pick(&normed), normed.clone(), normed);
        if let Some(mask) = mask {
            input = input.mask_attn(mask);
        }
        let att = self.attn.forward(input).context; // [E·A, Q, H]
        let mut x = pick(&flat) + att; // [E·A, Q, H]
        if let (Some(ln), Some(cross), Some(pool)) = (&self.ln_cross, &self.cross, pool) {
            let qx = ln.forward(x.clone()).reshape([e, a * q, h]); // [E, A·Q, H]
            let ctx = cross.forward(MhaInput::new(qx, pool.clone(), pool)).context; // [E, A·Q, H]
            x = x + ctx.reshape([e * a, q, h]);
        }
        let mlp = self
            .proj
            .forward(gelu_new(self.fc.forward(self.ln_2.forward(x.clone()))));
        x + mlp
    }
}

/// GPT-2's `gelu_new`, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, written as
/// `x·σ(2·√(2/π)·(x + 0.044715·x³))` (the same function: `1 + tanh(u) = 2σ(2u)`) with `x³` as
/// products: on flex this runs faster than burn's `gelu_approximate` (`powf` and `tanh`).
fn gelu_new<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const TWO_SQRT_2_OVER_PI: f64 = 2.0 * 0.797_884_560_802_865_4;
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * TWO_SQRT_2_OVER_PI;
    x * sigmoid(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn random(shape: [usize; 4], g: &mut Gaussian, device: &Device) -> Tensor<4> {
        let v: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| g.sample() as f32)
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    fn rows_of(t: Tensor<3>, rows: &[usize]) -> Vec<f32> {
        let picked: Vec<Tensor<3>> = rows.iter().map(|&r| t.clone().narrow(1, r, 1)).collect();
        Tensor::cat(picked, 1).into_data().iter::<f32>().collect()
    }

    /// `gelu_new` is burn's `gelu_approximate` (the tanh form) written with a sigmoid.
    #[test]
    fn gelu_new_equals_the_tanh_approximation() {
        let device = Device::flex();
        let xs: Vec<f32> = (-80..=80).map(|i| i as f32 / 10.0).collect();
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device);
        let ours = gelu_new(x.clone());
        let burns = burn::tensor::activation::gelu_approximate(x);
        let diff = (ours - burns).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "gelu_new differs by {diff}");
    }

    /// Querying a subset of rows (fixed or one-hot) gives exactly those rows of the full block.
    #[test]
    fn queried_rows_equal_the_full_blocks_rows() {
        let device = Device::flex();
        let mut g = Gaussian::new(3);
        let (e, a, l, h) = (2, 3, 6, 8);
        let block = Block::new(h, 2, true, &mut g, &device);
        let x = random([e, a, l, h], &mut g, &device);
        let pool = random([1, e, a, h], &mut g, &device).reshape([e, a, h]);
        // Causal, except that row 0 sees everything (SRMT's memory row).
        let mask: Vec<bool> = (0..l * l).map(|k| k / l > 0 && k % l > k / l).collect();
        let full_mask =
            Tensor::<3, Bool>::from_data(TensorData::new(mask.clone(), [1, l, l]), &device)
                .repeat_dim(0, e * a);
        let all: Vec<usize> = (0..l).collect();
        let full = block.forward_rows(
            x.clone(),
            Rows::Fixed(&all),
            Some(full_mask),
            Some(pool.clone()),
        );
        let rows = [0, 3, l - 1];
        let sub_mask: Vec<bool> = rows
            .iter()
            .flat_map(|&r| mask[r * l..(r + 1) * l].to_vec())
            .collect();
        let sub_mask = Tensor::<3, Bool>::from_data(TensorData::new(sub_mask, [1, 3, l]), &device)
            .repeat_dim(0, e * a);
        let fixed = block.forward_rows(
            x.clone(),
            Rows::Fixed(&rows),
            Some(sub_mask.clone()),
            Some(pool.clone()),
        );
        let onehot: Vec<f32> = rows
            .iter()
            .flat_map(|&r| (0..l).map(move |j| f32::from(u8::from(j == r))))
            .collect();
        let select = Tensor::<3>::from_data(TensorData::new(onehot, [1, 3, l]), &device)
            .repeat_dim(0, e * a);
        let gathered = block.forward_rows(
            x,
            Rows::OneHot(Box::new(select)),
            Some(sub_mask),
            Some(pool),
        );
        let want = rows_of(full, &rows);
        for got in [fixed, gathered] {
            let got: Vec<f32> = got.into_data().iter::<f32>().collect();
            let diff = want
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "max difference {diff}");
        }
    }
}
