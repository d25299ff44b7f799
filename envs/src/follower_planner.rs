//! Follower's heuristic path planner (Skrynnik et al., "Learn to Follow: Decentralized Lifelong
//! Multi-agent Pathfinding via Planning and Learning", AAAI 2024; the public reference is
//! learn-to-follow's `follower_cpp/planner.h`, MIT, which this follows without copying).
//!
//! Each agent plans alone, every step, with three costs:
//! - a **static penalty** per cell, computed once per map: for each free cell, the mean BFS
//!   distance to every other reachable cell; penalty = the largest such mean over the map divided
//!   by the cell's own, so central cells (through which many shortest paths run) cost more;
//! - a **heuristic**: Dijkstra from the goal where entering a cell costs its penalty, recomputed
//!   only when the agent's goal changes;
//! - a **dynamic cost** per agent: every step, +1 on each cell within the observation radius that
//!   holds another agent; it accumulates and is cleared when the agent gets a new goal.
//!
//! A* then searches from the agent's cell, entering a cell costs penalty + dynamic count, the
//! open list pops the smallest f (ties within 1e-5 to the smaller g) and neighbours are expanded
//! in the order (0, 1), (1, 0), (−1, 0), (0, −1). The path's second cell is the agent's subgoal.
//!
//! Everything is preallocated per episode and reused: a step allocates nothing once the open
//! list and path buffers have reached their working size.

// A four-ary heap (fewer levels per pop than std's binary heap; measured +13% env steps with one
// episode). Entries are totally ordered by (key, cell), so every heap pops them in the same order.
use dary_heap::QuaternaryHeap;

use crate::config::PathPlanner;
use crate::grid::{Cell, Geometry, OBSTACLE};

/// Neighbour order of the reference planner, as (Δrow, Δcol).
const NEIGHBOURS: [[isize; 2]; 4] = [[0, 1], [1, 0], [-1, 0], [0, -1]];

/// f values closer than 1e-5 are equal (the reference's tolerance): f is counted in steps of
/// 1e-5, i.e. this many per unit (exactly).
const F_STEPS_PER_UNIT: f64 = 1e5;

/// No goal yet (a fresh agent).
const NO_GOAL: Cell = Cell::MAX;

/// The side of the square tiles in which per-agent fields are stored (4 × 4 `f32` = one 64-byte
/// cache line).
const TILE: usize = 4;

/// Where each padded cell's value lives in a per-agent field stored tile by tile: a search
/// reads a narrow band of cells around its path, which row by row spans one cache line per row
/// and tile by tile one per four rows (measured: the heuristic's loads were a third of A*'s time
/// with 16 episodes of 64 agents on the 65×65 mazes).
#[derive(Clone, Debug, Default)]
struct Tiles {
    /// Per padded cell: its slot.
    slot: Vec<u32>,
    /// Slots a field needs.
    len: usize,
}

impl Tiles {
    /// The layout of a padded grid of `area` cells, `stride` to a row.
    fn new(stride: usize, area: usize) -> Self {
        let rows = area.div_ceil(stride);
        let tiles_per_row = stride.div_ceil(TILE);
        let slot = (0..area)
            .map(|c| {
                let (x, y) = (c / stride, c % stride);
                let tile = (x / TILE) * tiles_per_row + y / TILE;
                (tile * TILE * TILE + (x % TILE) * TILE + y % TILE) as u32
            })
            .collect();
        Self {
            slot,
            len: rows.div_ceil(TILE) * tiles_per_row * TILE * TILE,
        }
    }

    /// The slot of padded cell `cell`.
    #[inline]
    fn of(&self, cell: usize) -> usize {
        self.slot[cell] as usize
    }
}

/// An open-list entry: a cell and its packed priority.
///
/// The reference pops the smallest f, and among f values within 1e-5 the smaller g. Here f is
/// rounded to a multiple of 1e-5 and packed above g's bits (non-negative floats order as their
/// bits), so one integer comparison orders the heap; the two rules differ only for f values
/// 1e-5 apart that straddle a rounding boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Open {
    /// `!(round(f / 1e-5) << 32 | g.to_bits())`: larger pops first from the max-heap.
    key: u64,
    /// The cell.
    cell: Cell,
}

impl Open {
    /// The entry of `cell` reached with cost `g` and estimated total `f`.
    fn new(f: f32, g: f32, cell: Cell) -> Self {
        // f ≥ 0: adding one half and truncating rounds (and `as` saturates at u32::MAX). A
        // product with the exact 1e5 rather than a division by the inexact 1e-5: the two differ
        // only within an ulp of a rounding boundary, and a division costs several times more.
        let steps = u64::from((f64::from(f) * F_STEPS_PER_UNIT + 0.5) as u32);
        Self {
            key: !((steps << 32) | u64::from(g.to_bits())),
            cell,
        }
    }

    /// The cost `g` this entry was pushed with.
    fn g(self) -> f32 {
        f32::from_bits(!self.key as u32)
    }
}

