//! The learning side of PPO: GAE on a chunk, then epochs over minibatches of whole episodes (all
//! agents of an episode together, because SRMT's memory pool couples them) with truncated BPTT
//! over the chunk from its stored, detached chunk-start state, and the KL-adaptive learning rate.
//! Each minibatch's gradient is computed in `ppo.batch_parts` parts of whole episodes at once
//! and summed.

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rmapf_agents::nn::{CoreState, PolicyNet, SequenceInput};

use super::config::{MIN_LR, TrainConfig};
use super::loss::{PpoBatch, clip_global_norm, ppo_loss};
use super::parts::run_parts;
use super::rollout::Chunk;
use crate::neural::SplitMix;

/// The learning side: the model being trained, its optimiser and the minibatch stream.
pub(super) struct Learner {
    pub(super) config: TrainConfig,
    pub(super) agents_per_episode: usize,
    /// The autodiff training device.
    pub(super) device: Device,
    pub(super) model: PolicyNet,
    pub(super) optim: ModuleOptimizer,
    pub(super) rng: SplitMix,
}

/// Statistics of an iteration's updates: sums of policy loss, value loss, entropy and clip
/// fraction, their count, and the last minibatch's KL.
#[derive(Default)]
pub(super) struct UpdateStats {
    pub(super) policy: f64,
    pub(super) value: f64,
    pub(super) entropy: f64,
    pub(super) clipfrac: f64,
    pub(super) imitation: f64,
    pub(super) count: f64,
    pub(super) last_kl: f64,
}

/// The statistics of one minibatch update (or of one part of it: each a share of the
/// minibatch's mean, so the parts' statistics add up to the minibatch's).
#[derive(Default)]
struct MinibatchStats {
    policy_loss: f64,
    value_loss: f64,
    entropy: f64,
    approx_kl: f64,
    clipfrac: f64,
    imitation: f64,
}

impl MinibatchStats {
    /// Adds a part's statistics.
    fn add(&mut self, part: &Self) {
        self.policy_loss += part.policy_loss;
        self.value_loss += part.value_loss;
        self.entropy += part.entropy;
        self.approx_kl += part.approx_kl;
        self.clipfrac += part.clipfrac;
        self.imitation += part.imitation;
    }
}

/// KL-adaptive learning rate, once per epoch: ÷ 1.5 if the mean KL of the epoch's updates is
/// above twice the threshold, × 1.5 if below half of it, clamped to [1e-6, `ceiling`]; unchanged
/// when the threshold is 0.
fn adapt_lr(lr: f64, kl: f64, threshold: f32, ceiling: f64) -> f64 {
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
    lr.clamp(MIN_LR, ceiling.max(MIN_LR))
}

