//! `EnvConfig`: every field of pogema 1.4.0's `GridConfig`, with the same defaults and validation.
//!
//! A config is plain data (serde, TOML or JSON). [`EnvConfig::resolve`] validates it in pogema's
//! order (field validators in declaration order, then the root validator) and returns a
//! [`ResolvedConfig`] with the map parsed, the agent count fixed and the placement kind chosen.

use serde::{Deserialize, Serialize};

use crate::error::EnvError;
use crate::map::{ParsedMap, parse_list_map, parse_str_map};

/// Largest seed pogema accepts (`seed < sys.maxsize`).
pub const MAX_SEED_EXCLUSIVE: u64 = i64::MAX as u64;

/// What happens when an agent reaches its goal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTarget {
    /// The agent is rewarded once, hidden and stops (pogema `Pogema`).
    #[default]
    Finish,
    /// Agents stay; the episode is solved when all are on goal at once (`PogemaCoopFinish`).
    Nothing,
    /// Lifelong: a new goal is drawn at once (`PogemaLifeLong`).
    Restart,
}

/// How simultaneous moves are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollisionSystem {
    /// Agents move in index order; the lower index wins a contested cell.
    #[default]
    Priority,
    /// Every contested or occupied target blocks all its contestants.
    BlockBoth,
    /// Followers and rotations allowed, swaps and vertex conflicts reverted.
    Soft,
}

/// Which observation the simulator writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObservationType {
    /// `[3, R, R]`: obstacles, agents, target (clamped per axis onto the window border).
    #[default]
    #[serde(rename = "default")]
    Default,
    /// `[2, R, R]` obstacles and agents plus start-relative `xy` and `target_xy`.
    #[serde(rename = "POMAPF")]
    Pomapf,
    /// `POMAPF` plus the global obstacle grid and absolute (padded) coordinates.
    #[serde(rename = "MAPF")]
    Mapf,
    /// rmapf's Follower/SRMT observation, `[3, R, R]` of i8 values stored in the `u8` buffer
    /// (two's complement: 255 = −1): obstacles −1 with the agent's shortest path on the static
    /// map +1; active agents (itself included); other agents' goals.
    #[serde(rename = "follower")]
    Follower,
    /// The follower observation plus a fourth plane, the other agents' intents: in each cell of
    /// the window, how many other agents plan to enter it within their next
    /// [`INTENT_STEPS`](crate::INTENT_STEPS) steps (the cells after their own on their planned
    /// paths; capped at 127). It tells a decentralised policy where its neighbours are heading,
    /// as they would broadcast it (rmapf's addition, not Follower's).
    #[serde(rename = "follower_intents")]
    FollowerIntents,
    /// `follower_intents` plus a fifth plane, the other agents' priorities: 1 in each cell of
    /// the window whose agent outranks this one, else 0. An agent outranks another when it has
    /// pursued its current goal for more steps, ties going to the lower index (PIBT's rule).
    /// With the intents it tells a decentralised policy who should give way, as agents would
    /// broadcast it (rmapf's addition, not Follower's).
    #[serde(rename = "follower_priorities")]
    FollowerPriorities,
}

impl ObservationType {
    /// Observation channels `C`: three planes (obstacles, agents, target or path) for `default`
    /// and `follower`, four for `follower_intents`, five for `follower_priorities`, two
    /// (obstacles, agents) for `POMAPF` and `MAPF`.
    pub fn channels(self) -> usize {
        match self {
            Self::Default | Self::Follower => 3,
            Self::FollowerIntents => 4,
            Self::FollowerPriorities => 5,
            Self::Pomapf | Self::Mapf => 2,
        }
    }

    /// Whether this is a follower observation (with or without intents and priorities): a
    /// planned path per agent, i8 values.
    pub fn is_follower(self) -> bool {
        matches!(
            self,
            Self::Follower | Self::FollowerIntents | Self::FollowerPriorities
        )
    }

    /// Whether the observation has the other agents' intents plane (the fourth).
    pub fn has_intents(self) -> bool {
        matches!(self, Self::FollowerIntents | Self::FollowerPriorities)
    }
}

