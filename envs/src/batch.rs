//! Many episodes on many cores: episodes are split into contiguous shards, one bevy_ecs `World`
//! ([`Simulator`]) per shard, stepped in parallel on a rayon pool of `threads` workers.
//!
//! Episodes never interact and each one's instances follow its own seed schedule, so results do
//! not depend on the shard boundaries: any thread count gives bit-identical outputs.

use rayon::prelude::*;

use crate::config::EnvConfig;
use crate::error::EnvError;
use crate::outputs::{OutputSizes, StepIo};
use crate::shard_schedule::{ShardMode, ShardSchedule};
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

impl BatchBuffers {
    /// Metrics of episode `k` (batch index) if it finished on the last step.
    pub fn metrics(&self, k: usize) -> Option<crate::metrics::EpisodeMetrics> {
        let (s, local) = self.locate(k)?;
        self.shards[s].metrics[local]
    }

    /// Shard and local index of batch episode `k`.
    pub fn locate(&self, k: usize) -> Option<(usize, usize)> {
        locate(&self.episode_ranges, k)
    }
}

/// The shard holding batch episode `k` and `k`'s index within it.
fn locate(ranges: &[std::ops::Range<usize>], k: usize) -> Option<(usize, usize)> {
    ranges
        .iter()
        .position(|r| r.contains(&k))
        .map(|s| (s, k - ranges[s].start))
}

/// Threads this machine runs at once (`std::thread::available_parallelism`; 1 if unknown): the
/// most worker threads a batch starts.
pub fn machine_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What a call over the shards does: resets always use the pool; steps use it when it is faster
/// (see [`BatchSimulator::on_shards`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Reset,
    Step,
    /// A read of every shard without stepping ([`BatchSimulator::inspect_with`]).
    Inspect,
}

