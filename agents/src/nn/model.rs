//! The policy network: encoder, core (SRMT, RMT, Attention, Empty, GRU or RATE) and actor/critic heads,
//! with a per-step path (rollouts, carries memory) and a per-sequence path (training, resets at
//! episode starts) that is the per-step path applied `T` times, so the two agree exactly.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::cores::rate::RateConfig;
use super::cores::{Core, CoreInput};
use super::encoder::{ResnetEncoder, ResnetEncoderConfig};
use super::init::{self, Gaussian};
use super::legacy::PolicyNetV1;

/// Number of actions (stay, up, down, left, right).
pub const NUM_ACTIONS: usize = 5;

/// Which core sits between the encoder and the heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreKind {
    /// Shared recurrent memory transformer: memory token + history + observation, cross-attention
    /// to all memories of the episode.
    Srmt,
    /// Recurrent memory transformer: private memory, no cross-attention.
    Rmt,
    /// History + observation, no memory.
    Attention,
    /// Encoder straight to the heads.
    Empty,
    /// A one-layer GRU.
    Gru,
    /// Recurrent action transformer with memory: memory tokens, a segment of step tokens
    /// (previous reward, previous action, observation) and a Memory Retention Valve.
    Rate,
}

/// Who the memory token (row 0) may attend to in self-attention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryMask {
    /// Paper intent: the memory row sees every token; the other rows are causal.
    #[default]
    MemoryRowFull,
    /// Every token sees every token.
    Bidirectional,
    /// Fully causal (the reference code; the memory sees only itself).
    Causal,
}

/// The largest token width, filter count and GRU size a config may ask for.
pub const MAX_WIDTH: usize = 4096;
/// The largest residual block and input channel count.
pub const MAX_BLOCKS: usize = 64;
/// The largest history, memory and segment length (tokens).
pub const MAX_TOKENS: usize = 65_536;

/// The whole model configuration, saved with every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// Core.
    pub core: CoreKind,
    /// Encoder sizes (`encoder.width` is the token width `H`).
    pub encoder: ResnetEncoderConfig,
    /// Attention heads.
    pub heads: usize,
    /// History length (tokens of past observations).
    pub history: usize,
    /// GRU hidden size.
    pub gru_hidden: usize,
    /// Reproduce the reference code: causal mask, memory and history replayed as constants (no
    /// gradient through memory), no reset at episode starts. Not used by RATE.
    pub reference_compat: bool,
    /// Memory row attention (ignored with `reference_compat`, which is causal).
    pub mask: MemoryMask,
    /// Drop finished agents' memories from the pool (zeros) instead of keeping them frozen.
    pub clear_finished_memory: bool,
    /// Initialisation seed.
    pub seed: u64,
    /// RATE sizes (used by the RATE core only).
    #[serde(default)]
    pub rate: RateConfig,
}

impl PolicyConfig {
    /// The SRMT paper's Bottleneck sizes: r = 2, 8 filters, 1 block, H = 16, 4 heads.
    pub fn bottleneck(core: CoreKind) -> Self {
        Self {
            core,
            encoder: ResnetEncoderConfig {
                channels: 3,
                side: 5,
                filters: 8,
                blocks: 1,
                width: 16,
            },
            heads: 4,
            history: 8,
            gru_hidden: 16,
            reference_compat: false,
            mask: MemoryMask::MemoryRowFull,
            clear_finished_memory: false,
            seed: 0,
            rate: RateConfig::default(),
        }
    }

    /// The lifelong (Follower-sized) configuration: r = 5, 64 filters, 8 blocks, H = 512, 8 heads.
    pub fn lifelong(core: CoreKind) -> Self {
        Self {
            encoder: ResnetEncoderConfig {
                channels: 3,
                side: 11,
                filters: 64,
                blocks: 8,
                width: 512,
            },
            heads: 8,
            ..Self::bottleneck(core)
        }
    }

