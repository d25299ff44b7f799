//! PIBT, Priority Inheritance with Backtracking (Okumura, Machida, Défago and Tamura, "Priority
//! inheritance with backtracking for iterative multi-agent path finding", AIJ 2022), for lifelong
//! MAPF, and two variants: with LaCAM3's swap, and with a windowed look-ahead.
//!
//! Every step the planner decides one joint move for all agents of an episode (it is centralised,
//! as RHCR in the POGEMA benchmark): agents in decreasing priority each take the free neighbour
//! (or their own cell) closest to their goal; an agent that wants a cell held by an undecided agent
//! lends it its priority, and that agent must move away first or the first one tries its next
//! choice (backtracking). The joint move has no vertex and no swap conflicts, and a cycle of
//! agents may rotate, so POGEMA's `soft` collision rule executes it unchanged (see the tests).
//!
//! * Priorities grow by one each step an agent has not reached its goal and drop to zero on
//!   arrival (a new goal); ties are broken by a per-agent number drawn from the episode seed.
//! * Distances are exact BFS fields per goal, cached in a [`DistanceCache`] and reused across
//!   steps and across episodes on the same map.
//! * Candidates at the same distance are ordered by a hash of (seed, step, agent, cell), so one
//!   seed gives one result on any number of threads.
//!
//! **`pibt-swap`** adds the swap technique of LaCAM3 (Okumura, "Engineering LaCAM*: towards
//! real-time, large-scale, and near-optimal multi-agent pathfinding", AAMAS 2024), which fixes
//! PIBT's classic failure in narrow corridors: two agents meeting head-on in a corridor push each
//! other back and forth (each push raises the pushed agent's priority until it pushes back). When
//! the agent ahead would only be pushed toward a dead end while there is a junction behind, the
//! pusher instead steps back and pulls the other agent along until they reach the junction and can
//! pass. Our own implementation of the published rule (`is_swap_required`/`is_swap_possible`).
//!
//! **`pibt-lookahead`** is the congestion-aware variant: PIBT-swap with a short windowed
//! look-ahead, searching over priority orders and routes in the spirit of windowed PIBT with large
//! neighbourhood search (WPPL: Jiang et al., "Scaling lifelong multi-agent path finding to more
//! realistic settings: research challenges and opportunities", SoCS 2024, the League of Robot
//! Runners 2023 winner, which improves a windowed PIBT plan by LNS). Every step it
//! simulates a few futures of a few joint PIBT steps, each under its own per-agent keys (a
//! priority offset and the agent's tie-breaks between equally near cells, i.e. its route): plain
//! PIBT, the keys chosen at the previous step, and local-search mutations of the best keys so
//! far, which redraw a few agents' priorities and routes and keep everyone else's. It scores each future by the distance the agents cover toward their goals (arrivals count
//! the rest of the window) and executes the first move of the best. Dense maps are where PIBT's
//! greedy one-step priorities jam (agents pushing each other back and forth through a corridor,
//! an urgent agent driving a queue into a dead end); an order that lets another agent go first
//! often unjams them, and the window shows which. See [`Lookahead`] for its budget.
//!
//! **`pibt-follower`** and **`pibt-swap-follower`** ([`Pibt::with_follower_paths`]) make each
//! agent try first the next cell of its own Follower path ([`FollowerPaths`]: the path the env
//! draws into its follower observation), and break equal priorities by the lower agent index
//! instead of the seeded number, as the `follower_priorities` observation ranks agents. Every
//! input of an agent's first choice is then in its own observation, which makes the planner an
//! expert that a decentralised policy can imitate (`ppo.expert`); Follower's congestion-aware
//! paths also make it a better planner than plain PIBT (BENCHMARKS.md).

use rmapf_env::rng::mix64;
use rmapf_env::{PathPlanner, StepBuffers};

use super::distances::{DistanceCache, GridGraph, MapId, NONE, UNREACHABLE, action_between};
use super::follower_path::FollowerPaths;
use crate::policy::{EpisodeView, Policy};

/// Priority inheritance deeper than this many agents gives up on the candidate instead of
/// recursing further (keeps the call stack bounded on huge instances; never reached on the
/// benchmark's up to 256 agents unless they all stand in one chain).
pub const MAX_INHERITANCE_DEPTH: usize = 2048;

/// The planner's per-episode memory.
#[derive(Debug, Default)]
struct EpisodeState {
    map: Option<MapId>,
    seed: u64,
    last_elapsed: Option<u32>,
    /// Per agent: steps since its goal last changed (the priority).
    since_goal: Vec<u32>,
    /// Per agent: its goal cell at the previous step.
    last_goal: Vec<u32>,
    /// Per agent: fixed tie-break of equal priorities, drawn from the seed.
    tie: Vec<u32>,
    /// Look-ahead: the priority keys of the rollout chosen at the last step, replayed as
    /// rollout 1 at the next step.
    carried_keys: Vec<u64>,
}

/// Per-step scratch, reused (no allocation per step once grown).
#[derive(Debug, Default)]
struct Scratch {
    /// Per agent: its cell, goal cell and field index ([`NONE`]: it does not plan this step).
    from: Vec<u32>,
    goal: Vec<u32>,
    field: Vec<u32>,
    /// Per agent: the next cell of its Follower path, tried first ([`NONE`]: none); empty
    /// unless the planner follows Follower's paths.
    preferred: Vec<u32>,
    work: Work,
}

