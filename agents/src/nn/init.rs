//! Orthogonal initialisation (burn 0.22 has none): Gram–Schmidt on a Gaussian matrix drawn from a
//! seeded stream, as `torch.nn.init.orthogonal_` does with QR (sign-corrected); and burn's default
//! distributions for its GRU and attention layers, drawn from the same seeded stream, so that every
//! parameter of a model depends on its seed alone.

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::attention::MultiHeadAttention;
use burn::nn::conv::Conv2d;
use burn::nn::gru::Gru;
use burn::tensor::{Device, Tensor, TensorData};
use rmapf_env::rng::SplitMix64;

/// A deterministic normal stream (SplitMix64 + Box–Muller).
pub(crate) struct Gaussian(SplitMix64);

impl Gaussian {
    pub(crate) fn new(seed: u64) -> Self {
        Self(SplitMix64(seed ^ 0x5DEE_CE66_D1CE_4E5B))
    }

    /// A uniform sample in `[-1, 1)`.
    pub(crate) fn symmetric_uniform(&mut self) -> f64 {
        2.0 * self.0.next_f64() - 1.0
    }

    pub(crate) fn sample(&mut self) -> f64 {
        let u1 = self.0.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.0.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A `rows × cols` matrix with orthonormal rows (if `rows <= cols`) or columns, times `gain`.
pub(crate) fn orthogonal(rows: usize, cols: usize, gain: f64, g: &mut Gaussian) -> Vec<f32> {
    // Orthonormalise the vectors along the shorter side.
    let (k, n) = if rows <= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(k);
    while basis.len() < k {
        let mut v: Vec<f64> = (0..n).map(|_| g.sample()).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(a, c)| a * c).sum();
            v.iter_mut().zip(b).for_each(|(a, c)| *a -= dot * c);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-8 {
            basis.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    let mut out = vec![0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let v = if rows <= cols {
                basis[i][j]
            } else {
                basis[j][i]
            };
            out[i * cols + j] = (v * gain) as f32;
        }
    }
    out
}

/// Replaces a linear layer's weight with an orthogonal matrix and its bias with zeros.
pub(crate) fn linear(layer: Linear, gain: f64, g: &mut Gaussian, device: &Device) -> Linear {
    let [d_in, d_out] = layer.weight.dims();
    let w = orthogonal(d_in, d_out, gain, g);
    // Fresh parameters (`Param::from_tensor` marks them trainable; `Param::map` would not).
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device)),
        bias: layer.bias.map(|b| zeros(b.val())),
    }
}

/// Orthogonal init of a convolution, over `[c_out, c_in·k·k]`.
pub(crate) fn conv(layer: Conv2d, gain: f64, g: &mut Gaussian, device: &Device) -> Conv2d {
    let [c_out, c_in, k1, k2] = layer.weight.dims();
    let w = orthogonal(c_out, c_in * k1 * k2, gain, g);
    Conv2d {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [c_out, c_in, k1, k2]),
            device,
        )),
        bias: layer.bias.map(|b| zeros(b.val())),
        ..layer
    }
}

/// Redraws a linear layer's weight `[d_in, d_out]` and bias `[d_out]` from `g`, each entry
/// `draw(g, d_in, d_out)`, so the layer depends on the model seed alone (burn's own initialisers
/// draw from its global, unseeded stream).
fn redraw(
    layer: Linear,
    g: &mut Gaussian,
    device: &Device,
    draw: impl Fn(&mut Gaussian, usize, usize) -> f64,
) -> Linear {
    let [d_in, d_out] = layer.weight.dims();
    let mut values =
        |n: usize| -> Vec<f32> { (0..n).map(|_| draw(g, d_in, d_out) as f32).collect() };
    let weight = values(d_in * d_out);
    let bias = layer.bias.is_some().then(|| values(d_out));
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [d_in, d_out]),
            device,
        )),
        bias: bias
            .map(|b| Param::from_tensor(Tensor::from_data(TensorData::new(b, [d_out]), device))),
    }
}

/// burn's GRU with its default distribution (Xavier normal, weights and biases), drawn from `g`.
pub(crate) fn gru(mut gru: Gru, g: &mut Gaussian, device: &Device) -> Gru {
    let xavier = |g: &mut Gaussian, d_in: usize, d_out: usize| {
        g.sample() * (2.0 / (d_in + d_out) as f64).sqrt()
    };
    for gate in [&mut gru.update_gate, &mut gru.reset_gate, &mut gru.new_gate] {
        gate.input_transform = redraw(gate.input_transform.clone(), g, device, xavier);
        gate.hidden_transform = redraw(gate.hidden_transform.clone(), g, device, xavier);
    }
    gru
}

/// burn's multi-head attention with its default distribution (uniform in ±1/√fan_in, as
/// PyTorch's `Linear`), drawn from `g`.
pub(crate) fn attention(
    mut mha: MultiHeadAttention,
    g: &mut Gaussian,
    device: &Device,
) -> MultiHeadAttention {
    let uniform =
        |g: &mut Gaussian, d_in: usize, _: usize| g.symmetric_uniform() / (d_in as f64).sqrt();
    for layer in [
        &mut mha.query,
        &mut mha.key,
        &mut mha.value,
        &mut mha.output,
    ] {
        *layer = redraw(layer.clone(), g, device, uniform);
    }
    mha
}

/// A trainable zero parameter shaped like `t`.
pub(crate) fn zeros<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(t.zeros_like())
}

/// A parameter tensor of normal samples with standard deviation `std`.
pub(crate) fn normal<const D: usize>(
    shape: [usize; D],
    std: f64,
    g: &mut Gaussian,
    device: &Device,
) -> Param<Tensor<D>> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| (g.sample() * std) as f32).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_orthonormal() {
        let mut g = Gaussian::new(1);
        let m = orthogonal(4, 9, 1.0, &mut g);
        for i in 0..4 {
            for j in 0..4 {
                let dot: f32 = (0..9).map(|k| m[i * 9 + k] * m[j * 9 + k]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-5);
            }
        }
    }
}