/// The reward an agent gets each step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// pogema's reward (1.0 on arrival; `nothing`: 1.0 to all when all are on goal).
    #[default]
    Pogema,
    /// SRMT "Directional": +1 on arrival, +0.005 for following the planned path, else 0.
    Directional,
    /// SRMT "Sparse": +1 on arrival only.
    Sparse,
    /// SRMT "Dense": +1 on arrival, −0.01 every step.
    Dense,
    /// SRMT "Directional Negative": +1 on arrival, −0.005 when following the path, else −0.01.
    DirectionalNegative,
    /// SRMT "Moving Negative": +1 on arrival, −0.01 for any move action (even blocked), −0.005 for staying.
    MovingNegative,
    /// Follower's lifelong reward: +0.01 for following the planned path, nothing else.
    FollowerLifelong,
}

impl RewardKind {
    /// Whether the reward depends on the planned path (which only the follower observation computes).
    pub fn needs_path(self) -> bool {
        matches!(
            self,
            Self::Directional | Self::DirectionalNegative | Self::FollowerLifelong
        )
    }
}

/// Which planner draws the follower observation's path and sets each agent's subgoal (the
/// path's second cell, which the path-following rewards compare with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathPlanner {
    /// A shortest path on the static map (BFS field per goal; steps tried right, down, up, left).
    #[default]
    Shortest,
    /// Follower's planner (Skrynnik et al., AAAI 2024): A* every step with static penalties for
    /// central cells and dynamic costs for cells where the agent saw other agents.
    Follower,
    /// Follower's planner with the static penalties only (its "no dynamic cost" ablation).
    FollowerStaticOnly,
    /// Follower's planner with the dynamic costs only (its "no static cost" ablation).
    FollowerDynamicOnly,
    /// Follower's A* with unit costs (both ablations at once).
    FollowerUnitCost,
}

impl PathPlanner {
    /// `(static penalties, dynamic costs)` of this planner.
    pub fn costs(self) -> (bool, bool) {
        match self {
            Self::Shortest | Self::FollowerUnitCost => (false, false),
            Self::Follower => (true, true),
            Self::FollowerStaticOnly => (true, false),
            Self::FollowerDynamicOnly => (false, true),
        }
    }
}

/// Whether to reproduce pogema 1.4.0's known bugs (the default, for instance-by-instance parity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BugCompat {
    /// Reproduce 1.4.0: soft following erases occupancy for one step; pool goals compare an
    /// unpadded goal with the padded position (so a new goal can equal the current cell).
    #[default]
    Pogema140,
    /// Fixed semantics: occupancy rebuilt from active agents; pool goals compared in one frame.
    Fixed,
}

/// A map given inline: a POGEMA string map or a list of 0/1 rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MapSpec {
    /// `. # @ $ !` and letters, rows separated by whitespace.
    Text(String),
    /// Rows of 0 (free) and 1 (obstacle).
    Rows(Vec<Vec<i64>>),
}

/// Goals: one per agent, or a sequence per agent (lifelong, at least two each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetsSpec {
    /// `[[row, col], ...]`.
    Single(Vec<[i64; 2]>),
    /// `[[[row, col], [row, col], ...], ...]`.
    Sequences(Vec<Vec<[i64; 2]>>),
}