/// Scratch of the joint steps and the look-ahead.
#[derive(Debug, Default)]
struct Work {
    occupied_now: Vec<u32>,
    occupied_next: Vec<u32>,
    to: Vec<u32>,
    order: Vec<u32>,
    /// Decentralised planning: the agents one agent sees, and every agent's own decided move.
    seen: Vec<u32>,
    own: Vec<u32>,
    /// Look-ahead: positions, priorities, arrivals and the first move of the current rollout.
    pos: Vec<u32>,
    since: Vec<u32>,
    prio: Vec<u32>,
    offset: Vec<u32>,
    arrived: Vec<bool>,
    first: Vec<u32>,
    best: Vec<u32>,
    keys: Vec<u64>,
    best_keys: Vec<u64>,
}

/// The windowed look-ahead of `pibt-lookahead`: how many rollouts of how many steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookahead {
    /// Rollouts per step at most: plain PIBT, the previous step's choice, then local-search
    /// mutations of the best so far.
    pub rollouts: u32,
    /// Steps simulated per rollout.
    pub window: u32,
    /// Agent-rollouts per step (`rollouts × agents`) not to exceed, down to 4 rollouts; `None`:
    /// always `rollouts`. Bounds the planning time on large instances.
    pub agent_budget: Option<u32>,
    /// Above this many agents the budget shrinks with the agent count (`budget × crowd ÷
    /// agents`), so that a step's planning time stops growing with the square of the agents
    /// (each rollout step costs time linear in the agents); `None`: never.
    pub crowd: Option<u32>,
}

impl Default for Lookahead {
    /// 128 rollouts of 4 steps, at most 4,096 agent-rollouts a step, shrinking above 64 agents:
    /// 128 rollouts up to 32 agents, 64 at 64, 16 at 128, 7 at 192, 4 from 256 on (under 1 ms a
    /// step at 256 agents on a 64×64 map, BENCHMARKS.md).
    fn default() -> Self {
        Self {
            rollouts: 128,
            window: 4,
            agent_budget: Some(4096),
            crowd: Some(64),
        }
    }
}

impl Lookahead {
    /// Rollouts per step for an episode of `agents` agents.
    pub fn rollouts_for(&self, agents: usize) -> u32 {
        let n = agents.max(1) as u64;
        match self.agent_budget {
            Some(budget) => {
                let mut fit = u64::from(budget) / n;
                if let Some(crowd) = self.crowd.filter(|&c| n > u64::from(c)) {
                    fit = fit * u64::from(crowd) / n;
                }
                let fit = fit.min(u64::from(u32::MAX)) as u32;
                fit.clamp(4, self.rollouts.max(4)).min(self.rollouts.max(1))
            }
            None => self.rollouts.max(1),
        }
    }
}

/// Share (in percent) of the agents whose priority key a local-search rollout draws afresh.
const MUTATED_PERCENT: u64 = 15;

/// Lifelong PIBT (`pibt`), with LaCAM3's swap (`pibt-swap`), and with swap and a windowed
/// look-ahead (`pibt-lookahead`).
#[derive(Debug)]
pub struct Pibt {
    swap: bool,
    lookahead: Option<Lookahead>,
    /// Follower's paths, whose next cell each agent tries first (`pibt-follower`).
    follow: Option<FollowerPaths>,
    /// Decentralised: each agent plans among the agents within this many cells (both axes) and
    /// keeps only its own move (`pibt-follower-local:R`); `None`: one joint plan.
    local: Option<usize>,
    cache: DistanceCache,
    episodes: Vec<EpisodeState>,
    scratch: Scratch,
}

impl Pibt {
    /// Plain lifelong PIBT.
    pub fn new() -> Self {
        Self::with_swap(false)
    }

