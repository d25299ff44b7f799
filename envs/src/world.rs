//! The ECS: agents are entities, episodes are a resource, and one step is a chain of systems
//! (resolve collisions (reading the actions) → goals and rewards → time limit and metrics →
//! auto-reset → observe).
//!
//! Several episodes live in one `World`. The caller owns the [`StepBuffers`]; `step` swaps them
//! into the world for the duration of the schedule, so nothing is copied or allocated.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;

use crate::config::{EnvConfig, ObservationType, OnTarget, RewardKind, Xy};
use crate::episode::Episode;
use crate::error::EnvError;
use crate::goals::GoalStream;
use crate::grid::{Cell, NUM_ACTIONS};
use crate::metrics::EpisodeMetrics;
use crate::observe::{agents_density, write_target_xy, write_window};
use crate::rules::collision::{Movers, resolve_moves};

/// Which episode an agent belongs to, its index there, and its row in the batch buffers.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentRow {
    /// Episode index in the batch.
    pub episode: u32,
    /// Agent index within the episode (pogema's `agent_idx`).
    pub index: u32,
    /// Row in `[N, ...]` buffers.
    pub row: u32,
}

/// Current padded cell.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position(pub Cell);

/// Current goal cell.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Goal(pub Cell);

/// Start cell of the episode (origin of the relative `xy` observations).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start(pub Cell);

/// Whether the agent takes part (false once a `finish` agent reached its goal).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Active(pub bool);

/// This step's action (after `soft` rewrote reverted moves to 0).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action(pub u8);

/// The next cell on the agent's planned shortest path (follower observation; rewards for
/// following it compare the position after the next move with this cell).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan(pub Cell);

/// The agent's lifelong goal stream.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct Stream(pub GoalStream);

/// All episodes of the world.
#[derive(Resource, Debug)]
pub struct Episodes(pub Vec<Episode>);

/// Caller-owned input and output buffers for a batch of `N` agents in `E` episodes.
///
/// Shapes: `obs [N, C, R, R]` (u8 0/1; C = 3 for `default`, 2 for `POMAPF`/`MAPF`), coordinates
/// `[N, 2]` (i32), per-agent vectors `[N]`, per-episode vectors `[E]`.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct StepBuffers {
    /// Input: one action per agent (`0..5`). After a step, `soft` reverted moves read 0.
    pub actions: Vec<u8>,
    /// `[N, C, R, R]` observations.
    pub obs: Vec<u8>,
    /// `[N, 2]` position relative to the start (reported by `POMAPF`/`MAPF`; written for all types).
    pub xy: Vec<i32>,
    /// `[N, 2]` goal relative to the start.
    pub target_xy: Vec<i32>,
    /// `[N, 2]` padded absolute position (`MAPF`'s `global_xy`).
    pub global_xy: Vec<i32>,
    /// `[N, 2]` padded absolute goal (`MAPF`'s `global_target_xy`).
    pub global_target_xy: Vec<i32>,
    /// `[N]` rewards.
    pub rewards: Vec<f32>,
    /// `[N]` terminated flags.
    pub terminated: Vec<bool>,
    /// `[N]` truncated flags (time limit).
    pub truncated: Vec<bool>,
    /// `[N]` pogema's `infos[i]['is_active']`.
    pub active: Vec<bool>,
    /// `[E]` true on the step an episode finished (all terminated or all truncated).
    pub episode_done: Vec<bool>,
    /// `[E]` metrics of episodes that finished this step.
    pub metrics: Vec<Option<EpisodeMetrics>>,
}

/// Batch shape shared by all episodes of a [`Simulator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchLayout {
    /// Observation radius `r`.
    pub radius: usize,
    /// Window side `R = 2r + 1`.
    pub side: usize,
    /// Channels `C`.
    pub channels: usize,
    /// Observation kind.
    pub observation_type: ObservationType,
    /// Total agents `N`.
    pub num_agents: usize,
    /// Episodes `E`.
    pub num_episodes: usize,
    /// Agents per episode.
    pub agents_per_episode: Vec<usize>,
}