impl Learner {
    /// GAE on `chunk`, then `epochs` passes over minibatches of whole episodes at learning rate
    /// `lr`, first held below `lr_ceiling` (`TrainConfig::lr_ceiling`) and adapted after each
    /// epoch; `imitation` weighs the cross-entropy against the expert's labels (0: pure PPO).
    pub(super) fn train_on(
        &mut self,
        chunk: &Chunk,
        lr: &mut f64,
        lr_ceiling: f64,
        imitation: f32,
        stats: &mut UpdateStats,
    ) -> Result<()> {
        let p = self.config.ppo.clone();
        *lr = lr.min(lr_ceiling);
        let (adv, ret) = chunk.advantages(&p);
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
                let s = self.update(chunk, &adv, &ret, group, *lr, imitation)?;
                stats.policy += s.policy_loss;
                stats.value += s.value_loss;
                stats.entropy += s.entropy;
                stats.last_kl = s.approx_kl;
                stats.clipfrac += s.clipfrac;
                stats.imitation += s.imitation;
                stats.count += 1.0;
                // The first minibatch of an epoch sees the policy that collected the data
                // (KL = 0 in the first epoch); adapting on it would only ever raise the lr.
                if k > 0 || p.minibatches == 1 {
                    kl_sum += s.approx_kl;
                    kl_count += 1.0;
                }
            }
            *lr = adapt_lr(
                *lr,
                kl_sum / f64::max(kl_count, 1.0),
                p.kl_threshold,
                lr_ceiling,
            );
        }
        Ok(())
    }

    /// One minibatch update over the episodes in `group`: its episodes are split into
    /// `ppo.batch_parts` parts whose gradients are computed at once (on up to `env.threads`
    /// threads, each on its own copy of the parameters) and summed in part order, so the update
    /// is the whole minibatch's and does not depend on the thread count.
    fn update(
        &mut self,
        c: &Chunk,
        adv: &[f32],
        ret: &[f32],
        group: &[usize],
        lr: f64,
        imitation: f32,
    ) -> Result<MinibatchStats> {
        let p = &self.config.ppo;
        let (t, a) = (p.rollout, self.agents_per_episode);
        let rows = |episodes: &[usize]| -> Vec<usize> {
            episodes.iter().flat_map(|&e| e * a..(e + 1) * a).collect()
        };
        let all_rows = rows(group);
        let scale = MinibatchScale::of(c, adv, &all_rows, t, imitation > 0.0);
        let per_part = group.len().div_ceil(p.batch_parts.max(1));
        let parts: Vec<Vec<usize>> = group.chunks(per_part).map(rows).collect();
        let part = Part {
            config: &self.config,
            device: &self.device,
            agents_per_episode: a,
            chunk: c,
            adv,
            ret,
            scale: &scale,
            imitation,
        };
        let model = &self.model;
        let results = run_parts(self.config.env.threads, parts.len(), |k| {
            part.gradients(model, &parts[k])
        });
        let mut stats = MinibatchStats::default();
        let mut total: Option<GradientsParams> = None;
        for (grads, s) in results {
            stats.add(&s);
            total = Some(match total {
                None => grads,
                Some(sum) => add_gradients(&self.model, sum, grads),
            });
        }
        let mut grads = total.unwrap_or_default();
        clip_global_norm(&self.model, &mut grads, p.max_grad_norm);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        Ok(stats)
    }
}

/// What the parts of one minibatch share: the advantage normalisation and the sample counts that
/// every part's losses are divided by (so the parts' losses sum to the minibatch's means).
struct MinibatchScale {
    /// Mean of the advantages over the minibatch's valid samples.
    adv_mean: f32,
    /// Their standard deviation (at least 1e-7).
    adv_std: f32,
    /// Valid samples in the minibatch (at least 1).
    valid: f32,
    /// Valid samples with an expert label (at least 1; only counted with imitation).
    labelled: f32,
}

impl MinibatchScale {
    /// The scale of the minibatch made of `rows` (agents) of `c`, `t` steps each.
    fn of(c: &Chunk, adv: &[f32], rows: &[usize], t: usize, imitation: bool) -> Self {
        let samples = || rows.iter().flat_map(|&i| i * t..(i + 1) * t);
        let valid = samples().map(|s| c.valid[s]).sum::<f32>().max(1.0);
        let adv_mean = samples().map(|s| adv[s] * c.valid[s]).sum::<f32>() / valid;
        let var = samples()
            .map(|s| c.valid[s] * (adv[s] - adv_mean).powi(2))
            .sum::<f32>()
            / valid;
        let labelled = if imitation {
            samples()
                .filter(|&s| c.expert[s] >= 0)
                .map(|s| c.valid[s])
                .sum::<f32>()
        } else {
            0.0
        };
        Self {
            adv_mean,
            adv_std: var.sqrt().max(1e-7),
            valid,
            labelled: labelled.max(1.0),
        }
    }
}