/// Every `GridConfig` field of pogema 1.4.0, same names and defaults, plus rmapf's `bug_compat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvConfig {
    /// `finish`, `nothing` or `restart`.
    pub on_target: OnTarget,
    /// Instance seed; `None` draws OS entropy at every generation stage (not reproducible).
    pub seed: Option<u64>,
    /// Map width (columns); give both `width` and `height` or neither.
    pub width: Option<i64>,
    /// Map height (rows).
    pub height: Option<i64>,
    /// Side of a square map when `width`/`height` are absent (2..=4096).
    pub size: i64,
    /// Obstacle probability for generated maps; recomputed from a given map.
    pub density: f64,
    /// Observation radius `r`; the window is `R = 2r+1` wide (1..=128).
    pub obs_radius: i64,
    /// Fixed starts `[[row, col], ...]`.
    #[serde(deserialize_with = "crate::positions::optional_positions")]
    pub agents_xy: Option<Vec<[i64; 2]>>,
    /// Fixed goals or lifelong goal sequences.
    #[serde(deserialize_with = "crate::positions::optional_targets")]
    pub targets_xy: Option<TargetsSpec>,
    /// Number of agents; `None` means `len(agents_xy)` or 1.
    pub num_agents: Option<i64>,
    /// Pool of possible starts (from `@` maps or given).
    #[serde(deserialize_with = "crate::positions::optional_positions")]
    pub possible_agents_xy: Option<Vec<[i64; 2]>>,
    /// Pool of possible goals (from `$` maps or given).
    #[serde(deserialize_with = "crate::positions::optional_positions")]
    pub possible_targets_xy: Option<Vec<[i64; 2]>>,
    /// `priority`, `block_both` or `soft`.
    pub collision_system: CollisionSystem,
    /// pogema's persistent mode (no metrics are emitted).
    pub persistent: bool,
    /// `default`, `POMAPF` or `MAPF`.
    pub observation_type: ObservationType,
    /// An inline map; sets `width`, `height`, `size` and `density`.
    pub map: Option<MapSpec>,
    /// Name of a registered map (kept for compatibility; pogema's own registry is empty).
    pub map_name: Option<String>,
    /// Python-side integration name (`SampleFactory`, `PyMARL`, `rllib`, `gymnasium`, `PettingZoo`).
    pub integration: Option<String>,
    /// Truncation horizon, and the lifelong throughput denominator.
    pub max_episode_steps: i64,
    /// SampleFactory's auto-reset flag (kept for compatibility).
    pub auto_reset: Option<bool>,
    /// `false`: the padding outside the obstacle ring is random obstacles, not free cells.
    pub empty_outside: bool,
    /// Reproduce pogema 1.4.0's bugs (default) or use the fixed semantics.
    pub bug_compat: BugCompat,
    /// The reward (rmapf extension; `pogema` keeps pogema's).
    pub reward: RewardKind,
    /// The follower observation's path planner (rmapf extension).
    pub path_planner: PathPlanner,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            on_target: OnTarget::Finish,
            seed: None,
            width: None,
            height: None,
            size: 8,
            density: 0.3,
            obs_radius: 5,
            agents_xy: None,
            targets_xy: None,
            num_agents: None,
            possible_agents_xy: None,
            possible_targets_xy: None,
            collision_system: CollisionSystem::Priority,
            persistent: false,
            observation_type: ObservationType::Default,
            map: None,
            map_name: None,
            integration: None,
            max_episode_steps: 64,
            auto_reset: None,
            empty_outside: true,
            bug_compat: BugCompat::Pogema140,
            reward: RewardKind::Pogema,
            path_planner: PathPlanner::Shortest,
        }
    }
}

pub use crate::grid::Xy;

/// How starts and goals are chosen at reset.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// Given starts, with one goal each or a goal sequence each (the first goal is used first).
    Custom {
        /// Starts, one per agent (already cut to `num_agents`).
        starts: Vec<Xy>,
        /// Goal sequences, one per agent; length 1 for single goals.
        goals: Vec<Vec<Xy>>,
        /// Whether goals were given as sequences (lifelong cycling).
        sequences: bool,
    },
    /// Starts and goals shuffled out of pools; the pools are reshuffled in place at each reset.
    Pools {
        /// Possible starts.
        agents: Vec<Xy>,
        /// Possible goals.
        targets: Vec<Xy>,
    },
    /// pogema's random placement over connected components.
    Random,
}

/// A validated config: the normalised [`EnvConfig`] plus everything derived from it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedConfig {
    /// The config with `width`, `height`, `size`, `density` and `num_agents` filled in as pogema does.
    pub config: EnvConfig,
    /// Map height (rows).
    pub height: usize,
    /// Map width (columns).
    pub width: usize,
    /// Observation radius.
    pub radius: usize,
    /// Number of agents.
    pub num_agents: usize,
    /// Episode horizon.
    pub max_episode_steps: u32,
    /// Given obstacles (row-major, 1 = obstacle), or `None` to generate them from the seed.
    pub obstacles: Option<Vec<u8>>,
    /// Placement kind.
    pub placement: Placement,
}

fn check_range(field: &'static str, v: i64, lo: i64, hi: i64) -> Result<(), EnvError> {
    if v < lo || v > hi {
        return Err(EnvError::config(
            field,
            format!("{v} is not in [{lo}, {hi}]"),
        ));
    }
    Ok(())
}