impl BatchLayout {
    /// Bytes of one agent's observation, `C·R·R`.
    pub fn obs_len(&self) -> usize {
        self.channels * self.side * self.side
    }
}

/// Read-only copy of one episode's state, for inspection and tests (allocates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpisodeSnapshot {
    /// Unpadded positions, by agent index.
    pub positions: Vec<Xy>,
    /// Unpadded goals.
    pub goals: Vec<Xy>,
    /// Activity flags.
    pub active: Vec<bool>,
    /// Unpadded cells where the occupancy array is set, row-major.
    pub occupied: Vec<Xy>,
    /// Unpadded obstacles, row-major.
    pub obstacles: Vec<u8>,
    /// Steps since reset.
    pub elapsed: u32,
}

fn resolve_collisions(
    io: Res<StepBuffers>,
    mut episodes: ResMut<Episodes>,
    mut agents: Query<(&AgentRow, &mut Position, &mut Action, &Active)>,
) {
    let eps = &mut episodes.0;
    // Gather positions and activity, and read this step's actions straight from the input buffer.
    for (row, pos, _, active) in &agents {
        let e = &mut eps[row.episode as usize];
        let i = row.index as usize;
        e.positions[i] = pos.0;
        e.actions[i] = io.actions[row.row as usize];
        e.active[i] = active.0;
    }
    for e in eps.iter_mut() {
        let offsets = e.geometry.action_offsets();
        let cfg = &e.config.config;
        let mut movers = Movers {
            obstacles: &e.obstacles,
            occupancy: &mut e.occupancy,
            offsets,
            positions: &mut e.positions,
            actions: &mut e.actions,
            active: &e.active,
        };
        resolve_moves(
            cfg.collision_system,
            cfg.bug_compat,
            &mut movers,
            &mut e.collision,
        );
    }
    for (row, mut pos, mut action, _) in &mut agents {
        let e = &eps[row.episode as usize];
        pos.0 = e.positions[row.index as usize];
        action.0 = e.actions[row.index as usize];
    }
}

type GoalQuery<'a> = (
    &'a Plan,
    &'a AgentRow,
    &'a Position,
    &'a mut Goal,
    &'a mut Active,
    &'a mut Stream,
    &'a Action,
);

fn settle_goals(
    mut episodes: ResMut<Episodes>,
    mut io: ResMut<StepBuffers>,
    mut agents: Query<GoalQuery<'_>>,
    density: Res<DensityMetric>,
) {
    let eps = &mut episodes.0;
    let io = &mut *io;
    for (plan, row, pos, mut goal, mut active, mut stream, action) in &mut agents {
        let e = &mut eps[row.episode as usize];
        let (i, r) = (row.index as usize, row.row as usize);
        e.requested[i] = io.actions[r];
        e.was_active[i] = active.0;
        e.followed[i] = pos.0 == plan.0;
        io.actions[r] = action.0;
        let on_goal = pos.0 == goal.0;
        let was_on_goal = on_goal && active.0;
        e.was_on_goal[i] = was_on_goal;
        match e.config.config.on_target {
            OnTarget::Finish => {
                io.rewards[r] = if was_on_goal { 1.0 } else { 0.0 };
                io.terminated[r] = on_goal;
                if on_goal {
                    if active.0 {
                        e.occupancy[pos.0 as usize] = 0;
                    }
                    active.0 = false;
                }
            }
            OnTarget::Restart => {
                io.rewards[r] = if was_on_goal { 1.0 } else { 0.0 };
                io.terminated[r] = false;
                if on_goal {
                    match e.goals.next_goal(&mut stream.0, i, pos.0, &e.geometry) {
                        Ok(g) => goal.0 = g,
                        Err(err) => e.error = Some(err),
                    }
                }
            }
            OnTarget::Nothing => {}
        }
        io.active[r] = active.0;
    }
    if density.0 {
        // The observation this step returns: positions after the move, finished agents hidden.
        for (_, row, pos, ..) in &agents {
            let e = &mut eps[row.episode as usize];
            let d = agents_density(&e.obstacles, &e.occupancy, &e.geometry, pos.0);
            e.metrics.add_density(d);
        }
        for e in eps.iter_mut() {
            e.metrics.close_density();
        }
    }
    for e in eps
        .iter_mut()
        .filter(|e| e.config.config.on_target == OnTarget::Nothing)
    {
        let solved = e.was_on_goal.iter().all(|&g| g);
        let rows = e.first_row..e.first_row + e.num_agents();
        io.rewards[rows.clone()].fill(if solved { 1.0 } else { 0.0 });
        io.terminated[rows].fill(solved);
    }
    for e in eps
        .iter()
        .filter(|e| e.config.config.reward != RewardKind::Pogema)
    {
        for i in 0..e.num_agents() {
            io.rewards[e.first_row + i] = shaped_reward(e.config.config.reward, e, i);
        }
    }
}

