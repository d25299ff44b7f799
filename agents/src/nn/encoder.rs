//! The Follower/SRMT ResNet encoder:
//! `Conv3x3(C→F) → [x + Conv3x3(ReLU(Conv3x3(ReLU(x))))]×n → ReLU → flatten → Linear(F·R·R→H) → ReLU`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
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