/// One agent's planner state.
///
/// Only the heuristic is dense (one `f32` per padded cell, 22 KB for a 65×65 maze): the dynamic
/// counts are few (the cells where another agent was seen since the goal changed), kept as a
/// list and scattered into the episode's shared [`Scratch::seen`] for the agent's step. Half the
/// memory of a dense pair per cell, which keeps 16 episodes × 64 agents within the L3 cache.
#[derive(Clone, Debug)]
struct AgentState {
    /// The goal `heuristic` belongs to (`NO_GOAL` before the first plan).
    goal: Cell,
    /// Per padded cell, stored tile by tile ([`Tiles`]): Dijkstra cost from the cell to the goal
    /// (penalty-weighted; infinite if cut off).
    heuristic: Vec<f32>,
    /// The dynamic costs: each cell where another agent was seen since the goal changed, and
    /// how often (never longer than the grid, and allocated at that size).
    seen: Vec<(Cell, f32)>,
}

/// A cell's search record; valid where `stamp` is the current search.
#[derive(Clone, Copy, Debug, Default)]
struct SearchNode {
    /// Best cost found.
    g: f32,
    /// Predecessor on the best path found.
    parent: Cell,
    /// The search that last wrote the record.
    stamp: u32,
}

/// Scratch of the searches, shared by the agents of an episode.
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// A*'s records and open list.
    astar: AStar,
    /// The buckets of the heuristic's Dijkstra.
    buckets: Buckets,
    /// Per padded cell: the dynamic count of the agent being planned for, scattered from its
    /// [`AgentState::seen`] for its step and zero again after it.
    seen: Vec<f32>,
}

/// The map as the searches read it.
#[derive(Clone, Copy)]
struct MapCosts<'a> {
    /// The padded obstacle grid.
    obstacles: &'a [u8],
    /// Static cost of entering each padded cell.
    entry_cost: &'a [f32],
    /// The largest finite entry cost (sizes the heuristic's buckets).
    max_entry_cost: f32,
    /// Padded row length.
    stride: usize,
    /// The layout of the per-agent heuristic fields.
    tiles: &'a Tiles,
}

/// What one agent's A* reads: the map's costs and the agent's own.
struct SearchCosts<'a> {
    /// The map.
    map: MapCosts<'a>,
    /// Dynamic cost of entering each padded cell (`None`: no dynamic costs).
    seen: Option<&'a [f32]>,
    /// The agent's heuristic field, stored tile by tile (`map.tiles`).
    heuristic: &'a [f32],
}

/// A*'s open list: a heap, and beside it the best entry when that entry was the best as it was
/// pushed.
///
/// Along a path whose f does not grow (the heuristic is the exact static cost, so f stays level
/// until a dynamic cost is met) each expansion pushes a successor that is the best entry of the
/// open list; keeping it out of the heap saves its push and the pop's sift-down. Entries are
/// totally ordered, so the pops come in exactly the heap's order.
#[derive(Clone, Debug, Default)]
struct OpenList {
    /// When set: an entry at least as good as every entry of `heap`.
    best: Option<Open>,
    /// The other entries.
    heap: QuaternaryHeap<Open>,
}

impl OpenList {
    /// An empty open list with room for `capacity` entries.
    fn with_capacity(capacity: usize) -> Self {
        Self {
            best: None,
            heap: QuaternaryHeap::with_capacity(capacity),
        }
    }

    /// Empties the list (keeping its capacity).
    fn clear(&mut self) {
        self.best = None;
        self.heap.clear();
    }

    /// Adds `entry`.
    #[inline]
    fn push(&mut self, entry: Open) {
        match self.best {
            Some(best) if entry > best => {
                self.heap.push(best);
                self.best = Some(entry);
            }
            Some(_) => self.heap.push(entry),
            None if self.heap.peek().is_none_or(|top| entry > *top) => self.best = Some(entry),
            None => self.heap.push(entry),
        }
    }

    /// Takes the best entry out.
    #[inline]
    fn pop(&mut self) -> Option<Open> {
        self.best.take().or_else(|| self.heap.pop())
    }
}

/// A*'s scratch, reused by every search of an episode.
#[derive(Clone, Debug, Default)]
struct AStar {
    /// Per padded cell.
    nodes: Vec<SearchNode>,
    /// Current search number.
    search: u32,
    /// The open list.
    open: OpenList,
}

impl AStar {
    /// Scratch for a padded grid of `area` cells.
    fn new(area: usize) -> Self {
        Self {
            nodes: vec![SearchNode::default(); area],
            search: 0,
            // Each search pushes at most one entry per relaxation (four per cell).
            open: OpenList::with_capacity(4 * area),
        }
    }

