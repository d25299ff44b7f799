//! One episode of a batch, split by purpose so that every piece of state has one owner:
//!
//! - [`InstanceSchedule`]: where the next instance comes from (seeds, start/goal pools);
//! - [`Board`]: the padded grid, its occupancy and the source of new goals;
//! - [`Agents`]: every per-agent value, as a structure of arrays indexed by pogema's agent index;
//! - [`FollowerView`]: what the follower observation keeps between steps (distance fields, planner);
//! - the step counter and the metric counters.
//!
//! The collision rules' scratch is not episode state: one copy serves every episode of a
//! simulator (see `world.rs`), so that it stays in cache from one episode to the next.
//!
//! The step's systems (`world.rs`) read and write these arrays in place; nothing is gathered from
//! or scattered back to anywhere else. Everything is allocated when the episode is created or reset.

use std::ops::Range;

use crate::config::{ObservationType, OnTarget, PathPlanner, Placement, ResolvedConfig};
use crate::error::EnvError;
use crate::follower_planner::FollowerPlanner;
use crate::goals::{GoalSource, GoalStream};
use crate::grid::{Cell, Geometry, Xy};
use crate::instance::{Instance, generate, lifelong_seeds};
use crate::metrics::{EpisodeMetrics, MetricsTracker};
use crate::rng::NumpyRng;

/// One episode of a batch.
#[derive(Debug)]
pub struct Episode {
    /// The validated config.
    pub config: ResolvedConfig,
    /// Rows `first_row..first_row + n` of the batch buffers belong to this episode's agents.
    pub first_row: usize,
    /// Where instances come from.
    pub instances: InstanceSchedule,
    /// The grid and its occupancy.
    pub board: Board,
    /// Per-agent state.
    pub agents: Agents,
    /// Steps taken since the last reset.
    pub elapsed: u32,
    /// Whether the episode finished on its last step (all agents terminated or the time limit)
    /// and has not been rebuilt since.
    pub finished: bool,
    /// Metric counters.
    pub metrics: MetricsTracker,
    /// State of the follower observation (empty for other observation types).
    pub follower: FollowerView,
    /// An error raised inside a system (a stuck goal stream), returned by the next `step`.
    pub error: Option<EnvError>,
}

/// The seed schedule of an episode and the pools its instances draw from.
#[derive(Debug)]
pub struct InstanceSchedule {
    /// The config seed: instance 0 of the seed schedule (`None`: OS entropy).
    pub base_seed: Option<u64>,
    /// The seed of the current instance (`None`: OS entropy).
    pub seed: Option<u64>,
    /// Instances built so far (the position in the seed schedule).
    pub resets: u64,
    /// Start/goal pools, mutated by every reset as pogema mutates its config lists.
    pub pools: Option<(Vec<Xy>, Vec<Xy>)>,
    /// How many times random placement may draw an instance again (pogema's `num_retries`).
    pub placement_retries: usize,
    /// How many times the last reset drew its instance again before it fit.
    pub redraws: usize,
}

/// The padded grid of the current instance.
#[derive(Debug)]
pub struct Board {
    /// Grid geometry (padded by the observation radius).
    pub geometry: Geometry,
    /// Padded obstacles with the ring (pogema's `Grid.obstacles`).
    pub obstacles: Vec<u8>,
    /// Padded occupancy (pogema's `Grid.positions`).
    pub occupancy: Vec<u8>,
    /// Where new goals come from.
    pub goals: GoalSource,
}

/// Every per-agent value of an episode, indexed by agent index (pogema's `agent_idx`); agent `i`
/// owns row `first_row + i` of the batch buffers.
#[derive(Debug)]
pub struct Agents {
    /// Current padded cells.
    pub position: Vec<Cell>,
    /// Current goals.
    pub goal: Vec<Cell>,
    /// Unpadded start `(row, col)` of the episode (pogema's `starts_xy`, the origin of the
    /// relative `xy` observations).
    pub start: Vec<Xy>,
    /// Whether each agent takes part (false once a `finish` agent reached its goal).
    pub active: Vec<bool>,
    /// Follower observation: the next cell of each agent's planned path.
    pub plan: Vec<Cell>,
    /// Lifelong goal streams.
    pub stream: Vec<GoalStream>,
    /// The action each agent asked for in the last step (before `soft` reverted it).
    pub requested: Vec<u8>,
    /// Whether each agent was active before the last step.
    pub was_active: Vec<bool>,
    /// Whether each agent was on its goal and active after the last move, before hiding
    /// (pogema's `was_on_goal`; after a reset: whether it starts on its goal).
    pub on_goal: Vec<bool>,
    /// Whether each agent's last move took it onto its planned next cell.
    pub followed: Vec<bool>,
}

impl Agents {
    fn new(n: usize) -> Self {
        Self {
            position: vec![0; n],
            goal: vec![0; n],
            start: vec![[0, 0]; n],
            active: vec![true; n],
            plan: vec![0; n],
            stream: vec![
                GoalStream {
                    rng: NumpyRng::new(0),
                    seq_index: 0,
                };
                n
            ],
            requested: vec![0; n],
            was_active: vec![true; n],
            on_goal: vec![false; n],
            followed: vec![false; n],
        }
    }

