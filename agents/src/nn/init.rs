//! Orthogonal initialisation (burn 0.22 has none): Gram–Schmidt on a Gaussian matrix drawn from a
//! seeded stream, as `torch.nn.init.orthogonal_` does with QR (sign-corrected).

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData};
use rmapf_env::rng::SplitMix64;

/// A deterministic normal stream (SplitMix64 + Box–Muller).
pub(crate) struct Gaussian(SplitMix64);

impl Gaussian {
    pub(crate) fn new(seed: u64) -> Self {
        Self(SplitMix64(seed ^ 0x5DEE_CE66_D1CE_4E5B))
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