    /// Rejects sizes the network cannot be built with.
    pub fn validate(&self) -> Result<(), String> {
        // Sizes past these would only allocate until the process aborts (issue 15): say so.
        let e = &self.encoder;
        for (name, value, max) in [
            ("encoder.width", e.width, MAX_WIDTH),
            ("encoder.filters", e.filters, MAX_WIDTH),
            ("encoder.blocks", e.blocks, MAX_BLOCKS),
            ("encoder.channels", e.channels, MAX_BLOCKS),
            ("encoder.side", e.side, 2 * 128 + 1),
            ("gru_hidden", self.gru_hidden, MAX_WIDTH),
            ("history", self.history, MAX_TOKENS),
            ("rate.memory_tokens", self.rate.memory_tokens, MAX_TOKENS),
            ("rate.segment", self.rate.segment, MAX_TOKENS),
        ] {
            if value > max {
                return Err(format!("{name} = {value} is larger than the limit {max}"));
            }
        }
        let h = self.encoder.width;
        if h == 0 || self.heads == 0 || !h.is_multiple_of(self.heads) {
            return Err(format!(
                "width {h} must be a positive multiple of heads {}",
                self.heads
            ));
        }
        if self.encoder.side == 0 || self.encoder.filters == 0 || self.gru_hidden == 0 {
            return Err("encoder side, filters and gru_hidden must be positive".into());
        }
        super::cores::validate(self)
    }

    /// Reads the `config.json` of a model folder written by [`PolicyNet::save`], without the
    /// weights.
    pub fn load(dir: &Path) -> Result<Self, CheckpointError> {
        let cfg = dir.join("config.json");
        let text = std::fs::read(&cfg).map_err(|source| CheckpointError::Io {
            path: cfg.display().to_string(),
            source,
        })?;
        let config: Self = serde_json::from_slice(&text)?;
        config
            .validate()
            .map_err(|reason| CheckpointError::Invalid {
                path: cfg.display().to_string(),
                reason,
            })?;
        Ok(config)
    }

    /// Builds the network (orthogonal heads/encoder, GPT-2 init for the block) on `device`.
    /// The initial weights are drawn from one Gaussian stream of `seed`: the encoder's, the
    /// core's, then the heads'.
    pub fn init(&self, device: &Device) -> PolicyNet {
        let mut g = Gaussian::new(self.seed);
        let encoder = self.encoder.init(&mut g, device);
        let core = Core::new(self, &mut g, device);
        let out = super::cores::output_width(self);
        let actor = init::linear(
            LinearConfig::new(out, NUM_ACTIONS).init(device),
            1.0,
            &mut g,
            device,
        );
        let critic = init::linear(LinearConfig::new(out, 1).init(device), 1.0, &mut g, device);
        PolicyNet {
            encoder,
            core,
            actor,
            critic,
            config: self.clone(),
        }
    }
}

/// Recurrent state carried between steps.
#[derive(Clone, Debug)]
pub struct CoreState {
    /// `[N, M·H]` memory tokens (`M = 1`, or RATE's `m`; zeros for cores without memory).
    pub memory: Tensor<2>,
    /// `[N, T_h, H]` encoded past observations (RATE: the current segment's `P·K` step tokens).
    pub history: Tensor<3>,
    /// `[N, G]` GRU hidden state.
    pub hidden: Tensor<2>,
    /// `[N]` steps already in RATE's current segment (zeros for the other cores).
    pub position: Tensor<1>,
}

/// One step's inputs.
#[derive(Clone, Debug)]
pub struct StepInput {
    /// `[N, C, R, R]` observations (float).
    pub obs: Tensor<4>,
    /// `[N]` 1.0 where an episode starts at this step.
    pub is_first: Tensor<1>,
    /// `[N]` 1.0 for agents still in play.
    pub active: Tensor<1>,
    /// `[N]` the action each agent took at the previous step (0..5; ignored at episode starts).
    pub prev_action: Tensor<1, Int>,
    /// `[N]` the reward each agent got at the previous step (ignored at episode starts).
    pub prev_reward: Tensor<1>,
}

/// A sequence's inputs.
#[derive(Clone, Debug)]
pub struct SequenceInput {
    /// `[N, T, C, R, R]` observations (float).
    pub obs: Tensor<5>,
    /// `[N, T]` 1.0 where an episode starts at that step.
    pub is_first: Tensor<2>,
    /// `[N, T]` 1.0 for agents still in play.
    pub active: Tensor<2>,
    /// `[N, T]` the action taken at the step before (ignored at episode starts).
    pub prev_action: Tensor<2, Int>,
    /// `[N, T]` the reward got at the step before (ignored at episode starts).
    pub prev_reward: Tensor<2>,
}

impl SequenceInput {
    /// Step `k` of the sequence.
    pub fn step(&self, k: usize) -> StepInput {
        let [n, _, ch, r, _] = self.obs.dims();
        let (is_first, active, prev_action, prev_reward) = self.step_flags(k);
        StepInput {
            obs: self.obs.clone().narrow(1, k, 1).reshape([n, ch, r, r]),
            is_first,
            active,
            prev_action,
            prev_reward,
        }
    }