    /// PIBT with (`true`) or without the swap technique.
    pub fn with_swap(swap: bool) -> Self {
        Self {
            swap,
            lookahead: None,
            follow: None,
            local: None,
            cache: DistanceCache::new(),
            episodes: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// PIBT-swap that, every step, simulates `lookahead.rollouts` futures of `lookahead.window`
    /// joint PIBT steps (goals held fixed) and executes the first move of the best one.
    pub fn with_lookahead(lookahead: Lookahead) -> Self {
        Self {
            lookahead: Some(lookahead),
            ..Self::with_swap(true)
        }
    }

    /// PIBT (with or without the swap) in which each agent tries first the next cell of its own
    /// Follower path (Follower's planner with `costs`, as the env draws it into a follower
    /// observation), then the other cells nearest its goal; equal priorities go to the lower
    /// agent index. Every input of an agent's first choice is in its follower observation: its
    /// path, and with `follower_priorities` who outranks it, so a policy can learn to imitate
    /// it (`ppo.expert`).
    pub fn with_follower_paths(swap: bool, costs: PathPlanner) -> Self {
        Self {
            follow: Some(FollowerPaths::new(costs)),
            ..Self::with_swap(swap)
        }
    }

    /// `pibt-follower-local:R`: [`Self::with_follower_paths`] without swap, decentralised. Each
    /// agent plans PIBT's joint step among the agents it sees, those within `r` cells of it in
    /// both axes (r = 3: the 7×7 window the lite policies read), and executes only its own move;
    /// the collision rule settles what the separate plans disagree on. What a policy that
    /// imitated `pibt-follower` perfectly from its window could at best do.
    pub fn with_follower_paths_local(r: usize, costs: PathPlanner) -> Self {
        Self {
            local: Some(r),
            ..Self::with_follower_paths(false, costs)
        }
    }

    /// Plans episode `k` of the shard (`view`, observation radius `radius`) and writes its
    /// agents' actions.
    fn plan_episode(
        &mut self,
        k: usize,
        view: &EpisodeView<'_>,
        b: &StepBuffers,
        radius: usize,
        out: &mut [u8],
    ) {
        let n = view.num_agents;
        let rows = view.first_row..view.first_row + n;
        let ep = &mut self.episodes[k];
        let map = self.cache.map(view.obstacles, view.stride, ep.map);
        let seed = view.seed.unwrap_or(0);
        let new_episode = ep.map != Some(map)
            || ep.seed != seed
            || ep.since_goal.len() != n
            || view.elapsed == 0
            || ep.last_elapsed.is_none_or(|e| view.elapsed <= e);
        if new_episode {
            ep.map = Some(map);
            ep.seed = seed;
            ep.since_goal = vec![0; n];
            ep.last_goal = vec![NONE; n];
            ep.carried_keys.clear();
            ep.tie = (0..n as u64)
                .map(|a| mix64(mix64(seed) ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as u32)
                .collect();
            if let Some(follow) = &mut self.follow {
                follow.forget(k);
            }
        }
        ep.last_elapsed = Some(view.elapsed);

        self.cache.trim(map);
        let s = &mut self.scratch;
        let cells = self.cache.graph(map).len();
        s.from.clear();
        s.goal.clear();
        s.field.clear();
        for (a, row) in rows.clone().enumerate() {
            let cell = |xy: &[i32]| {
                let (x, y) = (i64::from(xy[0]), i64::from(xy[1]));
                let c = x * view.stride as i64 + y;
                if x < 0 || y < 0 || y >= view.stride as i64 || c >= cells as i64 {
                    NONE
                } else {
                    c as u32
                }
            };
            let from = cell(&b.global_xy[2 * row..2 * row + 2]);
            let goal = cell(&b.global_target_xy[2 * row..2 * row + 2]);
            let field = if from == NONE || goal == NONE || !b.active[row] {
                NONE
            } else {
                self.cache.field_index(map, goal)
            };
            s.from.push(if field == NONE { NONE } else { from });
            s.goal.push(goal);
            s.field.push(field);
            if field != NONE {
                ep.since_goal[a] = if goal != ep.last_goal[a] || from == goal {
                    0
                } else {
                    ep.since_goal[a].saturating_add(1)
                };
            }
            ep.last_goal[a] = goal;
        }
        match &mut self.follow {
            Some(follow) => follow.next_cells(k, view, b, radius, &mut s.preferred),
            None => s.preferred.clear(),
        }
        let w = &mut s.work;
        w.occupied_now.resize(cells, NONE);
        w.occupied_next.resize(cells, NONE);
        let world = World {
            graph: self.cache.graph(map),
            fields: self.cache.fields(map),
            field: &s.field,
            goal: &s.goal,
            preferred: &s.preferred,
            swap: self.swap,
        };
        let salt = step_salt(seed, view.elapsed);
        if let Some(look) = self.lookahead {
            lookahead(&world, look, ep, &s.from, w, seed, view.elapsed);
        } else {
            // Highest priority first: longest since the last goal, then the seeded tie-break
            // (along Follower's paths: the lower index, as the priorities plane ranks agents).
            let follow = self.follow.is_some();
            order_by_priority(&mut w.order, &s.field, &ep.since_goal, |a| {
                if follow { 0 } else { u64::from(ep.tie[a]) }
            });
            w.to.clear();
            w.to.resize(n, NONE);
            let tie = TieBreak {
                step: salt,
                agent: &[],
            };
            match self.local {
                None => world.joint_move(
                    &s.from,
                    &w.order,
                    &mut w.to,
                    &mut w.occupied_now,
                    &mut w.occupied_next,
                    tie,
                ),
                Some(reach) => world.decentralised_move(&s.from, reach, w, tie),
            }
        }
        for (a, row) in rows.enumerate() {
            out[row] = if s.field[a] == NONE {
                0
            } else {
                action_between(s.from[a], w.to[a], view.stride)
            };
        }
    }
}

/// The tie-break salt of step `elapsed` of the episode with `seed`.
fn step_salt(seed: u64, elapsed: u32) -> u64 {
    mix64(mix64(seed) ^ u64::from(elapsed))
}

/// Fills `order` with the agents that plan (a field), highest priority first: larger `since`,
/// then smaller `tie(a)`, then the agent index.
fn order_by_priority(
    order: &mut Vec<u32>,
    field: &[u32],
    since: &[u32],
    tie: impl Fn(usize) -> u64,
) {
    order.clear();
    order.extend((0..field.len() as u32).filter(|&a| field[a as usize] != NONE));
    order.sort_unstable_by_key(|&a| (std::cmp::Reverse(since[a as usize]), tie(a as usize), a));
}

/// The windowed look-ahead: writes the chosen joint move into `s.to`.
///
/// Each rollout simulates `window` joint PIBT steps under its own per-agent keys. An agent's key
/// sets its priority (its steps since its last goal plus the key's top 8 bits, 0–255; ties go to
/// the smaller key) and its own tie-breaks between equally near cells (a hash of the key, the
/// episode step and the cell), so a rollout is a function of the keys alone. Rollout 0 is PIBT's
/// own order (offsets 0, the seeded per-agent keys; its tie-breaks are keyed per agent, so its
/// first move may differ from `pibt-swap`'s); rollout 1 replays the keys chosen at the previous
/// step, so a plan once chosen is carried on move for move; every other rollout is a local-search
/// move from the best keys so far, drawing [`MUTATED_PERCENT`]% of the agents' keys afresh and
/// keeping everyone else's priorities and routes. Goals stay fixed in the window (the lifelong stream is unknown to the
/// planner); an agent on its goal stops counting and waits with the lowest priority. A rollout
/// scores the distance its agents covered toward their goals plus, for each arrival, the steps
/// left in the window (time the agent would spend on its next goal); the first move of the best
/// (earliest on ties) is executed.
// `a` indexes several parallel per-agent arrays (positions, goals, arrivals), not just one.
#[allow(clippy::needless_range_loop)]
fn lookahead(
    world: &World<'_>,
    look: Lookahead,
    ep: &mut EpisodeState,
    from: &[u32],
    s: &mut Work,
    seed: u64,
    elapsed: u32,
) {
    let n = from.len();
    let salt = step_salt(seed, elapsed);
    // Rollout 0 always beats this, so `s.best` is always a rollout's first move.
    let mut best_score = i64::MIN;
    let carried = std::mem::take(&mut ep.carried_keys);
    // No rollout can score more than every agent walking straight to its goal: once one does,
    // the search stops (at low density plain PIBT usually does, at once).
    let window = look.window.max(1);
    let bound: i64 = (0..n)
        .filter(|&a| world.field[a] != NONE)
        .map(|a| match world.dist(a as u32, from[a]) {
            UNREACHABLE => 0,
            0 => i64::from(window),
            d if u32::from(d) <= window => i64::from(window) + 1,
            _ => i64::from(window),
        })
        .sum();
    for r in 0..look.rollouts_for(n) {
        if best_score >= bound {
            break;
        }
        let rsalt = mix64(salt ^ u64::from(r).wrapping_mul(0xD1B5_4A32_D192_ED03));
        // This rollout's per-agent keys: the priority offset (top 8 bits) and the agent's
        // tie-breaks between equally near cells.
        s.keys.clear();
        if r == 0 {
            s.keys.extend(ep.tie.iter().map(|&t| u64::from(t)));
        } else if r == 1 && carried.len() == n {
            s.keys.extend_from_slice(&carried);
        } else {
            // Local search: the best keys so far, with some agents' keys drawn afresh.
            s.keys.extend((0..n as u64).map(|a| {
                let h = mix64(rsalt ^ a);
                if h % 100 < MUTATED_PERCENT {
                    h
                } else {
                    s.best_keys[a as usize]
                }
            }));
        }
        s.offset.clear();
        s.offset.extend(s.keys.iter().map(|&k| (k >> 56) as u32));
        s.pos.clear();
        s.pos.extend_from_slice(from);
        s.since.clone_from(&ep.since_goal);
        s.arrived.clear();
        s.arrived.resize(n, false);
        let mut score = 0i64;
        for t in 0..window {
            if t == 0 {
                s.prio.clear();
                s.prio
                    .extend((0..n).map(|a| s.since[a].saturating_add(s.offset[a])));
                let keys = &s.keys;
                order_by_priority(&mut s.order, world.field, &s.prio, |a| keys[a]);
            } else {
                // Every waiting agent's priority grew by one: the order holds, except that
                // agents on their goals drop to the end.
                let arrived = &s.arrived;
                s.order.sort_by_key(|&a| arrived[a as usize]);
            }
            s.to.clear();
            s.to.resize(n, NONE);
            world.joint_move(
                &s.pos,
                &s.order,
                &mut s.to,
                &mut s.occupied_now,
                &mut s.occupied_next,
                TieBreak {
                    step: step_salt(seed, elapsed.saturating_add(t)),
                    agent: &s.keys,
                },
            );
            if t == 0 {
                s.first.clone_from(&s.to);
            }
            for a in 0..n {
                if world.field[a] == NONE || s.arrived[a] {
                    continue;
                }
                if s.to[a] == world.goal[a] {
                    s.arrived[a] = true;
                    score += i64::from(window - t) + i64::from(world.dist(a as u32, from[a]));
                }
                s.since[a] = s.since[a].saturating_add(1);
            }
            std::mem::swap(&mut s.pos, &mut s.to);
        }
        for a in 0..n {
            if world.field[a] != NONE && !s.arrived[a] {
                score += i64::from(world.dist(a as u32, from[a]))
                    - i64::from(world.dist(a as u32, s.pos[a]));
            }
        }
        if score > best_score {
            best_score = score;
            s.best.clone_from(&s.first);
            s.best_keys.clone_from(&s.keys);
        }
    }
    s.to.clone_from(&s.best);
    ep.carried_keys = carried;
    ep.carried_keys.clone_from(&s.best_keys);
}

impl Default for Pibt {
    fn default() -> Self {
        Self::new()
    }
}

/// What one joint step reads: the map, every agent's goal and distance field.
struct World<'a> {
    graph: &'a GridGraph,
    fields: &'a [Box<[u16]>],
    /// Per agent: index of its goal's field in `fields` ([`NONE`]: the agent does not plan).
    field: &'a [u32],
    goal: &'a [u32],
    /// Per agent: the cell it tries first ([`NONE`]: none); empty: every agent orders its cells
    /// by distance alone.
    preferred: &'a [u32],
    swap: bool,
}

impl World<'_> {
    /// Distance of `cell` to agent `a`'s goal.
    fn dist(&self, a: u32, cell: u32) -> u16 {
        self.fields[self.field[a as usize] as usize][cell as usize]
    }

    /// Every agent in `w.order` plans a joint step among the agents within `reach` cells of it
    /// (both axes; `w.order` restricted to them) and keeps only its own move, written into
    /// `w.to` (all [`NONE`] on entry).
    fn decentralised_move(&self, from: &[u32], reach: usize, w: &mut Work, tie: TieBreak<'_>) {
        let stride = self.graph.stride as i64;
        let xy = |c: u32| (i64::from(c) / stride, i64::from(c) % stride);
        w.own.clear();
        w.own.resize(from.len(), NONE);
        for &i in &w.order {
            let (x, y) = xy(from[i as usize]);
            let sees = |a: u32| {
                let (ax, ay) = xy(from[a as usize]);
                (ax - x).unsigned_abs() as usize <= reach
                    && (ay - y).unsigned_abs() as usize <= reach
            };
            w.seen.clear();
            w.seen.extend(w.order.iter().copied().filter(|&a| sees(a)));
            self.joint_move(
                from,
                &w.seen,
                &mut w.to,
                &mut w.occupied_now,
                &mut w.occupied_next,
                tie,
            );
            w.own[i as usize] = w.to[i as usize];
            for &a in &w.seen {
                w.to[a as usize] = NONE;
            }
        }
        std::mem::swap(&mut w.to, &mut w.own);
    }

    /// One PIBT joint step: from `from` (per agent), agents in `order`, into `to` (all [`NONE`]
    /// on entry). The two occupancy arrays are all [`NONE`] on entry and on exit.
    fn joint_move(
        &self,
        from: &[u32],
        order: &[u32],
        to: &mut [u32],
        occupied_now: &mut [u32],
        occupied_next: &mut [u32],
        tie: TieBreak<'_>,
    ) {
        for &a in order {
            occupied_now[from[a as usize] as usize] = a;
        }
        let mut step = JointStep {
            world: self,
            from,
            to,
            occupied_now,
            occupied_next,
            tie,
        };
        for &a in order {
            if step.to[a as usize] == NONE {
                step.plan(a, 0);
            }
        }
        for &a in order {
            occupied_now[from[a as usize] as usize] = NONE;
            occupied_next[to[a as usize] as usize] = NONE;
        }
    }
}

/// One joint step being planned: the world, the decisions so far.
struct JointStep<'a> {
    world: &'a World<'a>,
    from: &'a [u32],
    /// Per agent: the decided next cell, or [`NONE`].
    to: &'a mut [u32],
    /// Per cell: the agent standing there now.
    occupied_now: &'a [u32],
    /// Per cell: the agent that will stand there next.
    occupied_next: &'a mut [u32],
    tie: TieBreak<'a>,
}

