//! Recurrent PPO on burn's autodiff API. One iteration ([`Trainer::iteration`]) reads top to
//! bottom: collect a rollout chunk (`rollout.rs`) → GAE, then epochs over minibatches of whole
//! episodes with truncated BPTT (`update.rs`, the losses in `loss.rs`) → log. The config schema is
//! `config.rs`; checkpoints (written atomically, read on resume) are `checkpoint.rs`.

mod checkpoint;
mod config;
mod loss;
mod parts;
mod rollout;
mod update;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::Device;
use rmapf_agents::nn::{PolicyConfig, PolicyNet};
use rmapf_env::{BatchSimulator, EnvConfig, OnTarget};
use serde::{Deserialize, Serialize};

pub use checkpoint::recover_dir;
pub(crate) use config::follower_observation;
pub use config::{EnvSection, PpoSection, RunSection, TrainConfig, build_envs};
pub use loss::{PpoBatch, PpoLoss, clip_global_norm, gae, ppo_loss};

use crate::advice::ShardPlanners;
use crate::neural::{CheckpointInputs, SplitMix};
use rmapf_env::rng::mix64;
use rollout::{Actor, Chunk, EpisodeStats, Expert};
use update::{Learner, UpdateStats};

/// Finished episodes the logged means run over.
const RECENT_EPISODES: usize = 100;

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
    /// Mean per-agent episode return over the episodes of `window`.
    pub episode_return: f64,
    /// Mean CSR over the episodes of `window`.
    pub csr: f64,
    /// Mean ISR over the episodes of `window`.
    pub isr: f64,
    /// Lifelong runs: mean throughput (goals per step over all agents, the POGEMA benchmark's
    /// `avg_throughput`) over the episodes of `window`; 0 otherwise.
    #[serde(default)]
    pub throughput: f64,
    /// Episodes finished so far.
    pub episodes: u64,
    /// Episodes the means above run over: the last (at most 100) by the step they began, among
    /// those that began at least one horizon ago, so that failures (which end at the time-out)
    /// count as surely as quick successes.
    #[serde(default)]
    pub window: usize,
    /// True while no episode's outcome can be counted yet (the first horizon of the run): the
    /// means above are then 0, not a result; progress and curves say so instead of showing them.
    #[serde(default)]
    pub warming_up: bool,
    /// The current model on the run's held-out validation suite (`run.validation`), at the
    /// iterations that checkpoint; what `best/` is chosen by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out: Option<HeldOut>,
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
    /// Cross-entropy of the policy against the expert's labels (`ppo.expert`; 0 without).
    #[serde(default)]
    pub imitation_loss: f64,
    /// The imitation loss weight used in this iteration.
    #[serde(default)]
    pub imitation_weight: f64,
    /// Learning rate after the iteration.
    pub lr: f64,
}

/// A model's results on held-out validation episodes (means over the episodes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    /// Validation suite.
    pub suite: String,
    /// Episodes evaluated.
    pub episodes: usize,
    /// Mean CSR (finishing tasks; 0 for lifelong ones).
    pub csr: f64,
    /// Mean ISR (finishing tasks; 0 for lifelong ones).
    pub isr: f64,
    /// Mean sum of costs (finishing tasks; 0 for lifelong ones).
    pub sum_of_costs: f64,
    /// Mean throughput (lifelong tasks; 0 otherwise).
    pub throughput: f64,
}

impl HeldOut {
    /// Whether this model is at least as good as `other`: CSR, then ISR for finishing tasks;
    /// throughput for lifelong ones. Equal results count as at least as good, so a later model
    /// wins a tie. The sum of costs does not break ties: on the Bottleneck an early model whose
    /// held-out sum of costs was 1.7% lower than the final model's, at the same held-out CSR 1.00,
    /// failed 2 of 10 test corridors at L = 3 that the final model solved (a rare failure that
    /// 100 validation episodes cannot see; later models act more surely).
    pub fn at_least_as_good_as(&self, other: &HeldOut) -> bool {
        let key = |h: &HeldOut| [h.throughput, h.csr, h.isr];
        let (a, b) = (key(self), key(other));
        for (x, y) in a.iter().zip(&b) {
            match x.partial_cmp(y) {
                Some(std::cmp::Ordering::Greater) => return true,
                Some(std::cmp::Ordering::Less) => return false,
                _ => {}
            }
        }
        true
    }
}