    /// Step `k`'s `[N]` is_first, active, previous action and previous reward.
    fn step_flags(&self, k: usize) -> (Tensor<1>, Tensor<1>, Tensor<1, Int>, Tensor<1>) {
        let n = self.obs.dims()[0];
        (
            self.is_first.clone().narrow(1, k, 1).reshape([n]),
            self.active.clone().narrow(1, k, 1).reshape([n]),
            self.prev_action.clone().narrow(1, k, 1).reshape([n]),
            self.prev_reward.clone().narrow(1, k, 1).reshape([n]),
        )
    }
}

/// One step's inputs with the observations encoded (`emb [N, H]`): what the core step reads.
struct EncodedStep {
    emb: Tensor<2>,
    is_first: Tensor<1>,
    active: Tensor<1>,
    prev_action: Tensor<1, Int>,
    prev_reward: Tensor<1>,
}

impl CoreState {
    /// The same state cut from the autodiff graph (truncated BPTT at chunk starts).
    pub fn detach(self) -> Self {
        Self {
            memory: self.memory.detach(),
            history: self.history.detach(),
            hidden: self.hidden.detach(),
            position: self.position.detach(),
        }
    }
}

/// One step's outputs.
#[derive(Clone, Debug)]
pub struct StepOutput {
    /// `[N, 5]` action logits.
    pub logits: Tensor<2>,
    /// `[N]` values.
    pub values: Tensor<1>,
    /// The state after this step.
    pub state: CoreState,
}

/// A sequence's outputs.
#[derive(Clone, Debug)]
pub struct SequenceOutput {
    /// `[N, T, 5]` action logits.
    pub logits: Tensor<3>,
    /// `[N, T]` values.
    pub values: Tensor<2>,
    /// The state after the last step.
    pub state: CoreState,
}

/// The policy network.
#[derive(Module, Debug)]
pub struct PolicyNet {
    /// Observation encoder, `[N, C, R, R] → [N, H]`.
    pub(super) encoder: ResnetEncoder,
    /// The core (one file each in `nn/cores`).
    pub(super) core: Core,
    /// `Linear(W, 5)` action logits.
    pub(super) actor: Linear,
    /// `Linear(W, 1)` value.
    pub(super) critic: Linear,
    #[module(skip)]
    pub(super) config: PolicyConfig,
}