/// What orders a joint step's equally near cells: a hash of the step's salt, the agent's own
/// salt (none when `agent` is empty, as in plain PIBT) and the cell.
#[derive(Clone, Copy)]
struct TieBreak<'a> {
    step: u64,
    agent: &'a [u64],
}

impl JointStep<'_> {
    fn dist(&self, a: u32, cell: u32) -> u16 {
        self.world.dist(a, cell)
    }

    fn agent_at(&self, cell: u32) -> u32 {
        self.occupied_now[cell as usize]
    }

    /// PIBT's `funcPIBT`: decides agent `i`'s next cell; false if it had to stay against its will.
    fn plan(&mut self, i: u32, depth: usize) -> bool {
        let iu = i as usize;
        let here = self.from[iu];
        // Candidates: the preferred cell (the next cell of the agent's Follower path) if any,
        // then the free neighbours and the current cell, nearest to the goal first; equal
        // distances in a seeded hash order, with staying first (it only ties when the goal is
        // unreachable, and then the agent waits rather than wanders).
        let preferred = self.world.preferred.get(iu).copied().unwrap_or(NONE);
        let mut cand = [NONE; 5];
        let mut keys = [u64::MAX; 5];
        cand[0] = here;
        keys[0] = u64::from(self.dist(i, here)) << 32;
        let mut len = 1;
        for v in self.world.graph.free_neighbours(here) {
            let salt = match self.tie.agent.get(iu) {
                Some(&own) => mix64(self.tie.step ^ own),
                None => self.tie.step,
            };
            let h = mix64(salt ^ (u64::from(i) << 32) ^ u64::from(v)) >> 33;
            cand[len] = v;
            keys[len] = if v == preferred {
                0
            } else {
                (u64::from(self.dist(i, v)) << 32) | (1 + h)
            };
            len += 1;
        }
        // Insertion sort of at most five.
        for a in 1..len {
            let mut b = a;
            while b > 0 && keys[b] < keys[b - 1] {
                keys.swap(b, b - 1);
                cand.swap(b, b - 1);
                b -= 1;
            }
        }
        let mut swap_agent = NONE;
        if self.world.swap {
            swap_agent = self.swap_partner(i, cand[0]);
            if swap_agent != NONE {
                cand[..len].reverse();
            }
        }
        for (k, &u) in cand[..len].iter().enumerate() {
            if self.occupied_next[u as usize] != NONE {
                continue;
            }
            let j = self.agent_at(u);
            // No swap with an agent that already decided to take our cell.
            if j != NONE && self.to[j as usize] == here {
                continue;
            }
            let pushes = j != NONE && u != here && self.to[j as usize] == NONE;
            if pushes && depth >= MAX_INHERITANCE_DEPTH {
                continue;
            }
            self.occupied_next[u as usize] = i;
            self.to[iu] = u;
            if pushes && !self.plan(j, depth + 1) {
                continue;
            }
            if k == 0
                && swap_agent != NONE
                && self.to[swap_agent as usize] == NONE
                && self.occupied_next[here as usize] == NONE
            {
                // Pull the swap partner into the cell we leave.
                self.occupied_next[here as usize] = swap_agent;
                self.to[swap_agent as usize] = here;
            }
            return true;
        }
        self.occupied_next[here as usize] = i;
        self.to[iu] = here;
        false
    }

    /// Free neighbours of `v` that count for passing: all but `came_from` and dead ends where an
    /// agent already sits on its goal. Returns their number and the last one.
    fn passing_neighbours(&self, v: u32, came_from: u32) -> (usize, u32) {
        let mut count = 0;
        let mut last = NONE;
        for u in self.world.graph.free_neighbours(v) {
            let a = self.agent_at(u);
            let parked = self.world.graph.degree[u as usize] == 1
                && a != NONE
                && self.world.goal[a as usize] == u;
            if u != came_from && !parked {
                count += 1;
                last = u;
            }
        }
        (count, last)
    }

    /// LaCAM3's swap test for agent `i` whose best cell is `best`: the agent to pull, or [`NONE`].
    fn swap_partner(&self, i: u32, best: u32) -> u32 {
        let here = self.from[i as usize];
        let j = self.agent_at(best);
        if j != NONE
            && j != i
            && self.to[j as usize] == NONE
            && self.swap_required(i, j, here, best)
            && self.swap_possible(best, here)
        {
            return j;
        }
        // The "clear" case of push-and-swap: an agent behind us needs us out of its corridor.
        if best != here {
            for u in self.world.graph.free_neighbours(here) {
                let k = self.agent_at(u);
                if k != NONE
                    && best != self.from[k as usize]
                    && self.swap_required(k, i, here, best)
                    && self.swap_possible(best, here)
                {
                    return k;
                }
            }
        }
        NONE
    }

    /// Would pushing `puller` (at `v_puller`) ahead of `pusher` (at `v_pusher`) along the
    /// pusher's shortest path run into a dead end before the puller can step aside, while the
    /// two want to pass each other?
    fn swap_required(&self, pusher: u32, puller: u32, v_pusher: u32, v_puller: u32) -> bool {
        let (mut p, mut q) = (v_pusher, v_puller);
        // The pusher's distance strictly falls each round, so this ends.
        while self.dist(pusher, q) < self.dist(pusher, p) {
            let (n, next) = self.passing_neighbours(q, p);
            if n >= 2 {
                return false; // the puller can step aside at q
            }
            if n == 0 {
                break;
            }
            p = q;
            q = next;
        }
        let dp = self.dist(pusher, p);
        self.dist(puller, p) < self.dist(puller, q)
            && dp != UNREACHABLE
            && (dp == 0 || self.dist(pusher, q) < dp)
    }

    /// Can the pair, pulled backwards from (`v_pusher`, `v_puller`), reach a junction?
    fn swap_possible(&self, v_pusher: u32, v_puller: u32) -> bool {
        let (mut p, mut q) = (v_pusher, v_puller);
        // A non-backtracking walk through cells with one way on; bounded by the grid's size.
        for _ in 0..self.world.graph.len() {
            if q == v_pusher {
                return false;
            }
            let (n, next) = self.passing_neighbours(q, p);
            if n >= 2 {
                return true;
            }
            if n == 0 {
                return false;
            }
            p = q;
            q = next;
        }
        false
    }
}