/// A batch of episodes sharded over worker threads.
pub struct BatchSimulator {
    shards: Vec<Simulator>,
    ranges: Vec<std::ops::Range<usize>>,
    pool: rayon::ThreadPool,
    threads: usize,
    /// Whether steps run the shards on the pool or on the caller's thread.
    schedule: ShardSchedule,
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
        let mut resolved = configs
            .iter()
            .map(EnvConfig::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let sizes: Vec<usize> = resolved.iter().map(|rc| rc.num_agents).collect();
        // Validate the shared layout and the memory need once over the whole batch.
        Simulator::check_compatible(configs)?;
        crate::memory::check_fits(&resolved)?;
        let ranges = split_balanced(&sizes, threads);
        // Shards take their resolved configs in order (ranges are consecutive from 0).
        let mut shards = Vec::with_capacity(ranges.len());
        for r in ranges.iter().rev() {
            let part = resolved.split_off(r.start);
            debug_assert_eq!(part.len(), r.len());
            shards.push(Simulator::from_resolved(&configs[r.clone()], part));
        }
        shards.reverse();
        // One worker per shard at most (more could never be used, and a huge `threads` would try
        // to start that many OS threads), and no more than the machine runs at once (more would
        // only take turns). Shards stay as requested, so results do not change.
        let threads = shards.len().min(machine_threads()).max(1);
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
            schedule: ShardSchedule::default(),
        })
    }

    /// Worker threads: the requested count, capped by the number of shards and by
    /// [`machine_threads`].
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

    /// Turns pogema's `avg_agents_density` metric on or off in every shard
    /// ([`Simulator::set_density_metric`]).
    pub fn set_density_metric(&mut self, on: bool) {
        for s in &mut self.shards {
            s.set_density_metric(on);
        }
    }

    /// Checks `b` against this batch: one set of buffers per shard, each of its shard's sizes.
    fn check(&self, b: &BatchBuffers) -> Result<(), EnvError> {
        if b.shards.len() != self.shards.len() {
            return Err(EnvError::WrongBufferLength {
                name: "shards",
                expected: self.shards.len(),
                found: b.shards.len(),
            });
        }
        for (sim, buffers) in self.shards.iter().zip(&b.shards) {
            sim.check_buffers(buffers)?;
        }
        Ok(())
    }

    /// Runs `f` on every shard with its buffers and its item of `per_shard` (see
    /// [`Self::on_shards`]).
    fn par_shards<T: Send>(
        &mut self,
        b: &mut BatchBuffers,
        per_shard: Vec<T>,
        call: Call,
        f: impl Fn(&mut Simulator, &mut StepBuffers, T) -> Result<(), EnvError> + Sync + Send,
    ) -> Result<(), EnvError> {
        self.check(b)?;
        let items: Vec<(&mut StepBuffers, T)> = b.shards.iter_mut().zip(per_shard).collect();
        self.on_shards(items, call, |s, (buf, item)| f(s, buf, item))
    }

    /// Runs `f` on every shard with its item of `per_shard`. Resets run each shard on a worker
    /// thread; steps do so or run the shards one after another on the caller's thread, whichever
    /// has been faster lately (waking the workers can cost more than a step of a small batch;
    /// see [`crate::shard_schedule`]). A single shard always runs on the caller's thread.
    fn on_shards<T: Send>(
        &mut self,
        per_shard: Vec<T>,
        call: Call,
        f: impl Fn(&mut Simulator, T) -> Result<(), EnvError> + Sync + Send,
    ) -> Result<(), EnvError> {
        let shards = &mut self.shards;
        if let [shard] = shards.as_mut_slice() {
            return per_shard.into_iter().try_for_each(|item| f(shard, item));
        }
        let mode = match call {
            Call::Reset | Call::Inspect => ShardMode::Parallel,
            Call::Step => self.schedule.next(),
        };
        let started = std::time::Instant::now();
        match mode {
            ShardMode::Parallel => self.pool.install(|| {
                shards
                    .par_iter_mut()
                    .zip(per_shard)
                    .try_for_each(|(s, item)| f(s, item))
            })?,
            ShardMode::Sequential => shards
                .iter_mut()
                .zip(per_shard)
                .try_for_each(|(s, item)| f(s, item))?,
        }
        if call == Call::Step {
            self.schedule.record(mode, started.elapsed());
        }
        Ok(())
    }

    /// Resets every episode (in parallel).
    pub fn reset(&mut self, b: &mut BatchBuffers) -> Result<(), EnvError> {
        let n = self.shards.len();
        self.par_shards(b, vec![(); n], Call::Reset, |s, buf, ()| s.reset(buf))
    }

    /// Steps every episode (on the workers or the caller's thread, whichever is faster; see
    /// [`Self::on_shards`]).
    pub fn step(&mut self, b: &mut BatchBuffers) -> Result<(), EnvError> {
        let n = self.shards.len();
        self.par_shards(b, vec![(); n], Call::Step, |s, buf, ()| s.step(buf))
    }

    /// Lets `decide[s]` write shard `s`'s actions from its simulator and last outputs, then steps,
    /// each shard on its own thread or all on the caller's, as [`Self::step`] does (a policy per
    /// shard keeps the result thread-independent as long as the policy itself is deterministic
    /// per episode).
    pub fn step_with<F>(&mut self, b: &mut BatchBuffers, decide: &mut [F]) -> Result<(), EnvError>
    where
        F: FnMut(&Simulator, &mut StepBuffers) + Send,
    {
        self.decide_then(b, decide, Call::Step)
    }

    /// Lets `decide[s]` read shard `s`'s simulator and last outputs without stepping, every shard
    /// on its own thread: a planner proposing the next actions from the state the agents see
    /// now (as advice for a network, `env.advice`). The worlds are not changed.
    pub fn inspect_with<F>(
        &mut self,
        b: &mut BatchBuffers,
        decide: &mut [F],
    ) -> Result<(), EnvError>
    where
        F: FnMut(&Simulator, &mut StepBuffers) + Send,
    {
        self.decide_then(b, decide, Call::Inspect)
    }

    /// Runs `decide[s]` on shard `s`, then steps the shard if `call` is a step.
    fn decide_then<F>(
        &mut self,
        b: &mut BatchBuffers,
        decide: &mut [F],
        call: Call,
    ) -> Result<(), EnvError>
    where
        F: FnMut(&Simulator, &mut StepBuffers) + Send,
    {
        if decide.len() != self.shards.len() {
            return Err(EnvError::WrongBufferLength {
                name: "policies",
                expected: self.shards.len(),
                found: decide.len(),
            });
        }
        self.par_shards(b, decide.iter_mut().collect(), call, |s, buf, f: &mut F| {
            f(s, buf);
            match call {
                Call::Step => s.step(buf),
                Call::Reset | Call::Inspect => Ok(()),
            }
        })
    }

    /// Number of shards (one world each).
    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Steps every episode with `io.out.actions`, each shard writing straight into its rows of
    /// `io` (nothing is copied): the caller's arrays, for example numpy's. Threads as in
    /// [`Self::step`].
    pub fn step_into(&mut self, io: StepIo<'_>) -> Result<(), EnvError> {
        self.run_into(io, Call::Step, Simulator::step_io)
    }

    /// Resets every episode, each shard on its own thread writing straight into its rows of `io`.
    pub fn reset_into(&mut self, io: StepIo<'_>) -> Result<(), EnvError> {
        self.run_into(io, Call::Reset, Simulator::reset_io)
    }

    /// Runs `phase` on every shard with its rows of `io`.
    fn run_into(
        &mut self,
        io: StepIo<'_>,
        call: Call,
        phase: fn(&mut Simulator, StepIo<'_>) -> Result<(), EnvError>,
    ) -> Result<(), EnvError> {
        let parts = self.split(io)?;
        self.on_shards(parts, call, phase)
    }

    /// The sizes of the whole batch's output arrays.
    pub fn output_sizes(&self) -> OutputSizes {
        let layouts = self.layouts();
        OutputSizes {
            agents: layouts.iter().map(|l| l.num_agents).sum(),
            episodes: layouts.iter().map(|l| l.num_episodes).sum(),
            channels: layouts[0].channels,
            side: layouts[0].side,
        }
    }

    /// Splits `io` into one part per shard (checking the lengths first).
    fn split<'a>(&self, io: StepIo<'a>) -> Result<Vec<StepIo<'a>>, EnvError> {
        io.check(self.output_sizes())?;
        let mut parts = Vec::with_capacity(self.shards.len());
        let mut rest = io;
        for s in &self.shards {
            let (head, tail) = rest.split_off_front(s.layout().output_sizes());
            parts.push(head);
            rest = tail;
        }
        Ok(parts)
    }

    /// A copy of batch episode `k`'s state.
    pub fn snapshot(&mut self, k: usize) -> Result<crate::world::EpisodeSnapshot, EnvError> {
        let (s, local) = self.shard_of(k)?;
        Ok(self.shards[s].snapshot(local))
    }

    fn shard_of(&self, k: usize) -> Result<(usize, usize), EnvError> {
        locate(&self.ranges, k)
            .ok_or_else(|| EnvError::config("episode", format!("{k} is out of range")))
    }

    /// Runs `edit` on batch episode `k` (see [`crate::Simulator::edit_episode`]).
    pub fn edit_episode<T>(
        &mut self,
        k: usize,
        edit: impl FnOnce(&mut crate::episode::Episode) -> Result<T, EnvError>,
    ) -> Result<T, EnvError> {
        let (s, local) = self.shard_of(k)?;
        self.shards[s].edit_episode(local, edit)
    }

    /// Overrides batch episode `k`'s config seed from the next reset on (`None`: OS entropy);
    /// see [`crate::Simulator::set_seed`].
    pub fn set_seed(&mut self, k: usize, seed: Option<u64>) -> Result<(), EnvError> {
        let (s, local) = self.shard_of(k)?;
        self.shards[s].set_seed(local, seed)
    }

    /// Batch episode `k`'s padded obstacle grid and its row stride.
    pub fn padded_obstacles(&self, k: usize) -> Result<(&[u8], usize), EnvError> {
        let (s, local) = self.shard_of(k)?;
        Ok(self.shards[s].padded_obstacles(local))
    }

    /// Rebuilds the episodes that finished on the last step (when auto-reset is off); returns
    /// how many it rebuilt.
    pub fn reset_finished(&mut self, b: &mut BatchBuffers) -> Result<usize, EnvError> {
        let mut rebuilt = vec![0; self.shards.len()];
        self.par_shards(b, rebuilt.iter_mut().collect(), Call::Reset, |s, buf, n| {
            *n = s.reset_finished(buf)?;
            Ok(())
        })?;
        Ok(rebuilt.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_thread_counts_start_one_worker_per_shard() {
        let configs: Vec<EnvConfig> = (0..3)
            .map(|k| EnvConfig {
                seed: Some(k),
                size: 8,
                num_agents: Some(2),
                ..Default::default()
            })
            .collect();
        let t = std::time::Instant::now();
        let sim = BatchSimulator::new(&configs, 1_000_000_000).unwrap();
        assert_eq!(sim.threads(), 3.min(machine_threads()));
        assert_eq!(sim.num_shards(), 3);
        assert!(t.elapsed().as_secs_f64() < 5.0, "took {:?}", t.elapsed());
    }

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

    /// `inspect_with` shows each shard its own state and changes nothing; `step_with` decides on
    /// the same state, then steps; a decider per shard is required.
    #[test]
    fn inspection_reads_every_shard_and_steps_nothing() {
        let configs: Vec<EnvConfig> = (0..4)
            .map(|k| EnvConfig {
                seed: Some(k),
                size: 8,
                num_agents: Some(3),
                max_episode_steps: 16,
                ..Default::default()
            })
            .collect();
        let mut sim = BatchSimulator::new(&configs, 2).unwrap();
        let mut b = sim.new_buffers();
        sim.reset(&mut b).unwrap();
        let before: Vec<_> = (0..4).map(|k| sim.snapshot(k).unwrap()).collect();
        let positions = |sim: &Simulator, buf: &StepBuffers| {
            (sim.layout().agents_per_episode.len(), buf.global_xy.clone())
        };
        let mut seen = vec![(0, Vec::new()); sim.num_shards()];
        let mut deciders: Vec<_> = seen
            .iter_mut()
            .map(|slot| move |s: &Simulator, buf: &mut StepBuffers| *slot = positions(s, buf))
            .collect();
        sim.inspect_with(&mut b, &mut deciders).unwrap();
        drop(deciders);
        let after: Vec<_> = (0..4).map(|k| sim.snapshot(k).unwrap()).collect();
        assert_eq!(before, after, "inspection steps nothing");
        let episodes: usize = seen.iter().map(|(n, _)| n).sum();
        assert_eq!(episodes, 4, "every shard was shown, once");
        for (slot, shard) in seen.iter().zip(&b.shards) {
            assert_eq!(slot.1, shard.global_xy, "each shard sees its own outputs");
        }
        // Stepping with deciders changes the worlds.
        let mut act =
            vec![|_: &Simulator, buf: &mut StepBuffers| buf.actions.fill(2); sim.num_shards()];
        sim.step_with(&mut b, &mut act).unwrap();
        assert_ne!(
            before,
            (0..4).map(|k| sim.snapshot(k).unwrap()).collect::<Vec<_>>()
        );
        let mut too_few = vec![|_: &Simulator, _: &mut StepBuffers| {}];
        assert!(matches!(
            sim.inspect_with(&mut b, &mut too_few),
            Err(EnvError::WrongBufferLength {
                name: "policies",
                ..
            })
        ));
    }
}
