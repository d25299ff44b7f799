//! Advice: a built-in planner's proposed action for every agent, shown to the network as one more
//! observation plane (`env.advice`). Follower's network reads its planner's path; an advised
//! network also reads what a decentralised planner (e.g. `pibt-follower-local:3`, which plans
//! only among the agents in the 7×7 window) would do now, and learns when to do otherwise.

use anyhow::Result;
use rmapf_agents::{EpisodeView, Policy};
use rmapf_env::grid::MOVES;
use rmapf_env::{BatchBuffers, BatchSimulator, Simulator, StepBuffers};

/// Appends the advice plane to each agent's observation: `obs [N, C, R, R]` (floats) and
/// `advice [N]` (actions) → `out [N, C + 1, R, R]`, where the new last plane is 1 in the cell the
/// advised action leads to (the centre for `wait`) and 0 elsewhere.
pub fn append_advice_plane(
    obs: &[f32],
    advice: impl IntoIterator<Item = u8>,
    [channels, side]: [usize; 2],
    out: &mut Vec<f32>,
) {
    let plane = side * side;
    let r = (side / 2) as i64;
    out.clear();
    out.reserve(obs.len() / channels * (channels + 1));
    for (agent_obs, action) in obs.chunks_exact(channels * plane).zip(advice) {
        out.extend_from_slice(agent_obs);
        let start = out.len();
        out.resize(start + plane, 0.0);
        let [dx, dy] = MOVES[usize::from(action).min(MOVES.len() - 1)];
        let cell = (r + dx) as usize * side + (r + dy) as usize;
        out[start + cell] = 1.0;
    }
}

/// One built-in planner per simulator shard and the actions it proposed for the state the shard
/// is in now: the rollout's source of advice (and, as [`crate::ppo`]'s expert, of imitation
/// labels).
pub struct ShardPlanners {
    policies: Vec<Box<dyn Policy>>,
    actions: Vec<Vec<u8>>,
    /// The env's observation radius.
    radius: usize,
    /// Whether `actions` were proposed for the shards' current state (false after a step or a
    /// reset: planners keep per-step state, so each state is planned exactly once).
    fresh: bool,
}

impl ShardPlanners {
    /// One `name` planner per shard of `sim` (seeded with `seed`), every episode freshly reset.
    pub fn new(name: &str, sim: &BatchSimulator, seed: u64, radius: usize) -> Result<Self> {
        let policies = crate::evaluate::policies_per_shard(sim, |_| {
            crate::evaluate::builtin_policy(name, seed)
        })?;
        let actions = sim
            .layouts()
            .iter()
            .map(|l| vec![0u8; l.num_agents])
            .collect();
        Ok(Self {
            policies,
            actions,
            radius,
            fresh: false,
        })
    }

    /// Forgets every episode (after a restart of all of them).
    pub fn reset_all(&mut self, sim: &BatchSimulator) {
        crate::evaluate::reset_every_episode(&mut self.policies, sim);
        self.fresh = false;
    }

    /// Forgets episode `local` of shard `shard` (it finished and restarted).
    pub fn reset_episode(&mut self, shard: usize, local: usize) {
        if let Some(p) = self.policies.get_mut(shard) {
            p.reset_episode(local);
        }
    }

    /// Marks the proposals as stale: the simulator stepped or reset.
    pub fn stepped(&mut self) {
        self.fresh = false;
    }

    /// The proposed actions for the current state of every shard, in batch order (planned now
    /// unless they already were for this state).
    pub fn propose(&mut self, sim: &mut BatchSimulator, buffers: &mut BatchBuffers) -> Result<()> {
        if !self.fresh {
            let mut deciders = self.deciders();
            sim.inspect_with(buffers, &mut deciders)?;
            drop(deciders);
            self.fresh = true;
        }
        Ok(())
    }

    /// Per shard, a closure that writes the planner's actions for the shard's current state
    /// (to run inside [`BatchSimulator::step_with`] or [`BatchSimulator::inspect_with`]).
    pub fn deciders(&mut self) -> Vec<impl FnMut(&Simulator, &mut StepBuffers) + Send + '_> {
        let radius = self.radius;
        self.policies
            .iter_mut()
            .zip(self.actions.iter_mut())
            .map(move |(p, actions)| {
                move |s: &Simulator, buf: &mut StepBuffers| {
                    p.act(&EpisodeView::all(s), buf, radius, actions);
                }
            })
            .collect()
    }

    /// The last proposed actions, in batch order.
    pub fn actions(&self) -> impl Iterator<Item = u8> + '_ {
        self.actions.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_plane_marks_the_cell_each_action_leads_to() {
        // Two agents, one plane of 3×3 each: agent 0 holds 1..=9, agent 1 holds 10..=18.
        let obs: Vec<f32> = (1..=18).map(|v| v as f32).collect();
        let mut out = Vec::new();
        append_advice_plane(&obs, [1, 4], [1, 3], &mut out);
        assert_eq!(out.len(), 2 * 2 * 9);
        assert_eq!(&out[..9], &obs[..9], "the observation comes first");
        // Action 1 (up, one row back): the centre's upper neighbour.
        assert_eq!(&out[9..18], &[0., 1., 0., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(&out[18..27], &obs[9..18]);
        // Action 4 (right, one column on).
        assert_eq!(&out[27..36], &[0., 0., 0., 0., 0., 1., 0., 0., 0.]);
        append_advice_plane(&obs[..9], [0], [1, 3], &mut out);
        assert_eq!(
            &out[9..],
            &[0., 0., 0., 0., 1., 0., 0., 0., 0.],
            "wait: the centre"
        );
    }
}
