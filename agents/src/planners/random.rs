//! Uniform random actions from a seeded SplitMix64 stream (deterministic, thread-independent).

use rmapf_env::StepBuffers;

use crate::policy::{EpisodeView, Policy};

/// Uniform random actions.
#[derive(Clone, Debug)]
pub struct RandomPolicy {
    state: u64,
}

impl RandomPolicy {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
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
            *a = (self.next() % 5) as u8;
        }
    }
}
