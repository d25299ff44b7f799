//! The GRU core: one GRU layer from the encoded observation to the heads.

use burn::module::Module;
use burn::nn::gru::{Gru, GruConfig};
use burn::tensor::{Device, Tensor};

use super::CoreInput;
use crate::nn::init::{self, Gaussian};
use crate::nn::model::{CoreState, PolicyConfig};

/// A one-layer GRU core of `gru_hidden = G` features.
#[derive(Module, Debug)]
pub struct GruCore {
    /// `GRU(H → G)`.
    gru: Gru,
    /// Hidden size `G`.
    #[module(skip)]
    hidden: usize,
}

impl GruCore {
    /// A core for `config` (`encoder.width` inputs, `gru_hidden` features), drawing its initial
    /// weights from `g`.
    pub(crate) fn new(config: &PolicyConfig, g: &mut Gaussian, device: &Device) -> Self {
        let gru = GruConfig::new(config.encoder.width, config.gru_hidden, true).init(device);
        Self::from_gru(init::gru(gru, g, device), config)
    }

    /// From the GRU a checkpoint of the earlier layout holds.
    pub(crate) fn from_gru(gru: Gru, config: &PolicyConfig) -> Self {
        Self {
            gru,
            hidden: config.gru_hidden,
        }
    }

    /// The GRU, for a checkpoint of the earlier layout.
    pub(crate) fn into_gru(self) -> Gru {
        self.gru
    }

    /// One step: `input.emb [N, H]` and the hidden state `[N, G]` → the new hidden state, which
    /// is also the heads' input `[N, G]`.
    pub(crate) fn step(&self, input: CoreInput, state: CoreState) -> (Tensor<2>, CoreState) {
        let n = input.emb.dims()[0];
        let y = self
            .gru
            .forward(input.emb.unsqueeze_dim::<3>(1), Some(state.hidden.clone())); // [N, 1, G]
        let hidden = y.reshape([n, self.hidden]); // [N, G]
        (hidden.clone(), CoreState { hidden, ..state })
    }
}
