//! pogema 1.4.0's A* agents, exact to the action: the agent's memory of the obstacles it has
//! seen, and A* on that memory with pogema's open-list order (`AStarCore`, which the Python
//! `AStarAgent` drives with numpy's own generator for any seed), and the whole of pogema's
//! `BatchAStarAgent` in one call per step (`AStarBatch`: its agents' seed is always 0, so their
//! random moves come from rmapf's bit-exact `default_rng(0)`).
//!
//! pogema pushes entries into a `heapq` binary heap ordered by f, then g, then a coordinate rule
//! that is not a strict order (`a < b` when `a.row < b.row` or `a.col < b.col`). Ties therefore pop
//! in whatever order heapq's sifts leave them, so [`PyHeap`] performs CPython's `heappush` and
//! `heappop` step for step (the same comparisons on the same positions) rather than using a Rust
//! heap.

use numpy::{PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use rmapf_env::rng::NumpyRng;
use rustc_hash::FxHashMap;

/// A cell as `(row, col)`, unbounded: cells never seen count as free, outside the map too.
type Cell = (i64, i64);

/// pogema's search budget (pops).
const MAX_POPS: usize = 10_000;

/// pogema's moves: action index -> (Δrow, Δcol).
const MOVES: [Cell; 5] = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)];

/// The largest coordinate magnitude the search takes (pogema's maps are far smaller): every
/// cell a search reaches then fits in two `i32` and its f and g in 32 bits each.
const MAX_COORD: i64 = 1 << 29;

/// An open-list entry, 16 bytes: f and g packed into one key (`f << 32 | g`, both non-negative
/// and below 2^32), so that pogema's order on (f, g) is one integer comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    key: u64,
    row: i32,
    col: i32,
}

impl Entry {
    /// The entry of `cell` with estimate `f` and cost `g` (cells within [`MAX_COORD`] plus
    /// pogema's search budget, so the narrowing casts are exact).
    fn new(f: i64, g: i64, cell: Cell) -> Self {
        debug_assert!((0..1 << 32).contains(&f) && (0..1 << 32).contains(&g));
        Self {
            key: (f as u64) << 32 | g as u64,
            row: cell.0 as i32,
            col: cell.1 as i32,
        }
    }

    /// The estimate f.
    #[cfg(test)]
    fn f(&self) -> i64 {
        (self.key >> 32) as i64
    }

    /// The cost g.
    fn g(&self) -> i64 {
        (self.key & 0xFFFF_FFFF) as i64
    }

    /// The cell.
    fn cell(&self) -> Cell {
        (i64::from(self.row), i64::from(self.col))
    }

    /// pogema's `Node.__lt__`: by f, then g, then the coordinate rule.
    fn lt(&self, other: &Self) -> bool {
        if self.key != other.key {
            return self.key < other.key;
        }
        self.row < other.row || self.col < other.col
    }
}

/// A binary heap with CPython `heapq`'s algorithms (`_siftdown`, `_siftup`), only `lt` compared.
#[derive(Debug, Default)]
struct PyHeap(Vec<Entry>);

impl PyHeap {
    /// `heapq.heappush`.
    fn push(&mut self, item: Entry) {
        self.0.push(item);
        let last = self.0.len() - 1;
        self.sift_down(0, last);
    }

    /// `heapq.heappop` (on a non-empty heap).
    fn pop(&mut self) -> Option<Entry> {
        let last = self.0.pop()?;
        if self.0.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.0[0], last);
        self.sift_up(0);
        Some(top)
    }

    /// `heapq._siftdown`: moves the item at `pos` up towards `start` while it is smaller.
    fn sift_down(&mut self, start: usize, mut pos: usize) {
        let item = self.0[pos];
        while pos > start {
            let parent_pos = (pos - 1) >> 1;
            let parent = self.0[parent_pos];
            if item.lt(&parent) {
                self.0[pos] = parent;
                pos = parent_pos;
                continue;
            }
            break;
        }
        self.0[pos] = item;
    }

    /// `heapq._siftup`: moves the smaller child up to the leaves, then sifts the item down.
    fn sift_up(&mut self, mut pos: usize) {
        let end = self.0.len();
        let start = pos;
        let item = self.0[pos];
        let mut child = 2 * pos + 1;
        while child < end {
            let right = child + 1;
            if right < end && !self.0[child].lt(&self.0[right]) {
                child = right;
            }
            self.0[pos] = self.0[child];
            pos = child;
            child = 2 * pos + 1;
        }
        self.0[pos] = item;
        self.sift_down(start, pos);
    }
}

