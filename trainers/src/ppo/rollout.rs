//! The rollout side of PPO: the batched simulator stepped by the sampling policy, one chunk of
//! `T` steps at a time, with the agents' recurrent state carried across chunks.

use std::ops::Range;

use anyhow::Result;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use rmapf_agents::nn::{CoreState, PolicyNet};
use rmapf_env::{BatchBuffers, BatchSimulator};
use serde::{Deserialize, Serialize};

use super::config::PpoSection;
use super::loss::gae;
use super::parts::run_parts;
use crate::advice::{ShardPlanners, append_advice_plane};
use crate::neural::{SplitMix, choose, obs_to_f32, step_input};

/// Statistics of one finished episode.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(super) struct EpisodeStats {
    /// Mean per-agent return.
    pub(super) episode_return: f64,
    /// CSR (0 for lifelong episodes, which report none).
    pub(super) csr: f64,
    /// ISR (0 for lifelong episodes).
    pub(super) isr: f64,
    /// Lifelong throughput: goals reached per step, summed over agents (0 otherwise).
    pub(super) throughput: f64,
    /// The step (counted from the episodes' last restart) at which the episode began.
    #[serde(default)]
    pub(super) started: u64,
    /// Its episode slot in the batch.
    #[serde(default)]
    pub(super) slot: u32,
}

/// One rollout chunk of `T` steps for `N` agents (layout `[N, T, ...]`).
pub(super) struct Chunk {
    pub(super) obs: Vec<f32>,
    pub(super) actions: Vec<i64>,
    pub(super) prev_action: Vec<i64>,
    pub(super) prev_reward: Vec<f32>,
    pub(super) logp: Vec<f32>,
    pub(super) values: Vec<f32>,
    pub(super) rewards: Vec<f32>,
    pub(super) done: Vec<bool>,
    pub(super) is_first: Vec<f32>,
    pub(super) valid: Vec<f32>,
    pub(super) values_next: Vec<f32>,
    /// The expert's action for each sample, or −1 where the chunk was collected without labels.
    pub(super) expert: Vec<i64>,
    /// Chunk-start state, as host data: memory `[N, M·H]`, history `[N, T_h, H]`, hidden
    /// `[N, G]`, segment position `[N]`.
    pub(super) state0: [Vec<f32>; 4],
    /// Episodes that ended during the chunk.
    pub(super) finished: Vec<EpisodeStats>,
    /// Steps since the episodes' last restart when the chunk ended.
    pub(super) clock: u64,
}

impl Chunk {
    /// Agents (rows) in the chunk.
    pub(super) fn rows(&self) -> usize {
        self.values_next.len()
    }

    /// GAE advantages and returns of the chunk (`[N, T]` each) under `p`'s γ and λ.
    pub(super) fn advantages(&self, p: &PpoSection) -> (Vec<f32>, Vec<f32>) {
        gae(
            &self.rewards,
            &self.values,
            &self.done,
            &self.values_next,
            p.rollout,
            p.gamma,
            p.gae_lambda,
        )
    }
}

/// The planner that labels the visited states (`ppo.expert`), one per simulator shard, as
/// `evaluate` runs it.
pub(super) struct Expert {
    pub(super) planners: ShardPlanners,
    /// Whether to label this chunk (false once the imitation weight has fallen to 0).
    pub(super) active: bool,
}

/// The rollout side: the batched simulator, the agents' recurrent state and the sampling stream.
/// With `ppo.overlap` it runs on its own thread during an iteration, so simulation and learning
/// overlap.
pub(super) struct Actor {
    pub(super) sim: BatchSimulator,
    pub(super) buffers: BatchBuffers,
    pub(super) agents_per_episode: usize,
    pub(super) n: usize,
    /// Observation planes `C` the network reads (the env's, plus the advice plane with
    /// `env.advice`).
    pub(super) channels: usize,
    /// Network window side `R`.
    pub(super) side: usize,
    /// The env's window side `S ≥ R` (the network reads its centre).
    pub(super) env_side: usize,
    pub(super) rollout: usize,
    pub(super) gamma: f32,
    /// The non-autodiff device the rollout model runs on.
    pub(super) device: Device,
    /// The agents' rows of each part of the batch (`ppo.batch_parts` parts of whole episodes,
    /// whose forward passes run at once).
    pub(super) parts: Vec<Range<usize>>,
    /// Threads the parts run on (`env.threads`).
    pub(super) threads: usize,
    /// The recurrent state of each part; `None` at the start and after restarts (the model's
    /// zero state).
    pub(super) state: Option<Vec<CoreState>>,
    pub(super) first: Vec<bool>,
    pub(super) returns: Vec<f32>,
    pub(super) prev_actions: Vec<u8>,
    pub(super) prev_rewards: Vec<f32>,
    pub(super) rng: SplitMix,
    pub(super) scratch: Vec<f32>,
    /// Steps since the episodes' last restart.
    pub(super) clock: u64,
    /// Per episode slot: the `clock` at which its current episode began.
    pub(super) started: Vec<u64>,
    /// The labelling planner (`ppo.expert`).
    pub(super) expert: Option<Expert>,
    /// The planner whose proposals the network reads as its last plane (`env.advice`).
    pub(super) advice: Option<ShardPlanners>,
    /// The observation with the advice plane appended (`[N, C, R, R]`).
    pub(super) advised: Vec<f32>,
}

fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}

/// One field of the parts' states (`[n_part, …]` each), as one host vector in row order
/// (`[N, …]`).
fn rows_to_host<const D: usize>(
    state: &[CoreState],
    field: impl Fn(&CoreState) -> Tensor<D>,
) -> Vec<f32> {
    state.iter().flat_map(|s| to_host(field(s))).collect()
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
    pub(super) fn restart(&mut self) -> Result<()> {
        self.sim.reset(&mut self.buffers)?;
        self.first.fill(true);
        self.returns.fill(0.0);
        self.prev_actions.fill(0);
        self.prev_rewards.fill(0.0);
        self.state = None;
        self.clock = 0;
        self.started.fill(0);
        if let Some(expert) = &mut self.expert {
            expert.planners.reset_all(&self.sim);
        }
        if let Some(advice) = &mut self.advice {
            advice.reset_all(&self.sim);
        }
        Ok(())
    }

    /// Collects `T` steps with `eval` (sampling), plus the bootstrap values after them.
    pub(super) fn collect(&mut self, eval: &PolicyNet) -> Result<Chunk> {
        let (n, t, side) = (self.n, self.rollout, self.side);
        let obs_len = self.channels * side * side;
        let dev = self.device.clone();
        let mut state: Vec<CoreState> = match self.state.take() {
            Some(state) => state,
            None => self
                .parts
                .iter()
                .map(|rows| eval.initial_state(rows.len(), &dev))
                .collect(),
        };
        let state0 = [
            rows_to_host(&state, |s| s.memory.clone()),
            rows_to_host(&state, |s| s.history.clone()),
            rows_to_host(&state, |s| s.hidden.clone()),
            rows_to_host(&state, |s| s.position.clone()),
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
            expert: vec![-1; n * t],
            state0,
            finished: Vec::new(),
            clock: 0,
        };
        let (mut actions, mut logp) = (vec![0u8; n], vec![0f32; n]);
        for k in 0..=t {
            let raw = self.flat(|s| &s.obs);
            obs_to_f32(&raw, self.env_side, side, &mut self.scratch);
            if let Some(advice) = &mut self.advice {
                advice.propose(&mut self.sim, &mut self.buffers)?;
                let planes = [self.channels - 1, side];
                append_advice_plane(&self.scratch, advice.actions(), planes, &mut self.advised);
                std::mem::swap(&mut self.scratch, &mut self.advised);
            }
            let active: Vec<f32> = self
                .flat(|s| &s.active)
                .iter()
                .map(|&a| f32::from(u8::from(a)))
                .collect();
            let first: Vec<f32> = self.first.iter().map(|&f| f32::from(u8::from(f))).collect();
            let last = k == t;
            // The closure borrows only the fields it reads (not the simulator or the planners).
            let outputs = run_parts(self.threads, self.parts.len(), |part| {
                let rows = self.parts[part].clone();
                let input = step_input(
                    self.scratch[rows.start * obs_len..rows.end * obs_len].to_vec(),
                    [self.channels, side],
                    (first[rows.clone()].to_vec(), active[rows.clone()].to_vec()),
                    (
                        &self.prev_actions[rows.clone()],
                        self.prev_rewards[rows].to_vec(),
                    ),
                    &dev,
                );
                let out = eval.forward_step(input, state[part].clone(), self.agents_per_episode);
                // [n_part], [n_part · 5] (no probabilities for the bootstrap step).
                let probs = if last {
                    Vec::new()
                } else {
                    to_host(softmax(out.logits, 1))
                };
                (to_host(out.values), probs, out.state)
            });
            let mut values = Vec::with_capacity(n);
            let mut probs = Vec::with_capacity(5 * n);
            let mut next_state = Vec::with_capacity(outputs.len());
            for (v, p, s) in outputs {
                values.extend(v);
                probs.extend(p);
                next_state.push(s);
            }
            if last {
                // The bootstrap step's state is dropped: the next chunk steps from here.
                c.values_next = values;
                break;
            }
            state = next_state;
            choose(&probs, false, &mut self.rng, &mut actions, &mut logp);
            self.buffers.set_actions(&actions)?;
            match &mut self.expert {
                Some(expert) if expert.active => {
                    // The expert reads the state the policy acted in, before the step.
                    let mut deciders = expert.planners.deciders();
                    self.sim.step_with(&mut self.buffers, &mut deciders)?;
                    drop(deciders);
                    for (i, a) in expert.planners.actions().enumerate() {
                        c.expert[i * t + k] = i64::from(a);
                    }
                }
                _ => self.sim.step(&mut self.buffers)?,
            }
            if let Some(advice) = &mut self.advice {
                advice.stepped();
            }
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
            self.clock += 1;
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
                        started: self.started[k_ep],
                        slot: k_ep as u32,
                    });
                    // The slot's next episode begins with the next step.
                    self.started[k_ep] = self.clock;
                    if let Some((shard, local)) = self.buffers.locate(k_ep) {
                        if let Some(expert) = &mut self.expert {
                            expert.planners.reset_episode(shard, local);
                        }
                        if let Some(advice) = &mut self.advice {
                            advice.reset_episode(shard, local);
                        }
                    }
                }
            }
        }
        self.state = Some(state);
        c.clock = self.clock;
        Ok(c)
    }
}