/// The SRMT/Follower reward variants (see [`RewardKind`]); 0 for agents already finished.
fn shaped_reward(kind: RewardKind, e: &Episode, i: usize) -> f32 {
    if !e.was_active[i] {
        return 0.0;
    }
    let goal = if e.was_on_goal[i] { 1.0 } else { 0.0 };
    let followed = e.followed[i];
    match kind {
        RewardKind::Pogema | RewardKind::Sparse => goal,
        RewardKind::Directional => goal + if followed { 0.005 } else { 0.0 },
        RewardKind::Dense => goal - 0.01,
        RewardKind::DirectionalNegative => goal + if followed { -0.005 } else { -0.01 },
        RewardKind::MovingNegative => goal + if e.requested[i] != 0 { -0.01 } else { -0.005 },
        RewardKind::FollowerLifelong => {
            if followed {
                0.01
            } else {
                0.0
            }
        }
    }
}

fn observe(
    mut episodes: ResMut<Episodes>,
    mut io: ResMut<StepBuffers>,
    mut agents: Query<(&AgentRow, &Position, &Goal, &Start, &mut Plan)>,
    density: Res<DensityMetric>,
) {
    let eps = &mut episodes.0;
    let io = &mut *io;
    // A fresh episode's first observation counts towards its agents density (later ones are
    // counted by `settle_goals`, before an auto-reset can replace them).
    let fresh = |e: &Episode| e.elapsed == 0 && !e.metrics.density_counted();
    if density.0 && eps.iter().any(fresh) {
        for (row, pos, ..) in &agents {
            let e = &mut eps[row.episode as usize];
            if fresh(e) {
                let d = agents_density(&e.obstacles, &e.occupancy, &e.geometry, pos.0);
                e.metrics.add_density(d);
            }
        }
        for e in eps.iter_mut().filter(|e| fresh(e)) {
            e.metrics.close_density();
        }
    }
    let follower = |e: &Episode| e.config.config.observation_type == ObservationType::Follower;
    let any_follower = eps.iter().any(follower);
    if any_follower {
        for (row, _, goal, _, _) in &agents {
            let e = &mut eps[row.episode as usize];
            if follower(e) {
                e.goal_count[goal.0 as usize] += 1;
            }
        }
    }
    for (row, pos, goal, start, mut plan) in &mut agents {
        let e = &mut eps[row.episode as usize];
        let r = row.row as usize;
        let side = 2 * e.geometry.radius + 1;
        let area = side * side;
        match e.config.config.observation_type {
            ObservationType::Default => {
                let geo = &e.geometry;
                let out = &mut io.obs[r * 3 * area..(r + 1) * 3 * area];
                let (obstacles, rest) = out.split_at_mut(area);
                let (agents_plane, target) = rest.split_at_mut(area);
                write_window(&e.obstacles, geo, pos.0, obstacles);
                write_window(&e.occupancy, geo, pos.0, agents_plane);
                write_target_xy(
                    geo.radius,
                    geo.padded_xy(pos.0),
                    geo.padded_xy(goal.0),
                    target,
                );
            }
            ObservationType::Pomapf | ObservationType::Mapf => {
                let geo = &e.geometry;
                let out = &mut io.obs[r * 2 * area..(r + 1) * 2 * area];
                let (obstacles, agents_plane) = out.split_at_mut(area);
                write_window(&e.obstacles, geo, pos.0, obstacles);
                write_window(&e.occupancy, geo, pos.0, agents_plane);
            }
            ObservationType::Follower => {
                let out = &mut io.obs[r * 3 * area..(r + 1) * 3 * area];
                plan.0 = write_follower(e, row.index as usize, pos.0, goal.0, out);
            }
        }
        // Coordinates for every observation type (POMAPF/MAPF report them; planners use them).
        let geo = &e.geometry;
        let [x, y] = geo.padded_xy(pos.0);
        let [gx, gy] = geo.padded_xy(goal.0);
        let [sx, sy] = geo.padded_xy(start.0);
        io.xy[2 * r..2 * r + 2].copy_from_slice(&[(x - sx) as i32, (y - sy) as i32]);
        io.target_xy[2 * r..2 * r + 2].copy_from_slice(&[(gx - sx) as i32, (gy - sy) as i32]);
        io.global_xy[2 * r..2 * r + 2].copy_from_slice(&[x as i32, y as i32]);
        io.global_target_xy[2 * r..2 * r + 2].copy_from_slice(&[gx as i32, gy as i32]);
    }
    if any_follower {
        for (row, _, goal, _, _) in &agents {
            let e = &mut eps[row.episode as usize];
            if follower(e) {
                e.goal_count[goal.0 as usize] -= 1;
            }
        }
    }
}