fn check_positions(
    field: &'static str,
    list: &[Xy],
    width: i64,
    height: i64,
) -> Result<(), EnvError> {
    for &[x, y] in list {
        if !(0 <= x && x < height && 0 <= y && y < width) {
            return Err(EnvError::config(
                field,
                format!(
                    "position [{x}, {y}] is out of bounds: rows 0..{height}, columns 0..{width}"
                ),
            ));
        }
    }
    Ok(())
}

impl EnvConfig {
    /// Parses a TOML document (unknown keys are errors).
    pub fn from_toml_str(text: &str) -> Result<Self, EnvError> {
        toml::from_str(text).map_err(|e| EnvError::Parse(e.to_string()))
    }

    /// Parses a JSON document (unknown keys are errors).
    pub fn from_json_str(text: &str) -> Result<Self, EnvError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match path.as_str() {
                "." | "" => EnvError::Parse(inner.to_string()),
                _ => {
                    // The field's path says where; the JSON's line and column add nothing.
                    let text = inner.to_string();
                    let at = format!(" at line {} column {}", inner.line(), inner.column());
                    let text = text.strip_suffix(&at).unwrap_or(&text);
                    EnvError::UnreadableField {
                        field: path,
                        reason: text.to_string(),
                    }
                }
            }
        })
    }

    /// Serialises to TOML.
    pub fn to_toml_string(&self) -> Result<String, EnvError> {
        toml::to_string(self).map_err(|e| EnvError::Parse(e.to_string()))
    }

    /// Validates like pogema's pydantic model and derives the instance description, including
    /// whether the task fits the map (which pogema checks only when it builds the grid).
    pub fn resolve(&self) -> Result<ResolvedConfig, EnvError> {
        let (c, obstacles) = self.normalize()?;
        let (width, height) = (c.width.unwrap_or(c.size), c.height.unwrap_or(c.size));
        let n = num_agents_of(&c);
        let placement = placement_of(&c, n)?;
        if obstacles.is_none() && (width * height) as usize > 4096 * 4096 {
            return Err(EnvError::config("size", "map larger than 4096x4096"));
        }
        Ok(ResolvedConfig {
            height: height as usize,
            width: width as usize,
            radius: c.obs_radius as usize,
            num_agents: n,
            max_episode_steps: c.max_episode_steps as u32,
            obstacles,
            placement,
            config: c,
        })
    }

    /// pogema's `GridConfig` validators alone: the fields checked, and `width`, `height`, `size`,
    /// `density`, `num_agents` (and a letter map's agents and targets) filled in; also the parsed
    /// map's obstacles (row-major, 1 = obstacle). Whether the agents fit the map is left to
    /// [`EnvConfig::resolve`], as pogema leaves it to the grid.
    pub fn normalize(&self) -> Result<(EnvConfig, Option<Vec<u8>>), EnvError> {
        let mut c = self.clone();
        // Field validators, in GridConfig's declaration order.
        if let Some(seed) = c.seed
            && seed >= MAX_SEED_EXCLUSIVE
        {
            return Err(EnvError::config(
                "seed",
                format!("{seed} is not in [0, {MAX_SEED_EXCLUSIVE})"),
            ));
        }
        if let Some(w) = c.width {
            check_range("width", w, 1, 4096)?;
        }
        if let Some(h) = c.height {
            check_range("height", h, 1, 4096)?;
        }
        check_range("size", c.size, 2, 4096)?;
        if !(0.0..=1.0).contains(&c.density) {
            return Err(EnvError::config(
                "density",
                format!("{} is not in [0, 1]", c.density),
            ));
        }
        check_range("obs_radius", c.obs_radius, 1, 128)?;
        if let Some(TargetsSpec::Single(list)) = &c.targets_xy {
            if list.is_empty() {
                return Err(EnvError::config("targets_xy", "must be a non-empty list"));
            }
            if c.on_target == OnTarget::Restart {
                return Err(EnvError::config(
                    "targets_xy",
                    "on_target='restart' requires goal sequences [[[x1,y1],[x2,y2]], ...], not single goals",
                ));
            }
        }
        if let Some(TargetsSpec::Sequences(seqs)) = &c.targets_xy {
            if seqs.is_empty() {
                return Err(EnvError::config("targets_xy", "must be a non-empty list"));
            }
            if let Some(i) = seqs.iter().position(|s| s.len() < 2) {
                return Err(EnvError::config(
                    "targets_xy",
                    format!(
                        "each agent needs at least two goals in its sequence (agent {i} has fewer)"
                    ),
                ));
            }
        }
        let num_agents = match c.num_agents {
            Some(n) => n,
            None => match &c.agents_xy {
                Some(list) if !list.is_empty() => list.len() as i64,
                _ => 1,
            },
        };
        check_range("num_agents", num_agents, 1, 10_000_000)?;
        c.num_agents = Some(num_agents);
        check_range("max_episode_steps", c.max_episode_steps, 1, u32::MAX as i64)?;
        if c.reward.needs_path() && !c.observation_type.is_follower() {
            return Err(EnvError::config(
                "reward",
                format!(
                    "{:?} rewards following the planned path, which needs a follower observation_type (\"follower\", \"follower_intents\" or \"follower_priorities\")",
                    c.reward
                ),
            ));
        }
        if c.path_planner != PathPlanner::Shortest && !c.observation_type.is_follower() {
            return Err(EnvError::config(
                "path_planner",
                format!(
                    "{:?} draws the follower observation's path, which needs a follower observation_type (\"follower\", \"follower_intents\" or \"follower_priorities\")",
                    c.path_planner
                ),
            ));
        }
        if let Some(name) = &c.integration {
            const KNOWN: [&str; 5] = [
                "SampleFactory",
                "PyMARL",
                "rllib",
                "gymnasium",
                "PettingZoo",
            ];
            if !KNOWN.contains(&name.as_str()) {
                return Err(EnvError::config(
                    "integration",
                    format!("unknown integration {name:?}; use one of {KNOWN:?}"),
                ));
            }
        }

        // `map`: parse and let it override dimensions, density and (letters) the task.
        let mut obstacles = None;
        if let Some(spec) = &c.map {
            let parsed: ParsedMap = match spec {
                MapSpec::Text(text) => parse_str_map(text)?,
                MapSpec::Rows(rows) => parse_list_map(rows)?,
            };
            if parsed.width > 4096 || parsed.height > 4096 {
                return Err(EnvError::config(
                    "map",
                    format!(
                        "the map is {}x{} (rows x columns); pogema's limit is 4096 on each side",
                        parsed.height, parsed.width
                    ),
                ));
            }
            let has_letters = !parsed.agents_xy.is_empty() || !parsed.targets_xy.is_empty();
            if has_letters && c.agents_xy.is_some() && c.targets_xy.is_some() {
                return Err(EnvError::config(
                    "map",
                    "agents and goals are given both by map letters and by agents_xy/targets_xy; give them once",
                ));
            }
            if has_letters
                && (parsed.possible_agents_xy.is_some() || parsed.possible_targets_xy.is_some())
            {
                return Err(EnvError::config(
                    "map",
                    "mark either exact agents/goals (letters) or possible locations (@ $ !), not both",
                ));
            }
            if !parsed.agents_xy.is_empty() && !parsed.targets_xy.is_empty() {
                if c.on_target == OnTarget::Restart {
                    // pogema 1.4.0 accepts this, then raises TypeError at the first arrival.
                    return Err(EnvError::config(
                        "map",
                        "letter maps give single goals, but on_target='restart' needs goal sequences \
                         (pogema 1.4.0 crashes at the first arrival here)",
                    ));
                }
                c.num_agents = Some(parsed.agents_xy.len() as i64);
                c.agents_xy = Some(parsed.agents_xy.clone());
                c.targets_xy = Some(TargetsSpec::Single(parsed.targets_xy.clone()));
            } else if (c.agents_xy.is_none() || c.targets_xy.is_none())
                && parsed
                    .possible_agents_xy
                    .as_ref()
                    .is_some_and(|p| !p.is_empty())
                && parsed
                    .possible_targets_xy
                    .as_ref()
                    .is_some_and(|p| !p.is_empty())
            {
                c.possible_agents_xy = parsed.possible_agents_xy.clone();
                c.possible_targets_xy = parsed.possible_targets_xy.clone();
            }
            let area: usize = parsed.height * parsed.width;
            let blocked: usize = parsed.obstacles.iter().map(|&v| usize::from(v)).sum();
            c.width = Some(parsed.width as i64);
            c.height = Some(parsed.height as i64);
            c.size = parsed.width.max(parsed.height) as i64;
            c.density = blocked as f64 / area as f64;
            obstacles = Some(parsed.obstacles);
        }

        // Root validator: dimensions, then bounds of given positions.
        let (width, height) = match (c.width, c.height) {
            (Some(w), Some(h)) => (w, h),
            (Some(_), None) => {
                return Err(EnvError::config(
                    "height",
                    "width is given, so height is required too",
                ));
            }
            (None, Some(_)) => {
                return Err(EnvError::config(
                    "width",
                    "height is given, so width is required too",
                ));
            }
            (None, None) => (c.size, c.size),
        };
        c.width = Some(width);
        c.height = Some(height);
        c.size = width.max(height);
        if let Some(list) = &c.agents_xy {
            check_positions("agents_xy", list, width, height)?;
        }
        match &c.targets_xy {
            Some(TargetsSpec::Single(list)) => check_positions("targets_xy", list, width, height)?,
            Some(TargetsSpec::Sequences(seqs)) => {
                for s in seqs {
                    check_positions("targets_xy", s, width, height)?;
                }
            }
            None => {}
        }
        for (field, pool) in [
            ("possible_agents_xy", &c.possible_agents_xy),
            ("possible_targets_xy", &c.possible_targets_xy),
        ] {
            if let Some(p) = pool {
                check_positions(field, p, width, height)?;
            }
        }
        Ok((c, obstacles))
    }
}

