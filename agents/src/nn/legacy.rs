//! Checkpoints of the earlier weights layout, written before the policy's cores became an enum:
//! every core's parts were optional fields of the policy. [`PolicyNet::load`] falls back to
//! [`PolicyNetV1`] when a weights file is not in the current layout.

use burn::module::{Module, Param};
use burn::nn::gru::Gru;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;

use super::block::Block;
use super::cores::Core;
use super::cores::empty::EmptyCore;
use super::cores::gru::GruCore;
use super::cores::rate::{RateCore, RateParts};
use super::cores::transformer::TransformerCore;
use super::encoder::ResnetEncoder;
use super::model::{CoreKind, PolicyConfig, PolicyNet};

/// The weights layout of checkpoints written before the cores became an enum: every core's
/// parts as optional fields of the policy. [`PolicyNet::load`] reads it when a weights file is
/// not in the current layout.
#[derive(Module, Debug)]
pub(super) struct PolicyNetV1 {
    encoder: ResnetEncoder,
    block: Option<Block>,
    wpe: Option<Param<Tensor<2>>>,
    ln_f: Option<LayerNorm>,
    mem_head: Option<Linear>,
    gru: Option<Gru>,
    rate: Option<RateParts>,
    actor: Linear,
    critic: Linear,
}

impl PolicyNetV1 {
    /// The same network in the earlier layout.
    pub(super) fn from_net(net: PolicyNet) -> Self {
        let mut v1 = Self {
            encoder: net.encoder,
            block: None,
            wpe: None,
            ln_f: None,
            mem_head: None,
            gru: None,
            rate: None,
            actor: net.actor,
            critic: net.critic,
        };
        match net.core {
            Core::Empty(_) => {}
            Core::Gru(c) => v1.gru = Some(c.into_gru()),
            Core::Transformer(c) => {
                let (block, wpe, ln_f, mem_head) = c.into_parts();
                (v1.block, v1.wpe, v1.ln_f, v1.mem_head) =
                    (Some(block), Some(wpe), Some(ln_f), mem_head);
            }
            Core::Rate(c) => {
                let (block, ln_f, parts) = c.into_parts();
                (v1.block, v1.ln_f, v1.rate) = (Some(block), Some(ln_f), Some(parts));
            }
        }
        v1
    }

    /// The network in the current layout, for `config` (the checkpoint's; `self` was built from
    /// it by [`PolicyNetV1::from_net`] and then loaded).
    pub(super) fn into_net(self, config: PolicyConfig) -> Result<PolicyNet, String> {
        let missing = |part: &str| format!("the {:?} core's {part} is missing", config.core);
        let core = match config.core {
            CoreKind::Empty => Core::Empty(EmptyCore::new(config.encoder.width)),
            CoreKind::Gru => Core::Gru(GruCore::from_gru(
                self.gru.ok_or_else(|| missing("GRU"))?,
                &config,
            )),
            CoreKind::Srmt | CoreKind::Rmt | CoreKind::Attention => {
                Core::Transformer(TransformerCore::from_parts(
                    &config,
                    self.block.ok_or_else(|| missing("block"))?,
                    self.wpe.ok_or_else(|| missing("positions"))?,
                    self.ln_f.ok_or_else(|| missing("final LayerNorm"))?,
                    self.mem_head,
                ))
            }
            CoreKind::Rate => Core::Rate(RateCore::from_parts(
                self.block.ok_or_else(|| missing("block"))?,
                self.ln_f.ok_or_else(|| missing("final LayerNorm"))?,
                self.rate.ok_or_else(|| missing("RATE parameters"))?,
            )),
        };
        Ok(PolicyNet {
            encoder: self.encoder,
            core,
            actor: self.actor,
            critic: self.critic,
            config,
        })
    }
}