fn manhattan(a: Cell, b: Cell) -> i64 {
    (a.0 - b.0).abs() + (a.1 - b.1).abs()
}

/// Cells added on every side when the memory grows: it grows rarely, and a search that steps
/// past the cells seen stays within the box, which searches index densely (beyond it, a hash map).
const MARGIN: i64 = 32;

/// A box of cells, `rows × cols` from `origin`, laid out row-major.
#[derive(Clone, Copy, Debug, Default)]
struct Rect {
    /// The cell of index 0.
    origin: Cell,
    /// Rows and columns.
    rows: i64,
    cols: i64,
}

impl Rect {
    /// The index of `cell`, if the box holds it.
    fn index(&self, cell: Cell) -> Option<usize> {
        let (r, c) = (cell.0 - self.origin.0, cell.1 - self.origin.1);
        ((0..self.rows).contains(&r) && (0..self.cols).contains(&c))
            .then(|| (r * self.cols + c) as usize)
    }

    /// The box with `pad` more cells on every side.
    fn padded(&self, pad: i64) -> Self {
        Self {
            origin: (self.origin.0 - pad, self.origin.1 - pad),
            rows: self.rows + 2 * pad,
            cols: self.cols + 2 * pad,
        }
    }

    /// Cells in the box.
    fn len(&self) -> usize {
        (self.rows * self.cols) as usize
    }
}

/// The obstacles an agent has seen: a dense grid over a box that grows to cover every window
/// seen (cells outside it were never seen, so they count as free).
#[derive(Debug, Default)]
struct Memory {
    /// The box `cells` covers.
    area: Rect,
    /// Row-major, 1 = last seen as an obstacle.
    cells: Vec<u8>,
}

impl Memory {
    /// Grows the box (by [`MARGIN`] more on every side) until it holds `lo..=hi`.
    fn cover(&mut self, lo: Cell, hi: Cell) {
        let old = self.area;
        if old.index(lo).is_some() && old.index(hi).is_some() {
            return;
        }
        let (lo, hi) = if self.cells.is_empty() {
            (lo, hi)
        } else {
            let end = (old.origin.0 + old.rows - 1, old.origin.1 + old.cols - 1);
            (
                (lo.0.min(old.origin.0), lo.1.min(old.origin.1)),
                (hi.0.max(end.0), hi.1.max(end.1)),
            )
        };
        let area = Rect {
            origin: lo,
            rows: hi.0 - lo.0 + 1,
            cols: hi.1 - lo.1 + 1,
        }
        .padded(MARGIN);
        let mut cells = vec![0u8; area.len()];
        let width = old.cols as usize;
        for r in 0..old.rows {
            let from = (r * old.cols) as usize;
            let to = area
                .index((old.origin.0 + r, old.origin.1))
                .expect("the new box holds the old one");
            cells[to..to + width].copy_from_slice(&self.cells[from..from + width]);
        }
        *self = Self { area, cells };
    }
}

/// A search's parent links: dense over the memory's box (stamped, so nothing is cleared between
/// searches), a hash map beyond. Slots are the memory's: one index reads a cell's obstacle flag and
/// its record.
#[derive(Debug, Default)]
struct Parents {
    /// The dense part's box (the memory's at the search's start).
    area: Rect,
    /// Per slot: the parent's cell (the start's own cell for the start) ...
    parent: Vec<Cell>,
    /// ... valid where this equals `search`.
    stamp: Vec<u32>,
    /// The current search.
    search: u32,
    /// Cells reached outside the dense part, with their parents (the start is always in the
    /// dense part).
    far: FxHashMap<Cell, Cell>,
}