    /// Writes the cheapest path from `pos` to `goal` into `path` (both included; left empty
    /// when `pos` is the goal or cut off from it).
    fn path(&mut self, costs: &SearchCosts, pos: Cell, goal: Cell, path: &mut Vec<Cell>) {
        if pos == goal || !costs.heuristic[costs.map.tiles.of(pos as usize)].is_finite() {
            return;
        }
        self.search = self.search.wrapping_add(1);
        if self.search == 0 {
            self.nodes.fill(SearchNode::default());
            self.search = 1;
        }
        let search = self.search;
        let nodes = &mut self.nodes;
        let tiles = costs.map.tiles;
        self.open.clear();
        nodes[pos as usize] = SearchNode {
            g: 0.0,
            parent: pos,
            stamp: search,
        };
        self.open
            .push(Open::new(costs.heuristic[tiles.of(pos as usize)], 0.0, pos));
        let offsets = NEIGHBOURS.map(|[dx, dy]| dx * costs.map.stride as isize + dy);
        while let Some(cur) = self.open.pop() {
            if cur.cell == goal {
                break;
            }
            let cur_g = cur.g();
            if nodes[cur.cell as usize].g < cur_g {
                continue;
            }
            for off in offsets {
                let n = (cur.cell as isize + off) as usize;
                if costs.map.obstacles[n] == OBSTACLE {
                    continue;
                }
                let mut cost = costs.map.entry_cost[n];
                if let Some(seen) = costs.seen {
                    cost += seen[n];
                }
                let g = cur_g + cost;
                let node = &mut nodes[n];
                if node.stamp != search || node.g > g {
                    *node = SearchNode {
                        g,
                        parent: cur.cell,
                        stamp: search,
                    };
                    self.open
                        .push(Open::new(g + costs.heuristic[tiles.of(n)], g, n as Cell));
                }
            }
        }
        if nodes[goal as usize].stamp != search {
            return;
        }
        let mut c = goal;
        while c != pos {
            path.push(c);
            c = nodes[c as usize].parent;
        }
        path.push(pos);
        path.reverse();
    }
}

/// Dial's bucket queue for the heuristic's Dijkstra: bucket `k` holds the cells whose cost lies
/// in `[k, k + 1)`, kept circularly (a power of two more than the largest entry cost, so a cell
/// is never put into a bucket still in use, and the slot is a mask, not a division), with the
/// row-major costs the search writes (scattered into the tiled field at the end).
///
/// Every entry cost is at least 1 (a penalty is the largest mean distance over the cell's own,
/// and unit costs are 1), so relaxing a cell of bucket `k` always lands in a later bucket: the
/// cells of one bucket cannot improve each other, their costs are final when the bucket is
/// reached, and each cell's cost is the minimum over its neighbours' final costs, exactly as
/// (and bit for bit the same float as) with a binary-heap Dijkstra (tested). A cell whose cost
/// improves is pushed again and its older entry, in a later bucket, is skipped when reached
/// (its cost then lies in an earlier bucket). A bucket is a list threaded through one entry
/// array: a push appends one entry, and the array never outgrows the capacity reserved for it.
#[derive(Clone, Debug, Default)]
struct Buckets {
    /// Per bucket slot: its last pushed entry ([`NO_ENTRY`]: empty).
    head: Vec<u32>,
    /// Every entry of this search: a cell and the entry pushed before it into its bucket.
    entries: Vec<(Cell, u32)>,
    /// Per padded cell, row-major: the best cost found.
    cost: Vec<f32>,
}

/// The end of a bucket's list.
const NO_ENTRY: u32 = u32::MAX;

impl Buckets {
    /// Empty buckets for `cells` cells and entry costs up to `max_cost`, every cost infinite.
    fn fit(&mut self, cells: usize, max_cost: f32) {
        let len = (max_cost.ceil().max(1.0) as usize + 2).next_power_of_two();
        self.head.clear();
        self.head.resize(len, NO_ENTRY);
        // A cell is pushed when a neighbour's first expansion improves it (a cell expanded again
        // from a duplicate entry has the same cost and improves nothing), so at most four
        // times, and the goal once.
        self.entries.clear();
        self.entries.reserve(4 * cells + 1);
        self.cost.clear();
        self.cost.resize(cells, f32::INFINITY);
    }

    /// Pushes `cell` into bucket slot `slot`.
    #[inline]
    fn push(&mut self, slot: usize, cell: Cell) {
        self.entries.push((cell, self.head[slot]));
        self.head[slot] = (self.entries.len() - 1) as u32;
    }
}

/// Follower's planner for every agent of one episode.
#[derive(Clone, Debug)]
pub struct FollowerPlanner {
    /// Whether entering a cell costs its static penalty (else 1).
    static_cost: bool,
    /// Whether the dynamic counts are added.
    dynamic_cost: bool,
    /// Padded row length.
    stride: usize,
    /// Window radius of the dynamic counts.
    radius: usize,
    /// The padded obstacle grid the penalties were computed for.
    obstacles: Vec<u8>,
    /// Cost of entering each padded cell before dynamic counts (penalty, or 1).
    entry_cost: std::sync::Arc<[f32]>,
    /// The layout of the per-agent heuristic fields.
    tiles: Tiles,
    /// The largest finite entry cost (sizes the heuristic's buckets).
    max_entry_cost: f32,
    /// Per-agent state.
    agents: Vec<AgentState>,
    /// Search scratch.
    scratch: Scratch,
}