/// Path step order of the SRMT reference planner: right, down, up, left (Δrow, Δcol).
const PATH_ORDER: [[i64; 2]; 4] = [[0, 1], [1, 0], [-1, 0], [0, -1]];

/// Writes one agent's follower observation (`[3, R, R]`, i8 values as u8) and returns the next
/// cell of its planned path (its own cell when on goal or cut off).
fn write_follower(e: &mut Episode, agent: usize, pos: Cell, goal: Cell, out: &mut [u8]) -> Cell {
    let geo = &e.geometry;
    let r = geo.radius as i64;
    let side = (2 * r + 1) as usize;
    let area = side * side;
    let (obstacles, rest) = out.split_at_mut(area);
    let (agents_plane, goals_plane) = rest.split_at_mut(area);
    write_window(&e.obstacles, geo, pos, obstacles);
    for v in obstacles.iter_mut() {
        *v = if *v != 0 { (-1i8) as u8 } else { 0 };
    }
    write_window(&e.occupancy, geo, pos, agents_plane);
    // Other agents' goals: every goal in view, minus the agent's own.
    let [x, y] = geo.padded_xy(pos);
    let stride = geo.stride as i64;
    for dx in -r..=r {
        for dy in -r..=r {
            let cell = ((x + dx) * stride + (y + dy)) as usize;
            let own = u16::from(cell == goal as usize);
            goals_plane[((dx + r) * (2 * r + 1) + (dy + r)) as usize] =
                u8::from(e.goal_count[cell] > own);
        }
    }
    // The planned path from the agent's cell, drawn until it leaves the window.
    let mut path = std::mem::take(&mut e.path);
    match &mut e.follower_planner {
        Some(planner) => planner.plan(agent, pos, goal, &e.occupancy, &mut path),
        None => shortest_path_prefix(e, agent, pos, goal, &mut path),
    }
    let geo = &e.geometry;
    for &c in &path {
        let [cx, cy] = geo.padded_xy(c);
        if (cx - x).abs() > r || (cy - y).abs() > r {
            break;
        }
        obstacles[((cx - x + r) * (2 * r + 1) + (cy - y + r)) as usize] = 1;
    }
    let next = path.get(1).copied().unwrap_or(pos);
    e.path = path;
    next
}

