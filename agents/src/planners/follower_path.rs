//! Follower's heuristic planner as a path source for planners ([`FollowerPaths`]) and as a policy
//! of its own, the `follower-planner` baseline ([`FollowerPlannerPolicy`]): every agent steps onto
//! the next cell of the path Follower's planner gives it ([`rmapf_env::follower_planner`]: static
//! penalties, a penalty-weighted heuristic, counts of the agents it saw within the observation
//! radius), with no network. Each agent plans alone from what it sees, as in Follower; the
//! collision rules settle conflicting moves.

use rmapf_env::follower_planner::FollowerPlanner;
use rmapf_env::grid::{Cell, Geometry};
use rmapf_env::{PathPlanner, StepBuffers};

use super::distances::{NONE, action_between};
use crate::policy::{EpisodeView, Policy};

/// Follower's planner for every episode of a shard: each agent's next cell on its own path, as
/// the env draws it into a follower observation with the same radius and costs.
#[derive(Debug)]
pub struct FollowerPaths {
    /// Which costs the planner uses.
    kind: PathPlanner,
    /// Per shard episode: its planner (`None` until the first step).
    planners: Vec<Option<FollowerPlanner>>,
    /// Scratch: one agent's path.
    path: Vec<Cell>,
}

impl FollowerPaths {
    /// Paths with costs `kind` (`PathPlanner::Follower` for Follower's own; `Shortest` means unit
    /// costs).
    pub fn new(kind: PathPlanner) -> Self {
        Self {
            kind,
            planners: Vec::new(),
            path: Vec::new(),
        }
    }

    /// Episode `episode` restarted: its agents forget their goals and counts at the next step
    /// (the static penalties stay if the map is the same).
    pub fn forget(&mut self, episode: usize) {
        if let Some(Some(p)) = self.planners.get_mut(episode) {
            p.forget_agents();
        }
    }

    /// One step of episode `k` of the shard (`view`, observation radius `radius`): plans every
    /// active agent and writes into `next[agent]` the padded cell after its position on its path,
    /// or [`NONE`] for an inactive agent and one on its goal or cut off from it. Must be called
    /// at every step of the episode, since the planner counts the agents it sees step by step,
    /// in the view's occupancy, as the env's planner does (so the paths are the ones the env
    /// draws into follower observations, pogema 1.4.0's soft-following erasure included).
    pub fn next_cells(
        &mut self,
        k: usize,
        view: &EpisodeView<'_>,
        b: &StepBuffers,
        radius: usize,
        next: &mut Vec<u32>,
    ) {
        if self.planners.len() <= k {
            self.planners.resize_with(k + 1, || None);
        }
        let stride = view.stride;
        let padded_height = view.obstacles.len() / stride;
        let geometry = Geometry::new(padded_height - 2 * radius, stride - 2 * radius, radius);
        let planner = match &mut self.planners[k] {
            Some(p) if p.fits(&geometry, view.obstacles, view.num_agents) => p,
            slot => slot.insert(FollowerPlanner::new(
                self.kind,
                &geometry,
                view.obstacles,
                view.num_agents,
            )),
        };
        let rows = view.first_row..view.first_row + view.num_agents;
        let cell = |row: usize, xy: &[i32]| -> Cell {
            (xy[2 * row] as usize * stride + xy[2 * row + 1] as usize) as Cell
        };
        next.clear();
        for (agent, row) in rows.enumerate() {
            if !b.active[row] {
                next.push(NONE);
                continue;
            }
            let pos = cell(row, &b.global_xy);
            let goal = cell(row, &b.global_target_xy);
            planner.plan(agent, pos, goal, view.occupancy, &mut self.path);
            next.push(self.path.get(1).copied().unwrap_or(NONE));
        }
    }
}

/// Follower's planner as a policy.
#[derive(Debug)]
pub struct FollowerPlannerPolicy {
    /// Name for tables.
    name: String,
    /// The agents' paths.
    paths: FollowerPaths,
    /// Scratch: one episode's next cells.
    next: Vec<u32>,
}

impl FollowerPlannerPolicy {
    /// The planner with costs `kind` (`PathPlanner::Follower` for Follower's own; `Shortest`
    /// means unit costs).
    pub fn new(kind: PathPlanner) -> Self {
        let name = match kind {
            PathPlanner::Follower => "follower-planner",
            PathPlanner::FollowerStaticOnly => "follower-planner:static-only",
            PathPlanner::FollowerDynamicOnly => "follower-planner:dynamic-only",
            PathPlanner::Shortest | PathPlanner::FollowerUnitCost => "follower-planner:unit-cost",
        }
        .to_string();
        Self {
            name,
            paths: FollowerPaths::new(kind),
            next: Vec::new(),
        }
    }
}

impl Policy for FollowerPlannerPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset_episode(&mut self, episode: usize) {
        self.paths.forget(episode);
    }

    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        b: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        for (k, view) in episodes.iter().enumerate() {
            self.paths.next_cells(k, view, b, radius, &mut self.next);
            let rows = view.first_row..view.first_row + view.num_agents;
            for (&next, row) in self.next.iter().zip(rows) {
                actions[row] = if next == NONE {
                    0
                } else {
                    let [x, y] = [b.global_xy[2 * row], b.global_xy[2 * row + 1]];
                    let pos = (x as usize * view.stride + y as usize) as Cell;
                    action_between(pos, next, view.stride)
                };
            }
        }
    }
}
