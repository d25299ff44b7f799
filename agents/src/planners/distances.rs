//! The static map as a graph of free cells, and exact BFS distance fields to goals, cached per map
//! and goal and reused across steps and episodes on the same map.

use std::collections::HashMap;

/// No cell (a wall, or outside the grid) in a neighbour list; also "no agent" in occupancy arrays.
pub const NONE: u32 = u32::MAX;

/// Distance of a cell that cannot reach the goal.
pub const UNREACHABLE: u16 = <u16 as rmapf_env::bfs::Distance>::UNREACHABLE;

/// pogema's moves in action order: 1 up (x − 1), 2 down (x + 1), 3 left (y − 1), 4 right (y + 1),
/// as offsets in a padded row-major grid of row stride `stride`.
pub fn move_offsets(stride: usize) -> [isize; 4] {
    let s = stride as isize;
    [-s, s, -1, 1]
}

/// The action (0 stay, 1–4 moves) that takes an agent from cell `from` to the adjacent or equal
/// cell `to` in a grid of row stride `stride`.
pub fn action_between(from: u32, to: u32, stride: usize) -> u8 {
    let d = to as isize - from as isize;
    move_offsets(stride)
        .iter()
        .position(|&o| o == d)
        .map_or(0, |k| k as u8 + 1)
}

/// The free cells of a padded obstacle grid and their free neighbours.
#[derive(Clone, Debug)]
pub struct GridGraph {
    /// Row stride of the padded grid.
    pub stride: usize,
    /// Per cell: its free neighbours in action order (up, down, left, right), [`NONE`] for walls.
    pub neighbours: Vec<[u32; 4]>,
    /// Per cell: how many of its neighbours are free.
    pub degree: Vec<u8>,
}

impl GridGraph {
    /// The graph of `obstacles` (row-major, `stride` cells a row; non-zero is a wall).
    pub fn new(obstacles: &[u8], stride: usize) -> Self {
        let offsets = move_offsets(stride);
        let mut neighbours = vec![[NONE; 4]; obstacles.len()];
        let mut degree = vec![0u8; obstacles.len()];
        for (c, free) in obstacles.iter().enumerate() {
            if *free != 0 {
                continue;
            }
            let y = c % stride.max(1);
            for (k, &o) in offsets.iter().enumerate() {
                // Rows wrap in a flat array: a left/right step must stay in the row.
                let same_row = match k {
                    2 => y > 0,
                    3 => y + 1 < stride,
                    _ => true,
                };
                let n = c as isize + o;
                if !same_row || n < 0 || n as usize >= obstacles.len() {
                    continue;
                }
                let n = n as usize;
                if obstacles[n] == 0 {
                    neighbours[c][k] = n as u32;
                    degree[c] += 1;
                }
            }
        }
        Self {
            stride,
            neighbours,
            degree,
        }
    }

    /// Cells in the grid.
    pub fn len(&self) -> usize {
        self.neighbours.len()
    }

    /// Whether the grid has no cells.
    pub fn is_empty(&self) -> bool {
        self.neighbours.is_empty()
    }

    /// The free neighbours of `cell`.
    pub fn free_neighbours(&self, cell: u32) -> impl Iterator<Item = u32> + '_ {
        self.neighbours[cell as usize]
            .into_iter()
            .filter(|&n| n != NONE)
    }

    /// BFS distances of every cell to `goal` into `dist` (`UNREACHABLE` where no path exists;
    /// distances beyond `u16::MAX - 1` saturate), using `queue` as scratch.
    pub fn bfs_into(&self, goal: u32, dist: &mut [u16], queue: &mut Vec<u32>) {
        rmapf_env::bfs::distances_into(goal, dist, queue, |c| self.free_neighbours(c));
    }
}

/// Bytes of distance fields one [`DistanceCache`] keeps before it drops those of other maps.
pub const CACHE_BUDGET_BYTES: usize = 512 << 20;

/// One map's graph and its fields.
#[derive(Debug)]
struct MapEntry {
    obstacles: Vec<u8>,
    graph: GridGraph,
    /// Goal cell → index into `fields`.
    by_goal: HashMap<u32, u32>,
    fields: Vec<Box<[u16]>>,
}

/// Graphs and BFS distance fields of the maps a planner has seen, keyed by the exact obstacle grid
/// and goal cell, so they are reused across steps and across episodes on the same map. Fields are
/// `u16` (a 64×64 map's field is 8 KiB); past [`CACHE_BUDGET_BYTES`] the fields of the other maps
/// are dropped first.
#[derive(Debug)]
pub struct DistanceCache {
    maps: Vec<MapEntry>,
    queue: Vec<u32>,
    bytes: usize,
    budget: usize,
}

impl Default for DistanceCache {
    fn default() -> Self {
        Self::with_budget(CACHE_BUDGET_BYTES)
    }
}

/// A map known to a [`DistanceCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapId(usize);

