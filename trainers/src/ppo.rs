//! Recurrent PPO on burn's autodiff API, as one readable loop:
//! collect a rollout chunk → GAE → epochs over minibatches of whole episodes (all agents of an
//! episode together, because SRMT's memory pool couples them) with truncated BPTT over the chunk
//! from the stored, detached chunk-start state → log and checkpoint. The rollout runs on its own
//! thread (an `Actor` owning the simulator), fed model snapshots through crossbeam channels.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rmapf_agents::nn::{CoreKind, CoreState, PolicyConfig, PolicyNet, SequenceInput};
use rmapf_env::maps::suites::Suite;
use rmapf_env::{
    BatchBuffers, BatchSimulator, EnvConfig, ObservationType, OnTarget, PathPlanner, RewardKind,
};
use serde::{Deserialize, Serialize};

use crate::neural::{CheckpointInputs, SplitMix, choose, obs_to_f32, step_input};

/// Environment settings of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    /// Training suite (name or file).
    pub suite: String,
    /// Episodes per suite instance stepped together (`episodes = instances × copies`).
    pub copies: usize,
    /// Use only the first K instances of the suite (all when absent).
    pub max_instances: Option<usize>,
    /// Reward variant.
    pub reward: RewardKind,
    /// Worker threads of the simulator.
    pub threads: usize,
    /// Folder holding the suite's YAML map file (suites such as `follower-train` read their
    /// maps from one), relative to the working directory.
    #[serde(default)]
    pub maps_dir: Option<std::path::PathBuf>,
    /// The follower observation's path planner (`shortest`, or `follower` for Follower's).
    #[serde(default)]
    pub path_planner: PathPlanner,
}

/// PPO hyperparameters (SRMT Bottleneck defaults, `models-and-training.md` §6.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoSection {
    /// Discount.
    pub gamma: f32,
    /// GAE λ.
    pub gae_lambda: f32,
    /// Initial learning rate (Adam, ε = 1e-6).
    pub lr: f64,
    /// KL-adaptive learning rate threshold (0 disables): after each epoch, lr ÷ 1.5 if the mean
    /// KL of its minibatches (the first excluded) > 2·threshold, × 1.5 if < threshold / 2,
    /// clamped to [1e-6, `lr_max`].
    pub kl_threshold: f32,
    /// Upper clamp of the KL-adaptive learning rate (the reference's 1e-2 when absent).
    #[serde(default = "default_lr_max")]
    pub lr_max: f64,
    /// Clip ε; the ratio is clipped to `[1/(1+ε), 1+ε]`.
    pub clip: f32,
    /// Absolute value clip around the old value.
    pub value_clip: f32,
    /// Value loss coefficient.
    pub value_coef: f32,
    /// Entropy bonus coefficient.
    pub entropy_coef: f32,
    /// Global gradient-norm clip.
    pub max_grad_norm: f32,
    /// Steps per rollout chunk (the BPTT horizon).
    pub rollout: usize,
    /// Rollout chunks per iteration.
    pub chunks: usize,
    /// Epochs over each iteration's data.
    pub epochs: usize,
    /// Minibatches per epoch (groups of whole episodes).
    pub minibatches: usize,
    /// Collect the next chunk on the rollout thread while the learner updates on this one (a
    /// policy lag of one update). Off by default: on the Bottleneck it ran 19–26% faster (measured
    /// on an earlier, slower build), but every core with a recurrent state stopped learning
    /// (BENCHMARKS.md); `false` alternates collection and updates.
    #[serde(default = "default_overlap")]
    pub overlap: bool,
}

fn default_overlap() -> bool {
    false
}

fn default_lr_max() -> f64 {
    1e-2
}

/// Run settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Seed of everything (initialisation, sampling, minibatch order).
    pub seed: u64,
    /// Stop after this many agent steps.
    pub total_agent_steps: u64,
    /// Checkpoint every K iterations (and at the end).
    pub checkpoint_every: usize,
    /// Device: `cpu` (burn flex), `tch-cpu` or `cuda` (both need the `tch` feature).
    pub device: String,
}

/// The whole training configuration, saved into every run folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Environment.
    pub env: EnvSection,
    /// Model.
    pub model: PolicyConfig,
    /// PPO.
    pub ppo: PpoSection,
    /// Run.
    pub run: RunSection,
}

impl TrainConfig {
    /// `train-srmt`'s defaults: SRMT on the Bottleneck training corridors, Directional reward, CPU.
    /// Scaled for a 2-core CPU: all 256 training episodes (16 corridors × 16 seeds, 512 agents)
    /// instead of 16, 4 chunks of 8 steps per iteration (16,384 agent steps) in 4 minibatches, and
    /// the KL-adaptive learning rate capped at 1e-3 instead of 1e-2 (see
    /// `scripts/make_train_configs.py`).
    pub fn srmt_bottleneck() -> Self {
        Self {
            env: EnvSection {
                suite: "bottleneck-train".into(),
                copies: 1,
                max_instances: None,
                reward: RewardKind::Directional,
                threads: 2,
                maps_dir: None,
                path_planner: PathPlanner::Shortest,
            },
            model: PolicyConfig::bottleneck(CoreKind::Srmt),
            ppo: PpoSection {
                gamma: 0.9716,
                gae_lambda: 0.95,
                lr: 1.3e-4,
                kl_threshold: 0.008,
                lr_max: 1e-3,
                clip: 0.2,
                value_clip: 1.0,
                value_coef: 0.5,
                entropy_coef: 0.0156,
                max_grad_norm: 4.0,
                rollout: 8,
                chunks: 4,
                epochs: 1,
                minibatches: 4,
                overlap: false,
            },
            run: RunSection {
                seed: 0,
                total_agent_steps: 20_000_000,
                checkpoint_every: 20,
                device: "cpu".into(),
            },
        }
    }