/// Mean of `values`; 0 (never -0) when there are none.
pub fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        0.0
    } else {
        sum / count as f64 + 0.0
    }
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

/// The trainer: an actor (simulator and rollouts) and a learner (model and optimiser).
pub struct Trainer {
    /// The configuration.
    pub config: TrainConfig,
    actor: Actor,
    learner: Learner,
    /// Trainer state (iteration, steps, lr, time).
    pub progress: TrainerState,
    /// The finished episodes the logged means run over (the last [`RECENT_EPISODES`] by start).
    recent: VecDeque<EpisodeStats>,
    /// Finished episodes whose outcome cannot be counted yet: see [`Trainer::count_finished`].
    pending: Vec<EpisodeStats>,
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

/// Refuses an iteration whose rollout storage cannot fit in memory (absurd `ppo.rollout` or
/// `ppo.chunks`), before anything that size is allocated: an error, not an abort or an endless
/// iteration. Counts the stored chunks (observations as f32 plus ten per-step scalars) and as
/// much again for the update's activations.
fn check_rollout_memory(config: &TrainConfig, agents: usize) -> Result<()> {
    let Some(available) = rmapf_env::memory::available_bytes() else {
        return Ok(());
    };
    let e = &config.model.encoder;
    let per_step = (e.channels * e.side * e.side * 4 + 40) as u64;
    let steps = (agents as u64)
        .saturating_mul(config.ppo.rollout as u64)
        .saturating_mul(config.ppo.chunks as u64);
    let needed = steps.saturating_mul(per_step).saturating_mul(2);
    if needed > available {
        bail!(
            "one iteration stores {agents} agents × ppo.rollout {} × ppo.chunks {} steps, about {} MiB, but only {} MiB of memory is available; lower ppo.rollout, ppo.chunks or env.copies",
            config.ppo.rollout,
            config.ppo.chunks,
            needed >> 20,
            available >> 20
        );
    }
    Ok(())
}

/// Refuses a lifelong run whose checkpoints come more often than its episodes end: a checkpoint
/// restarts the episodes (so that a resume continues exactly), so no episode would ever finish.
pub fn check_checkpoint_interval(config: &TrainConfig, envs: &[EnvConfig]) -> Result<()> {
    let Some(env) = envs.first() else {
        return Ok(());
    };
    let steps_between_checkpoints =
        config.run.checkpoint_every * config.ppo.rollout * config.ppo.chunks;
    if env.on_target == OnTarget::Restart
        && (steps_between_checkpoints as i64) < env.max_episode_steps
    {
        bail!(
            "run.checkpoint_every × ppo.rollout × ppo.chunks = {steps_between_checkpoints} steps, but lifelong episodes last {} steps and each checkpoint restarts them: no episode would ever finish (use checkpoint_every ≥ {})",
            env.max_episode_steps,
            (env.max_episode_steps as usize).div_ceil(config.ppo.rollout * config.ppo.chunks)
        );
    }
    Ok(())
}

impl Trainer {
    /// A fresh trainer for `config`.
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let (envs, agents_per_episode) = build_envs(&config)?;
        check_checkpoint_interval(&config, &envs)?;
        let mut sim = BatchSimulator::new(&envs, config.env.threads)?;
        sim.set_auto_reset(true);
        let mut buffers = sim.new_buffers();
        sim.reset(&mut buffers)?;
        let radius = envs[0].obs_radius as usize;
        let expert = match &config.ppo.expert {
            Some(name) => Some(Expert {
                planners: ShardPlanners::new(name, &sim, config.run.seed, radius)?,
                active: true,
            }),
            None => None,
        };
        let advice = match &config.env.advice {
            Some(name) => Some(ShardPlanners::new(name, &sim, config.run.seed, radius)?),
            None => None,
        };
        let n: usize = buffers.shards.iter().map(|s| s.actions.len()).sum();
        check_rollout_memory(&config, n)?;
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
            channels: config.model.encoder.channels,
            side: config.model.encoder.side,
            env_side: 2 * envs[0].obs_radius as usize + 1,
            rollout: config.ppo.rollout,
            gamma: config.ppo.gamma,
            device: device.clone(),
            parts: parts::episode_parts(n, agents_per_episode, config.ppo.batch_parts),
            threads: config.env.threads,
            state: None,
            first: vec![true; n],
            returns: vec![0.0; n],
            prev_actions: vec![0; n],
            prev_rewards: vec![0.0; n],
            rng: SplitMix(config.run.seed ^ 0xA5A5_5A5A),
            scratch: Vec::new(),
            clock: 0,
            started: vec![0; envs.len()],
            expert,
            advice,
            advised: Vec::new(),
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
            pending: Vec::new(),
            lifelong: envs[0].on_target == OnTarget::Restart,
            episode_steps: envs
                .iter()
                .map(|e| e.max_episode_steps.clamp(0, i64::from(u32::MAX)) as u32)
                .max()
                .unwrap_or(0),
        })
    }

    /// Whether the training episodes are lifelong (`on_target = restart`): progress is then
    /// throughput, not CSR.
    pub fn lifelong(&self) -> bool {
        self.lifelong
    }

    /// Moves the finished episodes that began at least one horizon before `clock` (steps since
    /// the last restart) from `pending` into the window, in the order they began.
    ///
    /// The window counts episodes by when they began, not when they ended: an episode that began
    /// at step `s` has ended by `s + horizon`, so once the clock passes that, every episode that
    /// began by `s` is known, the long failures as well as the quick successes. Counting episodes
    /// as they end would fill the window with quick successes after every restart (the start of
    /// the run and every checkpoint), before a single time-out could end.
    ///
    /// Episodes that began at the same step (every slot after a restart) enter in a fixed
    /// pseudo-random order of their slots, not slot order: the slots are the suite's instances
    /// in order (on the Bottleneck, corridors by length), and a window cut from the end of that
    /// order would hold only the last instances.
    fn count_finished(
        recent: &mut VecDeque<EpisodeStats>,
        pending: &mut Vec<EpisodeStats>,
        horizon: u64,
        clock: u64,
    ) {
        let mut known: Vec<EpisodeStats> = Vec::new();
        pending.retain(|e| {
            let ready = e.started + horizon <= clock;
            if ready {
                known.push(*e);
            }
            !ready
        });
        known.sort_by_key(|e| {
            (
                e.started,
                mix64(e.started ^ (u64::from(e.slot) << 32)),
                e.slot,
            )
        });
        for e in known {
            recent.push_back(e);
            if recent.len() > RECENT_EPISODES {
                recent.pop_front();
            }
        }
    }

    /// Before the episodes restart (a checkpoint): counts what is known and drops the episodes
    /// that began too late to be (the restart cuts some of their slot-mates short, so counting
    /// only the ones that happened to end would favour quick ones).
    fn count_before_restart(&mut self) {
        let horizon = u64::from(self.episode_steps);
        Self::count_finished(
            &mut self.recent,
            &mut self.pending,
            horizon,
            self.actor.clock,
        );
        self.pending.clear();
    }

    /// Steps per training episode (the suite's horizon).
    pub fn episode_steps(&self) -> u32 {
        self.episode_steps
    }

    /// What the model reads besides its weights (saved beside them in every checkpoint).
    fn inputs(&self) -> CheckpointInputs {
        CheckpointInputs::of_training(&self.config.env)
    }

    /// Agents stepped together.
    pub fn num_agents(&self) -> usize {
        self.actor.n
    }

    /// The model being trained.
    pub fn model(&self) -> &PolicyNet {
        &self.learner.model
    }

    /// The model being trained without its autodiff graph, and the device it acts on.
    pub fn inference_model(&self) -> (PolicyNet, Device) {
        (self.learner.model.valid(), self.actor.device.clone())
    }

    /// One PPO iteration: `chunks` rollout chunks, each followed by its update epochs.
    ///
    /// Without `ppo.overlap`, each chunk is collected, on this thread, after the previous update.
    /// With it, a rollout thread collects chunk `k + 1` with the parameters from before the update
    /// on chunk `k` while the learner runs that update (a policy lag of one update, as in
    /// asynchronous PPO). Either way the schedule is fixed, so runs are deterministic; the first
    /// chunk of an iteration always uses the current parameters.
    pub fn iteration(&mut self) -> Result<IterationLog> {
        let t0 = Instant::now();
        let p = self.config.ppo.clone();
        let mut stats = UpdateStats::default();
        let horizon = u64::from(self.episode_steps);
        // The imitation weight is fixed for the iteration (from the steps before it).
        let imitation = p.imitation_weight(self.progress.agent_steps);
        if let Some(expert) = &mut self.actor.expert {
            expert.active = imitation > 0.0;
        }
        let Self {
            actor,
            learner,
            recent,
            pending,
            progress,
            ..
        } = self;
        let mut learn = |chunk: Chunk, learner: &mut Learner| -> Result<()> {
            // The learning rate's ceiling for this chunk's update, from the steps before it.
            let lr_ceiling = learner.config.lr_ceiling(progress.agent_steps);
            progress.agent_steps += (chunk.rows() * p.rollout) as u64;
            progress.episodes += chunk.finished.len() as u64;
            pending.extend_from_slice(&chunk.finished);
            Self::count_finished(recent, pending, horizon, chunk.clock);
            learner.train_on(&chunk, &mut progress.lr, lr_ceiling, imitation, &mut stats)
        };
        if p.overlap {
            collect_overlapped(actor, learner, p.chunks, &mut learn)?;
        } else {
            for _ in 0..p.chunks {
                let chunk = actor.collect(&learner.model.valid())?;
                learn(chunk, learner)?;
            }
        }
        progress.iteration += 1;
        let secs = t0.elapsed().as_secs_f64();
        progress.seconds += secs;
        let count = stats.count.max(1.0);
        let field = |f: fn(&EpisodeStats) -> f64| mean(recent.iter().map(f));
        Ok(IterationLog {
            iteration: progress.iteration,
            agent_steps: progress.agent_steps,
            seconds: progress.seconds,
            agent_steps_per_s: (self.actor.n * p.rollout * p.chunks) as f64 / secs,
            episode_return: field(|r| r.episode_return),
            csr: field(|r| r.csr),
            isr: field(|r| r.isr),
            throughput: field(|r| r.throughput),
            episodes: progress.episodes,
            window: recent.len(),
            warming_up: recent.is_empty(),
            held_out: None,
            policy_loss: stats.policy / count,
            value_loss: stats.value / count,
            entropy: stats.entropy / count,
            approx_kl: stats.last_kl,
            clipfrac: stats.clipfrac / count,
            imitation_loss: stats.imitation / count,
            imitation_weight: f64::from(imitation),
            lr: progress.lr,
        })
    }
}

