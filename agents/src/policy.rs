//! The policy interface: one call per step for all agents of one shard of a batch.

use rmapf_env::{Simulator, StepBuffers};

/// What a policy may read about one episode besides the observations: its static padded obstacle
/// grid (decentralised planners such as Follower know the map, not the other agents' plans) and
/// the occupancy the observations are cut from.
#[derive(Clone, Copy, Debug)]
pub struct EpisodeView<'a> {
    /// Padded obstacles, row-major, with the ring.
    pub obstacles: &'a [u8],
    /// Padded occupancy, laid out as `obstacles` (non-zero: an agent), exactly as the agents'
    /// observation windows show it (pogema 1.4.0's, see `Simulator::padded_occupancy`).
    pub occupancy: &'a [u8],
    /// Row stride of `obstacles`.
    pub stride: usize,
    /// First row of the episode's agents in the buffers.
    pub first_row: usize,
    /// Agents in the episode.
    pub num_agents: usize,
    /// The instance seed (`None`: the instance came from OS entropy); planners derive their
    /// tie-breaks from it so that results depend on the instance only.
    pub seed: Option<u64>,
    /// Steps taken since the episode's last reset (0 right after a reset).
    pub elapsed: u32,
}

impl<'a> EpisodeView<'a> {
    /// The views of every episode of `sim` (one shard), in order.
    pub fn all(sim: &'a Simulator) -> Vec<Self> {
        let mut first_row = 0;
        sim.layout()
            .agents_per_episode
            .iter()
            .enumerate()
            .map(|(k, &num_agents)| {
                let (obstacles, stride) = sim.padded_obstacles(k);
                let (seed, elapsed) = sim.episode_clock(k);
                let view = Self {
                    obstacles,
                    occupancy: sim.padded_occupancy(k),
                    stride,
                    first_row,
                    num_agents,
                    seed,
                    elapsed,
                };
                first_row += num_agents;
                view
            })
            .collect()
    }
}

/// A policy acting for every agent of a batch shard.
pub trait Policy: Send {
    /// Short name for tables.
    fn name(&self) -> &str;

    /// Called after a reset of episode `episode` (index within the shard), before its first action.
    fn reset_episode(&mut self, episode: usize);

    /// Writes one action per agent into `actions` (`[N]`), from the buffers of the last step:
    /// `obs [N, C, R, R]`, `global_xy`/`global_target_xy [N, 2]` (padded cells), `active [N]`.
    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        buffers: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    );
}

/// Policies for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Every agent takes the same action.
    pub(crate) struct Constant(pub u8);

    impl Policy for Constant {
        fn name(&self) -> &str {
            "constant"
        }
        fn reset_episode(&mut self, _episode: usize) {}
        fn act(&mut self, _: &[EpisodeView<'_>], _: &StepBuffers, _: usize, actions: &mut [u8]) {
            actions.fill(self.0);
        }
    }
}
