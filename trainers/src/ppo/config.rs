//! The training config (`TrainConfig`, read from TOML): the env, PPO, model and run sections,
//! their defaults and validation, and the training episodes they describe.

use anyhow::{Context, Result, bail};
use rmapf_agents::nn::{CoreKind, PolicyConfig};
use rmapf_env::maps::suites::Suite;
use rmapf_env::{CollisionSystem, EnvConfig, ObservationType, PathPlanner, RewardKind};
use serde::{Deserialize, Serialize};

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
    /// Agents in every training episode, in place of the suite's count (learn-to-follow trained
    /// Follower with 128 and 256 agents on the same 65×65 mazes; the suite says 64).
    #[serde(default)]
    pub agents: Option<i64>,
    /// Collision rule of every training episode, in place of the suite's (`follower-train` says
    /// `priority`, as learn-to-follow's FollowerLite trained; the POGEMA benchmark evaluates with
    /// `soft`, where following works in both index orders and rotations are allowed).
    #[serde(default)]
    pub collision_system: Option<CollisionSystem>,
    /// Reward variant.
    pub reward: RewardKind,
    /// Worker threads: the simulator's shards, and the parts of the rollout's and the learner's
    /// batches (`ppo.batch_parts`).
    pub threads: usize,
    /// Folder holding the suite's YAML map file (suites such as `follower-train` read their
    /// maps from one), relative to the working directory.
    #[serde(default)]
    pub maps_dir: Option<std::path::PathBuf>,
    /// The follower observation's path planner (`shortest`, or `follower` for Follower's).
    #[serde(default)]
    pub path_planner: PathPlanner,
    /// The observation: `follower` (the default), `follower_intents`, which adds the other
    /// agents' intents as a fourth plane (then `model.encoder.channels = 4`), or
    /// `follower_priorities`, which adds their priorities as a fifth (`channels = 5`).
    #[serde(default = "follower_observation")]
    pub observation: ObservationType,
    /// A built-in planner whose proposed action for each agent the network reads as one more
    /// plane (after the observation's: 1 in the cell the action leads to), e.g.
    /// `pibt-follower-local:3`; `model.encoder.channels` counts it. The checkpoint records it
    /// and `evaluate` runs the same planner beside the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// The follower observation without intents: the trainer's and old checkpoints' default.
