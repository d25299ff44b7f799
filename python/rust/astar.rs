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
use rustc_hash::{FxHashMap, FxHashSet};

/// A cell as `(row, col)`, unbounded: cells never seen count as free, outside the map too.
type Cell = (i64, i64);

/// pogema's search budget (pops).
const MAX_POPS: usize = 10_000;

/// pogema's moves: action index -> (Δrow, Δcol).
const MOVES: [Cell; 5] = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)];

/// An open-list entry.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    f: i64,
    g: i64,
    cell: Cell,
}

impl Entry {
    /// pogema's `Node.__lt__`.
    fn lt(&self, other: &Self) -> bool {
        if self.f != other.f {
            return self.f < other.f;
        }
        if self.g != other.g {
            return self.g < other.g;
        }
        self.cell.0 < other.cell.0 || self.cell.1 < other.cell.1
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

/// One agent's memory and search scratch.
#[pyclass(module = "rmapf._rmapf")]
#[derive(Debug, Default)]
pub struct AStarCore {
    /// Cells last seen as obstacles.
    obstacles: FxHashSet<Cell>,
    /// Search scratch: each reached cell's parent (`None` for the start).
    parent: FxHashMap<Cell, Option<Cell>>,
    /// Search scratch: the open list.
    heap: PyHeap,
    /// Search scratch: the path, target first.
    path: Vec<Cell>,
}

impl AStarCore {
    /// Writes the observed window (side 2r+1, centred on `xy`) into the memory.
    fn remember(&mut self, xy: Cell, window: &numpy::ndarray::ArrayView2<'_, f32>) {
        let r = (window.nrows() / 2) as i64;
        for ((dr, dc), &v) in window.indexed_iter() {
            let cell = (xy.0 + dr as i64 - r, xy.1 + dc as i64 - r);
            if v != 0.0 {
                self.obstacles.insert(cell);
            } else {
                self.obstacles.remove(&cell);
            }
        }
    }

    /// pogema's `a_star`: fills `path` (target first) when the target is reached.
    fn search(&mut self, start: Cell, target: Cell) {
        self.parent.clear();
        self.heap.0.clear();
        self.path.clear();
        self.parent.insert(start, None);
        self.heap.push(Entry {
            f: manhattan(start, target),
            g: 0,
            cell: start,
        });
        for _ in 0..MAX_POPS {
            let Some(node) = self.heap.pop() else { break };
            let (r, c) = node.cell;
            for cell in [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)] {
                if !self.obstacles.contains(&cell) && !self.parent.contains_key(&cell) {
                    self.heap.push(Entry {
                        f: node.g + 1 + manhattan(cell, target),
                        g: node.g + 1,
                        cell,
                    });
                    self.parent.insert(cell, Some(node.cell));
                }
            }
            if node.cell == target || self.heap.0.is_empty() {
                break;
            }
        }
        if !self.parent.contains_key(&target) {
            return;
        }
        let mut cell = Some(target);
        while let Some(c) = cell {
            self.path.push(c);
            cell = self.parent[&c];
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
        self.obstacles.clear();
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
    let cell = |key: &str| -> Option<Cell> {
        let v = obs.get_item(key).ok()?;
        let v: Vec<i64> = v.extract().ok()?;
        (v.len() == 2).then(|| (v[0], v[1]))
    };
    let (Some(xy), Some(target)) = (cell("xy"), cell("target_xy")) else {
        return Err(PyTypeError::new_err(NOT_POMAPF));
    };
    let window = obs
        .get_item("obstacles")
        .map_err(|_| PyTypeError::new_err(NOT_POMAPF))?;
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
        let e = |f, cell| Entry { f, g: 0, cell };
        let mut h = PyHeap::default();
        for (f, c) in [(3, (0, 0)), (1, (0, 1)), (2, (1, 0)), (1, (1, 1))] {
            h.push(e(f, c));
        }
        let order: Vec<i64> = std::iter::from_fn(|| h.pop()).map(|x| x.f).collect();
        assert_eq!(order, vec![1, 1, 2, 3]);
    }

    #[test]
    fn a_wall_is_walked_around_and_an_unreachable_target_gives_no_path() {
        let mut core = AStarCore::default();
        for r in -1..=1 {
            core.obstacles.insert((r, 1));
        }
        core.search((0, 0), (0, 2));
        assert_eq!(core.path.first(), Some(&(0, 2)));
        assert_eq!(core.path.last(), Some(&(0, 0)));
        assert_eq!(core.path.len(), 7); // around the 3-cell wall: 6 moves
        for cell in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
            core.obstacles.insert(cell);
        }
        core.search((0, 0), (5, 5));
        assert!(core.path.is_empty());
    }
}