impl Parents {
    /// Starts a search over `area` (the memory's box).
    fn start(&mut self, area: Rect) {
        self.area = area;
        let len = area.len();
        if self.stamp.len() < len {
            self.stamp.resize(len, 0);
            self.parent.resize(len, (0, 0));
        }
        self.search = self.search.wrapping_add(1);
        if self.search == 0 {
            self.stamp.fill(0);
            self.search = 1;
        }
        // Clearing a hash map writes all its control bytes, even when it is empty.
        if !self.far.is_empty() {
            self.far.clear();
        }
    }

    /// Records that slot `i` of the dense box was reached from `parent` (the start: its own
    /// cell) unless it was reached before; returns whether it is new.
    fn reach_slot(&mut self, i: usize, parent: Cell) -> bool {
        if self.stamp[i] == self.search {
            return false;
        }
        self.stamp[i] = self.search;
        self.parent[i] = parent;
        true
    }

    /// Records that `cell`, outside the dense box, was reached from `parent` unless it was
    /// reached before; returns whether it is new.
    fn reach_far(&mut self, cell: Cell, parent: Cell) -> bool {
        match self.far.entry(cell) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(parent);
                true
            }
        }
    }

    /// Whether `cell` was reached.
    fn contains(&self, cell: Cell) -> bool {
        match self.area.index(cell) {
            Some(i) => self.stamp[i] == self.search,
            None => self.far.contains_key(&cell),
        }
    }

    /// The parent of a reached `cell` (`None` for the start).
    fn get(&self, cell: Cell) -> Option<Cell> {
        match self.area.index(cell) {
            Some(i) => Some(self.parent[i]).filter(|&p| p != cell),
            None => self.far.get(&cell).copied(),
        }
    }
}

/// One agent's memory and search scratch.
#[pyclass(module = "rmapf._rmapf")]
#[derive(Debug, Default)]
pub struct AStarCore {
    /// Cells last seen as obstacles.
    memory: Memory,
    /// Search scratch: each reached cell's parent.
    parents: Parents,
    /// Search scratch: the open list.
    heap: PyHeap,
    /// Search scratch: the path, target first.
    path: Vec<Cell>,
}

impl AStarCore {
    /// Writes the observed window (side 2r+1, centred on `xy`) into the memory.
    fn remember(&mut self, xy: Cell, window: &numpy::ndarray::ArrayView2<'_, f32>) {
        let side = window.nrows();
        let r = side as i64 / 2;
        let top_left = (xy.0 - r, xy.1 - r);
        self.memory.cover(
            top_left,
            (top_left.0 + side as i64 - 1, top_left.1 + side as i64 - 1),
        );
        // Row slices (a copy only for a window numpy does not store row-major) so the conversion
        // of each row is one vectorised loop.
        let window = window.as_standard_layout();
        let flat = window
            .as_slice()
            .expect("a standard-layout array is contiguous");
        let m = &mut self.memory;
        for (dr, row) in flat.chunks_exact(side).enumerate() {
            let start = m
                .area
                .index((top_left.0 + dr as i64, top_left.1))
                .expect("the memory covers the window");
            for (slot, &v) in m.cells[start..start + side].iter_mut().zip(row) {
                *slot = u8::from(v != 0.0);
            }
        }
    }

