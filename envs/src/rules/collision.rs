//! Collision systems (`Pogema.move_agents`): pure functions over one episode's agents, in index
//! order, with scratch memory allocated once and shared by the episodes stepped on one thread.
//!
//! The occupancy array is written with exactly pogema's sequence of writes, so that its quirks
//! (the soft-following erasure of 1.4.0) are reproduced where asked for.

use crate::config::{BugCompat, CollisionSystem};
use crate::grid::{Cell, FREE, OBSTACLE};

const NONE: u32 = u32::MAX;

/// Room in one cell's claim list. Only agents whose target is the cell are in its list: the one
/// standing there and its four neighbours, so five is enough; eight leaves a margin.
const LIST_CAPACITY: usize = 8;

/// The agents claiming one cell, in claim order (pogema's `used_cells[cell]`), stored inline so
/// that the soft rules touch no heap memory.
#[derive(Clone, Copy, Debug, Default)]
struct CellList {
    len: u8,
    items: [u32; LIST_CAPACITY],
}

impl CellList {
    fn push(&mut self, agent: u32) {
        assert!(
            (self.len as usize) < LIST_CAPACITY,
            "more than {LIST_CAPACITY} agents claim one cell"
        );
        self.items[self.len as usize] = agent;
        self.len += 1;
    }

    /// Python's `list.remove`: drops the first occurrence, if any.
    fn remove(&mut self, agent: u32) {
        let len = self.len as usize;
        if let Some(k) = self.items[..len].iter().position(|&a| a == agent) {
            self.items.copy_within(k + 1..len, k);
            self.len -= 1;
        }
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    fn first(&self) -> u32 {
        self.items[0]
    }
}

/// Reusable scratch for move resolution; sized to the padded grid once.
#[derive(Clone, Debug, Default)]
pub struct CollisionScratch {
    /// Per padded cell: index of its agent list in `lists`, or `NONE`.
    slot_of_cell: Vec<u32>,
    /// Agent lists per touched cell (pogema's `used_cells`).
    lists: Vec<CellList>,
    /// Number of lists in use this step.
    used_lists: usize,
    /// Cells whose `slot_of_cell`/`mark` must be cleared after the step.
    touched: Vec<Cell>,
    /// Per padded cell: the active agent standing there at step start, or `NONE`.
    agent_at: Vec<u32>,
    /// Per padded cell: `block_both` state (0 unused, 1 visited, 2 blocked).
    mark: Vec<u8>,
    /// Per agent: the cell its current action leads to (`soft`; its own cell once reverted).
    targets: Vec<Cell>,
}

impl CollisionScratch {
    /// Scratch for a grid of `padded_area` cells and `num_agents` agents.
    pub fn new(padded_area: usize, num_agents: usize) -> Self {
        Self {
            slot_of_cell: vec![NONE; padded_area],
            lists: vec![CellList::default(); 2 * num_agents + 1],
            used_lists: 0,
            touched: Vec::with_capacity(4 * num_agents),
            agent_at: vec![NONE; padded_area],
            mark: vec![0; padded_area],
            targets: Vec::with_capacity(num_agents),
        }
    }

    /// Grows the scratch, if needed, to serve a grid of `padded_area` cells with `num_agents`
    /// agents (one scratch serves every episode a thread steps, so it stays in cache).
    pub fn fit(&mut self, padded_area: usize, num_agents: usize) {
        if self.slot_of_cell.len() < padded_area {
            self.slot_of_cell.resize(padded_area, NONE);
            self.agent_at.resize(padded_area, NONE);
            self.mark.resize(padded_area, 0);
        }
        if self.lists.len() < 2 * num_agents + 1 {
            self.lists.resize(2 * num_agents + 1, CellList::default());
        }
        self.touched
            .reserve((4 * num_agents).saturating_sub(self.touched.len()));
        self.targets
            .reserve(num_agents.saturating_sub(self.targets.len()));
    }