    /// Parses TOML.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: Self = toml::from_str(text).context("parsing the training config")?;
        c.validate()?;
        Ok(c)
    }

    /// Rejects inconsistent settings.
    pub fn validate(&self) -> Result<()> {
        let p = &self.ppo;
        if p.rollout == 0 || p.chunks == 0 || p.epochs == 0 || p.minibatches == 0 {
            bail!("ppo.rollout, ppo.chunks, ppo.epochs and ppo.minibatches must be positive");
        }
        if !(p.lr > 0.0 && p.lr_max > 0.0 && p.lr.is_finite() && p.lr_max.is_finite()) {
            bail!("ppo.lr and ppo.lr_max must be positive and finite");
        }
        for (name, v) in [
            ("ppo.kl_threshold", p.kl_threshold),
            ("ppo.clip", p.clip),
            ("ppo.value_clip", p.value_clip),
            ("ppo.value_coef", p.value_coef),
            ("ppo.entropy_coef", p.entropy_coef),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{name} must be a finite number ≥ 0, not {v}");
            }
        }
        if !(p.max_grad_norm.is_finite() && p.max_grad_norm > 0.0) {
            bail!(
                "ppo.max_grad_norm must be a finite number > 0, not {}",
                p.max_grad_norm
            );
        }
        if self.run.checkpoint_every == 0 {
            bail!("run.checkpoint_every must be at least 1 (iterations between checkpoints)");
        }
        if self.env.max_instances == Some(0) {
            bail!("env.max_instances must be at least 1 (or left out for all instances)");
        }
        if !(0.0..=1.0).contains(&p.gamma) || !(0.0..=1.0).contains(&p.gae_lambda) {
            bail!("ppo.gamma and ppo.gae_lambda must lie in [0, 1]");
        }
        if self.env.copies == 0 || self.env.threads == 0 {
            bail!("env.copies and env.threads must be positive");
        }
        if self.model.encoder.channels != 3 {
            bail!("model.encoder.channels must be 3 (the follower observation)");
        }
        if let Err(reason) = self.model.validate() {
            bail!("model: {reason}");
        }
        Ok(())
    }
}

/// The environments of a run: every suite instance `copies` times, follower observations, the
/// chosen reward, auto-reset.
pub fn build_envs(c: &TrainConfig) -> Result<(Vec<EnvConfig>, usize)> {
    let suite = Suite::load(&c.env.suite)?;
    let mut instances = suite.instances(c.env.maps_dir.as_deref())?;
    if let Some(k) = c.env.max_instances {
        instances.truncate(k);
    }
    let mut configs = Vec::new();
    for copy in 0..c.env.copies as u64 {
        for inst in &instances {
            let mut cfg = inst.config.clone();
            cfg.observation_type = ObservationType::Follower;
            cfg.reward = c.env.reward;
            cfg.path_planner = c.env.path_planner;
            cfg.seed = cfg.seed.map(|s| s + 1000 * copy);
            configs.push(cfg);
        }
    }
    let agents: Vec<i64> = configs.iter().map(|c| c.num_agents.unwrap_or(1)).collect();
    if agents.windows(2).any(|w| w[0] != w[1]) {
        bail!(
            "every training episode needs the same agent count (SRMT pools memories per episode)"
        );
    }
    let side = 2 * configs[0].obs_radius as usize + 1;
    let net_side = c.model.encoder.side;
    if net_side > side || net_side.is_multiple_of(2) {
        bail!(
            "model.encoder.side is {net_side}, but it must be odd and at most the suite's observation window ({side}: the network reads the window's centre)"
        );
    }
    Ok((configs, agents[0] as usize))
}

/// Metrics of one iteration (a line of `metrics.jsonl`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IterationLog {
    /// Iteration index.
    pub iteration: usize,
    /// Agent steps so far.
    pub agent_steps: u64,
    /// Wall-clock seconds so far (this process plus resumed ones).
    pub seconds: f64,
    /// Agent steps per second over this iteration.
    pub agent_steps_per_s: f64,
    /// Mean per-agent episode return over the last 100 finished episodes.
    pub episode_return: f64,
    /// Mean CSR over the last 100 finished episodes.
    pub csr: f64,
    /// Mean ISR over the last 100 finished episodes.
    pub isr: f64,
    /// Lifelong runs: mean throughput (goals per step over all agents, the POGEMA benchmark's
    /// `avg_throughput`) over the last 100 finished episodes; 0 otherwise.
    #[serde(default)]
    pub throughput: f64,
    /// Episodes finished so far.
    pub episodes: u64,
    /// Policy loss.
    pub policy_loss: f64,
    /// Value loss.
    pub value_loss: f64,
    /// Entropy.
    pub entropy: f64,
    /// Approximate KL of the last minibatch.
    pub approx_kl: f64,
    /// Fraction of clipped ratios.
    pub clipfrac: f64,
    /// Learning rate after the iteration.
    pub lr: f64,
}

