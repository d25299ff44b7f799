//! Uniform random actions from a seeded SplitMix64 stream (deterministic, thread-independent).

use rmapf_env::StepBuffers;
use rmapf_env::rng::SplitMix64;

use crate::policy::{EpisodeView, Policy};

/// Uniform random actions.
#[derive(Clone, Debug)]
pub struct RandomPolicy {
    stream: SplitMix64,
}

impl RandomPolicy {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            stream: SplitMix64(seed),
        }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }

    fn reset_episode(&mut self, _episode: usize) {}

    fn act(
        &mut self,
        _episodes: &[EpisodeView<'_>],
        _buffers: &StepBuffers,
        _radius: usize,
        actions: &mut [u8],
    ) {
        for a in actions.iter_mut() {
            *a = (self.stream.next_u64() % 5) as u8;
        }
    }
}