pub(crate) fn follower_observation() -> ObservationType {
    ObservationType::Follower
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
    /// clamped to [1e-6, the ceiling] (`lr_max`, annealed with `lr_anneal_from`).
    pub kl_threshold: f32,
    /// Ceiling of the learning rate (the reference's 1e-2 when absent): the KL-adaptive rate is
    /// clamped to it, and the rate in use never exceeds it.
    #[serde(default = "default_lr_max")]
    pub lr_max: f64,
    /// Anneal the learning rate late in the run: from this fraction of `run.total_agent_steps`
    /// on, the ceiling falls linearly from `lr_max` to 0 at the end (0: over the whole run, as
    /// CleanRL's `anneal_lr`), and the rate in use is the KL-adaptive rate held below it (never
    /// under 1e-6). Absent: the ceiling stays `lr_max`, as in run folders written before it.
    /// Extending a run on resume (`--total-agent-steps`) stretches the schedule to the new end.
    /// With `kl_threshold = 0`, set `lr_max = lr` to anneal the fixed rate. At a constant cap, a
    /// near-deterministic policy late in a run can lose in one large step what it learned
    /// (BENCHMARKS.md, "Annealing the learning rate late in the run").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_anneal_from: Option<f64>,
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
    /// The rollout's agents and each minibatch's episodes are split into this many parts of
    /// whole episodes that run at once on up to `env.threads` threads: the rollout's forward
    /// passes, and the learner's gradients, which are summed into one update. The same maths as
    /// one pass (up to float rounding), and the same numbers on any thread count. The default,
    /// 2, keeps both cores of a 2-core CPU busy (the networks are small: one pass is a stream
    /// of tiny tensor operations that keeps one core busy); 1 suits a GPU.
    #[serde(default = "default_batch_parts")]
    pub batch_parts: usize,
    /// Collect the next chunk on the rollout thread while the learner updates on this one (a
    /// policy lag of one update). Off by default: before `batch_parts` it was the only way to
    /// use a second core (17–27% faster on the Bottleneck), but with it the final model failed
    /// in 4 of 9 seeds (BENCHMARKS.md); `false` alternates collection and updates, and
    /// `batch_parts` keeps both cores busy without a lag. Only chunks after the first of
    /// an iteration overlap (the first is always collected with the current parameters), so
    /// with `chunks = 1` it changes nothing.
    #[serde(default = "default_overlap")]
    pub overlap: bool,
    /// A built-in planner (a name `evaluate --policy` accepts, e.g. `pibt-lookahead`) that labels
    /// every visited state with its action for each agent; `imitation_coef × cross-entropy` of the
    /// policy against those labels joins the PPO loss. The agents always act with the policy, so
    /// the labels are on the policy's own states (DAgger, Ross et al., AISTATS 2011). A
    /// centralised planner may label what a decentralised policy must learn to do from its
    /// window. Absent: pure PPO.
    #[serde(default)]
    pub expert: Option<String>,
    /// Weight of the imitation loss at the start of the run (needs `expert`).
    #[serde(default)]
    pub imitation_coef: f32,
    /// Agent steps over which the imitation weight falls linearly to 0, after which the expert
    /// is no longer run. Absent: the weight stays `imitation_coef` for the whole run.
    #[serde(default)]
    pub imitation_steps: Option<u64>,
}

impl PpoSection {
    /// The imitation loss weight after `agent_steps` agent steps (0 without an expert).
    pub fn imitation_weight(&self, agent_steps: u64) -> f32 {
        if self.expert.is_none() {
            return 0.0;
        }
        match self.imitation_steps {
            None => self.imitation_coef,
            Some(0) => 0.0,
            Some(total) => {
                let left = 1.0 - (agent_steps as f64 / total as f64).min(1.0);
                (f64::from(self.imitation_coef) * left) as f32
            }
        }
    }
}

fn default_batch_parts() -> usize {
    2
}

fn default_overlap() -> bool {
    false
}