impl FollowerPlanner {
    /// A planner for `num_agents` agents on the padded grid `obstacles` of `geometry`; `kind`
    /// chooses the costs (`PathPlanner::Shortest` gives unit costs, i.e. plain A*). Dynamic counts
    /// look `geometry.radius` cells around each agent (the env's observation radius).
    pub fn new(
        kind: PathPlanner,
        geometry: &Geometry,
        obstacles: &[u8],
        num_agents: usize,
    ) -> Self {
        let (static_cost, dynamic_cost) = kind.costs();
        let mut planner = Self {
            static_cost,
            dynamic_cost,
            stride: geometry.stride,
            radius: geometry.radius,
            obstacles: Vec::new(),
            entry_cost: std::sync::Arc::from(Vec::new()),
            max_entry_cost: 1.0,
            tiles: Tiles::default(),
            agents: Vec::new(),
            scratch: Scratch::default(),
        };
        planner.reset(geometry, obstacles, num_agents);
        planner
    }

    /// Starts a new episode: every agent forgets its goal and counts; the penalties are
    /// recomputed only if the map changed.
    pub fn reset(&mut self, geometry: &Geometry, obstacles: &[u8], num_agents: usize) {
        let area = obstacles.len();
        self.stride = geometry.stride;
        self.radius = geometry.radius;
        if self.obstacles != obstacles {
            self.obstacles = obstacles.to_vec();
            self.entry_cost = if self.static_cost {
                cached_penalties(geometry, obstacles)
            } else {
                std::sync::Arc::from(vec![1.0; area])
            };
            self.max_entry_cost = self
                .entry_cost
                .iter()
                .copied()
                .filter(|c| c.is_finite())
                .fold(1.0, f32::max);
            self.tiles = Tiles::new(geometry.stride, area);
            self.scratch.astar = AStar::new(area);
            self.scratch.seen = vec![0.0; area];
            self.agents.clear();
        }
        self.agents.resize_with(num_agents, || AgentState {
            goal: NO_GOAL,
            heuristic: vec![f32::INFINITY; self.tiles.len],
            seen: Vec::with_capacity(area),
        });
        self.agents.truncate(num_agents);
        self.forget_agents();
    }

    /// Whether this planner was built for this grid and agent count (else build a new one).
    pub fn fits(&self, geometry: &Geometry, obstacles: &[u8], num_agents: usize) -> bool {
        self.stride == geometry.stride
            && self.radius == geometry.radius
            && self.agents.len() == num_agents
            && self.obstacles == obstacles
    }

    /// Every agent forgets its goal and counts (a new episode on the same map).
    pub fn forget_agents(&mut self) {
        for a in &mut self.agents {
            a.goal = NO_GOAL;
            a.seen.clear();
        }
    }

    /// The static entry cost of each padded cell (Follower's penalty, or 1 without static costs).
    pub fn entry_costs(&self) -> &[f32] {
        &self.entry_cost
    }

    /// One step of agent `agent` at `pos` heading for `goal`: a new goal clears its counts and
    /// recomputes its heuristic, then the agents seen in `occupancy` (padded, non-zero = an
    /// agent, the agent's own cell excluded) are counted, and A* writes the path into `path`
    /// (from `pos` to `goal`, both included; empty when on the goal or cut off from it).
    pub fn plan(
        &mut self,
        agent: usize,
        pos: Cell,
        goal: Cell,
        occupancy: &[u8],
        path: &mut Vec<Cell>,
    ) {
        path.clear();
        let stride = self.stride;
        let map = MapCosts {
            obstacles: &self.obstacles,
            entry_cost: &self.entry_cost,
            max_entry_cost: self.max_entry_cost,
            stride,
            tiles: &self.tiles,
        };
        let state = &mut self.agents[agent];
        let sc = &mut self.scratch;
        if state.goal != goal {
            state.seen.clear();
            state.goal = goal;
            heuristic_field(&map, goal, &mut state.heuristic, &mut sc.buckets);
        }
        if self.dynamic_cost {
            // Scatter the counts, count this step's neighbours (new cells join the list with a
            // placeholder count), search, then gather the counts back and leave `seen` zero.
            for &(c, n) in &state.seen {
                sc.seen[c as usize] = n;
            }
            // The window row by row, as slices (clipped to the grid): most rows hold no agent
            // and are passed over in one check.
            let (r, s) = (self.radius as isize, stride as isize);
            for dx in -r..=r {
                let centre = pos as isize + dx * s;
                let lo = (centre - r).clamp(0, occupancy.len() as isize) as usize;
                let hi = (centre + r + 1).clamp(0, occupancy.len() as isize) as usize;
                let row = &occupancy[lo..hi];
                if row.iter().all(|&o| o == 0) {
                    continue;
                }
                for (c, _) in (lo..)
                    .zip(row)
                    .filter(|&(c, &o)| o != 0 && c != pos as usize)
                {
                    let slot = &mut sc.seen[c];
                    if *slot == 0.0 {
                        state.seen.push((c as Cell, 0.0));
                    }
                    *slot += 1.0;
                }
            }
            let costs = SearchCosts {
                map,
                seen: Some(&sc.seen),
                heuristic: &state.heuristic,
            };
            sc.astar.path(&costs, pos, goal, path);
            for (c, n) in &mut state.seen {
                *n = std::mem::take(&mut sc.seen[*c as usize]);
            }
        } else {
            let costs = SearchCosts {
                map,
                seen: None,
                heuristic: &state.heuristic,
            };
            sc.astar.path(&costs, pos, goal, path);
        }
    }
}