    /// pogema's `a_star`: fills `path` (target first) when the target is reached.
    fn search(&mut self, start: Cell, target: Cell) {
        let area = self.memory.area;
        self.parents.start(area);
        self.heap.0.clear();
        self.path.clear();
        let first = area
            .index(start)
            .expect("the memory covers the agent's window");
        self.parents.reach_slot(first, start);
        self.heap
            .push(Entry::new(manhattan(start, target), 0, start));
        for _ in 0..MAX_POPS {
            let Some(node) = self.heap.pop() else { break };
            let from = node.cell();
            let (r, c) = from;
            let g = node.g() + 1;
            for cell in [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)] {
                // Cells outside the memory's box were never seen: free.
                let new = match area.index(cell) {
                    Some(i) => self.memory.cells[i] == 0 && self.parents.reach_slot(i, from),
                    None => self.parents.reach_far(cell, from),
                };
                if new {
                    self.heap
                        .push(Entry::new(g + manhattan(cell, target), g, cell));
                }
            }
            if from == target || self.heap.0.is_empty() {
                break;
            }
        }
        if !self.parents.contains(target) {
            return;
        }
        let mut cell = Some(target);
        while let Some(c) = cell {
            self.path.push(c);
            cell = self.parents.get(c);
        }
    }
}

impl AStarCore {
    /// [`AStarCore::plan`] on a window already borrowed from numpy.
    fn plan_window(
        &mut self,
        xy: Cell,
        target: Cell,
        window: &numpy::ndarray::ArrayView2<'_, f32>,
    ) -> PyResult<usize> {
        if window.nrows() != window.ncols() || window.nrows().is_multiple_of(2) {
            return Err(PyValueError::new_err(format!(
                "the obstacle window must be square with an odd side, got {}x{}",
                window.nrows(),
                window.ncols()
            )));
        }
        if [xy.0, xy.1, target.0, target.1]
            .iter()
            .any(|v| v.abs() > MAX_COORD)
        {
            return Err(PyValueError::new_err(format!(
                "coordinates must lie within ±{MAX_COORD}, got xy {xy:?} and target {target:?}"
            )));
        }
        self.remember(xy, window);
        self.search(xy, target);
        let n = self.path.len();
        if n <= 1 {
            return Ok(0);
        }
        let (from, to) = (self.path[n - 1], self.path[n - 2]);
        let step = (to.0 - from.0, to.1 - from.1);
        Ok(MOVES.iter().position(|&m| m == step).unwrap_or(0))
    }
}

#[pymethods]
impl AStarCore {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Forgets every obstacle seen.
    fn clear(&mut self) {
        self.memory = Memory::default();
    }

    /// Remembers the obstacle `window` (a square of odd side, 1 = obstacle) seen at `xy`, plans
    /// from `xy` to `target` and returns the action of the path's first move (0 when the path has
    /// no move: on the target, or the target not reached within pogema's 10,000 pops).
    fn plan(
        &mut self,
        xy: Cell,
        target: Cell,
        window: PyReadonlyArray2<'_, f32>,
    ) -> PyResult<usize> {
        self.plan_window(xy, target, &window.as_array())
    }
}

/// pogema's number of actions (stay, up, down, left, right).
const NUM_ACTIONS: i64 = 5;

/// The message of pogema-incompatible observations (the Python `AStarAgent`'s too).
const NOT_POMAPF: &str = "AStarAgent needs POMAPF or MAPF observations: a dict with 'xy', 'target_xy' and 'obstacles' (GridConfig(observation_type='POMAPF'))";

/// One agent of [`AStarBatch`]: pogema's `AStarAgent()` (seed 0).
#[derive(Debug)]
struct BatchMember {
    core: AStarCore,
    rng: NumpyRng,
    last_xy: Option<Cell>,
}

/// pogema's `BatchAStarAgent` in one call per step: for observation `k`, agent `k` (created on
/// first use with `numpy.random.default_rng(0)`, as pogema's `AStarAgent()` is) acts as pogema's
/// `AStarAgent.act`: an agent that did not move since its last decision and is not on its target
/// draws a random action (`Generator.integers(5)`, bit for bit numpy's), otherwise it remembers its
/// window and plans.
#[pyclass(module = "rmapf._rmapf")]
#[derive(Debug, Default)]
pub struct AStarBatch {
    agents: Vec<BatchMember>,
}