/// The lowest learning rate: the KL-adaptive rule and the annealed ceiling never go under it
/// (the reference's clamp).
pub(super) const MIN_LR: f64 = 1e-6;

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
    /// A suite of held-out episodes (name or file) the model is run on at every checkpoint;
    /// `best/` keeps the model that does best there (CSR, then ISR, then sum of costs; throughput
    /// for lifelong tasks; ties to the later model). Absent: `best/` keeps the model with the best
    /// training metric over the last 100 episodes, the SRMT reference's rule, which saturates
    /// long before the policy generalises on the Bottleneck.
    #[serde(default)]
    pub validation: Option<String>,
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
    /// `scripts/make_train_configs.py`), and that cap annealed linearly to 0 over the second
    /// half of the run.
    pub fn srmt_bottleneck() -> Self {
        Self {
            env: EnvSection {
                suite: "bottleneck-train".into(),
                copies: 1,
                max_instances: None,
                agents: None,
                collision_system: None,
                reward: RewardKind::Directional,
                threads: 2,
                maps_dir: None,
                path_planner: PathPlanner::Shortest,
                observation: ObservationType::Follower,
                advice: None,
            },
            model: PolicyConfig::bottleneck(CoreKind::Srmt),
            ppo: PpoSection {
                gamma: 0.9716,
                gae_lambda: 0.95,
                lr: 1.3e-4,
                kl_threshold: 0.008,
                lr_max: 1e-3,
                lr_anneal_from: Some(0.5),
                clip: 0.2,
                value_clip: 1.0,
                value_coef: 0.5,
                entropy_coef: 0.0156,
                max_grad_norm: 4.0,
                rollout: 8,
                chunks: 4,
                epochs: 1,
                minibatches: 4,
                batch_parts: 2,
                overlap: false,
                expert: None,
                imitation_coef: 0.0,
                imitation_steps: None,
            },
            run: RunSection {
                seed: 0,
                total_agent_steps: 20_000_000,
                checkpoint_every: 20,
                device: "cpu".into(),
                validation: Some("bottleneck-valid".into()),
            },
        }
    }

    /// The learning rate's ceiling after `agent_steps` agent steps: `lr_max`, falling linearly
    /// to 0 at `run.total_agent_steps` from the fraction `ppo.lr_anneal_from` of it on; never
    /// under 1e-6.
    pub fn lr_ceiling(&self, agent_steps: u64) -> f64 {
        let p = &self.ppo;
        let done = agent_steps as f64 / self.run.total_agent_steps.max(1) as f64;
        let left = match p.lr_anneal_from {
            Some(from) if done > from => ((1.0 - done) / (1.0 - from)).clamp(0.0, 1.0),
            _ => 1.0,
        };
        (p.lr_max * left).max(MIN_LR)
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
        if p.rollout == 0
            || p.chunks == 0
            || p.epochs == 0
            || p.minibatches == 0
            || p.batch_parts == 0
        {
            bail!(
                "ppo.rollout, ppo.chunks, ppo.epochs, ppo.minibatches and ppo.batch_parts \
                 must be positive"
            );
        }
        if !(p.lr > 0.0 && p.lr_max > 0.0 && p.lr.is_finite() && p.lr_max.is_finite()) {
            bail!("ppo.lr and ppo.lr_max must be positive and finite");
        }
        if let Some(from) = p.lr_anneal_from
            && !(0.0..1.0).contains(&from)
        {
            bail!("ppo.lr_anneal_from must be a fraction of the run in [0, 1), not {from}");
        }
        for (name, v) in [
            ("ppo.kl_threshold", p.kl_threshold),
            ("ppo.clip", p.clip),
            ("ppo.value_clip", p.value_clip),
            ("ppo.value_coef", p.value_coef),
            ("ppo.entropy_coef", p.entropy_coef),
            ("ppo.imitation_coef", p.imitation_coef),
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
        match &p.expert {
            Some(name) => {
                crate::evaluate::builtin_policy(name, 0)
                    .with_context(|| format!("ppo.expert = {name:?}"))?;
                if p.imitation_coef <= 0.0 {
                    bail!("ppo.expert is set, so ppo.imitation_coef must be > 0");
                }
            }
            None if p.imitation_coef != 0.0 || p.imitation_steps.is_some() => {
                bail!("ppo.imitation_coef and ppo.imitation_steps need ppo.expert (a planner name)")
            }
            None => {}
        }
        if self.run.checkpoint_every == 0 {
            bail!("run.checkpoint_every must be at least 1 (iterations between checkpoints)");
        }
        if self.run.total_agent_steps == 0 {
            bail!("run.total_agent_steps must be at least 1 (a run of 0 steps trains nothing)");
        }
        if let Some(n) = self.env.agents
            && n < 1
        {
            bail!("env.agents must be at least 1 (or left out for the suite's count), not {n}");
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
        if !self.env.observation.is_follower() {
            bail!(
                "env.observation must be \"follower\", \"follower_intents\" or \"follower_priorities\" (the trainer reads follower observations)"
            );
        }
        let planes = self.env.observation.channels() + usize::from(self.env.advice.is_some());
        if self.model.encoder.channels != planes {
            bail!(
                "model.encoder.channels must be {planes}: env.observation writes {} planes (4 with \"follower_intents\", 5 with \"follower_priorities\", else 3){}",
                self.env.observation.channels(),
                if self.env.advice.is_some() {
                    ", and env.advice adds one"
                } else {
                    ""
                }
            );
        }
        if let Some(name) = &self.env.advice {
            crate::evaluate::builtin_policy(name, 0)
                .with_context(|| format!("env.advice = {name:?}"))?;
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
    // Before the memory check of the copies, so that it counts the agents that will run.
    if let Some(n) = c.env.agents {
        for inst in &mut instances {
            inst.config.num_agents = Some(n);
        }
    }
    let originals: Vec<EnvConfig> = instances.iter().map(|i| i.config.clone()).collect();
    rmapf_env::memory::check_copies(&originals, c.env.copies as u64)?;
    let mut configs = Vec::new();
    for copy in 0..c.env.copies as u64 {
        for inst in &instances {
            let mut cfg = inst.config.clone();
            cfg.observation_type = c.env.observation;
            cfg.reward = c.env.reward;
            cfg.path_planner = c.env.path_planner;
            if let Some(rule) = c.env.collision_system {
                cfg.collision_system = rule;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_imitation_weight_falls_linearly_to_zero_and_needs_an_expert() {
        let mut p = TrainConfig::srmt_bottleneck().ppo;
        p.imitation_coef = 2.0;
        p.imitation_steps = Some(100);
        assert_eq!(p.imitation_weight(0), 0.0, "no expert, no imitation");
        p.expert = Some("pibt".into());
        assert_eq!(p.imitation_weight(0), 2.0);
        assert_eq!(p.imitation_weight(25), 1.5);
        assert_eq!(p.imitation_weight(100), 0.0);
        assert_eq!(p.imitation_weight(1000), 0.0);
        p.imitation_steps = None;
        assert_eq!(p.imitation_weight(1_000_000), 2.0);
    }

    #[test]
    fn the_observation_sets_the_envs_and_the_networks_input_planes() {
        let mut c = TrainConfig::srmt_bottleneck();
        c.env.max_instances = Some(2);
        c.env.observation = ObservationType::FollowerIntents;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("model.encoder.channels must be 4"), "{err}");
        c.model.encoder.channels = 4;
        c.validate().unwrap();
        let (configs, _) = build_envs(&c).unwrap();
        assert!(
            configs
                .iter()
                .all(|e| e.observation_type == ObservationType::FollowerIntents)
        );
        // Advice adds a plane, and names a built-in planner.
        c.env.advice = Some("pibt-follower-local:3".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("must be 5") && err.contains("env.advice adds one"),
            "{err}"
        );
        c.model.encoder.channels = 5;
        c.validate().unwrap();
        c.env.advice = Some("pibt-follower-local:0".into());
        let err = format!("{:#}", c.validate().unwrap_err());
        assert!(
            err.contains("env.advice") && err.contains("from 1 to 16"),
            "{err}"
        );
        c.env.advice = None;
        c.model.encoder.channels = 4;
        c.env.observation = ObservationType::Default;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("env.observation must be"), "{err}");
    }

    #[test]
    fn a_collision_rule_in_the_config_replaces_the_suites_in_every_episode() {
        let mut c = TrainConfig::srmt_bottleneck();
        c.env.max_instances = Some(3);
        let suite = Suite::load(&c.env.suite).unwrap();
        let own: Vec<CollisionSystem> = suite.instances(None).unwrap()[..3]
            .iter()
            .map(|i| i.config.collision_system)
            .collect();
        let (configs, _) = build_envs(&c).unwrap();
        let kept: Vec<CollisionSystem> = configs.iter().map(|e| e.collision_system).collect();
        assert_eq!(kept, own, "absent: the suite's rule");
        for rule in [
            CollisionSystem::Soft,
            CollisionSystem::BlockBoth,
            CollisionSystem::Priority,
        ] {
            c.env.collision_system = Some(rule);
            let (configs, _) = build_envs(&c).unwrap();
            assert!(
                configs.iter().all(|e| e.collision_system == rule),
                "{rule:?}"
            );
        }
        let text = toml::to_string(&c).unwrap();
        assert_eq!(
            TrainConfig::from_toml(&text).unwrap(),
            c,
            "the field round-trips"
        );
    }
}