/// Trainer state saved with checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerState {
    /// Next iteration.
    pub iteration: usize,
    /// Agent steps so far.
    pub agent_steps: u64,
    /// Current learning rate.
    pub lr: f64,
    /// Wall-clock seconds so far.
    pub seconds: f64,
    /// Episodes finished so far.
    pub episodes: u64,
}

/// GAE over `[N, T]` rows (row-major per agent) with the `values_next [N]` bootstrap.
///
/// `done[i][t]` cuts the recursion (terminated, or the episode ended); truncation without
/// termination has already been folded into the rewards (r += γ·V, as Sample Factory does).
/// Returns `(advantages, returns)`.
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    done: &[bool],
    values_next: &[f32],
    t: usize,
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mut adv = vec![0.0; values_next.len() * t];
    for (i, &bootstrap) in values_next.iter().enumerate() {
        let mut last = 0.0;
        for k in (0..t).rev() {
            let idx = i * t + k;
            let next_value = if k + 1 < t {
                values[idx + 1]
            } else {
                bootstrap
            };
            let not_done = if done[idx] { 0.0 } else { 1.0 };
            let delta = rewards[idx] + gamma * next_value * not_done - values[idx];
            last = delta + gamma * lambda * not_done * last;
            adv[idx] = last;
        }
    }
    let ret = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, ret)
}

