//! The Follower/SRMT ResNet encoder:
//! `Conv3x3(C→F) → [x + Conv3x3(ReLU(Conv3x3(ReLU(x))))]×n → ReLU → flatten → Linear(F·R·R→H) → ReLU`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::init::{self, Gaussian};

/// Encoder sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResnetEncoderConfig {
    /// Input channels `C`.
    pub channels: usize,
    /// Window side `R`.
    pub side: usize,
    /// Convolution filters `F`.
    pub filters: usize,
    /// Residual blocks `n`.
    pub blocks: usize,
    /// Output width `H`.
    pub width: usize,
}

/// One residual block.
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

/// The encoder.
#[derive(Module, Debug)]
pub struct ResnetEncoder {
    stem: Conv2d,
    blocks: Vec<ResBlock>,
    head: Linear,
}

fn conv3(c_in: usize, c_out: usize, g: &mut Gaussian, device: &Device) -> Conv2d {
    let c = Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device);
    init::conv(c, 1.0, g, device)
}

impl ResnetEncoderConfig {
    /// Builds the encoder with orthogonal weights (gain 1) and zero biases from `g`.
    pub(crate) fn init(&self, g: &mut Gaussian, device: &Device) -> ResnetEncoder {
        let stem = conv3(self.channels, self.filters, g, device);
        let blocks = (0..self.blocks)
            .map(|_| ResBlock {
                conv1: conv3(self.filters, self.filters, g, device),
                conv2: conv3(self.filters, self.filters, g, device),
            })
            .collect();
        let head = LinearConfig::new(self.filters * self.side * self.side, self.width).init(device);
        ResnetEncoder {
            stem,
            blocks,
            head: init::linear(head, 1.0, g, device),
        }
    }
}

impl ResnetEncoder {
    /// # Shapes
    /// `obs [B, C, R, R]` → `[B, H]`.
    pub fn forward(&self, obs: Tensor<4>) -> Tensor<2> {
        let [_, _, side, _] = obs.dims();
        let [filters, _, _, _] = self.stem.weight.dims();
        if filters * side * side <= DENSE_MAX_ACTIVATIONS {
            self.forward_dense(obs)
        } else {
            self.forward_conv(obs)
        }
    }

    /// The encoder with burn's `conv2d`.
    fn forward_conv(&self, obs: Tensor<4>) -> Tensor<2> {
        let [b, _, _, _] = obs.dims();
        let mut x = self.stem.forward(obs); // [B, F, R, R]
        for block in &self.blocks {
            let y = block
                .conv2
                .forward(relu(block.conv1.forward(relu(x.clone()))));
            x = x + y;
        }
        let x = relu(x).reshape([b as i32, -1]); // [B, F·R·R]
        relu(self.head.forward(x)) // [B, H]
    }
}

/// Encoders whose activations `F·R²` are at most this many run each convolution as one matmul
/// with a dense `[C·R², F·R²]` matrix: the same maths, faster than flex's `conv2d` on small
/// windows. Forward + backward rows/s, conv → dense, one block: F = 8 with R = 5 41.5 k →
/// 101.7 k, R = 7 19.1 k → 44.6 k, R = 9 12.8 k → 22.4 k, R = 11 9.7 k → 10.9 k; F = 64, R = 7
/// (3,136) 1,054 → 118, so larger encoders keep `conv2d`.
const DENSE_MAX_ACTIVATIONS: usize = 1024;

impl ResnetEncoder {
    /// The encoder with every 3×3 convolution as a dense matmul over flattened `[B, C·R·R]`
    /// activations (channel-major, as `conv2d`'s output flattens), so the head sees the same
    /// layout.
    fn forward_dense(&self, obs: Tensor<4>) -> Tensor<2> {
        let [b, c, r, _] = obs.dims();
        let shifts = shift_matrix(r, &obs.device()); // [9, R²·R²]
        let mut x = dense_conv(&self.stem, obs.reshape([b, c * r * r]), &shifts, r); // [B, F·R²]
        for block in &self.blocks {
            let y = dense_conv(&block.conv1, relu(x.clone()), &shifts, r);
            x = x + dense_conv(&block.conv2, relu(y), &shifts, r);
        }
        relu(self.head.forward(relu(x))) // [B, H]
    }
}