impl DistanceCache {
    /// An empty cache of [`CACHE_BUDGET_BYTES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that keeps about `budget` bytes of fields.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            maps: Vec::new(),
            queue: Vec::new(),
            bytes: 0,
            budget,
        }
    }

    /// The id of the map with these obstacles, adding it if new. `hint` (a previous answer) is
    /// checked first, which makes the common case one comparison of the grids.
    pub fn map(&mut self, obstacles: &[u8], stride: usize, hint: Option<MapId>) -> MapId {
        let same = |m: &MapEntry| m.graph.stride == stride && m.obstacles == obstacles;
        if let Some(MapId(k)) = hint
            && self.maps.get(k).is_some_and(same)
        {
            return MapId(k);
        }
        if let Some(k) = self.maps.iter().position(same) {
            return MapId(k);
        }
        self.maps.push(MapEntry {
            obstacles: obstacles.to_vec(),
            graph: GridGraph::new(obstacles, stride),
            by_goal: HashMap::new(),
            fields: Vec::new(),
        });
        MapId(self.maps.len() - 1)
    }

    /// The graph of map `id`.
    pub fn graph(&self, id: MapId) -> &GridGraph {
        &self.maps[id.0].graph
    }

    /// The index of the field of `goal` on map `id`, computing it if needed. Indices of map `id`
    /// stay valid until [`DistanceCache::trim`] (past the budget, this drops only other maps'
    /// fields); take one step's indices, then read the fields with [`DistanceCache::fields`].
    pub fn field_index(&mut self, id: MapId, goal: u32) -> u32 {
        if let Some(&k) = self.maps[id.0].by_goal.get(&goal) {
            return k;
        }
        let cells = self.maps[id.0].graph.len();
        if self.bytes + 2 * cells > self.budget {
            self.evict_others(id);
        }
        let mut dist = vec![UNREACHABLE; cells].into_boxed_slice();
        let map = &mut self.maps[id.0];
        map.graph.bfs_into(goal, &mut dist, &mut self.queue);
        map.fields.push(dist);
        self.bytes += 2 * cells;
        let k = (map.fields.len() - 1) as u32;
        map.by_goal.insert(goal, k);
        k
    }

    /// The fields of map `id`, indexed by [`DistanceCache::field_index`].
    pub fn fields(&self, id: MapId) -> &[Box<[u16]>] {
        &self.maps[id.0].fields
    }

    /// Drops the fields of every map but `keep`.
    fn evict_others(&mut self, keep: MapId) {
        for (k, m) in self.maps.iter_mut().enumerate() {
            if k != keep.0 {
                m.fields.clear();
                m.by_goal.clear();
            }
        }
        let kept = &self.maps[keep.0];
        self.bytes = 2 * kept.graph.len() * kept.fields.len();
    }

    /// Before a step on map `id`: past the budget, drops every field (this invalidates the
    /// indices [`DistanceCache::field_index`] gave before).
    pub fn trim(&mut self, id: MapId) {
        if self.bytes > self.budget {
            self.evict_others(id);
        }
        if self.bytes > self.budget {
            let map = &mut self.maps[id.0];
            map.fields.clear();
            map.by_goal.clear();
            self.bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×4 grid with a wall at (0, 1): `.#..` / `....` / `....`, unpadded (stride 4).
    fn grid() -> (Vec<u8>, usize) {
        (vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 4)
    }

    #[test]
    fn neighbours_do_not_wrap_across_rows() {
        let (obs, stride) = grid();
        let g = GridGraph::new(&obs, stride);
        // (0, 3) = cell 3: right would wrap to (1, 0) = cell 4.
        assert_eq!(g.neighbours[3], [NONE, 7, 2, NONE]);
        // (1, 0) = cell 4: left would wrap to (0, 3).
        assert_eq!(g.neighbours[4], [0, 8, NONE, 5]);
        assert_eq!(g.degree[0], 1);
        assert_eq!(g.degree[1], 0, "walls have no neighbours");
    }

    #[test]
    fn bfs_goes_around_walls_and_marks_unreachable_cells() {
        let (mut obs, stride) = grid();
        obs[11] = 1; // (2, 3) becomes a wall
        let g = GridGraph::new(&obs, stride);
        let mut dist = vec![0u16; obs.len()];
        let mut queue = Vec::new();
        g.bfs_into(0, &mut dist, &mut queue);
        assert_eq!(dist[2], 4, "(0,0) → (1,0) → (1,1) → (1,2) → (0,2)");
        assert_eq!(dist[1], UNREACHABLE);
        assert_eq!(dist[11], UNREACHABLE);
    }

    #[test]
    fn actions_between_adjacent_cells() {
        assert_eq!(action_between(10, 10, 5), 0);
        assert_eq!(action_between(10, 5, 5), 1);
        assert_eq!(action_between(10, 15, 5), 2);
        assert_eq!(action_between(10, 9, 5), 3);
        assert_eq!(action_between(10, 11, 5), 4);
    }

    #[test]
    fn cache_reuses_maps_and_fields() {
        let (obs, stride) = grid();
        let mut cache = DistanceCache::new();
        let a = cache.map(&obs, stride, None);
        let b = cache.map(&obs, stride, Some(a));
        assert_eq!(a, b);
        let f = cache.field_index(a, 0);
        assert_eq!(cache.field_index(a, 0), f);
        assert_eq!(cache.fields(a).len(), 1);
        let mut other = obs.clone();
        other[5] = 1;
        assert_ne!(cache.map(&other, stride, Some(a)), a);
    }

    #[test]
    fn past_the_budget_only_trim_drops_the_current_maps_fields() {
        let (obs, stride) = grid();
        let field_bytes = 2 * obs.len();
        let mut cache = DistanceCache::with_budget(2 * field_bytes);
        let a = cache.map(&obs, stride, None);
        let mut other = obs.clone();
        other[5] = 1;
        let b = cache.map(&other, stride, None);
        cache.field_index(a, 0);
        // Map b's fields push map a's out, but never each other within a step.
        let goals = [0u32, 2, 3, 4];
        let idx: Vec<u32> = goals.iter().map(|&g| cache.field_index(b, g)).collect();
        assert!(cache.fields(a).is_empty());
        for (&g, &k) in goals.iter().zip(&idx) {
            assert_eq!(cache.fields(b)[k as usize][g as usize], 0, "goal {g}");
        }
        cache.trim(b);
        assert!(
            cache.fields(b).is_empty(),
            "over budget: the next step starts afresh"
        );
    }
}