    fn list(&mut self, cell: Cell) -> &mut CellList {
        let c = cell as usize;
        if self.slot_of_cell[c] == NONE {
            if self.used_lists == self.lists.len() {
                self.lists.push(CellList::default());
            }
            self.slot_of_cell[c] = self.used_lists as u32;
            self.lists[self.used_lists].len = 0;
            self.used_lists += 1;
            self.touched.push(cell);
        }
        &mut self.lists[self.slot_of_cell[c] as usize]
    }

    fn list_len(&self, cell: Cell) -> usize {
        match self.slot_of_cell[cell as usize] {
            NONE => 0,
            s => self.lists[s as usize].len(),
        }
    }

    fn clear(&mut self) {
        for &c in &self.touched {
            self.slot_of_cell[c as usize] = NONE;
            self.mark[c as usize] = 0;
        }
        self.touched.clear();
        self.used_lists = 0;
    }
}

// `Movers::checked_move` tests a cell of both grids with one `|`.
const _: () = assert!(FREE == 0);

/// One episode's agents as the collision rules see them.
pub struct Movers<'a> {
    /// Padded obstacles.
    pub obstacles: &'a [u8],
    /// Padded occupancy (pogema's `positions`), updated in place.
    pub occupancy: &'a mut [u8],
    /// Cell offsets of the five actions.
    pub offsets: [isize; 5],
    /// Agent cells, updated in place.
    pub positions: &'a mut [Cell],
    /// Actions; `soft` rewrites reverted moves to 0 as pogema does with the caller's list.
    pub actions: &'a mut [u8],
    /// Which agents take part (hidden agents do not move or block).
    pub active: &'a [bool],
}

impl Movers<'_> {
    fn target(&self, i: usize) -> Cell {
        (self.positions[i] as isize + self.offsets[self.actions[i] as usize]) as Cell
    }

    /// `Grid.move`: succeeds iff the target is free of obstacles and agents at call time.
    ///
    /// Without a branch on the target cell (whether it is free is as unpredictable as the
    /// actions, and the mispredictions were most of this function's time): an agent that cannot
    /// move "moves" onto its own cell, which it occupies (`FREE` is 0, so one `|` tests both
    /// grids).
    #[inline]
    fn checked_move(&mut self, i: usize) {
        let (from, to) = (self.positions[i] as usize, self.target(i) as usize);
        let free = (self.obstacles[to] | self.occupancy[to]) == FREE;
        let dest = if free { to } else { from };
        self.occupancy[from] = FREE;
        self.occupancy[dest] = OBSTACLE;
        self.positions[i] = dest as Cell;
    }
}

/// Resolves one step's moves under `system`.
pub fn resolve_moves(
    system: CollisionSystem,
    compat: BugCompat,
    m: &mut Movers<'_>,
    scratch: &mut CollisionScratch,
) {
    match system {
        CollisionSystem::Priority => {
            for i in 0..m.positions.len() {
                if m.active[i] {
                    m.checked_move(i);
                }
            }
        }
        CollisionSystem::BlockBoth => block_both(m, scratch),
        CollisionSystem::Soft => soft(m, compat, scratch),
    }
}

fn block_both(m: &mut Movers<'_>, s: &mut CollisionScratch) {
    const VISITED: u8 = 1;
    const BLOCKED: u8 = 2;
    let n = m.positions.len();
    for i in (0..n).filter(|&i| m.active[i]) {
        for (cell, contested) in [(m.target(i), true), (m.positions[i], false)] {
            let c = cell as usize;
            if s.mark[c] == 0 {
                s.touched.push(cell);
            }
            s.mark[c] = if contested && s.mark[c] == 0 {
                VISITED
            } else {
                BLOCKED
            };
        }
    }
    for i in (0..n).filter(|&i| m.active[i]) {
        if s.mark[m.target(i) as usize] != BLOCKED {
            m.checked_move(i);
        }
    }
    s.clear();
}