/// The static shortest path from `pos` towards `goal` (steps tried right, down, up, left), up
/// to its first cell outside the observation window; empty when the goal is cut off.
fn shortest_path_prefix(
    e: &mut Episode,
    agent: usize,
    pos: Cell,
    goal: Cell,
    path: &mut Vec<Cell>,
) {
    path.clear();
    let geo = e.geometry.clone();
    let r = geo.radius as i64;
    let stride = geo.stride as i64;
    let [x, y] = geo.padded_xy(pos);
    let dist = e.distance_field(agent, goal);
    if dist[pos as usize] == crate::episode::UNREACHABLE {
        return;
    }
    let (mut cx, mut cy) = (x, y);
    path.push(pos);
    loop {
        let here = dist[(cx * stride + cy) as usize];
        if here == 0 {
            break;
        }
        let Some([nx, ny]) = PATH_ORDER
            .iter()
            .map(|[dx, dy]| [cx + dx, cy + dy])
            .find(|[nx, ny]| dist[(nx * stride + ny) as usize] == here - 1)
        else {
            break;
        };
        path.push((nx * stride + ny) as Cell);
        if (nx - x).abs() > r || (ny - y).abs() > r {
            break;
        }
        (cx, cy) = (nx, ny);
    }
}

fn time_limit(mut episodes: ResMut<Episodes>, mut io: ResMut<StepBuffers>) {
    let io = &mut *io;
    for (k, e) in episodes.0.iter_mut().enumerate() {
        e.elapsed += 1;
        let rows = e.first_row..e.first_row + e.num_agents();
        let truncated = e.elapsed >= e.config.max_episode_steps;
        io.truncated[rows.clone()].fill(truncated);
        let finished = truncated || io.terminated[rows].iter().all(|&t| t);
        io.episode_done[k] = finished;
        io.metrics[k] = e.record_metrics(finished);
    }
}

/// Whether finished episodes rebuild themselves within the step that finished them.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoReset(pub bool);

/// Whether episodes record pogema's `avg_agents_density` (two window counts per agent and step).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DensityMetric(pub bool);

type ResetQuery<'a> = (
    &'a AgentRow,
    &'a mut Position,
    &'a mut Goal,
    &'a mut Start,
    &'a mut Active,
    &'a mut Stream,
);

/// Writes the pending resets of `eps` into their agents' components (one pass over all agents).
fn apply_pending(eps: &mut [Episode], agents: &mut Query<ResetQuery<'_>>) {
    for (row, mut pos, mut goal, mut start, mut active, mut stream) in agents.iter_mut() {
        if let Some(inits) = &eps[row.episode as usize].pending {
            let init = &inits[row.index as usize];
            pos.0 = init.start;
            start.0 = init.start;
            goal.0 = init.goal;
            active.0 = true;
            stream.0 = init.stream.clone();
        }
    }
    for e in eps.iter_mut() {
        e.pending = None;
    }
}

fn auto_reset(
    flag: Res<AutoReset>,
    mut episodes: ResMut<Episodes>,
    mut io: ResMut<StepBuffers>,
    mut agents: Query<ResetQuery<'_>>,
) {
    if !flag.0 || !io.episode_done.iter().any(|&d| d) {
        return;
    }
    let io = &mut *io;
    for (k, e) in episodes.0.iter_mut().enumerate() {
        if io.episode_done[k] {
            e.advance();
            io.active[e.first_row..e.first_row + e.num_agents()].fill(true);
        }
    }
    apply_pending(&mut episodes.0, &mut agents);
}

fn reset_flagged(mut episodes: ResMut<Episodes>, mut agents: Query<ResetQuery<'_>>) {
    apply_pending(&mut episodes.0, &mut agents);
}