/// Runs `chunks` chunks with the rollout on its own thread: chunk `k + 1` is collected with the
/// parameters from before `learn` updates on chunk `k`.
fn collect_overlapped(
    actor: &mut Actor,
    learner: &mut Learner,
    chunks: usize,
    learn: &mut impl FnMut(Chunk, &mut Learner) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| -> Result<()> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<PolicyNet>(1);
        let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Result<Chunk>>(1);
        let worker = scope.spawn(move || {
            for eval in job_rx {
                let chunk = actor.collect(&eval);
                let failed = chunk.is_err();
                if chunk_tx.send(chunk).is_err() || failed {
                    break;
                }
            }
        });
        let stopped = || anyhow::anyhow!("the rollout thread stopped");
        jobs.send(learner.model.valid()).map_err(|_| stopped())?;
        for k in 0..chunks {
            let chunk = chunk_rx.recv().map_err(|_| stopped())??;
            if k + 1 < chunks {
                jobs.send(learner.model.valid()).map_err(|_| stopped())?;
            }
            learn(chunk, learner)?;
        }
        drop(jobs);
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("the rollout thread panicked"))?;
        Ok(())
    })
}

/// The run folder of `name` under `runs/`.
pub fn run_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(started: u64, slot: u32, csr: f64) -> EpisodeStats {
        EpisodeStats {
            csr,
            started,
            slot,
            ..EpisodeStats::default()
        }
    }

    /// Quick successes that began recently wait until every episode that began with them is
    /// known; the window is ordered by start, and what began too late is dropped at a restart.
    #[test]
    fn the_window_counts_episodes_by_when_they_began() {
        let (mut recent, mut pending) = (VecDeque::new(), Vec::new());
        // Horizon 10. By step 6: slot 0 succeeded at step 3, then again at step 6; slot 1's
        // episode (begun at 0) is still running and will time out at step 10.
        pending.extend([episode(0, 0, 1.0), episode(3, 0, 1.0)]);
        Trainer::count_finished(&mut recent, &mut pending, 10, 6);
        assert!(recent.is_empty(), "nothing is known before the horizon");
        // Step 10: slot 1 timed out; every episode begun at step 0 is known.
        pending.push(episode(0, 1, 0.0));
        Trainer::count_finished(&mut recent, &mut pending, 10, 10);
        let mut csr: Vec<f64> = recent.iter().map(|e| e.csr).collect();
        csr.sort_by(f64::total_cmp);
        assert_eq!(csr, [0.0, 1.0]);
        assert_eq!(pending.len(), 1);
        // Step 13: the episode begun at 3 is known.
        Trainer::count_finished(&mut recent, &mut pending, 10, 13);
        assert_eq!(recent.len(), 3);
        assert!(pending.is_empty());
        // The window keeps the last 100 by start.
        pending.extend((0..150).map(|k| episode(20 + k, 0, (k % 2) as f64)));
        Trainer::count_finished(&mut recent, &mut pending, 10, 1000);
        assert_eq!(recent.len(), RECENT_EPISODES);
        assert_eq!(recent.front().unwrap().started, 70);
        assert_eq!(mean(recent.iter().map(|e| e.csr)), 0.5);
    }

    /// After a restart every slot's episode begins at step 0; the window of the last 100 must
    /// not be the 100 highest slots (on the Bottleneck, the longest corridors).
    #[test]
    fn episodes_that_began_together_enter_the_window_in_a_mixed_order_of_slots() {
        let (mut recent, mut pending) = (VecDeque::new(), Vec::new());
        // 256 slots; the upper half succeeds, the lower half fails.
        pending.extend((0..256).map(|slot| episode(0, slot, f64::from(u8::from(slot >= 128)))));
        Trainer::count_finished(&mut recent, &mut pending, 10, 10);
        assert_eq!(recent.len(), RECENT_EPISODES);
        let csr = mean(recent.iter().map(|e| e.csr));
        assert!(
            (0.35..=0.65).contains(&csr),
            "window CSR {csr}, the slots' mean is 0.5"
        );
        // The order is fixed: the same episodes give the same window.
        let (mut again, mut pending) = (VecDeque::new(), Vec::new());
        pending.extend(
            (0..256)
                .rev()
                .map(|slot| episode(0, slot, f64::from(u8::from(slot >= 128)))),
        );
        Trainer::count_finished(&mut again, &mut pending, 10, 10);
        let slots = |w: &VecDeque<EpisodeStats>| w.iter().map(|e| e.slot).collect::<Vec<_>>();
        assert_eq!(slots(&recent), slots(&again));
    }

    /// With the advising planner also the expert, every collected sample's advice plane marks
    /// the cell of the expert's label: the advice is planned once for exactly the state the
    /// policy acts in (the expert labels that state inside the step), across steps and chunks.
    #[test]
    fn the_advice_plane_shows_the_planners_move_for_the_state_the_policy_acts_in() {
        let text = include_str!("../../configs/lifelong-srmt-lite.toml");
        let mut config = TrainConfig::from_toml(text).unwrap();
        assert_eq!(
            config.env.advice, config.ppo.expert,
            "the shipped config's premise"
        );
        config.env.max_instances = Some(1);
        config.env.agents = Some(32);
        let mut trainer = Trainer::new(config.clone()).unwrap();
        let (net, _) = trainer.inference_model();
        let (side, channels) = (config.model.encoder.side, config.model.encoder.channels);
        let plane = side * side;
        let mut moves = [0usize; 5];
        for _ in 0..3 {
            let chunk = trainer.actor.collect(&net).unwrap();
            for (sample, &label) in chunk.expert.iter().enumerate() {
                let obs = &chunk.obs[sample * channels * plane..(sample + 1) * channels * plane];
                let advice = &obs[(channels - 1) * plane..];
                let hot: Vec<usize> = (0..plane).filter(|&c| advice[c] == 1.0).collect();
                assert_eq!(hot.len(), 1, "one hot cell: {advice:?}");
                assert_eq!(advice.iter().sum::<f32>(), 1.0);
                let label = usize::try_from(label).expect("every sample is labelled");
                let [dx, dy] = rmapf_env::grid::MOVES[label];
                let r = (side / 2) as i64;
                assert_eq!(hot[0], ((r + dx) as usize) * side + (r + dy) as usize);
                moves[label] += 1;
            }
        }
        assert!(
            moves[1..].iter().all(|&m| m > 0),
            "every move occurs: {moves:?}"
        );
    }
}
