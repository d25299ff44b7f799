//! Whether a batch steps its shards on its worker pool or one after another on the caller's
//! thread: whichever has been faster lately.
//!
//! Handing the shards to the rayon pool and waiting for them costs two cross-CPU wake-ups, which
//! on a virtual machine can take longer than a whole step of a small batch (measured on the
//! project's 2-core VM: 64 episodes of 4 agents, 9 µs a step on one thread, 30 µs on two). The
//! outputs never depend on the choice, since shards share nothing, so it is made from timings
//! alone: the first calls time both ways, then the faster one runs, and a short burst in the
//! other mode every [`PROBE_EVERY`] calls times it again, so the choice follows a change of load.

use std::time::Duration;

/// How one call runs the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShardMode {
    /// Each shard on a worker of the pool.
    Parallel,
    /// The shards one after another on the caller's thread.
    Sequential,
}

impl ShardMode {
    fn other(self) -> Self {
        match self {
            Self::Parallel => Self::Sequential,
            Self::Sequential => Self::Parallel,
        }
    }
}

/// Calls in a row in one mode when it is timed: at the start in each mode, and as a probe of the
/// mode not chosen.
const BURST: u64 = 4;
/// The first calls: a burst in parallel, then one sequentially.
const WARM_UP: u64 = 2 * BURST;
/// Only calls after this many in a row in the same mode are timed: the first ones after a switch
/// pay for waking the workers and moving the shards' data between caches (measured: a single
/// parallel call after a run of sequential ones took as long as a sequential one, the next ones
/// 30–50% less).
const SETTLE: u64 = 2;
/// After the [`WARM_UP`], the last [`BURST`] calls of every this many run in the mode not
/// chosen (on a small batch a probe of the slower mode costs a few percent of the time).
const PROBE_EVERY: u64 = 256;
/// Sequential runs only when it is this much faster than parallel: near a tie the timings are
/// noise, and a wrong sequential choice idles the other cores (b64 on 2 threads is 1.17x faster
/// in parallel, and without the margin it ran sequentially a third of the time).
const SEQUENTIAL_MARGIN: f64 = 0.85;
/// Weight of the newest timed call in each mode's moving average of seconds per call.
const NEWEST: f64 = 0.25;

/// The timings behind the choice: a moving average of seconds per call in each mode.
#[derive(Clone, Debug)]
pub(crate) struct ShardSchedule {
    calls: u64,
    /// Calls in a row so far in the mode of the last call.
    streak: u64,
    last: ShardMode,
    parallel: Option<f64>,
    sequential: Option<f64>,
    /// The faster mode, updated at the start of every block of [`PROBE_EVERY`] calls.
    chosen: ShardMode,
}

impl Default for ShardSchedule {
    fn default() -> Self {
        Self {
            calls: 0,
            streak: 0,
            last: ShardMode::Parallel,
            parallel: None,
            sequential: None,
            chosen: ShardMode::Parallel,
        }
    }
}

impl ShardSchedule {
    /// The mode of the next call.
    pub(crate) fn next(&self) -> ShardMode {
        match self.calls {
            c if c < BURST => ShardMode::Parallel,
            c if c < WARM_UP => ShardMode::Sequential,
            c if (c - WARM_UP) % PROBE_EVERY >= PROBE_EVERY - BURST => self.chosen.other(),
            _ => self.chosen,
        }
    }

    /// Records that a call in `mode` took `took`.
    pub(crate) fn record(&mut self, mode: ShardMode, took: Duration) {
        self.streak = if mode == self.last {
            self.streak + 1
        } else {
            1
        };
        self.last = mode;
        if self.streak > SETTLE {
            let seconds = took.as_secs_f64();
            let average = match mode {
                ShardMode::Parallel => &mut self.parallel,
                ShardMode::Sequential => &mut self.sequential,
            };
            *average = Some(average.map_or(seconds, |a| a + NEWEST * (seconds - a)));
        }
        self.calls += 1;
        if self.calls >= WARM_UP && (self.calls - WARM_UP).is_multiple_of(PROBE_EVERY) {
            self.chosen = match (self.parallel, self.sequential) {
                (Some(p), Some(s)) if s < SEQUENTIAL_MARGIN * p => ShardMode::Sequential,
                _ => ShardMode::Parallel,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `calls` calls whose duration in each mode is `cost(mode, call)`; returns the modes.
    fn run(calls: u64, cost: impl Fn(ShardMode, u64) -> u64) -> Vec<ShardMode> {
        let mut s = ShardSchedule::default();
        (0..calls)
            .map(|c| {
                let mode = s.next();
                s.record(mode, Duration::from_micros(cost(mode, c)));
                mode
            })
            .collect()
    }

    fn count(modes: &[ShardMode], mode: ShardMode) -> usize {
        modes.iter().filter(|&&m| m == mode).count()
    }

    #[test]
    fn times_both_modes_then_runs_the_faster_and_probes_the_other() {
        use ShardMode::*;
        let n = 2000;
        // After the two warm-up bursts, only the probes (the last 4 calls of every 256) run the
        // slower mode.
        let probes: Vec<usize> = (8..n).filter(|c| (c - 8) % 256 >= 252).collect();
        let calls_in = |modes: &[ShardMode], mode| -> Vec<usize> {
            (8..n).filter(|&c| modes[c] == mode).collect()
        };
        let small = run(n as u64, |m, _| if m == Parallel { 30 } else { 9 });
        assert!(small[..4].iter().all(|&m| m == Parallel));
        assert!(small[4..8].iter().all(|&m| m == Sequential));
        assert_eq!(calls_in(&small, Parallel), probes);
        let large = run(n as u64, |m, _| if m == Parallel { 500 } else { 900 });
        assert_eq!(calls_in(&large, Sequential), probes);
    }

    #[test]
    fn the_first_calls_after_a_switch_are_not_timed() {
        use ShardMode::*;
        // Each mode's first two calls in a row are slow (waking workers, moving caches): they
        // must not make the faster mode look slower.
        let mut s = ShardSchedule::default();
        let mut streak = (Parallel, 0);
        let modes: Vec<ShardMode> = (0..3000)
            .map(|_| {
                let m = s.next();
                streak = if m == streak.0 {
                    (m, streak.1 + 1)
                } else {
                    (m, 1)
                };
                let cost = match (m, streak.1 <= 2) {
                    (_, true) => 2000,
                    (Parallel, false) => 300,
                    (Sequential, false) => 500,
                };
                s.record(m, Duration::from_micros(cost));
                m
            })
            .collect();
        let late = &modes[1000..];
        assert!(count(late, Parallel) > late.len() * 9 / 10, "{late:?}");
    }

    #[test]
    fn the_choice_follows_a_change_of_load() {
        use ShardMode::*;
        // Parallel is faster until call 600, then a busy machine makes it slower.
        let modes = run(3000, |m, c| match (m, c < 600) {
            (Parallel, true) => 100,
            (Sequential, true) => 180,
            (Parallel, false) => 400,
            (Sequential, false) => 180,
        });
        assert_eq!(modes[599], Parallel);
        let late = &modes[1500..];
        assert!(count(late, Sequential) > late.len() * 9 / 10, "{late:?}");
    }
}