/// Dijkstra from `goal` over the free cells, entering a cell costing its `map.entry_cost`; writes each
/// cell's heuristic into its slot of `out` (laid out by `map.tiles`; `f32::INFINITY` where the goal
/// cannot be reached). Uses Dial's buckets (see [`Buckets`]).
fn heuristic_field(map: &MapCosts, goal: Cell, out: &mut [f32], buckets: &mut Buckets) {
    let MapCosts {
        obstacles,
        entry_cost,
        max_entry_cost: max_cost,
        stride,
        tiles,
    } = *map;
    buckets.fit(obstacles.len(), max_cost);
    let mask = buckets.head.len() - 1;
    buckets.cost[goal as usize] = 0.0;
    buckets.push(0, goal);
    let mut pending = 1usize;
    let offsets = NEIGHBOURS.map(|[dx, dy]| dx * stride as isize + dy);
    let mut k = 0usize;
    while pending > 0 {
        // Relaxations land in later buckets only, so this one is complete.
        let mut entry = std::mem::replace(&mut buckets.head[k & mask], NO_ENTRY);
        while entry != NO_ENTRY {
            let (cell, before) = buckets.entries[entry as usize];
            entry = before;
            pending -= 1;
            let cur_g = buckets.cost[cell as usize];
            if cur_g as usize != k {
                // Stale: the cell improved into an earlier bucket after this push.
                continue;
            }
            for off in offsets {
                let n = (cell as isize + off) as usize;
                if obstacles[n] == OBSTACLE {
                    continue;
                }
                let g = cur_g + entry_cost[n];
                if buckets.cost[n] > g {
                    buckets.cost[n] = g;
                    buckets.push(g as usize & mask, n as Cell);
                    pending += 1;
                }
            }
        }
        k += 1;
    }
    for (c, &g) in buckets.cost.iter().enumerate() {
        out[tiles.of(c)] = g;
    }
}

/// Maps whose penalties a process keeps (each costs one BFS per free cell to compute).
const PENALTY_CACHE_MAPS: usize = 256;

/// [`static_penalties`], memoised per padded grid for the whole process: every episode on the
/// same map (all copies, every reset, every agent count) shares one computation.
pub fn cached_penalties(geometry: &Geometry, obstacles: &[u8]) -> std::sync::Arc<[f32]> {
    type Entry = ((usize, usize, Vec<u8>), std::sync::Arc<[f32]>);
    static CACHE: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());
    let key = (geometry.stride, geometry.radius, obstacles.to_vec());
    let lookup = |cache: &Vec<Entry>| {
        cache
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    if let Some(hit) = lookup(&CACHE.lock().unwrap_or_else(|e| e.into_inner())) {
        return hit;
    }
    // Computed outside the lock: two threads may both compute a new map once, with equal results.
    let penalties: std::sync::Arc<[f32]> = static_penalties(geometry, obstacles).into();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = lookup(&cache) {
        return hit;
    }
    if cache.len() >= PENALTY_CACHE_MAPS {
        cache.remove(0);
    }
    cache.push((key, penalties.clone()));
    penalties
}

/// Follower's static penalty of every padded cell: for a free map cell, (the largest mean BFS
/// distance from any free cell to the cells it reaches) ÷ (its own mean); 0 elsewhere, and 1 for
/// a free cell that reaches no other cell. Costs one BFS per free cell, run 64 at a time
/// ([`mean_distances`]).
pub fn static_penalties(geometry: &Geometry, obstacles: &[u8]) -> Vec<f32> {
    let mean = mean_distances(geometry, obstacles);
    let largest = mean.iter().copied().fold(0.0f32, f32::max);
    let r = geometry.radius;
    let stride = geometry.stride;
    let mut penalty = vec![0.0f32; obstacles.len()];
    for x in r..r + geometry.height {
        for y in r..r + geometry.width {
            let c = x * stride + y;
            if obstacles[c] != OBSTACLE {
                penalty[c] = if mean[c] > 0.0 {
                    largest / mean[c]
                } else {
                    1.0
                };
            }
        }
    }
    penalty
}