impl Policy for Pibt {
    fn name(&self) -> &str {
        if self.local.is_some() {
            return "pibt-follower-local";
        }
        match (self.swap, self.lookahead, self.follow.is_some()) {
            (_, Some(_), _) => "pibt-lookahead",
            (true, None, true) => "pibt-swap-follower",
            (false, None, true) => "pibt-follower",
            (true, None, false) => "pibt-swap",
            (false, None, false) => "pibt",
        }
    }

    fn reset_episode(&mut self, episode: usize) {
        if let Some(ep) = self.episodes.get_mut(episode) {
            ep.last_elapsed = None;
        }
        if let Some(follow) = &mut self.follow {
            follow.forget(episode);
        }
    }

    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        buffers: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        if self.episodes.len() < episodes.len() {
            self.episodes
                .resize_with(episodes.len(), EpisodeState::default);
        }
        for (k, view) in episodes.iter().enumerate() {
            self.plan_episode(k, view, buffers, radius, actions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planners::FollowerPlannerPolicy;
    use rmapf_env::{
        CollisionSystem, EnvConfig, MapSpec, OnTarget, Simulator, StepBuffers, TargetsSpec,
    };

    /// Runs `policy` on one episode of `map` for at most `steps` steps; returns the buffers and
    /// every action taken, step by step.
    fn run(
        policy: &mut dyn Policy,
        map: &str,
        starts: Vec<[i64; 2]>,
        goals: Vec<[i64; 2]>,
        on_target: OnTarget,
        steps: i64,
    ) -> (StepBuffers, Vec<Vec<u8>>) {
        let n = starts.len();
        let config = EnvConfig {
            map: Some(MapSpec::Text(map.into())),
            agents_xy: Some(starts),
            targets_xy: Some(TargetsSpec::Single(goals)),
            on_target,
            collision_system: CollisionSystem::Soft,
            max_episode_steps: steps,
            obs_radius: 2,
            ..Default::default()
        };
        let mut sim = Simulator::new(&[config]).unwrap();
        let mut b = sim.new_buffers();
        sim.reset(&mut b).unwrap();
        let mut taken = Vec::new();
        while !b.episode_done[0] {
            let mut actions = vec![0u8; n];
            policy.act(&EpisodeView::all(&sim), &b, 2, &mut actions);
            taken.push(actions.clone());
            b.actions.copy_from_slice(&actions);
            sim.step(&mut b).unwrap();
        }
        (b, taken)
    }

    /// Every variant.
    fn planners() -> Vec<Pibt> {
        vec![
            Pibt::new(),
            Pibt::with_swap(true),
            Pibt::with_lookahead(Lookahead::default()),
            Pibt::with_follower_paths(false, PathPlanner::Follower),
            Pibt::with_follower_paths(true, PathPlanner::Follower),
        ]
    }

    #[test]
    fn a_walled_in_agent_and_an_unreachable_goal_wait_in_place() {
        // Agent 0 at (0, 0) is walled in; agent 1's goal (2, 0) is cut off from it; agent 2 can
        // reach its goal (0, 4), at the end of the corridor agent 1 stands in.
        let map = ".#...\n##.##\n.#...";
        for mut p in planners() {
            let (_, taken) = run(
                &mut p,
                map,
                vec![[0, 0], [0, 2], [2, 2]],
                vec![[2, 4], [2, 0], [0, 4]],
                OnTarget::Nothing,
                16,
            );
            assert!(taken.iter().all(|a| a[0] == 0), "{}: {taken:?}", p.name());
            assert_eq!(taken.len(), 16);
            // Agent 1 prefers waiting (no move brings it closer), so it moves only when agent 2
            // pushes it: at most once per move of agent 2's.
            let moves = |k: usize| taken.iter().filter(|a| a[k] != 0).count();
            assert!(moves(1) <= moves(2), "{}: {taken:?}", p.name());
            assert!(moves(2) > 0, "{}: agent 2 never moved", p.name());
        }
    }

    #[test]
    fn agents_that_cannot_move_all_wait() {
        // A full corridor: nobody can move, and nobody is asked to.
        for mut p in planners() {
            let (_, taken) = run(
                &mut p,
                "...",
                vec![[0, 0], [0, 1], [0, 2]],
                vec![[0, 2], [0, 0], [0, 1]],
                OnTarget::Nothing,
                8,
            );
            assert!(taken.iter().flatten().all(|&a| a == 0), "{}", p.name());
        }
    }

    #[test]
    fn swap_lets_two_agents_pass_in_a_corridor_with_a_side_pocket() {
        // A corridor with one side pocket at its left end: the agents start facing each other and
        // must swap ends. PIBT-swap pulls the other agent back to the pocket and they pass.
        let map = ".......\n#.#####";
        let starts = vec![[0, 2], [0, 5]];
        let goals = vec![[0, 6], [0, 0]];
        for mut p in [
            Pibt::with_swap(true),
            Pibt::with_lookahead(Lookahead::default()),
            Pibt::with_follower_paths(true, PathPlanner::Follower),
        ] {
            let (b, taken) = run(
                &mut p,
                map,
                starts.clone(),
                goals.clone(),
                OnTarget::Nothing,
                64,
            );
            let done = b.global_xy == b.global_target_xy;
            assert!(done, "{} did not pass: {taken:?}", p.name());
            assert!(taken.len() < 32, "{} took {} steps", p.name(), taken.len());
        }
    }

    #[test]
    fn decisions_depend_on_the_instance_only() {
        let map = ".....\n.#.#.\n.....\n.#.#.\n.....";
        let starts = vec![[0, 0], [4, 4], [0, 4], [4, 0]];
        let goals = vec![[4, 4], [0, 0], [4, 0], [0, 4]];
        for (mut reused, mut fresh) in planners().into_iter().zip(planners()) {
            let go = |p: &mut Pibt| {
                let (_, taken) = run(p, map, starts.clone(), goals.clone(), OnTarget::Finish, 32);
                taken
            };
            // The same planner again (its caches warm) and a fresh one take the same actions.
            let first = go(&mut reused);
            assert_eq!(first, go(&mut reused), "{}", reused.name());
            assert_eq!(first, go(&mut fresh), "{}", reused.name());
        }
    }

    #[test]
    fn unhindered_agents_step_along_their_follower_paths() {
        // Two agents on an open grid, too far apart to see each other (radius 2): each takes
        // exactly the moves of Follower's planner, whose paths pick among the many shortest
        // routes to a diagonal goal by its own rule.
        let map = vec![".".repeat(8); 10].join("\n");
        let starts = vec![[0, 0], [9, 0]];
        let goals = vec![[2, 7], [7, 7]];
        let go = |p: &mut dyn Policy| {
            let (b, taken) = run(
                p,
                &map,
                starts.clone(),
                goals.clone(),
                OnTarget::Nothing,
                12,
            );
            assert_eq!(
                b.global_xy,
                b.global_target_xy,
                "{} did not arrive",
                p.name()
            );
            taken
        };
        let planner = go(&mut FollowerPlannerPolicy::new(PathPlanner::Follower));
        for swap in [false, true] {
            let mut p = Pibt::with_follower_paths(swap, PathPlanner::Follower);
            assert_eq!(go(&mut p), planner, "{}", p.name());
        }
    }

    /// The first actions of `p` on a junction (0, 1) that both agents' paths enter first, the
    /// agents 2 cells apart at `starts` (actions: 0 wait, 1 up, 2 down, 3 left, 4 right).
    fn junction_first_step(p: &mut Pibt, starts: Vec<[i64; 2]>, goals: Vec<[i64; 2]>) -> Vec<u8> {
        let map = "...\n#.#\n#.#";
        let (_, taken) = run(p, map, starts, goals, OnTarget::Nothing, 2);
        taken[0].clone()
    }

    #[test]
    fn along_follower_paths_equal_priorities_go_to_the_lower_index() {
        // Both agents have held their goals equally long: agent 0 goes into the junction, agent
        // 1 waits, whichever order the agents are given in.
        for (starts, goals, expected) in [
            (vec![[0, 0], [0, 2]], vec![[2, 1], [1, 1]], vec![4, 0]),
            (vec![[0, 2], [0, 0]], vec![[1, 1], [2, 1]], vec![3, 0]),
        ] {
            for swap in [false, true] {
                let mut p = Pibt::with_follower_paths(swap, PathPlanner::Follower);
                let taken = junction_first_step(&mut p, starts.clone(), goals.clone());
                assert_eq!(taken, expected, "{}", p.name());
            }
        }
    }

    #[test]
    fn local_planning_sees_only_the_agents_within_its_reach() {
        // Within reach 2 agent 1 sees agent 0 and waits for it; within reach 1 neither sees the
        // other and both step into the junction (the collision rule settles it).
        let first = |r| {
            let mut p = Pibt::with_follower_paths_local(r, PathPlanner::Follower);
            junction_first_step(&mut p, vec![[0, 0], [0, 2]], vec![[2, 1], [1, 1]])
        };
        assert_eq!(first(2), vec![4, 0]);
        assert_eq!(first(1), vec![4, 3]);
    }

    #[test]
    fn local_planning_that_sees_every_agent_is_the_joint_plan() {
        let map = ".....\n.#.#.\n.....\n.#.#.\n.....";
        let starts = vec![[0, 0], [4, 4], [0, 4], [4, 0], [2, 2]];
        let goals = vec![[4, 4], [0, 0], [4, 0], [0, 4], [0, 2]];
        let go = |p: &mut Pibt| run(p, map, starts.clone(), goals.clone(), OnTarget::Nothing, 24).1;
        let joint = go(&mut Pibt::with_follower_paths(false, PathPlanner::Follower));
        let local = go(&mut Pibt::with_follower_paths_local(
            16,
            PathPlanner::Follower,
        ));
        assert_eq!(joint, local);
        assert!(joint.iter().flatten().filter(|&&a| a != 0).count() > 20);
    }

    #[test]
    fn lookahead_budget_bounds_the_rollouts() {
        let look = Lookahead::default();
        assert_eq!(look.rollouts_for(8), 128);
        assert_eq!(look.rollouts_for(32), 128);
        assert_eq!(look.rollouts_for(64), 64);
        assert_eq!(look.rollouts_for(128), 16);
        assert_eq!(look.rollouts_for(192), 7);
        assert_eq!(look.rollouts_for(256), 4);
        assert_eq!(look.rollouts_for(100_000), 4);
        let fixed = Lookahead {
            rollouts: 2,
            window: 3,
            agent_budget: None,
            crowd: None,
        };
        assert_eq!(fixed.rollouts_for(100_000), 2);
    }
}