/// The gradient of one part of a minibatch: what it reads, borrowed, so parts run on threads.
struct Part<'a> {
    config: &'a TrainConfig,
    /// The autodiff training device.
    device: &'a Device,
    agents_per_episode: usize,
    chunk: &'a Chunk,
    /// GAE advantages and returns of the whole chunk, `[N, T]`.
    adv: &'a [f32],
    ret: &'a [f32],
    scale: &'a MinibatchScale,
    imitation: f32,
}

impl Part<'_> {
    /// The gradients (keyed by the model's parameter ids) and loss statistics of the part made
    /// of `rows` (whole episodes), each loss a sum over the part divided by the minibatch's count.
    fn gradients(&self, model: &PolicyNet, rows: &[usize]) -> (GradientsParams, MinibatchStats) {
        let (c, p) = (self.chunk, &self.config.ppo);
        let (t, a) = (p.rollout, self.agents_per_episode);
        let side = self.config.model.encoder.side;
        let channels = self.config.model.encoder.channels;
        let obs_len = channels * side * side;
        let h = self.config.model.encoder.width;
        let n_all = c.rows();
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
        let dev = self.device;
        // A copy with its own autodiff leaves (same parameter ids): parts on other threads
        // build separate graphs, which burn would otherwise merge through the shared leaves.
        let model = model.clone().fork(dev);
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
                TensorData::new(pick(&c.obs, t * obs_len), [m, t, channels, side, side]),
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
        let returns = tensor2(pick(self.ret, t));
        // Advantages normalised over the valid samples of the whole minibatch.
        let scale = self.scale;
        let norm: Vec<f32> = pick(self.adv, t)
            .iter()
            .map(|x| (x - scale.adv_mean) / scale.adv_std)
            .collect();
        let advantages = tensor2(norm);

        let out = model.forward_sequence(input, state, a);
        let logp_all = log_softmax(out.logits, 2); // [M, T, 5]
        let logp = logp_all.clone().gather(2, actions).reshape([m, t]); // [M, T]
        let entropy = (logp_all.clone().exp() * logp_all.clone())
            .sum_dim(2)
            .reshape([m, t])
            .neg(); // [M, T]
        // Imitation: −log π(expert action) over the valid samples that carry a label (nothing is
        // gathered while the weight is 0).
        let imitation_loss = (self.imitation > 0.0).then(|| {
            let labels_host = pick_int(&c.expert);
            let labelled: Vec<f32> = labels_host
                .iter()
                .zip(&valid_host)
                .map(|(&l, &v)| if l >= 0 { v } else { 0.0 })
                .collect();
            let labels = Tensor::<3, Int>::from_data(
                TensorData::new(
                    labels_host.iter().map(|&l| l.max(0)).collect::<Vec<i64>>(),
                    [m, t, 1],
                ),
                dev,
            );
            let expert_logp = logp_all.clone().gather(2, labels).reshape([m, t]); // [M, T]
            (expert_logp * tensor2(labelled))
                .sum()
                .neg()
                .div_scalar(scale.labelled) // [1]
        });
        let l = ppo_loss(
            p,
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
            scale.valid,
        );
        let stats = MinibatchStats {
            policy_loss: f64::from(l.policy.clone().into_scalar::<f32>()),
            value_loss: f64::from(l.value.clone().into_scalar::<f32>()),
            entropy: f64::from(l.entropy.clone().into_scalar::<f32>()),
            approx_kl: f64::from(l.approx_kl),
            clipfrac: f64::from(l.clipfrac),
            imitation: imitation_loss
                .as_ref()
                .map_or(0.0, |x| f64::from(x.clone().into_scalar::<f32>())),
        };
        let loss = match imitation_loss {
            Some(x) => l.total + x.mul_scalar(self.imitation),
            None => l.total,
        };
        (GradientsParams::from_grads(loss.backward(), &model), stats)
    }
}