/// For each free map cell, the mean BFS distance to the other cells it reaches (0 when it
/// reaches none, and for every other padded cell).
///
/// Bit-parallel: each batch runs the BFS of 64 sources at once, one bit per source in a `u64`
/// per cell (`visited`, `front`), so a cell reached by many sources at the same level is
/// expanded once for all of them. The cells each source newly reaches per level are counted
/// with a bit-sliced counter (one `u64` plane per bit of the count), so the per-source sums
/// Σ distance and Σ 1 are exact integers, as in one BFS per source.
fn mean_distances(geometry: &Geometry, obstacles: &[u8]) -> Vec<f32> {
    use rayon::prelude::*;
    let stride = geometry.stride;
    let r = geometry.radius;
    // Sources by 8×8 tiles: the 64 of a batch lie close together, so their BFS frontiers meet
    // within a few levels and share the work from there on.
    let mut sources: Vec<usize> = (r..r + geometry.height)
        .flat_map(|x| (r..r + geometry.width).map(move |y| x * stride + y))
        .filter(|&c| obstacles[c] != OBSTACLE)
        .collect();
    sources.sort_by_key(|&c| {
        let (x, y) = (c / stride, c % stride);
        (x / 8, y / 8, x % 8, y % 8)
    });
    // Batches are independent: they run on the current rayon pool, each worker with its own
    // scratch, and every mean lands in its own cell (the same result on any number of threads).
    let means: Vec<Vec<(usize, f32)>> = sources
        .par_chunks(64)
        .map_init(
            || BatchBfs::new(obstacles.len()),
            |bfs, batch| bfs.means(geometry, obstacles, batch),
        )
        .collect();
    let mut mean = vec![0.0f32; obstacles.len()];
    for (c, m) in means.into_iter().flatten() {
        mean[c] = m;
    }
    mean
}

/// Scratch of one worker of [`mean_distances`].
struct BatchBfs {
    /// Per padded cell: the sources (bits) that reached it.
    visited: Vec<u64>,
    /// Per padded cell: the sources that reached it at the current level.
    front: Vec<u64>,
    /// Per padded cell: the sources reaching it at the next level.
    next: Vec<u64>,
    /// Cells of the current level.
    frontier: Vec<usize>,
    /// Cells of the next level.
    next_cells: Vec<usize>,
    /// Every cell the batch reached (cleared afterwards).
    reached: Vec<usize>,
}

impl BatchBfs {
    fn new(area: usize) -> Self {
        Self {
            visited: vec![0; area],
            front: vec![0; area],
            next: vec![0; area],
            frontier: Vec::new(),
            next_cells: Vec::new(),
            reached: Vec::new(),
        }
    }

