//! Learned policies on the simulator: observation conversion, action sampling and a
//! [`Policy`](rmapf_agents::Policy) adapter so `evaluate` treats checkpoints like planners.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rmapf_agents::nn::{CoreState, PolicyConfig, PolicyNet, StepInput};
use rmapf_agents::{EpisodeView, Policy};
use rmapf_env::{EnvConfig, ObservationType, PathPlanner, RewardKind, StepBuffers};
use serde::{Deserialize, Serialize};

use crate::advice::append_advice_plane;

/// Host observations as network input: `obs [N, C, S, S]` bytes read as `i8` (the follower
/// observation's -1 obstacles; the default observation's 0/1 read the same) → `out [N, C, R, R]`
/// floats, keeping the central `R × R` of each `S × S` window (`R ≤ S`, both odd: a network
/// reading a smaller radius than the env observes, as FollowerLite reads 7×7 of Follower's 11×11).
pub fn obs_to_f32(obs: &[u8], env_side: usize, net_side: usize, out: &mut Vec<f32>) {
    let value = |v: u8| f32::from(v as i8);
    out.clear();
    if env_side == net_side {
        out.extend(obs.iter().map(|&v| value(v)));
        return;
    }
    let margin = (env_side - net_side) / 2;
    for plane in obs.chunks_exact(env_side * env_side) {
        for row in plane.chunks_exact(env_side).skip(margin).take(net_side) {
            out.extend(row[margin..margin + net_side].iter().map(|&v| value(v)));
        }
    }
}

/// One step's network input from host data: `obs [N·C·R·R]` (floats, `C` = `channels`,
/// `R` = `side`), `is_first`, `active`, `prev_reward [N]` (floats) and `prev_action [N]`.
pub fn step_input(
    obs: Vec<f32>,
    [channels, side]: [usize; 2],
    (is_first, active): (Vec<f32>, Vec<f32>),
    (prev_action, prev_reward): (&[u8], Vec<f32>),
    device: &Device,
) -> StepInput {
    let n = is_first.len();
    let prev_action: Vec<i64> = prev_action.iter().map(|&a| i64::from(a)).collect();
    StepInput {
        obs: Tensor::from_data(TensorData::new(obs, [n, channels, side, side]), device),
        is_first: Tensor::from_data(TensorData::new(is_first, [n]), device),
        active: Tensor::from_data(TensorData::new(active, [n]), device),
        prev_action: Tensor::from_data(TensorData::new(prev_action, [n]), device),
        prev_reward: Tensor::from_data(TensorData::new(prev_reward, [n]), device),
    }
}

/// The trainer's and sampler's explicit random stream.
pub use rmapf_env::rng::SplitMix64 as SplitMix;
use rmapf_env::rng::mix64;

/// Samples (or takes the argmax of) each row of `probs` (`[N, 5]`, row-major); returns the
/// actions and their log-probabilities.
pub fn choose(
    probs: &[f32],
    greedy: bool,
    rng: &mut SplitMix,
    actions: &mut [u8],
    logp: &mut [f32],
) {
    for (i, row) in probs.chunks(5).enumerate() {
        let a = if greedy {
            (0..5)
                .max_by(|&x, &y| row[x].total_cmp(&row[y]))
                .unwrap_or(0)
        } else {
            let u = rng.next_f32() * row.iter().sum::<f32>();
            let mut acc = 0.0;
            let mut pick = 4;
            for (k, &p) in row.iter().enumerate() {
                acc += p;
                if u < acc {
                    pick = k;
                    break;
                }
            }
            pick
        };
        actions[i] = a as u8;
        logp[i] = row[a].max(1e-12).ln();
    }
}

/// What a checkpoint's model reads besides its weights (`model/inputs.json`; checkpoints
/// without one read shortest-path follower observations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInputs {
    /// Its observation: `follower`, `follower_intents` or `follower_priorities` (absent in
    /// checkpoints written before intents existed: `follower`).
    #[serde(default = "crate::ppo::follower_observation")]
    pub observation: ObservationType,
    /// The planner that drew the path in its follower observations.
    #[serde(default)]
    pub path_planner: PathPlanner,
    /// The reward it was trained with: cores that read the previous step's reward (RATE) must
    /// see the same reward when evaluated. Absent in checkpoints written before it was recorded
    /// (their evaluation keeps the suite's reward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<RewardKind>,
    /// The built-in planner whose proposals it reads as its last plane (`env.advice`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl Default for CheckpointInputs {
    /// What checkpoints without `inputs.json` read: shortest-path follower observations.
    fn default() -> Self {
        Self {
            observation: ObservationType::Follower,
            path_planner: PathPlanner::default(),
            reward: None,
            advice: None,
        }
    }
}