/// Errors of saving and loading checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The config file.
    #[error("model config: {0}")]
    Config(#[from] serde_json::Error),
    /// The weights file.
    #[error("weights: {0}")]
    Weights(String),
    /// A config whose sizes no network can have (e.g. `heads: 0`).
    #[error("model config {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl PolicyNet {
    /// The configuration it was built from.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The memory head (SRMT and RMT: `Linear(H, H)`, no bias), for inspection and tests.
    pub fn mem_head(&self) -> Option<&Linear> {
        self.core.mem_head()
    }

    /// A zero state for `n` agents.
    pub fn initial_state(&self, n: usize, device: &Device) -> CoreState {
        let c = &self.config;
        let h = c.encoder.width;
        let widths = super::cores::StateWidths::of(c);
        CoreState {
            memory: Tensor::zeros([n, widths.memory], device),
            history: Tensor::zeros([n, widths.kept_tokens, h], device),
            hidden: Tensor::zeros([n, c.gru_hidden], device),
            position: Tensor::zeros([n], device),
        }
    }

    /// One step for every agent.
    ///
    /// # Shapes
    /// `input` as in [`StepInput`] with `N = E·A` rows, `agents_per_episode = A` → logits
    /// `[N, 5]`, values `[N]`.
    ///
    /// # Panics
    /// If `N` is not a multiple of `agents_per_episode` (a programmer error).
    pub fn forward_step(
        &self,
        input: StepInput,
        state: CoreState,
        agents_per_episode: usize,
    ) -> StepOutput {
        let StepInput {
            obs,
            is_first,
            active,
            prev_action,
            prev_reward,
        } = input;
        let n = obs.dims()[0];
        let emb = self.encoder.forward(obs); // [N, H]
        let (out, state) = self.core_step(
            EncodedStep {
                emb,
                is_first,
                active,
                prev_action,
                prev_reward,
            },
            state,
            agents_per_episode,
        );
        StepOutput {
            logits: self.actor.forward(out.clone()),
            values: self.critic.forward(out).reshape([n]),
            state,
        }
    }

    /// The core's step on encoded observations: `emb [N, H]` and the step's flags → the heads'
    /// input `[N, W]` and the next state. The state is zeroed where an episode starts (except in
    /// `reference_compat`, which keeps it and cuts its gradient instead; RATE always resets).
    ///
    /// # Panics
    /// If `N` is not a multiple of `agents_per_episode` (a programmer error).
    fn core_step(
        &self,
        input: EncodedStep,
        state: CoreState,
        agents_per_episode: usize,
    ) -> (Tensor<2>, CoreState) {
        let c = &self.config;
        let EncodedStep {
            emb,
            is_first,
            active,
            prev_action,
            prev_reward,
        } = input;
        let n = emb.dims()[0];
        assert!(
            agents_per_episode > 0 && n % agents_per_episode == 0,
            "{n} rows are not whole episodes of {agents_per_episode}"
        );
        let episodes = (n / agents_per_episode, agents_per_episode);
        let compat = super::cores::reference_compat(c);
        let keep = if compat {
            is_first.ones_like()
        } else {
            is_first.neg().add_scalar(1.0)
        }; // [N]
        let keep2 = keep.clone().unsqueeze_dim::<2>(1); // [N, 1]
        let mut state = CoreState {
            memory: state.memory * keep2.clone(),
            history: state.history * keep2.clone().unsqueeze_dim::<3>(2),
            hidden: state.hidden * keep2,
            position: state.position,
        };
        if compat {
            state = state.detach();
        }
        let input = CoreInput {
            emb,
            active,
            prev_action,
            prev_reward,
        };
        self.core.step(input, state, keep, episodes)
    }

    /// `T` steps; the state is reset where `is_first` is set (except in `reference_compat`).
    ///
    /// # Shapes
    /// `input` as in [`SequenceInput`] (`[N, T, ...]`) → logits `[N, T, 5]`, values `[N, T]`.
    pub fn forward_sequence(
        &self,
        input: SequenceInput,
        state: CoreState,
        agents_per_episode: usize,
    ) -> SequenceOutput {
        let [n, t, ch, r, _] = input.obs.dims();
        let h = self.config.encoder.width;
        // The encoder and the heads are per row: one call each over all `N·T` rows.
        let emb = self
            .encoder
            .forward(input.obs.clone().reshape([n * t, ch, r, r]))
            .reshape([n, t, h]); // [N, T, H]
        let mut state = state;
        let mut outs = Vec::with_capacity(t);
        for k in 0..t {
            let step = input.step_flags(k);
            let core_input = EncodedStep {
                emb: emb.clone().narrow(1, k, 1).reshape([n, h]),
                is_first: step.0,
                active: step.1,
                prev_action: step.2,
                prev_reward: step.3,
            };
            let (out, next) = self.core_step(core_input, state, agents_per_episode);
            outs.push(out.unsqueeze_dim::<3>(1)); // [N, 1, H]
            state = next;
        }
        let out = Tensor::cat(outs, 1); // [N, T, W] (W = H, or the GRU's hidden size)
        let w = out.dims()[2];
        let out = out.reshape([n * t, w]); // [N·T, W]
        SequenceOutput {
            logits: self.actor.forward(out.clone()).reshape([n, t, NUM_ACTIONS]),
            values: self.critic.forward(out).reshape([n, t]),
            state,
        }
    }

    /// Writes `dir/config.json` and `dir/weights.bpk` (burn's native format), each atomically.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
            move |source| CheckpointError::Io {
                path: path.display().to_string(),
                source,
            }
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let cfg = dir.join("config.json");
        let tmp = dir.join("config.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.config)?).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &cfg).map_err(io(&cfg))?;
        let weights = dir.join("weights.bpk");
        let tmp = dir.join("weights.tmp.bpk");
        self.clone()
            .save_file(&tmp)
            .map_err(|e| CheckpointError::Weights(e.to_string()))?;
        std::fs::rename(&tmp, &weights).map_err(io(&weights))?;
        Ok(())
    }

    /// Loads a checkpoint written by [`PolicyNet::save`] onto `device` (any backend), in the
    /// current weights layout or the earlier one ([`PolicyNetV1`]).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, CheckpointError> {
        let config = PolicyConfig::load(dir)?;
        let weights = dir.join("weights.bpk");
        match config.init(device).try_load_file(&weights) {
            Ok(net) => Ok(net),
            Err(current) => PolicyNetV1::from_net(config.init(device))
                .try_load_file(&weights)
                .map_err(|_| CheckpointError::Weights(current.to_string()))?
                .into_net(config)
                .map_err(CheckpointError::Weights),
        }
    }
}