/// A batch of episodes in one bevy_ecs `World`, stepped by one schedule.
pub struct Simulator {
    world: World,
    step_schedule: Schedule,
    observe_schedule: Schedule,
    layout: BatchLayout,
    /// Whether `reset` has run (stepping before it is an error, as in pogema).
    ready: bool,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Validates every config and builds the world. All episodes must share `obs_radius` and
    /// `observation_type` (they share one observation buffer layout). Call [`Simulator::reset`]
    /// before stepping.
    pub fn new(configs: &[EnvConfig]) -> Result<Self, EnvError> {
        Self::check_compatible(configs)?;
        let first = &configs[0];
        let mut world = World::new();
        let mut episodes = Vec::with_capacity(configs.len());
        let mut row = 0usize;
        let mut agents_per_episode = Vec::with_capacity(configs.len());
        for (k, c) in configs.iter().enumerate() {
            let rc = c.resolve()?;
            let n = rc.num_agents;
            world.spawn_batch((0..n).map(move |i| {
                (
                    AgentRow {
                        episode: k as u32,
                        index: i as u32,
                        row: (row + i) as u32,
                    },
                    Position(0),
                    Goal(0),
                    Start(0),
                    Active(true),
                    Action(0),
                    Plan(0),
                    Stream(GoalStream {
                        rng: crate::rng::NumpyRng::new(0),
                        seq_index: 0,
                    }),
                )
            }));
            episodes.push(Episode::new(rc, row));
            agents_per_episode.push(n);
            row += n;
        }
        let radius = first.obs_radius as usize;
        let observation_type = first.observation_type;
        let layout = BatchLayout {
            radius,
            side: 2 * radius + 1,
            channels: match observation_type {
                ObservationType::Default | ObservationType::Follower => 3,
                ObservationType::Pomapf | ObservationType::Mapf => 2,
            },
            observation_type,
            num_agents: row,
            num_episodes: configs.len(),
            agents_per_episode,
        };
        world.insert_resource(Episodes(episodes));
        world.insert_resource(StepBuffers::default());
        world.insert_resource(AutoReset(false));
        world.insert_resource(DensityMetric(false));
        let mut step_schedule = Schedule::default();
        step_schedule.set_executor(SingleThreadedExecutor::new());
        step_schedule.add_systems(
            (
                resolve_collisions,
                settle_goals,
                time_limit,
                auto_reset,
                observe,
            )
                .chain(),
        );
        let mut observe_schedule = Schedule::default();
        observe_schedule.set_executor(SingleThreadedExecutor::new());
        observe_schedule.add_systems((reset_flagged, observe).chain());
        Ok(Self {
            world,
            step_schedule,
            observe_schedule,
            layout,
            ready: false,
        })
    }