    /// Number of agents.
    pub fn len(&self) -> usize {
        self.position.len()
    }

    /// Whether the episode has no agents (never true for a validated config).
    pub fn is_empty(&self) -> bool {
        self.position.is_empty()
    }
}

/// What the follower observation keeps: goal counts for the goals plane, and the planner that
/// draws each agent's path (BFS fields for `shortest`, Follower's planner otherwise).
#[derive(Debug, Default)]
pub struct FollowerView {
    /// With the `shortest` planner: each agent's BFS field to its goal.
    pub goal_fields: Vec<GoalField>,
    /// Scratch: the BFS queue of `goal_fields`.
    pub bfs_queue: Vec<Cell>,
    /// With Follower's planner: its per-agent state (`None` for `shortest`).
    pub planner: Option<FollowerPlanner>,
    /// Scratch for one agent's planned path (padded cells).
    pub path: Vec<Cell>,
    /// Goals per padded cell (filled and cleared within one observe pass).
    pub goal_count: Vec<u16>,
    /// With `follower_intents`: each agent's next [`INTENT_STEPS`] cells on its planned path
    /// (`Cell::MAX` past its end), set by one observe pass.
    pub intents: Vec<[Cell; INTENT_STEPS]>,
    /// With `follower_intents`: how many agents intend to enter each padded cell (filled and
    /// cleared within one observe pass).
    pub intent_count: Vec<u16>,
    /// With `follower_priorities`: each agent's current goal and how many observe passes it has
    /// held it (`Cell::MAX` before the episode's first pass).
    pub goal_age: Vec<(Cell, u32)>,
    /// With `follower_priorities`: the priority key of the agent on each padded cell (0 where
    /// none; larger outranks), filled and cleared within one observe pass.
    pub rank: Vec<u64>,
}

/// How many cells of its planned path (after its own) an agent's intent covers in the
/// `follower_intents` observation.
pub const INTENT_STEPS: usize = 3;

/// One agent's shortest-path distances to its current goal over the static padded grid.
#[derive(Clone, Debug, Default)]
pub struct GoalField {
    /// The goal `dist` was computed for (`Cell::MAX`: none yet).
    pub goal: Cell,
    /// Steps from each padded cell to `goal` (4-neighbourhood), [`UNREACHABLE`] if cut off.
    pub dist: Vec<u32>,
}

/// Marks unreachable cells in a distance field.
pub const UNREACHABLE: u32 = <u32 as crate::bfs::Distance>::UNREACHABLE;

impl Episode {
    /// An episode for `config`, whose agents occupy rows `first_row..first_row + n`.
    pub fn new(config: ResolvedConfig, first_row: usize) -> Self {
        let geometry = Geometry::new(config.height, config.width, config.radius);
        let n = config.num_agents;
        let area = geometry.padded_area();
        let pools = match &config.placement {
            Placement::Pools { agents, targets } => Some((agents.clone(), targets.clone())),
            _ => None,
        };
        Self {
            first_row,
            instances: InstanceSchedule {
                base_seed: config.config.seed,
                seed: config.config.seed,
                resets: 0,
                pools,
                placement_retries: crate::instance::PLACEMENT_RETRIES,
                redraws: 0,
            },
            board: Board {
                geometry,
                obstacles: vec![0; area],
                occupancy: vec![0; area],
                goals: GoalSource::Fixed,
            },
            agents: Agents::new(n),
            elapsed: 0,
            finished: false,
            metrics: MetricsTracker::new(n),
            follower: FollowerView {
                goal_count: vec![0; area],
                ..FollowerView::default()
            },
            error: None,
            config,
        }
    }

    /// Number of agents.
    pub fn num_agents(&self) -> usize {
        self.agents.len()
    }

    /// This episode's rows of the `[N]` batch buffers.
    pub fn rows(&self) -> Range<usize> {
        self.first_row..self.first_row + self.agents.len()
    }