fn soft(m: &mut Movers<'_>, compat: BugCompat, s: &mut CollisionScratch) {
    let n = m.positions.len();
    // Each agent's target, kept in step with its action: a reverted agent's is its own cell.
    let mut targets = std::mem::take(&mut s.targets);
    targets.clear();
    targets.extend((0..n).map(|i| m.target(i)));
    // Pass 1: who stands where, and who wants which cell.
    for i in (0..n).filter(|&i| m.active[i]) {
        s.agent_at[m.positions[i] as usize] = i as u32;
        s.list(targets[i]).push(i as u32);
    }
    // Pass 2: in a swap, the lower index stays (its edge list also holds the higher partner).
    // `j`, standing on `i`'s target, swaps with `i` iff `j > i` and `j`'s target is `i`'s cell:
    // that implies both move (a stayer's target is its own cell, and `j`, standing on `i`'s
    // target, differs from `i` only if `i` moves), and no agent above `i` was reverted yet.
    for i in (0..n).filter(|&i| m.active[i]) {
        let (cur, t) = (m.positions[i], targets[i]);
        let j = s.agent_at[t as usize] as usize;
        let swaps = (j > i) & (targets.get(j) == Some(&cur));
        if swaps {
            s.list(t).remove(i as u32);
            s.list(cur).push(i as u32);
            m.actions[i] = 0;
            targets[i] = cur;
        }
    }
    // Pass 3: in reverse index order, revert conflicts and moves into obstacles, with followers.
    for i in (0..n).rev().filter(|&i| m.active[i]) {
        let t = targets[i];
        if s.list_len(t) > 1 || m.obstacles[t as usize] == OBSTACLE {
            revert(m, s, &mut targets, i, t);
        }
    }
    // Pass 4: apply, agent by agent (1.4.0's order of writes erases a leader's follower).
    match compat {
        BugCompat::Pogema140 => {
            for i in (0..n).filter(|&i| m.active[i]) {
                let from = m.positions[i] as usize;
                s.agent_at[from] = NONE;
                m.occupancy[from] = FREE;
                m.occupancy[targets[i] as usize] = OBSTACLE;
                m.positions[i] = targets[i];
            }
        }
        BugCompat::Fixed => {
            for i in (0..n).filter(|&i| m.active[i]) {
                let from = m.positions[i] as usize;
                s.agent_at[from] = NONE;
                m.occupancy[from] = FREE;
            }
            for i in (0..n).filter(|&i| m.active[i]) {
                m.occupancy[targets[i] as usize] = OBSTACLE;
                m.positions[i] = targets[i];
            }
        }
    }
    s.targets = targets;
    s.clear();
}

