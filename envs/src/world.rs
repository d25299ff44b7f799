//! The ECS: the episodes are a resource, and one step is one system that runs the phases of
//! pogema's step over every episode: resolve collisions (reading the actions) → goals, rewards,
//! time limit, metrics and auto-reset (one fused pass over each episode's rows) → observe.
//!
//! Several episodes live in one `World`. Each episode owns its agents' state as a structure of
//! arrays ([`crate::episode::Agents`]) that the systems read and write in place: the rules are
//! defined over pogema's agent index order and look agents up by index (who wants which cell,
//! whose goal lies in view), so arrays indexed by agent are their natural owner, where agent
//! entities would need a gather before and a scatter after every system. The caller owns the
//! output arrays and lends them to each call as a [`StepIo`] (a [`StepBuffers`]'s own arrays, or
//! a shard's rows of numpy arrays), which the systems take as their input: they write straight
//! into the caller's memory, and nothing is copied or allocated.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemInput;

use crate::config::{EnvConfig, ObservationType, OnTarget, ResolvedConfig, RewardKind};
use crate::episode::{Agents, Board, Episode, FollowerView, INTENT_STEPS, UNREACHABLE};
use crate::error::EnvError;
use crate::grid::{Cell, Geometry, NUM_ACTIONS, Xy};
use crate::metrics::{EpisodeMetrics, MetricsTracker};
use crate::observe::{agents_density, write_grid_observations, write_window};
use crate::outputs::{FlatOutputs, OutputSizes, STEP_OUTPUTS, StepIo};
use crate::rules::collision::{CollisionScratch, Movers, resolve_moves};

/// All episodes of the world.
#[derive(Resource, Debug)]
pub struct Episodes(pub Vec<Episode>);