    /// Checks that `configs` can share one batch (same radius and observation type).
    pub fn check_compatible(configs: &[EnvConfig]) -> Result<(), EnvError> {
        let Some(first) = configs.first() else {
            return Err(EnvError::config(
                "configs",
                "a simulator needs at least one episode",
            ));
        };
        for (k, c) in configs.iter().enumerate() {
            if c.obs_radius != first.obs_radius {
                return Err(EnvError::config(
                    "obs_radius",
                    format!("episode {k} differs from episode 0; a batch shares one radius"),
                ));
            }
            if c.observation_type != first.observation_type {
                return Err(EnvError::config(
                    "observation_type",
                    format!(
                        "episode {k} differs from episode 0; a batch shares one observation type"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The batch shape.
    pub fn layout(&self) -> &BatchLayout {
        &self.layout
    }

    /// Buffers of the right sizes for this batch (allocate once, reuse for every step).
    pub fn new_buffers(&self) -> StepBuffers {
        let l = &self.layout;
        let n = l.num_agents;
        StepBuffers {
            actions: vec![0; n],
            obs: vec![0; n * l.obs_len()],
            xy: vec![0; 2 * n],
            target_xy: vec![0; 2 * n],
            global_xy: vec![0; 2 * n],
            global_target_xy: vec![0; 2 * n],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            active: vec![true; n],
            episode_done: vec![false; l.num_episodes],
            metrics: vec![None; l.num_episodes],
        }
    }

    fn check_buffers(&self, b: &StepBuffers) -> Result<(), EnvError> {
        let l = &self.layout;
        let n = l.num_agents;
        let e = l.num_episodes;
        let checks = [
            ("actions", b.actions.len(), n),
            ("obs", b.obs.len(), n * l.obs_len()),
            ("xy", b.xy.len(), 2 * n),
            ("target_xy", b.target_xy.len(), 2 * n),
            ("global_xy", b.global_xy.len(), 2 * n),
            ("global_target_xy", b.global_target_xy.len(), 2 * n),
            ("rewards", b.rewards.len(), n),
            ("terminated", b.terminated.len(), n),
            ("truncated", b.truncated.len(), n),
            ("active", b.active.len(), n),
            ("episode_done", b.episode_done.len(), e),
            ("metrics", b.metrics.len(), e),
        ];
        for (name, found, expected) in checks {
            if found != expected {
                if name == "actions" {
                    return Err(EnvError::WrongActionCount { expected, found });
                }
                return Err(EnvError::WrongBufferLength {
                    name,
                    expected,
                    found,
                });
            }
        }
        Ok(())
    }

    /// Overrides episode `episode`'s config seed, the start of its seed schedule (`None`: OS
    /// entropy), from the next reset on.
    pub fn set_seed(&mut self, episode: usize, seed: Option<u64>) -> Result<(), EnvError> {
        let mut eps = self.world.resource_mut::<Episodes>();
        let len = eps.0.len();
        let e = eps
            .0
            .get_mut(episode)
            .ok_or_else(|| EnvError::config("episode", format!("{episode} is not in 0..{len}")))?;
        e.base_seed = seed;
        e.seed = seed;
        Ok(())
    }

    /// Turns auto-reset on or off (off by default, as in pogema). When on, an episode that
    /// finishes reports its rewards, flags and metrics on that step and is rebuilt within the same
    /// step from the next seed of its schedule ([`crate::episode::schedule_seed`]); the
    /// observations returned are the new instance's first ones.
    pub fn set_auto_reset(&mut self, on: bool) {
        self.world.resource_mut::<AutoReset>().0 = on;
    }

    /// Turns pogema's `avg_agents_density` metric on or off (off by default: it reads two
    /// observation windows per agent and step). It counts from the next reset on; the POGEMA
    /// benchmark's Congestion is computed from it.
    pub fn set_density_metric(&mut self, on: bool) {
        self.world.resource_mut::<DensityMetric>().0 = on;
    }

    /// Resets every episode, rebuilding each instance from its config seed (as pogema 1.4.0 does on
    /// every reset; this also restarts the seed schedule), and writes the first observations.
    pub fn reset(&mut self, buffers: &mut StepBuffers) -> Result<(), EnvError> {
        self.check_buffers(buffers)?;
        self.ready = false;
        {
            let mut eps = self.world.resource_mut::<Episodes>();
            for e in eps.0.iter_mut() {
                e.resets = 0;
                e.seed = e.base_seed;
                e.pending = Some(e.reset()?);
            }
        }
        buffers.rewards.fill(0.0);
        buffers.terminated.fill(false);
        buffers.truncated.fill(false);
        buffers.active.fill(true);
        buffers.episode_done.fill(false);
        buffers.metrics.fill(None);
        self.run(buffers, false);
        self.ready = true;
        Ok(())
    }

    /// Rebuilds the episodes flagged in `buffers.episode_done` from the next seed of their
    /// schedules (what auto-reset does inside a step) and re-observes. Returns how many were reset.
    pub fn reset_finished(&mut self, buffers: &mut StepBuffers) -> Result<usize, EnvError> {
        self.check_buffers(buffers)?;
        let mut count = 0;
        {
            let mut eps = self.world.resource_mut::<Episodes>();
            for (k, e) in eps.0.iter_mut().enumerate() {
                if buffers.episode_done[k] {
                    e.advance();
                    if let Some(err) = e.error.take() {
                        return Err(err);
                    }
                    let rows = e.first_row..e.first_row + e.num_agents();
                    buffers.active[rows.clone()].fill(true);
                    buffers.terminated[rows.clone()].fill(false);
                    buffers.truncated[rows].fill(false);
                    buffers.episode_done[k] = false;
                    count += 1;
                }
            }
        }
        self.run(buffers, false);
        Ok(count)
    }

    /// Steps every episode with `buffers.actions` and writes all outputs into `buffers`.
    pub fn step(&mut self, buffers: &mut StepBuffers) -> Result<(), EnvError> {
        if !self.ready {
            return Err(EnvError::ResetNeeded);
        }
        self.check_buffers(buffers)?;
        if let Some((agent, &action)) = buffers
            .actions
            .iter()
            .enumerate()
            .find(|&(_, &a)| a >= NUM_ACTIONS)
        {
            return Err(EnvError::InvalidAction { agent, action });
        }
        self.run(buffers, true);
        let mut eps = self.world.resource_mut::<Episodes>();
        if let Some(err) = eps.0.iter_mut().find_map(|e| e.error.take()) {
            return Err(err);
        }
        Ok(())
    }

    fn run(&mut self, buffers: &mut StepBuffers, step: bool) {
        std::mem::swap(&mut *self.world.resource_mut::<StepBuffers>(), buffers);
        if step {
            self.step_schedule.run(&mut self.world);
        } else {
            self.observe_schedule.run(&mut self.world);
        }
        std::mem::swap(&mut *self.world.resource_mut::<StepBuffers>(), buffers);
    }

    /// A copy of episode `k`'s state (positions, goals, activity, occupancy, obstacles).
    pub fn snapshot(&mut self, k: usize) -> EpisodeSnapshot {
        let mut q = self.world.query::<(&AgentRow, &Position, &Goal, &Active)>();
        let eps = self.world.resource::<Episodes>();
        let e = &eps.0[k];
        let geo = &e.geometry;
        let n = e.num_agents();
        let mut snap = EpisodeSnapshot {
            positions: vec![[0, 0]; n],
            goals: vec![[0, 0]; n],
            active: vec![false; n],
            occupied: Vec::new(),
            obstacles: Vec::with_capacity(geo.height * geo.width),
            elapsed: e.elapsed,
        };
        for (row, pos, goal, active) in q.iter(&self.world) {
            if row.episode as usize == k {
                let i = row.index as usize;
                snap.positions[i] = geo.xy(pos.0);
                snap.goals[i] = geo.xy(goal.0);
                snap.active[i] = active.0;
            }
        }
        for x in 0..geo.height as i64 {
            for y in 0..geo.width as i64 {
                let c = geo.cell([x, y]) as usize;
                if e.occupancy[c] != 0 {
                    snap.occupied.push([x, y]);
                }
                snap.obstacles.push(e.obstacles[c]);
            }
        }
        snap
    }

    /// Episode `k`'s padded obstacle grid (MAPF's `global_obstacles`) and its row stride.
    pub fn padded_obstacles(&self, k: usize) -> (&[u8], usize) {
        let e = &self.world.resource::<Episodes>().0[k];
        (&e.obstacles, e.geometry.stride)
    }

    /// Episode `k`'s instance seed (`None`: drawn from OS entropy) and the steps taken since its
    /// last reset.
    pub fn episode_clock(&self, k: usize) -> (Option<u64>, u32) {
        let e = &self.world.resource::<Episodes>().0[k];
        (e.seed, e.elapsed)
    }
}

/// One POGEMA-style episode: a [`Simulator`] of a single episode plus its buffers.
#[derive(Debug)]
pub struct Env {
    sim: Simulator,
    /// The buffers the last `reset`/`step` wrote.
    pub buffers: StepBuffers,
}

impl Env {
    /// Validates `config`; call [`Env::reset`] before stepping.
    pub fn new(config: &EnvConfig) -> Result<Self, EnvError> {
        let sim = Simulator::new(std::slice::from_ref(config))?;
        let buffers = sim.new_buffers();
        Ok(Self { sim, buffers })
    }

    /// Rebuilds the instance from the config seed (as pogema 1.4.0 does on every reset).
    pub fn reset(&mut self) -> Result<(), EnvError> {
        self.sim.reset(&mut self.buffers)
    }

    /// Steps with one action per agent.
    pub fn step(&mut self, actions: &[u8]) -> Result<(), EnvError> {
        if actions.len() != self.buffers.actions.len() {
            return Err(EnvError::WrongActionCount {
                expected: self.buffers.actions.len(),
                found: actions.len(),
            });
        }
        self.buffers.actions.copy_from_slice(actions);
        self.sim.step(&mut self.buffers)
    }

    /// The underlying simulator.
    pub fn simulator(&mut self) -> &mut Simulator {
        &mut self.sim
    }

    /// Number of agents.
    pub fn num_agents(&self) -> usize {
        self.buffers.actions.len()
    }

    /// State copy (positions, goals, activity, occupancy).
    pub fn snapshot(&mut self) -> EpisodeSnapshot {
        self.sim.snapshot(0)
    }
}