/// `Pogema._revert_action`, as a loop: the reverted agent stays, and whoever it would now
/// collide with in its own cell is reverted in turn (each iteration turns one mover into a
/// stayer, so it ends after at most `n` iterations).
fn revert(
    m: &mut Movers<'_>,
    s: &mut CollisionScratch,
    targets: &mut [Cell],
    mut agent: usize,
    mut cell: Cell,
) {
    loop {
        m.actions[agent] = 0;
        let cur = m.positions[agent];
        targets[agent] = cur;
        s.list(cell).remove(agent as u32);
        let own = s.list(cur);
        let occupied = own.len() > 0;
        own.push(agent as u32);
        if !occupied {
            return;
        }
        agent = own.first() as usize;
        cell = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1-row corridor of `len` free cells padded by 1: cells 1..=len on row 1 (stride len+2).
    fn corridor(len: usize) -> (Vec<u8>, [isize; 5]) {
        let stride = len + 2;
        let mut obs = vec![OBSTACLE; stride * 3];
        for c in 1..=len {
            obs[stride + c] = FREE;
        }
        (obs, [0, -(stride as isize), stride as isize, -1, 1])
    }

    fn run(
        system: CollisionSystem,
        compat: BugCompat,
        len: usize,
        pos: &[Cell],
        acts: &[u8],
    ) -> (Vec<Cell>, Vec<u8>, Vec<u8>) {
        let (obs, offsets) = corridor(len);
        let mut occ = vec![0u8; obs.len()];
        for &p in pos {
            occ[p as usize] = 1;
        }
        let mut positions = pos.to_vec();
        let mut actions = acts.to_vec();
        let active = vec![true; pos.len()];
        let mut scratch = CollisionScratch::new(obs.len(), pos.len());
        let mut m = Movers {
            obstacles: &obs,
            occupancy: &mut occ,
            offsets,
            positions: &mut positions,
            actions: &mut actions,
            active: &active,
        };
        resolve_moves(system, compat, &mut m, &mut scratch);
        (positions, actions, occ)
    }

    const RIGHT: u8 = 4;
    const LEFT: u8 = 3;

    #[test]
    fn priority_lets_only_followers_of_lower_indices_move() {
        // Row 1 of stride 7: cells 8..=12. Agent 0 at 9 leads, agent 1 at 8 follows: both move.
        assert_eq!(
            run(
                CollisionSystem::Priority,
                BugCompat::Pogema140,
                5,
                &[9, 8],
                &[RIGHT, RIGHT]
            )
            .0,
            [10, 9]
        );
        // Agent 1 leads, agent 0 follows: the follower is blocked.
        assert_eq!(
            run(
                CollisionSystem::Priority,
                BugCompat::Pogema140,
                5,
                &[8, 9],
                &[RIGHT, RIGHT]
            )
            .0,
            [8, 10]
        );
    }

    #[test]
    fn block_both_blocks_followers_and_contestants() {
        assert_eq!(
            run(
                CollisionSystem::BlockBoth,
                BugCompat::Pogema140,
                5,
                &[9, 8],
                &[RIGHT, RIGHT]
            )
            .0,
            [10, 8]
        );
        assert_eq!(
            run(
                CollisionSystem::BlockBoth,
                BugCompat::Pogema140,
                5,
                &[8, 10],
                &[RIGHT, LEFT]
            )
            .0,
            [8, 10]
        );
    }

    #[test]
    fn soft_follows_in_both_orders_and_blocks_swaps() {
        let (pos, _, occ) = run(
            CollisionSystem::Soft,
            BugCompat::Pogema140,
            5,
            &[8, 9],
            &[RIGHT, RIGHT],
        );
        assert_eq!(pos, [9, 10]);
        // 1.4.0 bug: the lower-index follower entered cell 9 first, then its leader cleared it.
        assert_eq!((occ[9], occ[10]), (0, 1));
        let (pos, _, occ) = run(
            CollisionSystem::Soft,
            BugCompat::Fixed,
            5,
            &[8, 9],
            &[RIGHT, RIGHT],
        );
        assert_eq!(pos, [9, 10]);
        assert_eq!((occ[9], occ[10]), (1, 1));
        let (pos, acts, _) = run(
            CollisionSystem::Soft,
            BugCompat::Pogema140,
            5,
            &[9, 10],
            &[RIGHT, LEFT],
        );
        assert_eq!((pos, acts), (vec![9, 10], vec![0, 0]));
    }

    #[test]
    fn soft_conflict_goes_to_lowest_index_and_blocked_chains_revert() {
        assert_eq!(
            run(
                CollisionSystem::Soft,
                BugCompat::Pogema140,
                5,
                &[8, 10],
                &[RIGHT, LEFT]
            )
            .0,
            [9, 10]
        );
        // Chain into the wall at the corridor's end: everyone stays.
        let (pos, acts, _) = run(
            CollisionSystem::Soft,
            BugCompat::Pogema140,
            3,
            &[6, 7, 8],
            &[RIGHT, RIGHT, RIGHT],
        );
        assert_eq!((pos, acts), (vec![6, 7, 8], vec![0, 0, 0]));
    }
}
