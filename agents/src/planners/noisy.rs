//! Any policy with a share of its actions replaced by uniform random ones: how much a given rate
//! of mistakes costs a planner (the error rate a learned imitation of it must stay under).

use rmapf_env::StepBuffers;
use rmapf_env::rng::SplitMix64;

use crate::policy::{EpisodeView, Policy};

/// `inner`, with each agent's action replaced, with probability `rate`, by a uniform random one
/// (of the five, so the replacement equals the original one time in five).
pub struct Noisy {
    inner: Box<dyn Policy>,
    rate: f64,
    stream: SplitMix64,
    name: String,
}

impl Noisy {
    /// `inner` with mistakes at `rate` (in `[0, 1]`), drawn from a stream seeded with `seed`.
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1]` (callers validate user input first).
    pub fn new(inner: Box<dyn Policy>, rate: f64, seed: u64) -> Self {
        assert!(
            (0.0..=1.0).contains(&rate),
            "mistake rate {rate} not in [0, 1]"
        );
        let name = format!("noisy:{rate}:{}", inner.name());
        Self {
            inner,
            rate,
            stream: SplitMix64(seed ^ 0x6e6f_6973_795f_7273),
            name,
        }
    }
}

impl Policy for Noisy {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset_episode(&mut self, episode: usize) {
        self.inner.reset_episode(episode);
    }

    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        buffers: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        self.inner.act(episodes, buffers, radius, actions);
        for a in actions.iter_mut() {
            // 53 random bits → a uniform draw in [0, 1); one more draw picks the action.
            let u = (self.stream.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let replacement = (self.stream.next_u64() % 5) as u8;
            if u < self.rate {
                *a = replacement;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planners::RandomPolicy;
    use crate::policy::testing::Constant;

    fn changed_share(rate: f64) -> f64 {
        let buffers = StepBuffers::default();
        let mut p = Noisy::new(Box::new(Constant(3)), rate, 7);
        let mut actions = vec![0u8; 100_000];
        p.act(&[], &buffers, 5, &mut actions);
        actions.iter().filter(|&&a| a != 3).count() as f64 / actions.len() as f64
    }

    #[test]
    fn the_share_of_changed_actions_is_four_fifths_of_the_rate() {
        assert_eq!(changed_share(0.0), 0.0);
        for rate in [0.05, 0.2, 1.0] {
            let share = changed_share(rate);
            assert!((share - 0.8 * rate).abs() < 0.01, "rate {rate}: {share}");
        }
        let p = Noisy::new(Box::new(RandomPolicy::new(1)), 0.1, 1);
        assert_eq!(p.name(), "noisy:0.1:random");
    }
}
