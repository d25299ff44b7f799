//! The Empty core: the encoded observation goes straight to the heads (no memory, no history).

use burn::module::Module;
use burn::tensor::Tensor;

use super::CoreInput;
use crate::nn::model::CoreState;

/// The memory-less core: no parameters.
#[derive(Module, Debug)]
pub struct EmptyCore {
    /// Token width `H` (what the heads read).
    #[module(skip)]
    width: usize,
}

impl EmptyCore {
    /// An Empty core for tokens of width `width`.
    pub(crate) fn new(width: usize) -> Self {
        Self { width }
    }

    /// One step: the heads read `input.emb [N, H]` as it is; the state passes through.
    pub(crate) fn step(&self, input: CoreInput, state: CoreState) -> (Tensor<2>, CoreState) {
        debug_assert_eq!(input.emb.dims()[1], self.width);
        (input.emb, state)
    }
}
