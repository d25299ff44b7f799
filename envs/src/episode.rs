//! Per-episode state kept as a world resource: the padded grid, occupancy, goal source, metric
//! counters and the scratch the rules need, all allocated when the episode is created.

use crate::config::{ObservationType, OnTarget, PathPlanner, Placement, ResolvedConfig, Xy};
use crate::error::EnvError;
use crate::follower_planner::FollowerPlanner;
use crate::goals::{GoalSource, GoalStream};
use crate::grid::{Cell, Geometry};
use crate::instance::{Instance, generate, lifelong_seeds};
use crate::metrics::{EpisodeMetrics, MetricsTracker};
use crate::rng::NumpyRng;
use crate::rules::collision::CollisionScratch;

/// One episode of a batch.
#[derive(Debug)]
pub struct Episode {
    /// The validated config.
    pub config: ResolvedConfig,
    /// Grid geometry (padded by the observation radius).
    pub geometry: Geometry,
    /// Padded obstacles with the ring (pogema's `Grid.obstacles`).
    pub obstacles: Vec<u8>,
    /// Padded occupancy (pogema's `Grid.positions`).
    pub occupancy: Vec<u8>,
    /// Where new goals come from.
    pub goals: GoalSource,
    /// Start/goal pools, mutated by every reset as pogema mutates its config lists.
    pub pools: Option<(Vec<Xy>, Vec<Xy>)>,
    /// First row of this episode's agents in the batch buffers.
    pub first_row: usize,
    /// Steps taken since the last reset.
    pub elapsed: u32,
    /// Metric counters.
    pub metrics: MetricsTracker,
    /// The seed used for the current instance (`None`: OS entropy).
    pub seed: Option<u64>,
    /// Scratch: positions gathered from the agents, in index order.
    pub positions: Vec<Cell>,
    /// Scratch: actions gathered, rewritten by `soft`.
    pub actions: Vec<u8>,
    /// Scratch: activity gathered.
    pub active: Vec<bool>,
    /// Scratch: on goal and active after the move, before hiding.
    pub was_on_goal: Vec<bool>,
    /// Scratch: collision resolution.
    pub collision: CollisionScratch,
    /// An error raised inside a system (a stuck goal stream), returned by the next `step`.
    pub error: Option<EnvError>,
    /// The config seed: instance 0 of the seed schedule.
    pub base_seed: Option<u64>,
    /// Instances built so far (the position in the seed schedule).
    pub resets: u64,
    /// Agent states of a reset waiting to be written into the agents' components.
    pub pending: Option<Vec<AgentInit>>,
    /// Follower observation with the `shortest` planner: each agent's BFS field to its goal.
    pub goal_fields: Vec<GoalField>,
    /// Scratch: the BFS queue of `goal_fields`.
    pub bfs_queue: Vec<Cell>,
    /// Follower observation with Follower's planner: its per-agent state (`None` for `shortest`).
    pub follower_planner: Option<FollowerPlanner>,
    /// Follower observation: scratch for one agent's planned path (padded cells).
    pub path: Vec<Cell>,
    /// Follower observation: goals per padded cell (filled and cleared within one observe pass).
    pub goal_count: Vec<u16>,
    /// Scratch for shaped rewards: the action each agent asked for this step.
    pub requested: Vec<u8>,
    /// Scratch for shaped rewards: whether each agent was active before this step.
    pub was_active: Vec<bool>,
    /// Scratch for shaped rewards: whether each agent moved onto its planned next cell.
    pub followed: Vec<bool>,
}

/// One agent's shortest-path distances to its current goal over the static padded grid.
#[derive(Clone, Debug, Default)]
pub struct GoalField {
    /// The goal `dist` was computed for (`Cell::MAX`: none yet).
    pub goal: Cell,
    /// Steps from each padded cell to `goal` (4-neighbourhood), [`UNREACHABLE`] if cut off.
    pub dist: Vec<u32>,
}

/// Marks unreachable cells in a distance field.
pub const UNREACHABLE: u32 = u32::MAX;