/// `[9, R²·R²]`: entry `(k, p·R² + q)` is 1 when input pixel `p` lies at kernel offset `k`
/// (`ky·3 + kx`) of output pixel `q` under padding 1.
fn shift_matrix(r: usize, device: &Device) -> Tensor<2> {
    let n = r * r;
    let mut t = vec![0f32; 9 * n * n];
    for k in 0..9 {
        let (dy, dx) = ((k / 3) as isize - 1, (k % 3) as isize - 1);
        for q in 0..n {
            let (y, x) = ((q / r) as isize + dy, (q % r) as isize + dx);
            if (0..r as isize).contains(&y) && (0..r as isize).contains(&x) {
                let p = y as usize * r + x as usize;
                t[k * n * n + p * n + q] = 1.0;
            }
        }
    }
    Tensor::from_data(TensorData::new(t, [9, n * n]), device)
}

/// A 3×3, padding-1 `conv` applied to `x [B, C·R²]` as `x · W + b` → `[B, F·R²]`, where
/// `W [C·R², F·R²]` is built from the kernel and `shifts` (so gradients reach the kernel).
fn dense_conv(conv: &Conv2d, x: Tensor<2>, shifts: &Tensor<2>, r: usize) -> Tensor<2> {
    let [f, c, _, _] = conv.weight.dims();
    let n = r * r;
    let w = conv
        .weight
        .val()
        .reshape([f * c, 9])
        .matmul(shifts.clone()) // [F·C, R²·R²]
        .reshape([f, c, n, n])
        .permute([1, 2, 0, 3])
        .reshape([c * n, f * n]);
    let y = x.matmul(w); // [B, F·R²]
    match &conv.bias {
        Some(bias) => {
            let bias = bias
                .val()
                .reshape([f, 1])
                .expand([f, n])
                .reshape([1, f * n]);
            y + bias
        }
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// The dense path computes the same encoder as `conv2d`, outputs and kernel gradients, also
    /// with random (non-zero) biases and several residual blocks.
    #[test]
    fn dense_convolutions_equal_conv2d() {
        let device = Device::flex().autodiff();
        for (side, filters, blocks) in [(3, 4, 1), (5, 8, 2), (7, 3, 1)] {
            let mut g = Gaussian::new(side as u64);
            let config = ResnetEncoderConfig {
                channels: 3,
                side,
                filters,
                blocks,
                width: 6,
            };
            let mut enc = config.init(&mut g, &device);
            let mut random = |shape: Vec<usize>| {
                let v: Vec<f32> = (0..shape.iter().product::<usize>())
                    .map(|_| g.sample() as f32)
                    .collect();
                Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device)
            };
            enc.stem.bias = Some(burn::module::Param::from_tensor(random(vec![filters])));
            let obs = random(vec![4 * 3 * side * side]).reshape([4, 3, side, side]);
            let dense = enc.forward_dense(obs.clone());
            let conv = enc.forward_conv(obs);
            let diff = max_abs_diff(dense.clone(), conv.clone());
            assert!(diff < 1e-4, "side {side}: outputs differ by {diff}");
            let gd = (dense.clone() * dense).sum().backward();
            let gc = (conv.clone() * conv).sum().backward();
            let kernel = &enc.blocks[0].conv1.weight;
            let (kd, kc) = (kernel.grad(&gd).unwrap(), kernel.grad(&gc).unwrap());
            let scale = kc.clone().abs().max().into_scalar::<f32>().max(1.0);
            let diff = max_abs_diff(
                kd.reshape([filters, filters * 9]),
                kc.reshape([filters, filters * 9]),
            );
            assert!(
                diff / scale < 1e-4,
                "side {side}: kernel gradients differ by {diff}"
            );
            let bias = enc.stem.bias.as_ref().unwrap();
            let (bd, bc) = (bias.grad(&gd).unwrap(), bias.grad(&gc).unwrap());
            let diff = (bd - bc).abs().max().into_scalar::<f32>();
            assert!(
                diff / scale < 1e-4,
                "side {side}: bias gradients differ by {diff}"
            );
        }
    }
}