/// `a + b`, parameter by parameter, over `model`'s float parameters (a parameter with a gradient
/// in only one of them keeps that one).
fn add_gradients(
    model: &PolicyNet,
    mut a: GradientsParams,
    mut b: GradientsParams,
) -> GradientsParams {
    struct Add<'a> {
        a: &'a mut GradientsParams,
        b: &'a mut GradientsParams,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let sum = match (self.a.remove::<D>(p.id), self.b.remove::<D>(p.id)) {
                (Some(x), Some(y)) => x + y,
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => return,
            };
            self.a.register(p.id, sum);
        }
    }
    model.visit(&mut Add {
        a: &mut a,
        b: &mut b,
    });
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppo::Trainer;

    /// Every parameter's gradient of `grads`, concatenated in `model`'s visiting order.
    fn flat(model: &PolicyNet, grads: &GradientsParams) -> Vec<f32> {
        struct Collect<'a> {
            grads: &'a GradientsParams,
            out: Vec<f32>,
        }
        impl ModuleVisitor for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                if let Some(g) = self.grads.get::<D>(p.id) {
                    self.out
                        .extend(g.into_data().try_to_vec::<f32>().expect("f32 gradients"));
                }
            }
        }
        let mut c = Collect {
            grads,
            out: Vec::new(),
        };
        model.visit(&mut c);
        c.out
    }

    /// Two parts' gradients, summed, are the whole minibatch's, and so are their losses; either
    /// part alone is not.
    #[test]
    fn the_parts_gradients_add_up_to_the_whole_minibatchs() {
        let mut config = TrainConfig::srmt_bottleneck();
        config.env.max_instances = Some(4);
        config.ppo.rollout = 4;
        let mut trainer = Trainer::new(config.clone()).unwrap();
        let (net, _) = trainer.inference_model();
        let chunk = trainer.actor.collect(&net).unwrap();
        let (learner, p) = (&trainer.learner, &config.ppo);
        let (adv, ret) = chunk.advantages(p);
        let a = learner.agents_per_episode;
        let rows = |episodes: &[usize]| -> Vec<usize> {
            episodes.iter().flat_map(|&e| e * a..(e + 1) * a).collect()
        };
        let episodes: Vec<usize> = (0..chunk.rows() / a).collect();
        assert_eq!(episodes.len(), 4);
        let scale = MinibatchScale::of(&chunk, &adv, &rows(&episodes), p.rollout, false);
        let part = Part {
            config: &config,
            device: &learner.device,
            agents_per_episode: a,
            chunk: &chunk,
            adv: &adv,
            ret: &ret,
            scale: &scale,
            imitation: 0.0,
        };
        let model = &learner.model;
        let (whole, whole_stats) = part.gradients(model, &rows(&episodes));
        let (first, first_stats) = part.gradients(model, &rows(&episodes[..2]));
        let (second, second_stats) = part.gradients(model, &rows(&episodes[2..]));
        let (whole, first_alone) = (flat(model, &whole), flat(model, &first));
        let sum = flat(model, &add_gradients(model, first, second));
        assert_eq!(sum.len(), whole.len());
        let size = whole.iter().fold(0f32, |m, x| m.max(x.abs()));
        let gap = |x: &[f32]| {
            whole
                .iter()
                .zip(x)
                .fold(0f32, |m, (w, y)| m.max((w - y).abs()))
        };
        assert!(
            gap(&sum) <= 1e-4 * size,
            "sum off by {} (largest {size})",
            gap(&sum)
        );
        assert!(
            gap(&first_alone) > 1e-2 * size,
            "one part alone is the whole?"
        );
        let mut stats = MinibatchStats::default();
        stats.add(&first_stats);
        stats.add(&second_stats);
        for (name, w, s) in [
            ("policy", whole_stats.policy_loss, stats.policy_loss),
            ("value", whole_stats.value_loss, stats.value_loss),
            ("entropy", whole_stats.entropy, stats.entropy),
            ("kl", whole_stats.approx_kl, stats.approx_kl),
        ] {
            assert!(
                (w - s).abs() <= 1e-5 * w.abs().max(1e-3),
                "{name}: {w} vs {s}"
            );
        }
    }
}
