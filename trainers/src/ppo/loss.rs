//! The arithmetic of PPO: GAE, the clipped losses, and global gradient-norm clipping.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use rmapf_agents::nn::PolicyNet;

use super::config::PpoSection;

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

/// The PPO losses: sums over the valid samples divided by `samples` (the batch's own valid
/// count gives the means; a part of a minibatch divides by the minibatch's).
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

/// The PPO loss of `models-and-training.md` §6.2, each term summed over `b`'s valid samples and
/// divided by `samples` (pass the number of valid samples of `b` for means; at least 1 is used).
pub fn ppo_loss(p: &PpoSection, b: PpoBatch, samples: f32) -> PpoLoss {
    let samples = samples.max(1.0);
    let valid = b.valid;
    let masked_mean = |x: Tensor<2>| (x * valid.clone()).sum().div_scalar(samples);
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