impl CheckpointInputs {
    /// What a model trained with `env` reads: that section's observation, path planner and
    /// reward.
    pub fn of_training(env: &crate::ppo::EnvSection) -> Self {
        Self {
            observation: env.observation,
            path_planner: env.path_planner,
            reward: Some(env.reward),
            advice: env.advice.clone(),
        }
    }

    /// Sets up an episode as the model was trained to see it: its follower observation drawn
    /// with its path planner, and its training reward.
    pub fn apply(&self, config: &mut EnvConfig) {
        config.observation_type = self.observation;
        config.path_planner = self.path_planner;
        if let Some(reward) = self.reward {
            config.reward = reward;
        }
    }

    /// Reads `inputs.json` from a checkpoint (or its model folder); the default when absent.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = model_dir(dir).join("inputs.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes `model_dir/inputs.json`.
    pub fn save(&self, model_dir: &Path) -> Result<()> {
        std::fs::write(
            model_dir.join("inputs.json"),
            serde_json::to_vec_pretty(self)?,
        )?;
        Ok(())
    }
}

/// A checkpoint acting through the [`Policy`] interface (one instance per shard).
pub struct NeuralPolicy {
    net: PolicyNet,
    device: Device,
    state: Option<CoreState>,
    greedy: bool,
    /// Sampling temperature (1: the policy as trained).
    temperature: f32,
    rng: SplitMix,
    /// The observation planes `C` the network reads (3, 4 with intents, 5 with priorities).
    channels: usize,
    /// The window side the network reads (the centre of the env's window).
    net_side: usize,
    scratch: Vec<f32>,
    agents_per_episode: usize,
    step: u64,
    /// The actions taken at the previous step (RATE reads them).
    prev_actions: Vec<u8>,
    /// The planner whose proposals the network reads as its last plane (`env.advice`), and its
    /// last proposals.
    advice: Option<(Box<dyn Policy>, Vec<u8>)>,
    /// The observation with the advice plane appended.
    advised: Vec<f32>,
}

impl NeuralPolicy {
    /// Loads `dir` (a checkpoint written by training) onto `device` (`Device::flex()`: burn's
    /// CPU backend). A checkpoint trained with advice (`env.advice`) runs its planner beside it.
    pub fn load(dir: &Path, device: Device, greedy: bool, seed: u64) -> Result<Self> {
        let net = PolicyNet::load(&model_dir(dir), &device)
            .with_context(|| format!("loading checkpoint {}", dir.display()))?;
        let net_side = check_checkpoint(dir)?.encoder.side;
        let policy = Self::from_net(net, device, net_side, greedy, seed);
        match CheckpointInputs::load(dir)?.advice {
            Some(name) => policy.with_advice(&name, seed),
            None => Ok(policy),
        }
    }

    /// A policy acting with `net` (on `device`) that reads the centre `net_side × net_side` of
    /// the env's window: the model being trained, evaluated on held-out episodes.
    pub fn from_net(
        net: PolicyNet,
        device: Device,
        net_side: usize,
        greedy: bool,
        seed: u64,
    ) -> Self {
        let channels = net.config().encoder.channels;
        Self {
            net,
            device,
            state: None,
            greedy,
            temperature: 1.0,
            rng: SplitMix(seed),
            channels,
            net_side,
            scratch: Vec::new(),
            agents_per_episode: 0,
            step: 0,
            prev_actions: Vec::new(),
            advice: None,
            advised: Vec::new(),
        }
    }

    /// Shows the network the actions the built-in planner `name` (seeded with `seed`) proposes,
    /// as its last observation plane: for a model trained with `env.advice = name`.
    pub fn with_advice(mut self, name: &str, seed: u64) -> Result<Self> {
        let planner = crate::evaluate::builtin_policy(name, seed)
            .with_context(|| format!("the checkpoint's advice {name:?}"))?;
        self.advice = Some((planner, Vec::new()));
        Ok(self)
    }

    /// Samples at `temperature` instead (probabilities raised to `1 / temperature`, then
    /// renormalised); 1 is the policy as trained. The caller checks that it is positive.
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = temperature;
        self
    }
}

impl Policy for NeuralPolicy {
    fn name(&self) -> &str {
        "checkpoint"
    }