    /// The BFS of up to 64 `batch` sources at once: each source's mean distance to the other
    /// cells it reaches (sources that reach none are left out).
    fn means(
        &mut self,
        geometry: &Geometry,
        obstacles: &[u8],
        batch: &[usize],
    ) -> Vec<(usize, f32)> {
        let offsets = NEIGHBOURS.map(|[dx, dy]| dx * geometry.stride as isize + dy);
        let Self {
            visited,
            front,
            next,
            frontier,
            next_cells,
            reached,
        } = self;
        // Plane k holds bit k of 64 counters (a level reaches fewer than 2^32 cells per source).
        let mut planes = [0u64; 33];
        let (mut total, mut others) = ([0u64; 64], [0u64; 64]);
        frontier.clear();
        reached.clear();
        for (i, &s) in batch.iter().enumerate() {
            visited[s] = 1 << i;
            front[s] = 1 << i;
            frontier.push(s);
            reached.push(s);
        }
        let mut level = 0u64;
        while !frontier.is_empty() {
            level += 1;
            next_cells.clear();
            for &c in frontier.iter() {
                let bits = front[c];
                for off in offsets {
                    let n = (c as isize + off) as usize;
                    if obstacles[n] == OBSTACLE {
                        continue;
                    }
                    let fresh = bits & !visited[n];
                    if fresh != 0 {
                        if next[n] == 0 {
                            next_cells.push(n);
                        }
                        next[n] |= fresh;
                    }
                }
            }
            for &c in frontier.iter() {
                front[c] = 0;
            }
            let mut used = 0;
            for &n in next_cells.iter() {
                let fresh = std::mem::take(&mut next[n]);
                if visited[n] == 0 {
                    reached.push(n);
                }
                visited[n] |= fresh;
                front[n] = fresh;
                // Add one to the counter of every source in `fresh` (ripple carry).
                let (mut carry, mut k) = (fresh, 0);
                while carry != 0 {
                    let overflow = planes[k] & carry;
                    planes[k] ^= carry;
                    carry = overflow;
                    k += 1;
                }
                used = used.max(k);
            }
            for i in 0..batch.len() {
                let count = (0..used).fold(0u64, |acc, k| acc | ((planes[k] >> i) & 1) << k);
                total[i] += level * count;
                others[i] += count;
            }
            planes[..used].fill(0);
            std::mem::swap(frontier, next_cells);
        }
        for &c in reached.iter() {
            visited[c] = 0;
        }
        batch
            .iter()
            .enumerate()
            .filter(|&(i, _)| others[i] > 0)
            .map(|(i, &s)| (s, (total[i] as f64 / others[i] as f64) as f32))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::pad_obstacles;

    /// A padded grid from text rows (`#` obstacle), radius 1.
    fn grid(rows: &[&str]) -> (Geometry, Vec<u8>) {
        let geo = Geometry::new(rows.len(), rows[0].len(), 1);
        let map: Vec<u8> = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        let padded = pad_obstacles(&geo, &map, None);
        (geo, padded)
    }

    /// One plain BFS per free cell: the definition [`mean_distances`] computes 64 at a time.
    fn mean_distances_one_by_one(geometry: &Geometry, obstacles: &[u8]) -> Vec<f32> {
        let stride = geometry.stride;
        let r = geometry.radius;
        let offsets = NEIGHBOURS.map(|[dx, dy]| dx * stride as isize + dy);
        let mut mean = vec![0.0f32; obstacles.len()];
        for x in r..r + geometry.height {
            for y in r..r + geometry.width {
                let start = x * stride + y;
                if obstacles[start] == OBSTACLE {
                    continue;
                }
                let mut dist = vec![u64::MAX; obstacles.len()];
                dist[start] = 0;
                let mut queue = std::collections::VecDeque::from([start]);
                let (mut total, mut others) = (0u64, 0u64);
                while let Some(c) = queue.pop_front() {
                    for off in offsets {
                        let n = (c as isize + off) as usize;
                        if obstacles[n] != OBSTACLE && dist[n] == u64::MAX {
                            dist[n] = dist[c] + 1;
                            total += dist[n];
                            others += 1;
                            queue.push_back(n);
                        }
                    }
                }
                if others > 0 {
                    mean[start] = (total as f64 / others as f64) as f32;
                }
            }
        }
        mean
    }

    /// A random `height × width` grid of rows, each cell an obstacle with chance `density` (an
    /// LCG on `state`).
    fn random_rows(state: &mut u64, height: usize, width: usize, density: f64) -> Vec<String> {
        (0..height)
            .map(|_| {
                (0..width)
                    .map(|_| {
                        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        if ((*state >> 33) as f64 / (1u64 << 31) as f64) < density {
                            '#'
                        } else {
                            '.'
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn bit_parallel_means_equal_one_bfs_per_cell() {
        // Random 23x37 grids (more than 64 free cells, several components, isolated cells).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for density in [0.0, 0.2, 0.35, 0.5] {
            let rows = random_rows(&mut state, 23, 37, density);
            let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
            let (geo, obs) = grid(&rows);
            assert_eq!(
                mean_distances(&geo, &obs),
                mean_distances_one_by_one(&geo, &obs),
                "density {density}"
            );
        }
    }

    /// The heuristic with a binary-heap Dijkstra, the plain way: the reference for the buckets.
    fn heuristic_with_a_heap(
        obstacles: &[u8],
        cost: &[f32],
        stride: usize,
        goal: usize,
    ) -> Vec<f32> {
        let mut h = vec![f32::INFINITY; obstacles.len()];
        let mut open = std::collections::BinaryHeap::new();
        h[goal] = 0.0;
        open.push((std::cmp::Reverse(0u32), goal));
        let offsets = NEIGHBOURS.map(|[dx, dy]| dx * stride as isize + dy);
        while let Some((std::cmp::Reverse(bits), c)) = open.pop() {
            let g = f32::from_bits(bits);
            if h[c] < g {
                continue;
            }
            for off in offsets {
                let n = (c as isize + off) as usize;
                if obstacles[n] != OBSTACLE && h[n] > g + cost[n] {
                    h[n] = g + cost[n];
                    // Non-negative floats order as their bits.
                    open.push((std::cmp::Reverse(h[n].to_bits()), n));
                }
            }
        }
        h
    }

    #[test]
    fn bucket_dijkstra_equals_a_heap_dijkstra_bit_for_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for density in [0.0, 0.25, 0.4] {
            let rows = random_rows(&mut state, 29, 31, density);
            let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
            let (geo, obs) = grid(&rows);
            let penalties = static_penalties(&geo, &obs);
            let max = penalties.iter().copied().fold(1.0, f32::max);
            let tiles = Tiles::new(geo.stride, obs.len());
            let mut out = vec![0.0f32; tiles.len];
            let mut buckets = Buckets::default();
            for goal in (0..obs.len()).filter(|&c| obs[c] != OBSTACLE).step_by(7) {
                let map = MapCosts {
                    obstacles: &obs,
                    entry_cost: &penalties,
                    max_entry_cost: max,
                    stride: geo.stride,
                    tiles: &tiles,
                };
                heuristic_field(&map, goal as Cell, &mut out, &mut buckets);
                let expected = heuristic_with_a_heap(&obs, &penalties, geo.stride, goal);
                for (c, e) in expected.iter().enumerate() {
                    assert_eq!(
                        out[tiles.of(c)].to_bits(),
                        e.to_bits(),
                        "density {density} goal {goal} cell {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_open_list_pops_in_the_heaps_order() {
        let mut rng = crate::rng::SplitMix64(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
        let (mut open, mut heap) = (OpenList::with_capacity(8), QuaternaryHeap::new());
        for round in 0..20_000 {
            // Few distinct keys and cells, so ties and duplicates are common; pushes of a new
            // best entry, as along a level path, about one in three.
            if next() % 3 != 0 || heap.is_empty() {
                let best = heap.peek().map_or(0, |e: &Open| e.key);
                let key = if next() % 3 == 0 {
                    best.saturating_add(next() % 2)
                } else {
                    next() % 16
                };
                let entry = Open {
                    key,
                    cell: (next() % 4) as Cell,
                };
                open.push(entry);
                heap.push(entry);
            } else {
                assert_eq!(open.pop(), heap.pop(), "round {round}");
            }
            if round % 997 == 0 {
                open.clear();
                heap.clear();
            }
        }
        while let Some(e) = heap.pop() {
            assert_eq!(open.pop(), Some(e));
        }
        assert_eq!(open.pop(), None);
    }

    #[test]
    fn tiles_give_every_cell_its_own_slot() {
        for (stride, area) in [(1, 1), (5, 15), (7, 49), (75, 75 * 75), (9, 8 * 9)] {
            let tiles = Tiles::new(stride, area);
            let mut slots: Vec<usize> = (0..area).map(|c| tiles.of(c)).collect();
            assert!(slots.iter().all(|&s| s < tiles.len), "{stride}x{area}");
            slots.sort_unstable();
            slots.dedup();
            assert_eq!(slots.len(), area, "{stride}x{area}");
        }
        // Cells of one 4 × 4 block share a cache line.
        let tiles = Tiles::new(12, 144);
        assert_eq!(tiles.of(0) / 16, tiles.of(3 * 12 + 3) / 16);
        assert_ne!(tiles.of(0) / 16, tiles.of(4));
    }

    #[test]
    fn penalties_are_largest_mean_over_own_mean() {
        // A 1×3 corridor: the ends have mean distance 1.5, the middle 1.
        let (geo, obs) = grid(&["..."]);
        let p = static_penalties(&geo, &obs);
        let cells: Vec<f32> = (0..3).map(|y| p[geo.cell([0, y]) as usize]).collect();
        assert_eq!(cells, [1.0, 1.5, 1.0]);
    }

    #[test]
    fn an_isolated_cell_costs_one() {
        let (geo, obs) = grid(&[".#."]);
        let p = static_penalties(&geo, &obs);
        assert_eq!(p[geo.cell([0, 0]) as usize], 1.0);
    }

    #[test]
    fn unit_costs_give_shortest_paths_in_reference_order() {
        let (geo, obs) = grid(&["...", "...", "..."]);
        let mut p = FollowerPlanner::new(PathPlanner::FollowerUnitCost, &geo, &obs, 1);
        let mut path = Vec::new();
        let occupancy = vec![0; obs.len()];
        p.plan(0, geo.cell([0, 0]), geo.cell([2, 2]), &occupancy, &mut path);
        let xy: Vec<_> = path.iter().map(|&c| geo.xy(c)).collect();
        assert_eq!(xy.len(), 5, "{xy:?}");
        assert_eq!(xy[0], [0, 0]);
        assert_eq!(xy[4], [2, 2]);
    }

    #[test]
    fn seen_agents_make_a_detour_cheaper_and_a_new_goal_forgets_them() {
        // Two routes from the left to the right of a ring; an agent seen on the upper route
        // sends the plan below it.
        let (geo, obs) = grid(&[".....", ".###.", "....."]);
        let mut p = FollowerPlanner::new(PathPlanner::FollowerDynamicOnly, &geo, &obs, 1);
        let mut occupancy = vec![0; obs.len()];
        let (from, to) = (geo.cell([1, 0]), geo.cell([1, 4]));
        let mut path = Vec::new();
        p.plan(0, from, to, &occupancy, &mut path);
        assert_eq!(path.len(), 7, "six moves either way round");
        occupancy[geo.cell([0, 1]) as usize] = 1;
        for _ in 0..3 {
            p.plan(0, from, to, &occupancy, &mut path);
        }
        assert_eq!(geo.xy(path[1]), [2, 0], "the upper route is congested");
        occupancy.fill(0);
        p.plan(0, from, geo.cell([0, 4]), &occupancy, &mut path);
        assert_eq!(geo.xy(path[1]), [0, 0], "a new goal clears the counts");
    }

    #[test]
    fn an_unreachable_goal_gives_no_path() {
        let (geo, obs) = grid(&[".#."]);
        let mut p = FollowerPlanner::new(PathPlanner::Follower, &geo, &obs, 1);
        let mut path = vec![7];
        let occupancy = vec![0; obs.len()];
        p.plan(0, geo.cell([0, 0]), geo.cell([0, 2]), &occupancy, &mut path);
        assert!(path.is_empty());
    }
}