/// What a reset gives each agent.
#[derive(Clone, Debug)]
pub struct AgentInit {
    /// Start cell.
    pub start: Cell,
    /// First goal.
    pub goal: Cell,
    /// Lifelong goal stream.
    pub stream: GoalStream,
}

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
            seed: config.config.seed,
            geometry,
            obstacles: vec![0; area],
            occupancy: vec![0; area],
            goals: GoalSource::Fixed,
            pools,
            first_row,
            elapsed: 0,
            metrics: MetricsTracker::new(n),
            positions: vec![0; n],
            actions: vec![0; n],
            active: vec![true; n],
            was_on_goal: vec![false; n],
            collision: CollisionScratch::new(area, n),
            error: None,
            base_seed: config.config.seed,
            resets: 0,
            pending: None,
            goal_fields: Vec::new(),
            bfs_queue: Vec::new(),
            follower_planner: None,
            path: Vec::new(),
            goal_count: vec![0; area],
            requested: vec![0; n],
            was_active: vec![true; n],
            followed: vec![false; n],
            config,
        }
    }

    /// Number of agents.
    pub fn num_agents(&self) -> usize {
        self.positions.len()
    }

    /// Builds a new instance from `self.seed` and returns each agent's initial state.
    pub fn reset(&mut self) -> Result<Vec<AgentInit>, EnvError> {
        let mut rc = self.config.clone();
        rc.config.seed = self.seed;
        let Instance {
            geometry,
            map,
            padded,
            starts,
            goals,
        } = generate(&rc, self.pools.as_mut())?;
        let n = starts.len();
        self.geometry = geometry;
        self.obstacles = padded;
        self.occupancy.fill(0);
        let geo = &self.geometry;
        for s in &starts {
            self.occupancy[geo.cell(*s) as usize] = 1;
        }
        self.goals = match (&rc.config.on_target, &rc.placement) {
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
                targets: self.pools.as_ref().map(|p| p.1.clone()).unwrap_or_default(),
                compat: rc.config.bug_compat,
            },
            (OnTarget::Restart, _) => GoalSource::components(&map, geo),
            _ => GoalSource::Fixed,
        };
        let stream_seeds = match rc.config.on_target {
            OnTarget::Restart => lifelong_seeds(self.seed, n),
            _ => vec![0; n],
        };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let start = geo.cell(starts[i]);
            self.goals.check_agent(i, start)?;
            out.push(AgentInit {
                start,
                goal: geo.cell(goals[i]),
                stream: GoalStream {
                    rng: NumpyRng::new(stream_seeds[i]),
                    seq_index: 0,
                },
            });
        }
        self.elapsed = 0;
        self.metrics.clear();
        let cfg = &self.config.config;
        if cfg.observation_type == ObservationType::Follower {
            // A path visits each cell at most once.
            self.path.reserve(self.obstacles.len());
        }
        if cfg.observation_type == ObservationType::Follower
            && cfg.path_planner == PathPlanner::Shortest
        {
            let area = self.obstacles.len();
            self.goal_fields.resize_with(n, GoalField::default);
            for f in &mut self.goal_fields {
                f.goal = Cell::MAX;
                f.dist.resize(area, UNREACHABLE);
            }
            self.bfs_queue.reserve(area);
        }
        if cfg.observation_type == ObservationType::Follower
            && cfg.path_planner != PathPlanner::Shortest
        {
            match &mut self.follower_planner {
                Some(p) => p.reset(&self.geometry, &self.obstacles, n),
                None => {
                    self.follower_planner = Some(FollowerPlanner::new(
                        cfg.path_planner,
                        &self.geometry,
                        &self.obstacles,
                        n,
                    ))
                }
            }
        }
        self.active.fill(true);
        self.error = None;
        Ok(out)
    }

    /// Moves to the next instance of the seed schedule and builds it into `self.pending`.
    /// Instance 0 uses the config seed (as pogema does); instance `k ≥ 1` uses a seed mixed from
    /// the config seed and `k`, so each episode's sequence of instances is fixed by its config
    /// alone, whatever the batch or thread count. Without a config seed every instance draws OS
    /// entropy.
    pub fn advance(&mut self) {
        self.resets += 1;
        self.seed = self.base_seed.map(|s| schedule_seed(s, self.resets));
        match self.reset() {
            Ok(inits) => self.pending = Some(inits),
            Err(e) => self.error = Some(e),
        }
    }

    /// Agent `agent`'s shortest-path distances to `goal` over the static padded grid
    /// (4-neighbourhood), recomputed only when its goal changed. Allocates nothing.
    pub fn distance_field(&mut self, agent: usize, goal: Cell) -> &[u32] {
        let (obstacles, stride) = (&self.obstacles, self.geometry.stride as Cell);
        let field = &mut self.goal_fields[agent];
        if field.goal != goal {
            field.goal = goal;
            let dist = &mut field.dist;
            dist.fill(UNREACHABLE);
            let queue = &mut self.bfs_queue;
            queue.clear();
            queue.push(goal);
            dist[goal as usize] = 0;
            let mut head = 0;
            while head < queue.len() {
                let c = queue[head];
                head += 1;
                for n in [c + 1, c + stride, c - stride, c - 1] {
                    if obstacles[n as usize] == 0 && dist[n as usize] == UNREACHABLE {
                        dist[n as usize] = dist[c as usize] + 1;
                        queue.push(n);
                    }
                }
            }
        }
        &field.dist
    }

    /// The episode's metrics are reported when this returns them.
    pub fn record_metrics(&mut self, finished: bool) -> Option<EpisodeMetrics> {
        if self.config.config.persistent {
            return None;
        }
        let mode = self.config.config.on_target;
        self.metrics.record(
            mode,
            &self.was_on_goal,
            finished,
            self.config.max_episode_steps,
        )
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
