//! Where goals come from: fixed, lifelong per-agent streams over the agent's component, the goal
//! pool (`$` maps), or given goal sequences (`PogemaLifeLong._generate_new_target`).

use crate::config::BugCompat;
use crate::error::EnvError;
use crate::grid::{Cell, Components, Geometry, Xy};
use crate::rng::NumpyRng;

/// Redraws allowed before a pool stream is declared stuck (pogema would loop forever).
const MAX_REDRAWS: usize = 100_000;

/// An episode's goal source, rebuilt at every reset.
#[derive(Clone, Debug, PartialEq)]
pub enum GoalSource {
    /// `finish` and `nothing`: goals never change.
    Fixed,
    /// Uniform over the agent's connected component minus its current cell.
    Components {
        /// Per padded cell: component id (0 = obstacle or outside the map).
        label: Vec<u32>,
        /// Cells of each component, grouped by id, row-major inside each group.
        cells: Vec<Cell>,
        /// `cells[offsets[id]..offsets[id + 1]]` are component `id`'s cells.
        offsets: Vec<u32>,
    },
    /// Uniform over the (mutated) goal pool, unpadded.
    Pool {
        /// The pool as shuffled at the last reset.
        targets: Vec<Xy>,
        /// 1.4.0 compares the unpadded pool cell with the padded position.
        compat: BugCompat,
    },
    /// Given goal sequences, cycled.
    Sequences(Vec<Vec<Cell>>),
}

/// One agent's lifelong goal stream state: its own `default_rng(seeds[i])` and sequence index.
/// Cloning it lets a planner preview future goals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoalStream {
    /// The agent's generator.
    pub rng: NumpyRng,
    /// Index into a given goal sequence.
    pub seq_index: usize,
}

impl GoalSource {
    /// Components of an unpadded map, in padded cell coordinates.
    pub fn components(map: &[u8], geo: &Geometry) -> Self {
        let comps = Components::label(map, geo.height, geo.width);
        let mut label = vec![0u32; geo.padded_area()];
        let mut offsets = vec![0u32; comps.size.len() + 1];
        for (id, &size) in comps.size.iter().enumerate() {
            offsets[id + 1] = offsets[id] + size;
        }
        let mut fill = offsets.clone();
        let mut cells = vec![0 as Cell; *offsets.last().unwrap_or(&0) as usize];
        for (i, &id) in comps.label.iter().enumerate() {
            if id == 0 {
                continue;
            }
            let cell = geo.cell([(i / geo.width) as i64, (i % geo.width) as i64]);
            label[cell as usize] = id;
            cells[fill[id as usize] as usize] = cell;
            fill[id as usize] += 1;
        }
        Self::Components {
            label,
            cells,
            offsets,
        }
    }

    /// Checks that agent `agent` standing on `start` can always get a new goal.
    pub fn check_agent(&self, agent: usize, start: Cell) -> Result<(), EnvError> {
        if let Self::Components { label, offsets, .. } = self {
            let id = label[start as usize] as usize;
            if id == 0 || offsets[id + 1] - offsets[id] < 2 {
                return Err(EnvError::GoalStreamStuck {
                    agent,
                    reason: "its start lies in a component of a single cell".into(),
                });
            }
        }
        Ok(())
    }

    /// Draws agent `agent`'s next goal given its current cell.
    pub fn next_goal(
        &self,
        stream: &mut GoalStream,
        agent: usize,
        position: Cell,
        geo: &Geometry,
    ) -> Result<Cell, EnvError> {
        match self {
            Self::Fixed => Ok(position),
            Self::Components {
                label,
                cells,
                offsets,
            } => {
                let id = label[position as usize] as usize;
                let group = &cells[offsets[id] as usize..offsets[id + 1] as usize];
                if group.len() < 2 {
                    return Err(EnvError::GoalStreamStuck {
                        agent,
                        reason: "its component has a single cell".into(),
                    });
                }
                loop {
                    let goal = group[stream.rng.choice_index(group.len())];
                    if goal != position {
                        return Ok(goal);
                    }
                }
            }
            Self::Pool { targets, compat } => {
                let same = |xy: Xy| match compat {
                    BugCompat::Pogema140 => xy == geo.padded_xy(position),
                    BugCompat::Fixed => geo.cell(xy) == position,
                };
                for _ in 0..MAX_REDRAWS {
                    let xy = targets[stream.rng.choice_index(targets.len())];
                    if !same(xy) {
                        return Ok(geo.cell(xy));
                    }
                }
                Err(EnvError::GoalStreamStuck {
                    agent,
                    reason: "every goal in the pool equals its position".into(),
                })
            }
            Self::Sequences(seqs) => {
                let seq = &seqs[agent];
                stream.seq_index = (stream.seq_index + 1) % seq.len();
                Ok(seq[stream.seq_index])
            }
        }
    }
}