    fn reset_episode(&mut self, episode: usize) {
        self.state = None;
        self.step = 0;
        if let Some((planner, _)) = &mut self.advice {
            planner.reset_episode(episode);
        }
    }

    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        b: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        let n = actions.len();
        let side = 2 * radius + 1;
        let a = episodes.first().map_or(1, |e| e.num_agents).max(1);
        let first = self.state.is_none() || self.agents_per_episode != a;
        self.agents_per_episode = a;
        obs_to_f32(&b.obs, side, self.net_side, &mut self.scratch);
        if let Some((planner, proposed)) = &mut self.advice {
            proposed.resize(n, 0);
            planner.act(episodes, b, radius, proposed);
            let planes = [self.channels - 1, self.net_side];
            append_advice_plane(
                &self.scratch,
                proposed.iter().copied(),
                planes,
                &mut self.advised,
            );
            std::mem::swap(&mut self.scratch, &mut self.advised);
        }
        let state = self
            .state
            .take()
            .unwrap_or_else(|| self.net.initial_state(n, &self.device));
        let is_first = vec![f32::from(u8::from(first)); n];
        let active: Vec<f32> = b.active.iter().map(|&x| f32::from(u8::from(x))).collect();
        self.prev_actions.resize(n, 0);
        // At the first step the previous action and reward are ignored by the network.
        let rewards = if b.rewards.len() == n {
            b.rewards.clone()
        } else {
            vec![0.0; n]
        };
        let input = step_input(
            self.scratch.clone(),
            [self.channels, self.net_side],
            (is_first, active),
            (&self.prev_actions, rewards),
            &self.device,
        );
        let out = self.net.forward_step(input, state, a);
        let logits = if self.temperature == 1.0 {
            out.logits
        } else {
            out.logits / self.temperature
        };
        let probs = softmax(logits, 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        // Each agent's draw comes from a stream keyed by the seed, the step, its index in its
        // episode and its position and goal: episode-local state only, so the results do not
        // depend on how episodes are sharded over threads.
        let mut logp = [0.0f32];
        for (row, (row_probs, action)) in probs.chunks(5).zip(actions.iter_mut()).enumerate() {
            let key = [
                self.step,
                (row % a) as u64,
                b.global_xy[2 * row] as u64,
                b.global_xy[2 * row + 1] as u64,
                b.global_target_xy[2 * row] as u64,
                b.global_target_xy[2 * row + 1] as u64,
            ]
            .iter()
            .fold(self.rng.0, |h, &v| {
                mix64(h ^ v.wrapping_mul(SplitMix::GAMMA))
            });
            choose(
                row_probs,
                self.greedy,
                &mut SplitMix(key),
                std::slice::from_mut(action),
                &mut logp,
            );
        }
        self.step += 1;
        self.prev_actions.copy_from_slice(actions);
        self.state = Some(out.state);
    }
}

/// The model folder of a checkpoint: `dir/model` in a training checkpoint, else `dir` itself.
fn model_dir(dir: &Path) -> std::path::PathBuf {
    if dir.join("model").exists() {
        dir.join("model")
    } else {
        dir.to_path_buf()
    }
}

/// Checks that a checkpoint folder exists before a long run starts; returns its model config.
pub fn check_checkpoint(dir: &Path) -> Result<PolicyConfig> {
    let model = model_dir(dir);
    if !model.join("config.json").exists() {
        bail!("{} is not a checkpoint (no config.json)", dir.display());
    }
    PolicyConfig::load(&model).with_context(|| format!("reading checkpoint {}", dir.display()))
}

/// Rejects a suite whose observation window is smaller than the one the checkpoint reads (a
/// larger one is cropped to the checkpoint's centre).
pub fn check_window(config: &PolicyConfig, suite: &str, obs_radius: i64) -> Result<()> {
    let side = config.encoder.side;
    if 2 * obs_radius + 1 < side as i64 {
        bail!(
            "the checkpoint reads {side}x{side} windows (obs_radius {}), but suite {suite} observes only obs_radius {obs_radius}",
            side / 2
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmapf_agents::nn::CoreKind;

    #[test]
    fn a_suite_with_a_smaller_window_is_rejected_and_a_larger_one_cropped() {
        let config = PolicyConfig::bottleneck(CoreKind::Srmt);
        assert!(check_window(&config, "bottleneck-test", 2).is_ok());
        assert!(check_window(&config, "random", 5).is_ok());
        let err = check_window(&config, "tiny", 1).unwrap_err().to_string();
        assert!(err.contains("5x5") && err.contains("obs_radius 1"), "{err}");
    }

    #[test]
    fn observations_are_cropped_to_the_network_window() {
        // Two agents, one channel each of a 5x5 window holding its cell index; the network reads 3x3.
        let obs: Vec<u8> = (0..2)
            .flat_map(|a| (0..25u8).map(move |v| v + 100 * a))
            .collect();
        let mut out = Vec::new();
        obs_to_f32(&obs, 5, 3, &mut out);
        let want: Vec<f32> = [0.0, 100.0]
            .iter()
            .flat_map(|&a| [6.0, 7.0, 8.0, 11.0, 12.0, 13.0, 16.0, 17.0, 18.0].map(|v| v + a))
            .collect();
        assert_eq!(out, want);
        // Bytes are i8 values (255 = -1, the follower observation's obstacles); equal sides copy
        // everything.
        obs_to_f32(&[255, 1, 0], 1, 1, &mut out);
        assert_eq!(out, [-1.0, 1.0, 0.0]);
    }
}