/// The first `(j, i)`, `j < i`, with `cells[j] == cells[i]` (smallest `i`, then the first `j`), in
/// time linear in the number of cells.
pub(crate) fn first_repeat(cells: &[Xy]) -> Option<(usize, usize)> {
    let mut first = std::collections::HashMap::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        if let Some(&j) = first.get(cell) {
            return Some((j, i));
        }
        first.insert(*cell, i);
    }
    None
}

fn num_agents_of(c: &EnvConfig) -> usize {
    c.num_agents.unwrap_or(1) as usize
}

/// pogema's `Grid.__init__` branch order: custom positions, then pools, then random placement.
fn placement_of(c: &EnvConfig, n: usize) -> Result<Placement, EnvError> {
    let agents = c.agents_xy.as_ref().filter(|a| !a.is_empty());
    if let (Some(starts), Some(targets)) = (agents, c.targets_xy.as_ref()) {
        let (goals, sequences): (Vec<Vec<Xy>>, bool) = match targets {
            TargetsSpec::Single(list) => (list.iter().map(|&g| vec![g]).collect(), false),
            TargetsSpec::Sequences(seqs) => (seqs.clone(), true),
        };
        if starts.len() != goals.len() {
            return Err(EnvError::CantCreateTask(format!(
                "agents_xy has {} entries but targets_xy has {}; give them the same size",
                starts.len(),
                goals.len()
            )));
        }
        if n > starts.len() {
            return Err(EnvError::CantCreateTask(format!(
                "not enough agents_xy and targets_xy ({}) to place {n} agents",
                starts.len()
            )));
        }
        let starts = starts[..n].to_vec();
        if let Some((j, i)) = first_repeat(&starts) {
            return Err(EnvError::config(
                "agents_xy",
                format!(
                    "agents {j} and {i} both start at {:?}; starts must be distinct",
                    starts[i]
                ),
            ));
        }
        return Ok(Placement::Custom {
            starts,
            goals: goals[..n].to_vec(),
            sequences,
        });
    }
    let pa = c.possible_agents_xy.as_ref().filter(|p| !p.is_empty());
    let pt = c.possible_targets_xy.as_ref().filter(|p| !p.is_empty());
    if let (Some(pa), Some(pt)) = (pa, pt) {
        if pa.len() < n || pt.len() < n {
            return Err(EnvError::CantCreateTask(format!(
                "not enough possible positions for {n} agents ({} starts, {} goals)",
                pa.len(),
                pt.len()
            )));
        }
        return Ok(Placement::Pools {
            agents: pa.clone(),
            targets: pt.clone(),
        });
    }
    let area = (c.width.unwrap_or(c.size) * c.height.unwrap_or(c.size)) as usize;
    if 2 * n > area {
        // Every agent needs a start and a goal cell: pogema fails at reset; fail before allocating.
        return Err(EnvError::CantCreateTask(format!(
            "{n} agents need {} cells but the map has {area}",
            2 * n
        )));
    }
    Ok(Placement::Random)
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_repeat_finds_the_first_repeated_cell_and_its_first_owner() {
        assert_eq!(super::first_repeat(&[[0, 0], [1, 1], [2, 2]]), None);
        assert_eq!(
            super::first_repeat(&[[0, 0], [1, 1], [2, 2], [1, 1], [0, 0]]),
            Some((1, 3))
        );
        let many: Vec<Xy> = (0..300_000).map(|k| [k / 1000, k % 1000]).collect();
        assert_eq!(super::first_repeat(&many), None);
    }

    #[test]
    fn a_map_string_over_the_size_limit_is_refused() {
        let row = ".".repeat(4097);
        let config = EnvConfig {
            map: Some(MapSpec::Text(format!("{row}\n{row}"))),
            ..EnvConfig::default()
        };
        let err = config.resolve().unwrap_err().to_string();
        assert!(err.contains("4096"), "{err}");
    }

    use super::*;

    #[test]
    fn defaults_match_pogema() {
        let r = EnvConfig::default().resolve().unwrap();
        assert_eq!(
            (
                r.width,
                r.height,
                r.radius,
                r.num_agents,
                r.max_episode_steps
            ),
            (8, 8, 5, 1, 64)
        );
        assert_eq!(r.config.size, 8);
        assert_eq!(r.placement, Placement::Random);
    }

    #[test]
    fn width_without_height_names_the_field() {
        let c = EnvConfig {
            width: Some(5),
            ..Default::default()
        };
        assert!(matches!(
            c.resolve(),
            Err(EnvError::InvalidConfig {
                field: "height",
                ..
            })
        ));
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        let bad = [
            EnvConfig {
                size: 1,
                ..Default::default()
            },
            EnvConfig {
                density: 1.5,
                ..Default::default()
            },
            EnvConfig {
                obs_radius: 0,
                ..Default::default()
            },
            EnvConfig {
                num_agents: Some(0),
                ..Default::default()
            },
            EnvConfig {
                seed: Some(u64::MAX),
                ..Default::default()
            },
            EnvConfig {
                agents_xy: Some(vec![[8, 0]]),
                ..Default::default()
            },
        ];
        let fields: Vec<_> = bad
            .iter()
            .map(|c| match c.resolve() {
                Err(EnvError::InvalidConfig { field, .. }) => field,
                other => panic!("expected an InvalidConfig, got {other:?}"),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "size",
                "density",
                "obs_radius",
                "num_agents",
                "seed",
                "agents_xy"
            ]
        );
    }

    #[test]
    fn letter_map_sets_task_and_density() {
        let c = EnvConfig {
            map: Some(MapSpec::Text("a.#\n.A.".into())),
            num_agents: Some(7),
            ..Default::default()
        };
        let r = c.resolve().unwrap();
        assert_eq!((r.width, r.height, r.num_agents), (3, 2, 1));
        assert!((r.config.density - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            r.placement,
            Placement::Custom {
                starts: vec![[0, 0]],
                goals: vec![vec![[1, 1]]],
                sequences: false
            }
        );
    }

    #[test]
    fn restart_with_single_goals_is_rejected() {
        let c = EnvConfig {
            on_target: OnTarget::Restart,
            agents_xy: Some(vec![[0, 0]]),
            targets_xy: Some(TargetsSpec::Single(vec![[1, 1]])),
            ..Default::default()
        };
        assert!(matches!(
            c.resolve(),
            Err(EnvError::InvalidConfig {
                field: "targets_xy",
                ..
            })
        ));
    }

    #[test]
    fn toml_and_json_round_trip() {
        let c = EnvConfig {
            seed: Some(3),
            on_target: OnTarget::Restart,
            collision_system: CollisionSystem::Soft,
            observation_type: ObservationType::Pomapf,
            ..Default::default()
        };
        let t = c.to_toml_string().unwrap();
        assert_eq!(EnvConfig::from_toml_str(&t).unwrap(), c);
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(EnvConfig::from_json_str(&j).unwrap(), c);
        assert!(EnvConfig::from_json_str(r#"{"sizee": 3}"#).is_err());
        assert_eq!(
            EnvConfig::from_json_str(
                r#"{"observation_type": "MAPF", "collision_system": "block_both"}"#
            )
            .unwrap()
            .collision_system,
            CollisionSystem::BlockBoth
        );
    }
}