/// `obs["xy"]`, `obs["target_xy"]` and `obs["obstacles"]` (as a float32 window) of one agent.
fn pomapf_fields<'py>(obs: &Bound<'py, PyAny>) -> PyResult<(Cell, Cell, Bound<'py, PyAny>)> {
    let py = obs.py();
    // A plain dict (what pogema and rmapf give) is read with the dict lookup itself; other
    // mappings (dict subclasses included: `__missing__`) through `__getitem__`.
    let dict = obs.cast_exact::<pyo3::types::PyDict>().ok();
    let get = |key: &Bound<'py, pyo3::types::PyString>| -> Option<Bound<'py, PyAny>> {
        match dict {
            Some(d) => d.get_item(key).ok().flatten(),
            None => obs.get_item(key).ok(),
        }
    };
    // Interned keys: one Python string each for the process, not one per lookup.
    let cell = |key: &Bound<'py, pyo3::types::PyString>| -> Option<Cell> {
        let v = get(key)?;
        // rmapf's and pogema's observations hold tuples; lists and arrays of two work too.
        if let Ok(pair) = v.extract::<Cell>() {
            return Some(pair);
        }
        let v: Vec<i64> = v.extract().ok()?;
        (v.len() == 2).then(|| (v[0], v[1]))
    };
    let (Some(xy), Some(target)) = (
        cell(pyo3::intern!(py, "xy")),
        cell(pyo3::intern!(py, "target_xy")),
    ) else {
        return Err(PyTypeError::new_err(NOT_POMAPF));
    };
    let window =
        get(pyo3::intern!(py, "obstacles")).ok_or_else(|| PyTypeError::new_err(NOT_POMAPF))?;
    Ok((xy, target, window))
}