/// Scales all gradients so that their global L2 norm is at most `max_norm` (burn's own clipping
/// is per tensor). Returns the norm before clipping.
pub fn clip_global_norm(model: &PolicyNet, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum: f32,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(p.id) {
                self.sum += g.powi_scalar(2).sum().into_scalar::<f32>();
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f32,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(p.id) {
                self.grads.register(p.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut norm = Norm { grads, sum: 0.0 };
    model.visit(&mut norm);
    let total = norm.sum.sqrt();
    let factor = (max_norm / (total + 1e-6)).min(1.0);
    if factor < 1.0 {
        model.visit(&mut Scale { grads, factor });
    }
    total
}

/// The inputs of the PPO loss, all `[M, T]` (rows × steps).
#[derive(Debug)]
pub struct PpoBatch {
    /// Log-probability of the taken actions under the current policy.
    pub logp: Tensor<2>,
    /// Log-probability when the actions were sampled.
    pub old_logp: Tensor<2>,
    /// Advantages, already normalised.
    pub advantages: Tensor<2>,
    /// Current values.
    pub values: Tensor<2>,
    /// Values when the actions were sampled.
    pub old_values: Tensor<2>,
    /// GAE returns.
    pub returns: Tensor<2>,
    /// Policy entropy per sample.
    pub entropy: Tensor<2>,
    /// 1.0 for samples that count (active agents), 0.0 otherwise.
    pub valid: Tensor<2>,
}

/// The PPO losses (means over valid samples).
#[derive(Debug)]
pub struct PpoLoss {
    /// `L_π + c_v·L_V − c_ent·H`.
    pub total: Tensor<1>,
    /// `−mean(min(ρ·Â, clip(ρ, 1/(1+ε), 1+ε)·Â))`, ρ clamped to [0.05, 20] first.
    pub policy: Tensor<1>,
    /// `mean(max((V − R)², (V_old + clip(V − V_old, ±c) − R)²))`.
    pub value: Tensor<1>,
    /// Mean entropy.
    pub entropy: Tensor<1>,
    /// `mean((ρ − 1) − log ρ)`.
    pub approx_kl: f32,
    /// Fraction of samples with `|ρ − 1| > ε`.
    pub clipfrac: f32,
}

/// The PPO loss of `models-and-training.md` §6.2.
pub fn ppo_loss(p: &PpoSection, b: PpoBatch) -> PpoLoss {
    let nvalid = b.valid.clone().sum().into_scalar::<f32>().max(1.0);
    let valid = b.valid;
    let masked_mean = |x: Tensor<2>| (x * valid.clone()).sum().div_scalar(nvalid);
    let log_ratio = b.logp - b.old_logp;
    let ratio = log_ratio.clone().exp().clamp(0.05, 20.0);
    let (lo, hi) = (1.0 / (1.0 + p.clip), 1.0 + p.clip);
    let surrogate =
        (ratio.clone() * b.advantages.clone()).min_pair(ratio.clone().clamp(lo, hi) * b.advantages);
    let policy = masked_mean(surrogate.neg());
    let clipped =
        b.old_values.clone() + (b.values.clone() - b.old_values).clamp(-p.value_clip, p.value_clip);
    let value = masked_mean(
        (b.values - b.returns.clone())
            .powi_scalar(2)
            .max_pair((clipped - b.returns).powi_scalar(2)),
    );
    let entropy = masked_mean(b.entropy);
    let total = policy.clone() + value.clone().mul_scalar(p.value_coef)
        - entropy.clone().mul_scalar(p.entropy_coef);
    let approx_kl = masked_mean((ratio.clone() - 1.0) - log_ratio).into_scalar::<f32>();
    let clipfrac =
        masked_mean((ratio - 1.0).abs().greater_elem(p.clip).float()).into_scalar::<f32>();
    PpoLoss {
        total,
        policy,
        value,
        entropy,
        approx_kl,
        clipfrac,
    }
}

/// Statistics of one finished episode.
#[derive(Clone, Copy, Debug, Default)]
struct EpisodeStats {
    /// Mean per-agent return.
    episode_return: f64,
    /// CSR (0 for lifelong episodes, which report none).
    csr: f64,
    /// ISR (0 for lifelong episodes).
    isr: f64,
    /// Lifelong throughput: goals reached per step, summed over agents (0 otherwise).
    throughput: f64,
}

/// One rollout chunk of `T` steps for `N` agents (layout `[N, T, ...]`).
struct Chunk {
    obs: Vec<f32>,
    actions: Vec<i64>,
    prev_action: Vec<i64>,
    prev_reward: Vec<f32>,
    logp: Vec<f32>,
    values: Vec<f32>,
    rewards: Vec<f32>,
    done: Vec<bool>,
    is_first: Vec<f32>,
    valid: Vec<f32>,
    values_next: Vec<f32>,
    /// Chunk-start state, as host data: memory `[N, M·H]`, history `[N, T_h, H]`, hidden
    /// `[N, G]`, segment position `[N]`.
    state0: [Vec<f32>; 4],
    /// Episodes that ended during the chunk.
    finished: Vec<EpisodeStats>,
}

impl Chunk {
    /// Agents (rows) in the chunk.
    fn rows(&self) -> usize {
        self.values_next.len()
    }
}

/// The rollout side: the batched simulator, the agents' recurrent state and the sampling stream.
/// It runs on its own thread during an iteration, so simulation and learning overlap.
struct Actor {
    sim: BatchSimulator,
    buffers: BatchBuffers,
    agents_per_episode: usize,
    n: usize,
    /// Network window side `R`.
    side: usize,
    /// The env's window side `S ≥ R` (the network reads its centre).
    env_side: usize,
    rollout: usize,
    gamma: f32,
    /// The non-autodiff device the rollout model runs on.
    device: Device,
    /// `None` at the start and after restarts (the model's zero state).
    state: Option<CoreState>,
    first: Vec<bool>,
    returns: Vec<f32>,
    prev_actions: Vec<u8>,
    prev_rewards: Vec<f32>,
    rng: SplitMix,
    scratch: Vec<f32>,
}

fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}

impl Actor {
    fn flat<T: Copy>(&self, pick: impl Fn(&rmapf_env::StepBuffers) -> &Vec<T>) -> Vec<T> {
        self.buffers
            .shards
            .iter()
            .flat_map(|s| pick(s).iter().copied())
            .collect()
    }

    /// Restarts every episode from its config.
    fn restart(&mut self) -> Result<()> {
        self.sim.reset(&mut self.buffers)?;
        self.first.fill(true);
        self.returns.fill(0.0);
        self.prev_actions.fill(0);
        self.prev_rewards.fill(0.0);
        self.state = None;
        Ok(())
    }

    /// Collects `T` steps with `eval` (sampling), plus the bootstrap values after them.
    fn collect(&mut self, eval: &PolicyNet) -> Result<Chunk> {
        let (n, t, side) = (self.n, self.rollout, self.side);
        let obs_len = 3 * side * side;
        let dev = self.device.clone();
        let mut state = self
            .state
            .take()
            .unwrap_or_else(|| eval.initial_state(n, &dev));
        let state0 = [
            to_host(state.memory.clone()),
            to_host(state.history.clone()),
            to_host(state.hidden.clone()),
            to_host(state.position.clone()),
        ];
        let mut c = Chunk {
            obs: vec![0.0; n * t * obs_len],
            actions: vec![0; n * t],
            prev_action: vec![0; n * t],
            prev_reward: vec![0.0; n * t],
            logp: vec![0.0; n * t],
            values: vec![0.0; n * t],
            rewards: vec![0.0; n * t],
            done: vec![false; n * t],
            is_first: vec![0.0; n * t],
            valid: vec![0.0; n * t],
            values_next: vec![0.0; n],
            state0,
            finished: Vec::new(),
        };
        let (mut actions, mut logp) = (vec![0u8; n], vec![0f32; n]);
        for k in 0..=t {
            let raw = self.flat(|s| &s.obs);
            obs_to_f32(&raw, true, self.env_side, side, &mut self.scratch);
            let active: Vec<f32> = self
                .flat(|s| &s.active)
                .iter()
                .map(|&a| f32::from(u8::from(a)))
                .collect();
            let first: Vec<f32> = self.first.iter().map(|&f| f32::from(u8::from(f))).collect();
            let input = step_input(
                self.scratch.clone(),
                side,
                (first.clone(), active.clone()),
                (&self.prev_actions, self.prev_rewards.clone()),
                &dev,
            );
            let out = eval.forward_step(input, state.clone(), self.agents_per_episode);
            let values = to_host(out.values);
            if k == t {
                c.values_next = values;
                break;
            }
            state = out.state;
            let probs = to_host(softmax(out.logits, 1));
            choose(&probs, false, &mut self.rng, &mut actions, &mut logp);
            self.buffers.set_actions(&actions)?;
            self.sim.step(&mut self.buffers)?;
            let rewards = self.flat(|s| &s.rewards);
            let terminated = self.flat(|s| &s.terminated);
            let truncated = self.flat(|s| &s.truncated);
            let ep_done: Vec<bool> = self.flat(|s| &s.episode_done);
            for i in 0..n {
                let idx = i * t + k;
                c.obs[idx * obs_len..(idx + 1) * obs_len]
                    .copy_from_slice(&self.scratch[i * obs_len..(i + 1) * obs_len]);
                c.actions[idx] = i64::from(actions[i]);
                c.prev_action[idx] = i64::from(self.prev_actions[i]);
                c.prev_reward[idx] = self.prev_rewards[i];
                c.logp[idx] = logp[i];
                c.values[idx] = values[i];
                c.is_first[idx] = first[i];
                c.valid[idx] = active[i];
                let episode_over = ep_done[i / self.agents_per_episode];
                // A time-out is not terminal: fold γ·V(s_t) into the reward (Sample Factory's way).
                let mut r = rewards[i];
                if truncated[i] && !terminated[i] && active[i] > 0.0 {
                    r += self.gamma * values[i];
                }
                c.rewards[idx] = r;
                c.done[idx] = terminated[i] || episode_over;
                self.returns[i] += rewards[i];
                self.first[i] = episode_over;
            }
            self.prev_actions.copy_from_slice(&actions);
            self.prev_rewards.copy_from_slice(&rewards);
            for (k_ep, done) in ep_done.iter().enumerate() {
                if *done {
                    let m = self.buffers.metrics(k_ep).unwrap_or_default();
                    let rows = k_ep * self.agents_per_episode..(k_ep + 1) * self.agents_per_episode;
                    let ret = rows
                        .clone()
                        .map(|i| f64::from(self.returns[i]))
                        .sum::<f64>()
                        / self.agents_per_episode as f64;
                    rows.for_each(|i| self.returns[i] = 0.0);
                    c.finished.push(EpisodeStats {
                        episode_return: ret,
                        csr: m.csr.unwrap_or(0.0),
                        isr: m.isr.unwrap_or(0.0),
                        throughput: m.avg_throughput.unwrap_or(0.0),
                    });
                }
            }
        }
        self.state = Some(state);
        Ok(c)
    }
}

/// The learning side: the model being trained, its optimiser and the minibatch stream.
struct Learner {
    config: TrainConfig,
    agents_per_episode: usize,
    /// The autodiff training device.
    device: Device,
    model: PolicyNet,
    optim: ModuleOptimizer,
    rng: SplitMix,
}

/// The trainer: an actor (simulator and rollouts) and a learner (model and optimiser).
pub struct Trainer {
    /// The configuration.
    pub config: TrainConfig,
    actor: Actor,
    learner: Learner,
    /// Trainer state (iteration, steps, lr, time).
    pub progress: TrainerState,
    recent: VecDeque<EpisodeStats>,
    /// Whether the episodes are lifelong.
    lifelong: bool,
    /// Steps per episode.
    episode_steps: u32,
}

/// The training device for `name`.
pub fn device(name: &str) -> Result<Device> {
    Ok(match name {
        "cpu" => Device::flex(),
        #[cfg(feature = "tch")]
        "tch-cpu" => {
            // On these small tensors libtorch's intra-op threads mostly wait on each other and on
            // the simulator's: one thread trains 1.8x faster here (BENCHMARKS.md). An explicit
            // OMP_NUM_THREADS wins.
            if std::env::var_os("OMP_NUM_THREADS").is_none() {
                tch::set_num_threads(1);
            }
            #[allow(deprecated)] // burn-tch is deprecated upstream but is burn 0.22's GPU path here
            Device::libtorch()
        }
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "cuda" => Device::libtorch_cuda(0),
        other => bail!(
            "device {other:?} is not available in this build (cpu; tch-cpu and cuda need --features tch)"
        ),
    })
}

/// Statistics of an iteration's updates: sums of policy loss, value loss, entropy and clip
/// fraction, their count, and the last minibatch's KL.
#[derive(Default)]
struct UpdateStats {
    policy: f64,
    value: f64,
    entropy: f64,
    clipfrac: f64,
    count: f64,
    last_kl: f64,
}

impl Trainer {
    /// A fresh trainer for `config`.
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let (envs, agents_per_episode) = build_envs(&config)?;
        let steps_between_checkpoints =
            config.run.checkpoint_every * config.ppo.rollout * config.ppo.chunks;
        if envs[0].on_target == OnTarget::Restart
            && (steps_between_checkpoints as i64) < envs[0].max_episode_steps
        {
            // A checkpoint restarts the episodes (so that a resume continues exactly).
            bail!(
                "run.checkpoint_every × ppo.rollout × ppo.chunks = {steps_between_checkpoints} steps, but lifelong episodes last {} steps and each checkpoint restarts them: no episode would ever finish (use checkpoint_every ≥ {})",
                envs[0].max_episode_steps,
                (envs[0].max_episode_steps as usize)
                    .div_ceil(config.ppo.rollout * config.ppo.chunks)
            );
        }
        let mut sim = BatchSimulator::new(&envs, config.env.threads)?;
        sim.set_auto_reset(true);
        let mut buffers = sim.new_buffers();
        sim.reset(&mut buffers)?;
        let n: usize = buffers.shards.iter().map(|s| s.actions.len()).sum();
        let device = device(&config.run.device)?;
        let model_config = PolicyConfig {
            seed: config.run.seed,
            ..config.model.clone()
        };
        let model = model_config.init(&device.clone().autodiff());
        let optim = AdamConfig::new().with_epsilon(1e-6).init();
        let progress = TrainerState {
            iteration: 0,
            agent_steps: 0,
            lr: config.ppo.lr,
            seconds: 0.0,
            episodes: 0,
        };
        let actor = Actor {
            sim,
            buffers,
            agents_per_episode,
            n,
            side: config.model.encoder.side,
            env_side: 2 * envs[0].obs_radius as usize + 1,
            rollout: config.ppo.rollout,
            gamma: config.ppo.gamma,
            device: device.clone(),
            state: None,
            first: vec![true; n],
            returns: vec![0.0; n],
            prev_actions: vec![0; n],
            prev_rewards: vec![0.0; n],
            rng: SplitMix(config.run.seed ^ 0xA5A5_5A5A),
            scratch: Vec::new(),
        };
        let learner = Learner {
            config: config.clone(),
            agents_per_episode,
            device: device.autodiff(),
            model,
            optim,
            rng: SplitMix(config.run.seed ^ 0x5A5A_A5A5),
        };
        Ok(Self {
            config,
            actor,
            learner,
            progress,
            recent: VecDeque::new(),
            lifelong: envs[0].on_target == OnTarget::Restart,
            episode_steps: envs[0].max_episode_steps as u32,
        })
    }

    /// Whether the training episodes are lifelong (`on_target = restart`): progress is then
    /// throughput, not CSR.
    pub fn lifelong(&self) -> bool {
        self.lifelong
    }

    /// Steps per training episode (the suite's horizon).
    pub fn episode_steps(&self) -> u32 {
        self.episode_steps
    }

    /// What the model reads besides its weights (saved beside them in every checkpoint).
    fn inputs(&self) -> CheckpointInputs {
        CheckpointInputs {
            path_planner: self.config.env.path_planner,
        }
    }

    /// Agents stepped together.
    pub fn num_agents(&self) -> usize {
        self.actor.n
    }

    /// The model being trained.
    pub fn model(&self) -> &PolicyNet {
        &self.learner.model
    }

    /// One PPO iteration: `chunks` rollout chunks, each followed by its update epochs.
    ///
    /// With `ppo.overlap`, the actor thread collects chunk `k + 1` with the parameters from before
    /// the update on chunk `k`, while the learner runs that update (a policy lag of one update,
    /// as in asynchronous PPO). Without it,
    /// each chunk is collected after the previous update. Either way the schedule is fixed, so
    /// runs are deterministic; the first chunk of an iteration always uses the current parameters.
    pub fn iteration(&mut self) -> Result<IterationLog> {
        let t0 = Instant::now();
        let p = self.config.ppo.clone();
        let mut stats = UpdateStats::default();
        let Self {
            actor,
            learner,
            recent,
            progress,
            ..
        } = self;
        std::thread::scope(|scope| -> Result<()> {
            let (jobs, job_rx) = crossbeam_channel::bounded::<PolicyNet>(1);
            let (chunk_tx, chunks) = crossbeam_channel::bounded::<Result<Chunk>>(1);
            let worker = scope.spawn(move || {
                for eval in job_rx {
                    let chunk = actor.collect(&eval);
                    let failed = chunk.is_err();
                    if chunk_tx.send(chunk).is_err() || failed {
                        break;
                    }
                }
            });
            let send = |model: &PolicyNet| {
                jobs.send(model.valid())
                    .map_err(|_| anyhow::anyhow!("the rollout thread stopped"))
            };
            send(&learner.model)?;
            for k in 0..p.chunks {
                let chunk = chunks
                    .recv()
                    .map_err(|_| anyhow::anyhow!("the rollout thread stopped"))??;
                let more = k + 1 < p.chunks;
                if more && p.overlap {
                    send(&learner.model)?;
                }
                progress.agent_steps += (chunk.rows() * p.rollout) as u64;
                for s in &chunk.finished {
                    recent.push_back(*s);
                    if recent.len() > 100 {
                        recent.pop_front();
                    }
                    progress.episodes += 1;
                }
                learner.train_on(&chunk, &mut progress.lr, &mut stats)?;
                if more && !p.overlap {
                    send(&learner.model)?;
                }
            }
            drop(jobs);
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("the rollout thread panicked"))?;
            Ok(())
        })?;
        progress.iteration += 1;
        let secs = t0.elapsed().as_secs_f64();
        progress.seconds += secs;
        let count = stats.count.max(1.0);
        let finished = recent.len().max(1) as f64;
        Ok(IterationLog {
            iteration: progress.iteration,
            agent_steps: progress.agent_steps,
            seconds: progress.seconds,
            agent_steps_per_s: (self.actor.n * p.rollout * p.chunks) as f64 / secs,
            episode_return: recent.iter().map(|r| r.episode_return).sum::<f64>() / finished,
            csr: recent.iter().map(|r| r.csr).sum::<f64>() / finished,
            isr: recent.iter().map(|r| r.isr).sum::<f64>() / finished,
            throughput: recent.iter().map(|r| r.throughput).sum::<f64>() / finished,
            episodes: progress.episodes,
            policy_loss: stats.policy / count,
            value_loss: stats.value / count,
            entropy: stats.entropy / count,
            approx_kl: stats.last_kl,
            clipfrac: stats.clipfrac / count,
            lr: progress.lr,
        })
    }

    /// Writes `dir/checkpoint` atomically (model, optimiser, trainer state) and restarts the
    /// episodes, so that resuming from it continues exactly like this run does.
    pub fn checkpoint(&mut self, dir: &Path) -> Result<()> {
        write_dir_atomically(dir, "checkpoint", |tmp| {
            self.learner.model.save(&tmp.join("model"))?;
            self.inputs().save(&tmp.join("model"))?;
            self.learner
                .optim
                .save(tmp.join("optimizer.bpk"))
                .map_err(|e| anyhow::anyhow!("saving the optimiser: {e}"))?;
            let saved = SavedState {
                progress: self.progress.clone(),
                learner_rng: self.learner.rng,
                actor_rng: self.actor.rng,
            };
            std::fs::write(tmp.join("trainer.json"), serde_json::to_vec_pretty(&saved)?)?;
            Ok(())
        })?;
        self.actor.restart()
    }

    /// Writes the current model to `dir/best/model` with `dir/best/best.json` (the iteration's
    /// log), atomically: the model with the best training CSR so far, as the reference keeps
    /// (`save_best_metric = CSR`).
    pub fn save_best(&self, dir: &Path, log: &IterationLog) -> Result<()> {
        write_dir_atomically(dir, "best", |tmp| {
            self.learner.model.save(&tmp.join("model"))?;
            self.inputs().save(&tmp.join("model"))?;
            std::fs::write(tmp.join("best.json"), serde_json::to_vec_pretty(log)?)?;
            Ok(())
        })
    }

    /// Restores model, optimiser and trainer state from `dir/checkpoint`.
    pub fn restore(&mut self, dir: &Path) -> Result<()> {
        recover_dir(dir, "checkpoint")?;
        let ck = dir.join("checkpoint");
        self.learner.model = PolicyNet::load(&ck.join("model"), &self.learner.device)?;
        let optim = AdamConfig::new().with_epsilon(1e-6).init();
        self.learner.optim = optim
            .load(ck.join("optimizer.bpk"))
            .map_err(|e| anyhow::anyhow!("loading the optimiser: {e}"))?;
        let saved: SavedState = serde_json::from_slice(&std::fs::read(ck.join("trainer.json"))?)
            .context("reading trainer.json")?;
        self.progress = saved.progress;
        self.learner.rng = saved.learner_rng;
        self.actor.rng = saved.actor_rng;
        self.actor.restart()
    }
}