macro_rules! step_buffers {
    ($($(#[$doc:meta])* $name:ident: $t:tt, $rows:ident, [$($dim:tt),*], $fill:literal;)*) => {
        /// Caller-owned input and output buffers for a batch of `N` agents in `E` episodes: the
        /// arrays of [`crate::for_each_step_output!`], and the metrics of finished episodes.
        ///
        /// Shapes: `obs [N, C, R, R]` (u8 0/1; C = 3 for `default`, 2 for `POMAPF`/`MAPF`),
        /// coordinates `[N, 2]` (i32), per-agent vectors `[N]`, per-episode vectors `[E]`.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct StepBuffers {
            $($(#[$doc])* pub $name: Vec<$t>,)*
            /// `[E]` metrics of episodes that finished this step.
            pub metrics: Vec<Option<EpisodeMetrics>>,
        }

        impl StepBuffers {
            /// Buffers of these sizes, each array at its initial value.
            pub fn with_sizes(s: OutputSizes) -> Self {
                let mut specs = STEP_OUTPUTS.iter();
                Self {
                    $($name: vec![
                        $crate::__output_fill!($t, $fill);
                        specs.next().expect("one spec per output").len(s)
                    ],)*
                    metrics: vec![None; s.episodes],
                }
            }

            /// (name, length) of every output array, in [`STEP_OUTPUTS`] order.
            pub fn lengths(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
                [$((stringify!($name), self.$name.len())),*].into_iter()
            }

            /// Lends every array and the metrics to one reset or step.
            pub fn io(&mut self) -> StepIo<'_> {
                StepIo {
                    out: FlatOutputs { $($name: &mut self.$name,)* },
                    metrics: &mut self.metrics,
                }
            }
        }
    };
}
crate::for_each_step_output!(step_buffers);

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

    /// The sizes of this batch's output arrays.
    pub fn output_sizes(&self) -> OutputSizes {
        OutputSizes {
            agents: self.num_agents,
            episodes: self.num_episodes,
            channels: self.channels,
            side: self.side,
        }
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
    /// Unpadded start cells of the episode (pogema's `Grid.starts_xy`, without the ring).
    pub starts: Vec<Xy>,
    /// pogema's `was_on_goal`: on its goal and active after the last move, before finished
    /// agents were hidden (after a reset: on its goal).
    pub on_goal: Vec<bool>,
    /// Unpadded cells where the occupancy array is set, row-major.
    pub occupied: Vec<Xy>,
    /// Unpadded obstacles, row-major.
    pub obstacles: Vec<u8>,
    /// Steps since reset.
    pub elapsed: u32,
}

/// The collision rules' scratch, shared by all episodes of the world: it is left clean after each
/// episode, and one copy stays in cache where one per episode would be evicted between uses.
#[derive(Resource, Debug, Default)]
struct SharedCollisionScratch(CollisionScratch);

/// Moves one episode's agents under its collision system. `actions` are the episode's rows of
/// the caller's actions, rewritten in place (`soft` reverts moves to 0, as pogema rewrites the
/// caller's list); the requests are kept for the shaped rewards.
fn resolve_collisions(e: &mut Episode, actions: &mut [u8], scratch: &mut CollisionScratch) {
    let cfg = &e.config.config;
    let agents = &mut e.agents;
    agents.requested.copy_from_slice(actions);
    agents.was_active.copy_from_slice(&agents.active);
    let mut movers = Movers {
        obstacles: &e.board.obstacles,
        occupancy: &mut e.board.occupancy,
        offsets: e.board.geometry.action_offsets(),
        positions: &mut agents.position,
        actions,
        active: &agents.active,
    };
    resolve_moves(cfg.collision_system, cfg.bug_compat, &mut movers, scratch);
}

/// Adds one observation's agents density (pogema's `AgentsDensityWrapper`) of agents standing on
/// `positions` to `metrics`.
fn count_density(board: &Board, positions: &[Cell], metrics: &mut MetricsTracker) {
    for &pos in positions {
        metrics.add_density(agents_density(
            &board.obstacles,
            &board.occupancy,
            &board.geometry,
            pos,
        ));
    }
    metrics.close_density();
}

/// Goal arrivals, new goals, hiding of finished agents, rewards and `terminated` for one episode.
fn settle_goals(e: &mut Episode, io: &mut FlatOutputs, density: bool) {
    let rows = e.rows();
    let cfg = &e.config.config;
    let (a, board) = (&mut e.agents, &mut e.board);
    for (((followed, &pos), &plan), ((on_goal, &goal), &active)) in a
        .followed
        .iter_mut()
        .zip(&a.position)
        .zip(&a.plan)
        .zip(a.on_goal.iter_mut().zip(&a.goal).zip(&a.active))
    {
        *followed = pos == plan;
        *on_goal = pos == goal && active;
    }
    let rewards = &mut io.rewards[rows.clone()];
    let terminated = &mut io.terminated[rows.clone()];
    match cfg.on_target {
        OnTarget::Finish => {
            let agents = a.position.iter().zip(&a.goal).zip(a.active.iter_mut());
            for (((&pos, &goal), active), (reward, terminated)) in
                agents.zip(rewards.iter_mut().zip(terminated.iter_mut()))
            {
                let on_goal = pos == goal;
                *reward = if on_goal && *active { 1.0 } else { 0.0 };
                *terminated = on_goal;
                if on_goal {
                    if *active {
                        board.occupancy[pos as usize] = 0;
                    }
                    *active = false;
                }
            }
        }
        OnTarget::Restart => {
            terminated.fill(false);
            for (i, (reward, &on_goal)) in rewards.iter_mut().zip(&a.on_goal).enumerate() {
                *reward = if on_goal { 1.0 } else { 0.0 };
                if a.position[i] == a.goal[i] {
                    match board
                        .goals
                        .next_goal(&mut a.stream[i], i, a.position[i], &board.geometry)
                    {
                        Ok(g) => a.goal[i] = g,
                        Err(err) => e.error = Some(err),
                    }
                }
            }
        }
        OnTarget::Nothing => {}
    }
    io.active[rows.clone()].copy_from_slice(&a.active);
    if density {
        // The observation this step returns: positions after the move, finished agents hidden.
        count_density(board, &a.position, &mut e.metrics);
    }
    if cfg.on_target == OnTarget::Nothing {
        let solved = a.on_goal.iter().all(|&g| g);
        io.rewards[rows.clone()].fill(if solved { 1.0 } else { 0.0 });
        io.terminated[rows.clone()].fill(solved);
    }
    if cfg.reward != RewardKind::Pogema {
        for (i, r) in rows.enumerate() {
            io.rewards[r] = shaped_reward(cfg.reward, a, i);
        }
    }
}

/// The SRMT/Follower reward variants (see [`RewardKind`]); 0 for agents already finished.
fn shaped_reward(kind: RewardKind, a: &Agents, i: usize) -> f32 {
    if !a.was_active[i] {
        return 0.0;
    }
    let goal = if a.on_goal[i] { 1.0 } else { 0.0 };
    let followed = a.followed[i];
    match kind {
        RewardKind::Pogema | RewardKind::Sparse => goal,
        RewardKind::Directional => goal + if followed { 0.005 } else { 0.0 },
        RewardKind::Dense => goal - 0.01,
        RewardKind::DirectionalNegative => goal + if followed { -0.005 } else { -0.01 },
        RewardKind::MovingNegative => goal + if a.requested[i] != 0 { -0.01 } else { -0.005 },
        RewardKind::FollowerLifelong => {
            if followed {
                0.01
            } else {
                0.0
            }
        }
    }
}

/// Writes one episode's observations and coordinates into its rows of `io`.
fn observe(e: &mut Episode, io: &mut FlatOutputs, density: bool) {
    let rows = e.rows();
    let board = &e.board;
    let geo = &board.geometry;
    let a = &mut e.agents;
    // A fresh episode's first observation counts towards its agents density (later ones are
    // counted by `settle_goals`, before an auto-reset can replace them).
    if density && e.elapsed == 0 && !e.metrics.density_counted() {
        count_density(board, &a.position, &mut e.metrics);
    }
    let side = 2 * geo.radius + 1;
    let area = side * side;
    let kind = e.config.config.observation_type;
    if kind.is_follower() {
        for &g in &a.goal {
            e.follower.goal_count[g as usize] += 1;
        }
    }
    let obs_len = kind.channels() * area;
    let observations = &mut io.obs[rows.start * obs_len..rows.end * obs_len];
    match kind {
        ObservationType::Default | ObservationType::Pomapf | ObservationType::Mapf => {
            let goals = (kind == ObservationType::Default).then_some(&a.goal[..]);
            write_grid_observations(
                &board.obstacles,
                &board.occupancy,
                geo,
                &a.position,
                goals,
                observations,
            );
        }
        ObservationType::Follower
        | ObservationType::FollowerIntents
        | ObservationType::FollowerPriorities => {
            let view = &mut e.follower;
            for (i, out) in observations.chunks_exact_mut(obs_len).enumerate() {
                a.plan[i] = write_follower(board, view, i, a.position[i], a.goal[i], out);
                if kind.has_intents() {
                    record_intent(view, i);
                }
            }
            if kind.has_intents() {
                write_intents(board, view, &a.position, observations, obs_len);
            }
            if kind == ObservationType::FollowerPriorities {
                write_priorities(board, view, a, observations, obs_len);
            }
        }
    }
    // Coordinates for every observation type (POMAPF/MAPF report them; planners use them),
    // this episode's rows of the four arrays walked together (no per-agent bounds checks).
    let pairs = 2 * rows.start..2 * rows.end;
    let coordinates = io.xy[pairs.clone()]
        .chunks_exact_mut(2)
        .zip(io.target_xy[pairs.clone()].chunks_exact_mut(2))
        .zip(io.global_xy[pairs.clone()].chunks_exact_mut(2))
        .zip(io.global_target_xy[pairs].chunks_exact_mut(2));
    let cells = a.position.iter().zip(&a.goal).zip(&a.start);
    let r = geo.radius as i64;
    for ((((xy, target_xy), global_xy), global_target_xy), ((&pos, &goal), &[sx, sy])) in
        coordinates.zip(cells)
    {
        let ([x, y], [gx, gy]) = (geo.padded_xy(pos), geo.padded_xy(goal));
        let (sx, sy) = (sx + r, sy + r);
        xy.copy_from_slice(&[(x - sx) as i32, (y - sy) as i32]);
        target_xy.copy_from_slice(&[(gx - sx) as i32, (gy - sy) as i32]);
        global_xy.copy_from_slice(&[x as i32, y as i32]);
        global_target_xy.copy_from_slice(&[gx as i32, gy as i32]);
    }
    if kind.is_follower() {
        for &g in &a.goal {
            e.follower.goal_count[g as usize] -= 1;
        }
    }
}

/// Keeps agent `agent`'s intent (the cells after its own on the path `write_follower` just
/// planned, up to [`INTENT_STEPS`]) and counts it in `view.intent_count`.
fn record_intent(view: &mut FollowerView, agent: usize) {
    let mut intent = [Cell::MAX; INTENT_STEPS];
    for (slot, &c) in intent.iter_mut().zip(view.path.iter().skip(1)) {
        *slot = c;
        view.intent_count[c as usize] += 1;
    }
    view.intents[agent] = intent;
}

/// Writes every agent's intents plane (the fourth plane of its `obs_len` row): in each window
/// cell, how many *other* agents intend to enter it (capped at 127); then clears the counts.
fn write_intents(
    board: &Board,
    view: &mut FollowerView,
    positions: &[Cell],
    observations: &mut [u8],
    obs_len: usize,
) {
    let counts = &mut view.intent_count;
    for ((out, &pos), own) in observations
        .chunks_exact_mut(obs_len)
        .zip(positions)
        .zip(&view.intents)
    {
        // The agent's own share leaves the counts while its plane is written.
        let own = own.iter().take_while(|&&c| c != Cell::MAX);
        own.clone().for_each(|&c| counts[c as usize] -= 1);
        write_plane(&board.geometry, out, INTENTS_PLANE, pos, |cell| {
            counts[cell].min(127) as u8
        });
        own.for_each(|&c| counts[c as usize] += 1);
    }
    for intent in &view.intents {
        for &c in intent.iter().take_while(|&&c| c != Cell::MAX) {
            view.intent_count[c as usize] = 0;
        }
    }
}

/// Index of the other agents' goals plane in a follower observation.
const GOALS_PLANE: usize = 2;
/// Index of the intents plane in a `follower_intents` or `follower_priorities` observation.
const INTENTS_PLANE: usize = 3;
/// Index of the priorities plane in a `follower_priorities` observation.
const PRIORITIES_PLANE: usize = 4;

/// Writes every agent's priorities plane (the fifth plane of its `obs_len` row): 1 in each window
/// cell whose active agent outranks it, else 0. An agent's key is how many observe passes it has
/// held its current goal, ties to the lower index (PIBT's priority), so the keys are distinct.
/// Ages advance here, once per observe pass; the per-cell keys are cleared at the end.
fn write_priorities(
    board: &Board,
    view: &mut FollowerView,
    a: &Agents,
    observations: &mut [u8],
    obs_len: usize,
) {
    let n = a.position.len();
    for (i, ((held, age), &goal)) in view.goal_age.iter_mut().zip(&a.goal).enumerate() {
        if *held == goal {
            *age = age.saturating_add(1);
        } else {
            (*held, *age) = (goal, 0);
        }
        if a.active[i] {
            view.rank[a.position[i] as usize] = priority_key(*age, i, n);
        }
    }
    for (i, (out, &pos)) in observations
        .chunks_exact_mut(obs_len)
        .zip(&a.position)
        .enumerate()
    {
        let own = priority_key(view.goal_age[i].1, i, n);
        let rank = &view.rank;
        write_plane(&board.geometry, out, PRIORITIES_PLANE, pos, |cell| {
            u8::from(rank[cell] > own)
        });
    }
    for (&pos, &active) in a.position.iter().zip(&a.active) {
        if active {
            view.rank[pos as usize] = 0;
        }
    }
}

/// Writes plane `index` of one agent's observation row `out`: the window around `pos` (side
/// 2r + 1, row-major), each cell's value `value(padded cell)`.
fn write_plane(
    geo: &Geometry,
    out: &mut [u8],
    index: usize,
    pos: Cell,
    mut value: impl FnMut(usize) -> u8,
) {
    let r = geo.radius as i64;
    let side = (2 * r + 1) as usize;
    let plane = &mut out[index * side * side..(index + 1) * side * side];
    let [x, y] = geo.padded_xy(pos);
    for (dx, row_out) in (-r..=r).zip(plane.chunks_exact_mut(side)) {
        let first = ((x + dx) * geo.stride as i64 + y - r) as usize;
        for (o, cell) in row_out.iter_mut().zip(first..) {
            *o = value(cell);
        }
    }
}

/// Agent `agent`'s priority key among `n`: its goal's age, ties to the lower index; never 0
/// (the empty cell's key).
fn priority_key(age: u32, agent: usize, n: usize) -> u64 {
    (u64::from(age) << 32) | (n - agent) as u64
}

/// Path step order of the SRMT reference planner: right, down, up, left (Δrow, Δcol).
const PATH_ORDER: [[i64; 2]; 4] = [[0, 1], [1, 0], [-1, 0], [0, -1]];

/// Writes one agent's follower observation (the first three `[R, R]` planes of `out`, i8 values
/// as u8) and returns the next cell of its planned path (its own cell when on goal or cut off).
fn write_follower(
    board: &Board,
    view: &mut FollowerView,
    agent: usize,
    pos: Cell,
    goal: Cell,
    out: &mut [u8],
) -> Cell {
    let geo = &board.geometry;
    let r = geo.radius as i64;
    let side = (2 * r + 1) as usize;
    let area = side * side;
    // Other agents' goals: every goal in view, minus the agent's own.
    let goal_count = &view.goal_count;
    write_plane(geo, out, GOALS_PLANE, pos, |cell| {
        u8::from(goal_count[cell] > u16::from(cell == goal as usize))
    });
    let (obstacles, agents_plane) = out[..2 * area].split_at_mut(area);
    write_window(&board.obstacles, geo, pos, obstacles);
    for v in obstacles.iter_mut() {
        *v = if *v != 0 { (-1i8) as u8 } else { 0 };
    }
    write_window(&board.occupancy, geo, pos, agents_plane);
    let [x, y] = geo.padded_xy(pos);
    // The planned path from the agent's cell, drawn until it leaves the window.
    let mut path = std::mem::take(&mut view.path);
    match &mut view.planner {
        Some(planner) => planner.plan(agent, pos, goal, &board.occupancy, &mut path),
        None => shortest_path_prefix(board, view, agent, pos, goal, &mut path),
    }
    for &c in &path {
        let [cx, cy] = geo.padded_xy(c);
        if (cx - x).abs() > r || (cy - y).abs() > r {
            break;
        }
        obstacles[((cx - x + r) * (2 * r + 1) + (cy - y + r)) as usize] = 1;
    }
    let next = path.get(1).copied().unwrap_or(pos);
    view.path = path;
    next
}

/// The static shortest path from `pos` towards `goal` (steps tried right, down, up, left), up
/// to its first cell outside the observation window; empty when the goal is cut off.
fn shortest_path_prefix(
    board: &Board,
    view: &mut FollowerView,
    agent: usize,
    pos: Cell,
    goal: Cell,
    path: &mut Vec<Cell>,
) {
    path.clear();
    let geo = &board.geometry;
    let r = geo.radius as i64;
    let stride = geo.stride as i64;
    let [x, y] = geo.padded_xy(pos);
    let dist = view.distance_field(board, agent, goal);
    if dist[pos as usize] == UNREACHABLE {
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

/// Advances episode `k`'s clock, truncates it at the time limit and reports its metrics when it
/// finished.
fn time_limit(
    k: usize,
    e: &mut Episode,
    io: &mut FlatOutputs,
    metrics: &mut [Option<EpisodeMetrics>],
) {
    e.elapsed += 1;
    let rows = e.rows();
    let truncated = e.elapsed >= e.config.max_episode_steps;
    io.truncated[rows.clone()].fill(truncated);
    let finished = truncated || io.terminated[rows].iter().all(|&t| t);
    io.episode_done[k] = finished;
    e.finished = finished;
    metrics[k] = e.record_metrics(finished);
}

/// Whether finished episodes rebuild themselves within the step that finished them.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoReset(pub bool);

/// Whether episodes record pogema's `avg_agents_density` (two window counts per agent and step).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DensityMetric(pub bool);

/// One step of every episode, phase by phase. The middle phases read and write the same rows and
/// run as one pass per episode; collisions and observations stay passes of their own over all
/// episodes (a fully fused loop, each episode through every phase in turn, measured 10–20%
/// slower on `b256` and `x`: medians of 6 interleaved runs).
fn step_episodes(
    StepIo {
        out: mut io,
        metrics,
    }: StepIo,
    mut episodes: ResMut<Episodes>,
    mut scratch: ResMut<SharedCollisionScratch>,
    auto_reset: Res<AutoReset>,
    density: Res<DensityMetric>,
) {
    let io = &mut io;
    for e in episodes.0.iter_mut() {
        resolve_collisions(e, &mut io.actions[e.rows()], &mut scratch.0);
    }
    for (k, e) in episodes.0.iter_mut().enumerate() {
        settle_goals(e, io, density.0);
        time_limit(k, e, io, metrics);
        if auto_reset.0 && io.episode_done[k] {
            e.advance();
            io.active[e.rows()].fill(true);
        }
    }
    for e in episodes.0.iter_mut() {
        observe(e, io, density.0);
    }
}

/// Writes every episode's observations (after a reset).
fn observe_episodes(
    StepIo { out: mut io, .. }: StepIo,
    mut episodes: ResMut<Episodes>,
    density: Res<DensityMetric>,
) {
    for e in episodes.0.iter_mut() {
        observe(e, &mut io, density.0);
    }
}

/// [`StepIo`] is the systems' input: the caller's arrays, lent for one run.
impl SystemInput for StepIo<'_> {
    type Param<'i> = StepIo<'i>;
    type Inner<'i> = StepIo<'i>;

    fn wrap(this: Self::Inner<'_>) -> Self::Param<'_> {
        this
    }
}

/// A system of the simulator: reads and writes the world and the lent outputs.
type IoSystem = Box<dyn System<In = StepIo<'static>, Out = ()>>;

/// A batch of episodes in one bevy_ecs `World`, stepped by one system.
pub struct Simulator {
    world: World,
    /// One step of every episode ([`step_episodes`]).
    step_system: IoSystem,
    /// The observations after a reset ([`observe_episodes`]).
    observe_system: IoSystem,
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
        let resolved = configs
            .iter()
            .map(EnvConfig::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        crate::memory::check_fits(&resolved)?;
        Ok(Self::from_resolved(configs, resolved))
    }

    /// A simulator of `configs`, already checked for compatibility and memory, from their
    /// resolved forms (one per config, in order).
    pub(crate) fn from_resolved(configs: &[EnvConfig], resolved: Vec<ResolvedConfig>) -> Self {
        let first = &configs[0];
        let mut world = World::new();
        let mut episodes = Vec::with_capacity(configs.len());
        let mut row = 0usize;
        let mut agents_per_episode = Vec::with_capacity(configs.len());
        for rc in resolved {
            let n = rc.num_agents;
            episodes.push(Episode::new(rc, row));
            agents_per_episode.push(n);
            row += n;
        }
        let radius = first.obs_radius as usize;
        let observation_type = first.observation_type;
        let layout = BatchLayout {
            radius,
            side: 2 * radius + 1,
            channels: observation_type.channels(),
            observation_type,
            num_agents: row,
            num_episodes: configs.len(),
            agents_per_episode,
        };
        let mut scratch = CollisionScratch::default();
        for e in &episodes {
            scratch.fit(e.board.obstacles.len(), e.num_agents());
        }
        world.insert_resource(SharedCollisionScratch(scratch));
        world.insert_resource(Episodes(episodes));
        world.insert_resource(AutoReset(false));
        world.insert_resource(DensityMetric(false));
        let mut step_system: IoSystem = Box::new(IntoSystem::into_system(step_episodes));
        step_system.initialize(&mut world);
        let mut observe_system: IoSystem = Box::new(IntoSystem::into_system(observe_episodes));
        observe_system.initialize(&mut world);
        Self {
            world,
            step_system,
            observe_system,
            layout,
            ready: false,
        }
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
        StepBuffers::with_sizes(self.layout.output_sizes())
    }

    /// Checks that `b` has this simulator's sizes.
    pub(crate) fn check_buffers(&self, b: &StepBuffers) -> Result<(), EnvError> {
        crate::outputs::check_all_lengths(b.lengths(), b.metrics.len(), self.layout.output_sizes())
    }

    /// Overrides episode `episode`'s config seed, the start of its seed schedule (`None`: OS
    /// entropy), from the next reset on.
    pub fn set_seed(&mut self, episode: usize, seed: Option<u64>) -> Result<(), EnvError> {
        self.edit_episode(episode, |e| {
            e.instances.base_seed = seed;
            e.instances.seed = seed;
            Ok(())
        })
    }

    /// Runs `edit` on episode `episode`: one of pogema's persistent-mode grid edits
    /// (`persistent.rs`), or a seed override.
    pub fn edit_episode<T>(
        &mut self,
        episode: usize,
        edit: impl FnOnce(&mut Episode) -> Result<T, EnvError>,
    ) -> Result<T, EnvError> {
        let mut eps = self.world.resource_mut::<Episodes>();
        let len = eps.0.len();
        let e = eps
            .0
            .get_mut(episode)
            .ok_or_else(|| EnvError::config("episode", format!("{episode} is not in 0..{len}")))?;
        edit(e)
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
        self.reset_io(buffers.io())
    }

    /// [`Simulator::reset`] writing into lent arrays (for example a shard's rows of the caller's).
    pub fn reset_io(&mut self, io: StepIo<'_>) -> Result<(), EnvError> {
        io.check(self.layout.output_sizes())?;
        self.ready = false;
        {
            let mut eps = self.world.resource_mut::<Episodes>();
            for e in eps.0.iter_mut() {
                e.instances.resets = 0;
                e.instances.seed = e.instances.base_seed;
                e.reset()?;
            }
        }
        let StepIo { out, metrics } = io;
        out.rewards.fill(0.0);
        out.terminated.fill(false);
        out.truncated.fill(false);
        out.active.fill(true);
        out.episode_done.fill(false);
        metrics.fill(None);
        self.run(StepIo { out, metrics }, false);
        self.ready = true;
        Ok(())
    }

    /// Rebuilds the episodes that finished on the last step from the next seed of their schedules
    /// (what auto-reset does inside a step) and re-observes into `buffers`, clearing their flags
    /// there. Returns how many were reset.
    pub fn reset_finished(&mut self, buffers: &mut StepBuffers) -> Result<usize, EnvError> {
        self.check_buffers(buffers)?;
        let mut count = 0;
        {
            let mut eps = self.world.resource_mut::<Episodes>();
            for (k, e) in eps.0.iter_mut().enumerate() {
                if e.finished {
                    e.advance();
                    if let Some(err) = e.error.take() {
                        return Err(err);
                    }
                    let rows = e.rows();
                    buffers.active[rows.clone()].fill(true);
                    buffers.terminated[rows.clone()].fill(false);
                    buffers.truncated[rows].fill(false);
                    buffers.episode_done[k] = false;
                    count += 1;
                }
            }
        }
        self.run(buffers.io(), false);
        Ok(count)
    }

    /// Steps every episode with `buffers.actions` and writes all outputs into `buffers`.
    pub fn step(&mut self, buffers: &mut StepBuffers) -> Result<(), EnvError> {
        self.step_io(buffers.io())
    }

    /// [`Simulator::step`] with lent arrays (for example a shard's rows of the caller's): reads
    /// `io.out.actions` and writes every output in place.
    pub fn step_io(&mut self, io: StepIo<'_>) -> Result<(), EnvError> {
        if !self.ready {
            return Err(EnvError::ResetNeeded);
        }
        io.check(self.layout.output_sizes())?;
        if let Some((agent, &action)) = io
            .out
            .actions
            .iter()
            .enumerate()
            .find(|&(_, &a)| a >= NUM_ACTIONS)
        {
            return Err(EnvError::InvalidAction { agent, action });
        }
        self.run(io, true);
        let mut eps = self.world.resource_mut::<Episodes>();
        if let Some(err) = eps.0.iter_mut().find_map(|e| e.error.take()) {
            return Err(err);
        }
        Ok(())
    }

    /// Runs the step (`step`) or the observation system with the lent outputs.
    fn run(&mut self, io: StepIo<'_>, step: bool) {
        let system = if step {
            &mut self.step_system
        } else {
            &mut self.observe_system
        };
        system
            .run(io, &mut self.world)
            .expect("the systems' resources are inserted when the world is built");
    }

    /// A copy of episode `k`'s state (positions, goals, activity, occupancy, obstacles).
    pub fn snapshot(&self, k: usize) -> EpisodeSnapshot {
        let e = &self.world.resource::<Episodes>().0[k];
        let geo = &e.board.geometry;
        let a = &e.agents;
        let mut snap = EpisodeSnapshot {
            positions: a.position.iter().map(|&c| geo.xy(c)).collect(),
            goals: a.goal.iter().map(|&c| geo.xy(c)).collect(),
            active: a.active.clone(),
            starts: a.start.clone(),
            on_goal: a.on_goal.clone(),
            occupied: Vec::new(),
            obstacles: Vec::with_capacity(geo.height * geo.width),
            elapsed: e.elapsed,
        };
        for x in 0..geo.height as i64 {
            for y in 0..geo.width as i64 {
                let c = geo.cell([x, y]) as usize;
                if e.board.occupancy[c] != 0 {
                    snap.occupied.push([x, y]);
                }
                snap.obstacles.push(e.board.obstacles[c]);
            }
        }
        snap
    }

    /// Episode `k`'s padded obstacle grid (MAPF's `global_obstacles`) and its row stride.
    pub fn padded_obstacles(&self, k: usize) -> (&[u8], usize) {
        let e = &self.world.resource::<Episodes>().0[k];
        (&e.board.obstacles, e.board.geometry.stride)
    }

    /// Episode `k`'s padded occupancy (non-zero where an agent stands, same layout as
    /// [`Self::padded_obstacles`]) as the observations show it: under the default
    /// [`crate::BugCompat::Pogema140`], pogema 1.4.0's, where an agent that followed another under
    /// `soft` collisions is missing for one step.
    pub fn padded_occupancy(&self, k: usize) -> &[u8] {
        &self.world.resource::<Episodes>().0[k].board.occupancy
    }

    /// Episode `k`'s instance seed (`None`: drawn from OS entropy) and the steps taken since its
    /// last reset.
    pub fn episode_clock(&self, k: usize) -> (Option<u64>, u32) {
        let e = &self.world.resource::<Episodes>().0[k];
        (e.instances.seed, e.elapsed)
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
