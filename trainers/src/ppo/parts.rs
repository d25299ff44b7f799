//! Splitting a batch into parts of whole episodes that run at once on the CPU's cores: the
//! rollout's forward passes and the learner's minibatch gradients both go through [`run_parts`].
//!
//! The split is fixed by the config (`ppo.batch_parts`), never by the thread count, and the
//! parts' results come back in part order, so a run gives the same numbers on any number of
//! threads. The network is small (a Bottleneck forward pass is a few thousand tiny tensor
//! operations), so one pass keeps one core busy and burn cannot spread it over two; two passes
//! over half the episodes each can.

use std::ops::Range;

/// The row ranges (agents) of `parts` parts of whole episodes, as even as the episodes allow:
/// `agents` rows, `agents_per_episode` to an episode. Fewer parts when there are fewer episodes.
pub(super) fn episode_parts(
    agents: usize,
    agents_per_episode: usize,
    parts: usize,
) -> Vec<Range<usize>> {
    let episodes = agents / agents_per_episode.max(1);
    let per = episodes.div_ceil(parts.max(1)).max(1);
    (0..episodes)
        .step_by(per)
        .map(|e| e * agents_per_episode..(e + per).min(episodes) * agents_per_episode)
        .collect()
}

/// `f(0), …, f(count − 1)` on up to `threads` threads (the calling thread is one of them), in
/// part order. Part `k` runs on worker `k mod workers`.
pub(super) fn run_parts<T: Send>(
    threads: usize,
    count: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let workers = threads.clamp(1, count.max(1));
    if workers == 1 {
        return (0..count).map(f).collect();
    }
    let f = &f;
    let work = move |w: usize| -> Vec<(usize, T)> {
        (w..count).step_by(workers).map(|k| (k, f(k))).collect()
    };
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..workers).map(|w| scope.spawn(move || work(w))).collect();
        let mut done = work(0);
        for handle in others {
            match handle.join() {
                Ok(part) => done.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_row_in_whole_episodes() {
        assert_eq!(episode_parts(512, 2, 2), [0..256, 256..512]);
        // 5 episodes of 3 agents in 2 parts: 3 and 2 episodes.
        assert_eq!(episode_parts(15, 3, 2), [0..9, 9..15]);
        // More parts than episodes: one episode each.
        assert_eq!(episode_parts(4, 2, 3), [0..2, 2..4]);
        let one = episode_parts(6, 1, 1);
        assert_eq!((one.len(), one[0].clone()), (1, 0..6));
    }

    #[test]
    fn results_come_back_in_part_order_on_any_thread_count() {
        let square = |k: usize| k * k;
        let expected: Vec<usize> = (0..7).map(square).collect();
        for threads in 1..5 {
            assert_eq!(run_parts(threads, 7, square), expected);
        }
        assert!(run_parts(2, 0, square).is_empty());
    }

    #[test]
    fn the_parts_run_on_several_threads() {
        let ids = run_parts(2, 2, |_| std::thread::current().id());
        assert_ne!(ids[0], ids[1]);
        let ids = run_parts(1, 2, |_| std::thread::current().id());
        assert_eq!(ids[0], ids[1]);
    }
}
