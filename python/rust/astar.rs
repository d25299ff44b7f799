//! The planning half of pogema 1.4.0's `AStarAgent`, exact to the action: the agent's memory of
//! the obstacles it has seen, and A* on that memory with pogema's open-list order. The Python
//! side (`rmapf.a_star`) keeps the rest of the agent (its random moves and the jump check), so
//! that its random generator is numpy's own.
//!
//! pogema pushes entries into a `heapq` binary heap ordered by f, then g, then a coordinate rule
//! that is not a strict order (`a < b` when `a.row < b.row` or `a.col < b.col`). Ties therefore pop
//! in whatever order heapq's sifts leave them, so [`PyHeap`] performs CPython's `heappush` and
//! `heappop` step for step (the same comparisons on the same positions) rather than using a Rust
//! heap.

use numpy::PyReadonlyArray2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
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
        let window = window.as_array();
        if window.nrows() != window.ncols() || window.nrows().is_multiple_of(2) {
            return Err(PyValueError::new_err(format!(
                "the obstacle window must be square with an odd side, got {}x{}",
                window.nrows(),
                window.ncols()
            )));
        }
        self.remember(xy, &window);
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
