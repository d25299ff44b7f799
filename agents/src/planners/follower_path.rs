//! The `follower-planner` baseline: every agent steps onto the next cell of the path Follower's
//! heuristic planner gives it ([`rmapf_env::follower_planner`]: static penalties, a
//! penalty-weighted heuristic, counts of the agents it saw within the observation radius), with no
//! network. Each agent plans alone from what it sees, as in Follower; the collision rules settle
//! conflicting moves.

use rmapf_env::follower_planner::FollowerPlanner;
use rmapf_env::grid::{Cell, Geometry};
use rmapf_env::{PathPlanner, StepBuffers};

use super::distances::action_between;
use crate::policy::{EpisodeView, Policy};

/// Follower's planner as a policy.
#[derive(Debug)]
pub struct FollowerPlannerPolicy {
    /// Which costs the planner uses.
    kind: PathPlanner,
    /// Name for tables.
    name: String,
    /// Per shard episode: its planner (`None` until the first step, or after a reset).
    planners: Vec<Option<FollowerPlanner>>,
    /// Scratch: the episode's occupied padded cells.
    occupancy: Vec<u8>,
    /// Scratch: one agent's path.
    path: Vec<Cell>,
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
            kind,
            name,
            planners: Vec::new(),
            occupancy: Vec::new(),
            path: Vec::new(),
        }
    }
}

impl Policy for FollowerPlannerPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset_episode(&mut self, episode: usize) {
        if let Some(Some(p)) = self.planners.get_mut(episode) {
            // Forget goals and counts at the next step (penalties stay if the map is the same).
            p.forget_agents();
        }
    }

    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        b: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        if self.planners.len() < episodes.len() {
            self.planners.resize_with(episodes.len(), || None);
        }
        for (k, view) in episodes.iter().enumerate() {
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
            self.occupancy.clear();
            self.occupancy.resize(view.obstacles.len(), 0);
            for row in rows.clone().filter(|&r| b.active[r]) {
                self.occupancy[cell(row, &b.global_xy) as usize] = 1;
            }
            for (agent, row) in rows.enumerate() {
                actions[row] = 0;
                if !b.active[row] {
                    continue;
                }
                let pos = cell(row, &b.global_xy);
                let goal = cell(row, &b.global_target_xy);
                planner.plan(agent, pos, goal, &self.occupancy, &mut self.path);
                if let Some(&next) = self.path.get(1) {
                    actions[row] = action_between(pos, next, stride);
                }
            }
        }
    }
}