/// Replaces `dir/name` with a folder that `fill` writes: `fill` writes `dir/name.tmp`, which is
/// then renamed into place (the previous folder moved aside to `dir/name.old` first and removed
/// last), so a kill at any point leaves a complete folder at `dir/name` or, between the two
/// renames, at `dir/name.old`, which [`recover_dir`] moves back.
fn write_dir_atomically(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    fill(&tmp)?;
    let target = dir.join(name);
    let old = dir.join(format!("{name}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&tmp, &target)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Moves `dir/name.old` back to `dir/name` when a kill between the two renames of an atomic
/// folder write (checkpoints, `best/`) left only the former.
pub fn recover_dir(dir: &Path, name: &str) -> Result<()> {
    let (target, old) = (dir.join(name), dir.join(format!("{name}.old")));
    if !target.exists() && old.exists() {
        std::fs::rename(&old, &target)?;
    }
    Ok(())
}

/// KL-adaptive learning rate, once per epoch: ÷ 1.5 if the mean KL of the epoch's updates is
/// above twice the threshold, × 1.5 if below half of it, clamped to [1e-6, `lr_max`]; unchanged
/// when the threshold is 0.
fn adapt_lr(lr: f64, kl: f64, threshold: f32, lr_max: f64) -> f64 {
    let threshold = f64::from(threshold);
    if threshold <= 0.0 {
        return lr;
    }
    let lr = if kl > 2.0 * threshold {
        lr / 1.5
    } else if kl < threshold / 2.0 {
        lr * 1.5
    } else {
        lr
    };
    lr.clamp(1e-6, lr_max.max(1e-6))
}

/// What `trainer.json` holds besides the model and optimiser.
#[derive(Serialize, Deserialize)]
struct SavedState {
    progress: TrainerState,
    learner_rng: SplitMix,
    actor_rng: SplitMix,
}

impl Learner {
    /// GAE on `chunk`, then `epochs` passes over minibatches of whole episodes at learning rate
    /// `lr`, which is adapted after each epoch.
    fn train_on(&mut self, chunk: &Chunk, lr: &mut f64, stats: &mut UpdateStats) -> Result<()> {
        let p = self.config.ppo.clone();
        let (adv, ret) = gae(
            &chunk.rewards,
            &chunk.values,
            &chunk.done,
            &chunk.values_next,
            p.rollout,
            p.gamma,
            p.gae_lambda,
        );
        let episodes = chunk.rows() / self.agents_per_episode;
        for _ in 0..p.epochs {
            let mut order: Vec<usize> = (0..episodes).collect();
            for i in (1..order.len()).rev() {
                let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let per = episodes.div_ceil(p.minibatches);
            let (mut kl_sum, mut kl_count) = (0.0, 0.0);
            for (k, group) in order.chunks(per).enumerate() {
                let s = self.update(chunk, &adv, &ret, group, *lr)?;
                stats.policy += s.0;
                stats.value += s.1;
                stats.entropy += s.2;
                stats.last_kl = s.3;
                stats.clipfrac += s.4;
                stats.count += 1.0;
                // The first minibatch of an epoch sees the policy that collected the data
                // (KL = 0 in the first epoch); adapting on it would only ever raise the lr.
                if k > 0 || p.minibatches == 1 {
                    kl_sum += s.3;
                    kl_count += 1.0;
                }
            }
            *lr = adapt_lr(
                *lr,
                kl_sum / f64::max(kl_count, 1.0),
                p.kl_threshold,
                p.lr_max,
            );
        }
        Ok(())
    }

    /// One minibatch update over the episodes in `group`; returns (policy loss, value loss,
    /// entropy, approx KL, clip fraction).
    fn update(
        &mut self,
        c: &Chunk,
        adv: &[f32],
        ret: &[f32],
        group: &[usize],
        lr: f64,
    ) -> Result<(f64, f64, f64, f64, f64)> {
        let p = self.config.ppo.clone();
        let (t, a) = (p.rollout, self.agents_per_episode);
        let side = self.config.model.encoder.side;
        let obs_len = 3 * side * side;
        let h = self.config.model.encoder.width;
        let n_all = c.rows();
        let rows: Vec<usize> = group.iter().flat_map(|&e| e * a..(e + 1) * a).collect();
        let m = rows.len();
        let pick = |v: &[f32], width: usize| -> Vec<f32> {
            rows.iter()
                .flat_map(|&i| v[i * width..(i + 1) * width].iter().copied())
                .collect()
        };
        let pick_int = |v: &[i64]| -> Vec<i64> {
            rows.iter()
                .flat_map(|&i| v[i * t..(i + 1) * t].iter().copied())
                .collect()
        };
        let dev = &self.device;
        let tensor2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [m, t]), dev);
        let [mem0, hist0, hid0, pos0] = &c.state0;
        let (wm, wh, wg) = (mem0.len() / n_all, hist0.len() / n_all, hid0.len() / n_all);
        let state = CoreState {
            memory: Tensor::from_data(TensorData::new(pick(mem0, wm), [m, wm]), dev),
            history: Tensor::from_data(TensorData::new(pick(hist0, wh), [m, wh / h, h]), dev),
            hidden: Tensor::from_data(TensorData::new(pick(hid0, wg), [m, wg]), dev),
            position: Tensor::from_data(TensorData::new(pick(pos0, 1), [m]), dev),
        };
        let valid_host = pick(&c.valid, t);
        let valid = tensor2(valid_host.clone());
        let input = SequenceInput {
            obs: Tensor::from_data(
                TensorData::new(pick(&c.obs, t * obs_len), [m, t, 3, side, side]),
                dev,
            ),
            is_first: tensor2(pick(&c.is_first, t)),
            active: valid.clone(),
            prev_action: Tensor::from_data(TensorData::new(pick_int(&c.prev_action), [m, t]), dev),
            prev_reward: tensor2(pick(&c.prev_reward, t)),
        };
        let actions =
            Tensor::<3, Int>::from_data(TensorData::new(pick_int(&c.actions), [m, t, 1]), dev);
        let old_logp = tensor2(pick(&c.logp, t));
        let old_values = tensor2(pick(&c.values, t));
        let returns = tensor2(pick(ret, t));
        // Advantages normalised over the valid samples of the minibatch.
        let adv_host = pick(adv, t);
        let nvalid = valid_host.iter().sum::<f32>().max(1.0);
        let mean = adv_host
            .iter()
            .zip(&valid_host)
            .map(|(x, v)| x * v)
            .sum::<f32>()
            / nvalid;
        let var = adv_host
            .iter()
            .zip(&valid_host)
            .map(|(x, v)| v * (x - mean).powi(2))
            .sum::<f32>()
            / nvalid;
        let norm: Vec<f32> = adv_host
            .iter()
            .map(|x| (x - mean) / var.sqrt().max(1e-7))
            .collect();
        let advantages = tensor2(norm);

        let out = self.model.forward_sequence(input, state, a);
        let logp_all = log_softmax(out.logits, 2); // [M, T, 5]
        let logp = logp_all.clone().gather(2, actions).reshape([m, t]); // [M, T]
        let entropy = (logp_all.clone().exp() * logp_all)
            .sum_dim(2)
            .reshape([m, t])
            .neg(); // [M, T]
        let l = ppo_loss(
            &p,
            PpoBatch {
                logp,
                old_logp,
                advantages,
                values: out.values,
                old_values,
                returns,
                entropy,
                valid,
            },
        );
        let stats = (
            f64::from(l.policy.clone().into_scalar::<f32>()),
            f64::from(l.value.clone().into_scalar::<f32>()),
            f64::from(l.entropy.clone().into_scalar::<f32>()),
            f64::from(l.approx_kl),
            f64::from(l.clipfrac),
        );
        let loss = l.total;
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        clip_global_norm(&self.model, &mut grads, p.max_grad_norm);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        Ok(stats)
    }
}

/// The run folder of `name` under `runs/`.
pub fn run_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}