#[pymethods]
impl AStarBatch {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Forgets every agent (pogema's `reset_states`).
    fn reset(&mut self) {
        self.agents.clear();
    }

    /// One action per observation of `observations` (a sequence of POMAPF/MAPF dicts), in order.
    fn act(&mut self, observations: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
        let py = observations.py();
        let numpy = py.import("numpy")?;
        let float32 = numpy.getattr("float32")?;
        let mut actions = Vec::new();
        for (k, obs) in observations.try_iter()?.enumerate() {
            let obs = obs?;
            if k == self.agents.len() {
                self.agents.push(BatchMember {
                    core: AStarCore::default(),
                    rng: NumpyRng::new(0),
                    last_xy: None,
                });
            }
            let (xy, target, window) = pomapf_fields(&obs)?;
            let member = &mut self.agents[k];
            if let Some(last) = member.last_xy {
                let moved = manhattan(last, xy);
                if moved > 1 {
                    let class = py.import("rmapf.errors")?.getattr("PositionIndexError")?;
                    return Err(PyErr::from_value(class.call1((
                        "Agent moved more than 1 step. Please, call clear_state method before new episode.",
                    ))?));
                }
                if moved == 0 && xy != target {
                    actions.push(member.rng.integers(0, NUM_ACTIONS));
                    continue;
                }
            }
            let window = match window.cast::<numpy::PyArray2<f32>>() {
                Ok(w) => w.clone(),
                Err(_) => numpy
                    .call_method1("ascontiguousarray", (window, &float32))
                    .and_then(|w| Ok(w.cast_into::<numpy::PyArray2<f32>>()?))
                    .map_err(|_| PyTypeError::new_err(NOT_POMAPF))?,
            };
            let view = window.try_readonly()?;
            let action = member.core.plan_window(xy, target, &view.as_array())?;
            member.last_xy = Some(xy);
            actions.push(action as i64);
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's heapq on these entries, replayed by hand: push order 3, 1, 2 (f values), then pops.
    #[test]
    fn the_heap_pops_smallest_first_like_heapq() {
        let e = |f, cell| Entry::new(f, 0, cell);
        let mut h = PyHeap::default();
        for (f, c) in [(3, (0, 0)), (1, (0, 1)), (2, (1, 0)), (1, (1, 1))] {
            h.push(e(f, c));
        }
        let order: Vec<i64> = std::iter::from_fn(|| h.pop()).map(|x| x.f()).collect();
        assert_eq!(order, vec![1, 1, 2, 3]);
    }

    /// Marks `cell` as an obstacle in `core`'s memory.
    fn wall(core: &mut AStarCore, cell: Cell) {
        core.memory.cover(cell, cell);
        let i = core.memory.area.index(cell).expect("covered");
        core.memory.cells[i] = 1;
    }

    #[test]
    fn a_wall_is_walked_around_and_an_unreachable_target_gives_no_path() {
        let mut core = AStarCore::default();
        for r in -1..=1 {
            wall(&mut core, (r, 1));
        }
        core.search((0, 0), (0, 2));
        assert_eq!(core.path.first(), Some(&(0, 2)));
        assert_eq!(core.path.last(), Some(&(0, 0)));
        assert_eq!(core.path.len(), 7); // around the 3-cell wall: 6 moves
        for cell in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
            wall(&mut core, cell);
        }
        core.search((0, 0), (5, 5));
        assert!(core.path.is_empty());
    }

    /// pogema's `a_star` the plain way, on hash sets (what the dense memory and parents replace).
    fn search_with_hash_maps(
        obstacles: &rustc_hash::FxHashSet<Cell>,
        start: Cell,
        target: Cell,
    ) -> Vec<Cell> {
        let mut parent: FxHashMap<Cell, Option<Cell>> = FxHashMap::default();
        let mut heap = PyHeap::default();
        parent.insert(start, None);
        heap.push(Entry::new(manhattan(start, target), 0, start));
        for _ in 0..MAX_POPS {
            let Some(node) = heap.pop() else { break };
            let (r, c) = node.cell();
            for cell in [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)] {
                if !obstacles.contains(&cell) && !parent.contains_key(&cell) {
                    heap.push(Entry::new(
                        node.g() + 1 + manhattan(cell, target),
                        node.g() + 1,
                        cell,
                    ));
                    parent.insert(cell, Some(node.cell()));
                }
            }
            if node.cell() == target || heap.0.is_empty() {
                break;
            }
        }
        let mut path = Vec::new();
        if parent.contains_key(&target) {
            let mut cell = Some(target);
            while let Some(c) = cell {
                path.push(c);
                cell = parent[&c];
            }
        }
        path
    }

    #[test]
    fn dense_memory_searches_equal_hash_map_searches() {
        // Random walls seen through windows, then searches to targets inside the seen box, far
        // outside it (beyond the dense part) and walled in, from cells in and out of the box.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: i64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as i64
        };
        for trial in 0..40 {
            let mut core = AStarCore::default();
            let mut walls = rustc_hash::FxHashSet::default();
            let side = 7;
            for _ in 0..6 {
                let xy = (next(30) - 10, next(30) - 10);
                let window: Vec<f32> = (0..side * side)
                    .map(|_| f32::from(u8::from(next(100) < 35)))
                    .collect();
                let view =
                    numpy::ndarray::ArrayView2::from_shape((side as usize, side as usize), &window)
                        .unwrap();
                core.remember(xy, &view);
                for dr in 0..side {
                    for dc in 0..side {
                        let cell = (xy.0 - 3 + dr, xy.1 - 3 + dc);
                        if window[(dr * side + dc) as usize] != 0.0 {
                            walls.insert(cell);
                        } else {
                            walls.remove(&cell);
                        }
                    }
                }
            }
            for _ in 0..10 {
                let start = (next(40) - 15, next(40) - 15);
                let target = match next(3) {
                    0 => (next(30) - 10, next(30) - 10),
                    1 => (next(200) - 100, next(200) - 100),
                    _ => (next(40) - 15, next(40) - 15),
                };
                if walls.contains(&start) {
                    continue;
                }
                core.search(start, target);
                assert_eq!(
                    core.path,
                    search_with_hash_maps(&walls, start, target),
                    "trial {trial}: {start:?} -> {target:?}"
                );
            }
        }
    }
}
