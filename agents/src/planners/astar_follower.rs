//! Greedy shortest-path follower: every agent steps to the neighbour closest to its goal on the
//! static map (exact distances from a backward BFS, cached per goal; ties broken in pogema's action
//! order up, down, left, right); the collision rules make it wait when that move conflicts. After
//! more than [`PATIENCE`] steps without moving it sidesteps to a neighbour free of agents in its
//! observation, chosen by a hash of its own state and sidestep count (deterministic, so results do
//! not depend on threads), which breaks head-on deadlocks.

use rmapf_env::StepBuffers;
use rmapf_env::rng::mix64;

use super::distances::{DistanceCache, MapId, UNREACHABLE};
use crate::policy::{EpisodeView, Policy};

/// Consecutive waits before a blocked agent sidesteps.
pub const PATIENCE: u32 = 2;

/// The greedy A*-follower baseline.
#[derive(Debug, Default)]
pub struct AstarFollower {
    /// BFS distance fields per map and goal.
    cache: DistanceCache,
    /// Per shard episode: its map in `cache` at the last call.
    maps: Vec<Option<MapId>>,
    /// Per buffer row: consecutive steps spent waiting.
    waits: Vec<u32>,
    /// Per buffer row: the cell at the previous call.
    last_cell: Vec<u32>,
    /// Per buffer row: sidesteps taken so far (varies the choice, so deadlocks cannot cycle).
    sidesteps: Vec<u64>,
}

impl AstarFollower {
    /// A follower with empty caches.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for AstarFollower {
    fn name(&self) -> &str {
        "astar-follower"
    }

    fn reset_episode(&mut self, _episode: usize) {
        // Distance fields stay valid across episodes on the same map. Rows are re-sized (and so cleared) at the next call if the batch layout changes.
        self.waits.fill(0);
        self.sidesteps.fill(0);
        self.last_cell.fill(u32::MAX);
    }

    // `row` indexes several parallel per-agent arrays (buffers, actions, waits), not just one.
    #[allow(clippy::needless_range_loop)]
    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        b: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        if self.maps.len() < episodes.len() {
            self.maps.resize(episodes.len(), None);
        }
        let side = 2 * radius + 1;
        let area = side * side;
        let channels = b.obs.len() / (actions.len().max(1) * area);
        if self.waits.len() != actions.len() {
            self.waits = vec![0; actions.len()];
            self.sidesteps = vec![0; actions.len()];
            self.last_cell = vec![u32::MAX; actions.len()];
        }
        for (k, view) in episodes.iter().enumerate() {
            let s = view.stride as i64;
            let map = self.cache.map(view.obstacles, view.stride, self.maps[k]);
            self.maps[k] = Some(map);
            self.cache.trim(map);
            for row in view.first_row..view.first_row + view.num_agents {
                actions[row] = 0;
                if !b.active[row] {
                    continue;
                }
                let [x, y] = [
                    i64::from(b.global_xy[2 * row]),
                    i64::from(b.global_xy[2 * row + 1]),
                ];
                let [gx, gy] = [
                    i64::from(b.global_target_xy[2 * row]),
                    i64::from(b.global_target_xy[2 * row + 1]),
                ];
                let (cell, goal) = (x * s + y, gx * s + gy);
                if cell == goal {
                    continue;
                }
                let field = self.cache.field_index(map, goal as u32);
                let dist = &self.cache.fields(map)[field as usize];
                let here = dist[cell as usize];
                let mut best = (here, 0u8);
                for (action, [dx, dy]) in
                    [(1u8, [-1i64, 0]), (2, [1, 0]), (3, [0, -1]), (4, [0, 1])]
                {
                    let d = dist[(cell + dx * s + dy) as usize];
                    if d < best.0 {
                        best = (d, action);
                    }
                }
                if best.1 == 0 {
                    continue;
                }
                // Move along the path and let the collision rules make it wait on conflict; count
                // the steps it has not moved although it wanted to.
                let agents_plane = row * channels * area + area;
                let occupied = |action: u8| {
                    let [dx, dy] = [[0i64, 0], [-1, 0], [1, 0], [0, -1], [0, 1]][action as usize];
                    let (ox, oy) = ((radius as i64 + dx) as usize, (radius as i64 + dy) as usize);
                    b.obs[agents_plane + ox * side + oy] != 0
                };
                actions[row] = best.1;
                if self.last_cell[row] == cell as u32 {
                    self.waits[row] += 1;
                } else {
                    self.waits[row] = 0;
                }
                self.last_cell[row] = cell as u32;
                if self.waits[row] > PATIENCE {
                    let free: Vec<u8> = [(1u8, -s), (2, s), (3, -1), (4, 1)]
                        .into_iter()
                        .filter(|&(a, d)| dist[(cell + d) as usize] != UNREACHABLE && !occupied(a))
                        .map(|(a, _)| a)
                        .collect();
                    if !free.is_empty() {
                        let agent = (row - view.first_row) as u64;
                        self.sidesteps[row] += 1;
                        let h = mix64(
                            (cell as u64) << 40
                                ^ (goal as u64) << 20
                                ^ agent << 52
                                ^ self.sidesteps[row],
                        );
                        actions[row] = free[(h % free.len() as u64) as usize];
                        self.waits[row] = 0;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmapf_env::{EnvConfig, MapSpec, Simulator, TargetsSpec};

    #[test]
    fn follows_the_shortest_path_around_a_wall() {
        // Start (0,0), goal (0,2), wall at (0,1): the path goes down, right, right, up.
        let config = EnvConfig {
            map: Some(MapSpec::Text(".#.\n...".into())),
            agents_xy: Some(vec![[0, 0]]),
            targets_xy: Some(TargetsSpec::Single(vec![[0, 2]])),
            obs_radius: 2,
            ..Default::default()
        };
        let mut sim = Simulator::new(&[config]).unwrap();
        let mut b = sim.new_buffers();
        sim.reset(&mut b).unwrap();
        let mut policy = AstarFollower::new();
        let mut taken = Vec::new();
        for _ in 0..4 {
            let mut actions = [0u8];
            policy.act(&EpisodeView::all(&sim), &b, 2, &mut actions);
            taken.push(actions[0]);
            b.actions.copy_from_slice(&actions);
            sim.step(&mut b).unwrap();
        }
        assert_eq!(taken, [2, 4, 4, 1]);
        assert_eq!(b.terminated, [true]);
    }
}