    /// Builds a new instance from the current seed and puts every agent on its start.
    pub fn reset(&mut self) -> Result<(), EnvError> {
        let mut rc = self.config.clone();
        rc.config.seed = self.instances.seed;
        let Instance {
            geometry,
            map,
            padded,
            starts,
            goals,
            redraws,
        } = generate(
            &rc,
            self.instances.pools.as_mut(),
            self.instances.placement_retries,
        )?;
        self.instances.redraws = redraws;
        let n = starts.len();
        let board = &mut self.board;
        board.geometry = geometry;
        board.obstacles = padded;
        board.occupancy.fill(0);
        let geo = &board.geometry;
        board.goals = match (&rc.config.on_target, &rc.placement) {
            (
                OnTarget::Restart,
                Placement::Custom {
                    goals,
                    sequences: true,
                    ..
                },
            ) => GoalSource::Sequences(
                goals
                    .iter()
                    .map(|seq| seq.iter().map(|&xy| geo.cell(xy)).collect())
                    .collect(),
            ),
            (OnTarget::Restart, Placement::Pools { .. }) => GoalSource::Pool {
                targets: (self.instances.pools.as_ref())
                    .map(|p| p.1.clone())
                    .unwrap_or_default(),
                compat: rc.config.bug_compat,
            },
            (OnTarget::Restart, _) => GoalSource::components(&map, geo),
            _ => GoalSource::Fixed,
        };
        for (i, &s) in starts.iter().enumerate() {
            board.goals.check_agent(i, geo.cell(s))?;
        }
        let stream_seeds = match rc.config.on_target {
            OnTarget::Restart => lifelong_seeds(self.instances.seed, n),
            _ => vec![0; n],
        };
        let agents = &mut self.agents;
        for i in 0..n {
            let start = geo.cell(starts[i]);
            board.occupancy[start as usize] = 1;
            agents.position[i] = start;
            agents.start[i] = starts[i];
            agents.goal[i] = geo.cell(goals[i]);
            // pogema's `was_on_goal` after reset: on its goal (every agent is active).
            agents.on_goal[i] = agents.goal[i] == start;
            agents.stream[i] = GoalStream {
                rng: NumpyRng::new(stream_seeds[i]),
                seq_index: 0,
            };
        }
        agents.active.fill(true);
        self.elapsed = 0;
        self.finished = false;
        self.metrics.clear();
        self.follower.prepare(&self.config, board, n);
        self.error = None;
        Ok(())
    }

    /// Moves to the next instance of the seed schedule and builds it (an error is kept in
    /// `self.error`). Instance 0 uses the config seed (as pogema does); instance `k ≥ 1` uses a
    /// seed mixed from the config seed and `k`, so each episode's sequence of instances is fixed by
    /// its config alone, whatever the batch or thread count. Without a config seed every instance
    /// draws OS entropy.
    pub fn advance(&mut self) {
        let s = &mut self.instances;
        s.resets += 1;
        s.seed = s.base_seed.map(|b| schedule_seed(b, s.resets));
        if let Err(e) = self.reset() {
            self.error = Some(e);
        }
    }

    /// The episode's metrics are reported when this returns them.
    pub fn record_metrics(&mut self, finished: bool) -> Option<EpisodeMetrics> {
        if self.config.config.persistent {
            return None;
        }
        let mode = self.config.config.on_target;
        self.metrics.record(
            mode,
            &self.agents.on_goal,
            finished,
            self.config.max_episode_steps,
        )
    }
}

impl FollowerView {
    /// Sizes the scratch for a new instance on `board` with `n` agents (nothing unless the
    /// observation is the follower one).
    fn prepare(&mut self, config: &ResolvedConfig, board: &Board, n: usize) {
        let cfg = &config.config;
        if !cfg.observation_type.is_follower() {
            return;
        }
        let area = board.obstacles.len();
        // A path visits each cell at most once.
        self.path.reserve(area);
        if cfg.observation_type.has_intents() {
            self.intents.resize(n, [Cell::MAX; INTENT_STEPS]);
            self.intent_count.resize(area, 0);
        }
        if cfg.observation_type == ObservationType::FollowerPriorities {
            self.goal_age.clear();
            self.goal_age.resize(n, (Cell::MAX, 0));
            self.rank.resize(area, 0);
        }
        if cfg.path_planner == PathPlanner::Shortest {
            self.goal_fields.resize_with(n, GoalField::default);
            for f in &mut self.goal_fields {
                f.goal = Cell::MAX;
                f.dist.resize(area, UNREACHABLE);
            }
            self.bfs_queue.reserve(area);
            return;
        }
        match &mut self.planner {
            Some(p) => p.reset(&board.geometry, &board.obstacles, n),
            None => {
                self.planner = Some(FollowerPlanner::new(
                    cfg.path_planner,
                    &board.geometry,
                    &board.obstacles,
                    n,
                ))
            }
        }
    }

    /// Agent `agent`'s shortest-path distances to `goal` over the static padded grid of `board`
    /// (4-neighbourhood), recomputed only when its goal changed. Allocates nothing.
    pub fn distance_field(&mut self, board: &Board, agent: usize, goal: Cell) -> &[u32] {
        let (obstacles, stride) = (&board.obstacles, board.geometry.stride as Cell);
        let field = &mut self.goal_fields[agent];
        if field.goal != goal {
            field.goal = goal;
            crate::bfs::distances_into(goal, &mut field.dist, &mut self.bfs_queue, |c| {
                crate::bfs::padded_free_neighbours(obstacles, stride, c)
            });
        }
        &field.dist
    }
}

/// Seed of instance `k` of an episode whose config seed is `base` (SplitMix64 of both, kept in
/// pogema's seed range). Instance 0 is `base` itself.
pub fn schedule_seed(base: u64, k: u64) -> u64 {
    if k == 0 {
        return base;
    }
    use crate::rng::{SplitMix64, mix64};
    mix64(base ^ k.wrapping_mul(SplitMix64::GAMMA)) % crate::config::MAX_SEED_EXCLUSIVE
}
