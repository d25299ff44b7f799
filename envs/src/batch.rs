//! Many episodes on many cores: episodes are split into contiguous shards, one bevy_ecs `World`
//! ([`Simulator`]) per shard, stepped in parallel on a rayon pool of `threads` workers.
//!
//! Episodes never interact and each one's instances follow its own seed schedule, so results do
//! not depend on the shard boundaries: any thread count gives bit-identical outputs.

use rayon::prelude::*;

use crate::config::EnvConfig;
use crate::error::EnvError;
use crate::world::{BatchLayout, Simulator, StepBuffers};

/// Caller-owned buffers of a [`BatchSimulator`]: one [`StepBuffers`] per shard, each laid out as
/// `[N_shard, ...]`; shard `s` holds episodes `episode_ranges[s]`, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchBuffers {
    /// Per-shard buffers.
    pub shards: Vec<StepBuffers>,
    /// Episodes of each shard.
    pub episode_ranges: Vec<std::ops::Range<usize>>,
}

impl BatchBuffers {
    /// Sets every agent's action from a flat `[N]` slice in episode order.
    pub fn set_actions(&mut self, actions: &[u8]) -> Result<(), EnvError> {
        let total: usize = self.shards.iter().map(|s| s.actions.len()).sum();
        if actions.len() != total {
            return Err(EnvError::WrongActionCount {
                expected: total,
                found: actions.len(),
            });
        }
        let mut offset = 0;
        for s in &mut self.shards {
            let n = s.actions.len();
            s.actions.copy_from_slice(&actions[offset..offset + n]);
            offset += n;
        }
        Ok(())
    }
}

/// A batch of episodes sharded over worker threads.
pub struct BatchSimulator {
    shards: Vec<Simulator>,
    ranges: Vec<std::ops::Range<usize>>,
    pool: rayon::ThreadPool,
    threads: usize,
}

impl std::fmt::Debug for BatchSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSimulator")
            .field("threads", &self.threads)
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

/// Splits `weights` into at most `parts` contiguous ranges of similar total weight.
fn split_balanced(weights: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = weights.iter().sum();
    let parts = parts.clamp(1, weights.len().max(1));
    let mut ranges = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0, 0);
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        let target = total * (ranges.len() + 1) / parts;
        let left = weights.len() - i - 1;
        let shards_left = parts - ranges.len() - 1;
        if (acc >= target && ranges.len() + 1 < parts && left >= shards_left)
            || left == shards_left && shards_left > 0
        {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    ranges.push(start..weights.len());
    ranges.retain(|r| !r.is_empty());
    ranges
}

impl BatchSimulator {
    /// Validates every config and builds `min(threads, episodes)` shards.
    pub fn new(configs: &[EnvConfig], threads: usize) -> Result<Self, EnvError> {
        if threads == 0 {
            return Err(EnvError::config("threads", "must be at least 1"));
        }
        let mut sizes = Vec::with_capacity(configs.len());
        for c in configs {
            sizes.push(c.resolve()?.num_agents);
        }
        // Validate the shared layout once over the whole batch.
        Simulator::check_compatible(configs)?;
        let ranges = split_balanced(&sizes, threads);
        let shards = ranges
            .iter()
            .map(|r| Simulator::new(&configs[r.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rmapf-shard-{i}"))
            .build()
            .map_err(|e| {
                EnvError::config("threads", format!("could not start {threads} threads: {e}"))
            })?;
        Ok(Self {
            shards,
            ranges,
            pool,
            threads,
        })
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Each shard's layout.
    pub fn layouts(&self) -> Vec<&BatchLayout> {
        self.shards.iter().map(Simulator::layout).collect()
    }

    /// Buffers for this batch (allocate once).
    pub fn new_buffers(&self) -> BatchBuffers {
        BatchBuffers {
            shards: self.shards.iter().map(Simulator::new_buffers).collect(),
            episode_ranges: self.ranges.clone(),
        }
    }

    /// Turns auto-reset on or off in every shard.
    pub fn set_auto_reset(&mut self, on: bool) {
        for s in &mut self.shards {
            s.set_auto_reset(on);
        }
    }

    fn check(&self, b: &BatchBuffers) -> Result<(), EnvError> {
        if b.shards.len() != self.shards.len() {
            return Err(EnvError::WrongBufferLength {
                name: "shards",
                expected: self.shards.len(),
                found: b.shards.len(),
            });
        }
        Ok(())
    }

    /// Resets every episode (in parallel).
    pub fn reset(&mut self, b: &mut BatchBuffers) -> Result<(), EnvError> {
        self.check(b)?;
        let shards = &mut self.shards;
        self.pool.install(|| {
            shards
                .par_iter_mut()
                .zip(b.shards.par_iter_mut())
                .try_for_each(|(s, buf)| s.reset(buf))
        })
    }

    /// Steps every episode (in parallel).
    pub fn step(&mut self, b: &mut BatchBuffers) -> Result<(), EnvError> {
        self.check(b)?;
        let shards = &mut self.shards;
        self.pool.install(|| {
            shards
                .par_iter_mut()
                .zip(b.shards.par_iter_mut())
                .try_for_each(|(s, buf)| s.step(buf))
        })
    }

    /// Rebuilds the episodes that finished on the last step (when auto-reset is off).
    pub fn reset_finished(&mut self, b: &mut BatchBuffers) -> Result<usize, EnvError> {
        self.check(b)?;
        let shards = &mut self.shards;
        self.pool.install(|| {
            shards
                .par_iter_mut()
                .zip(b.shards.par_iter_mut())
                .map(|(s, buf)| s.reset_finished(buf))
                .try_reduce(|| 0, |a, c| Ok(a + c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_split_covers_everything_in_order() {
        for (w, parts) in [
            (vec![1, 1, 1, 1], 2),
            (vec![5, 1, 1, 1, 1, 1], 2),
            (vec![3], 4),
            (vec![1, 2, 3, 4, 5, 6, 7], 3),
        ] {
            let r = split_balanced(&w, parts);
            assert_eq!(r.first().unwrap().start, 0);
            assert_eq!(r.last().unwrap().end, w.len());
            assert!(r.windows(2).all(|p| p[0].end == p[1].start));
            assert!(
                r.len() <= parts && r.len() == parts.min(w.len()),
                "{w:?} {parts} -> {r:?}"
            );
        }
    }
}
