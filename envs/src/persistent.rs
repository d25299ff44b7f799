//! pogema's grid edits for `persistent=True` (its `PersistentWrapper.step_back`): move an agent
//! to a cell, hide or show it, set its goal and the step counter; and a lifelong goal drawn by
//! hand (`PogemaLifeLong._generate_new_target`). Each edit does what pogema's
//! `Grid` method does, in the same order, including the partial change it leaves behind when it
//! raises, so that a rewind through rmapf ends in pogema's state or fails where pogema fails.
//!
//! Cells are padded `[row, col]` (pogema's `positions_xy`, which include the border ring).

use crate::episode::Episode;
use crate::error::EnvError;
use crate::grid::Cell;

/// Occupancy and obstacle value of a free cell (pogema's `FREE`).
const FREE: u8 = 0;
/// Occupancy value of an agent's cell (pogema's `OBSTACLE` in `Grid.positions`).
const TAKEN: u8 = 1;

impl Episode {
    /// The padded cell of `xy`, or an error when it lies outside the padded grid.
    fn padded_cell(&self, xy: [i64; 2]) -> Result<Cell, EnvError> {
        let g = &self.board.geometry;
        let inside = |v: i64, len: usize| (0..len as i64).contains(&v);
        if !(inside(xy[0], g.padded_height) && inside(xy[1], g.stride)) {
            return Err(EnvError::OutsideGrid {
                x: xy[0],
                y: xy[1],
                rows: g.padded_height,
                cols: g.stride,
            });
        }
        Ok((xy[0] as usize * g.stride + xy[1] as usize) as Cell)
    }

    /// An error unless `agent` is one of this episode's agents.
    fn check_agent(&self, agent: usize) -> Result<(), EnvError> {
        if agent < self.num_agents() {
            Ok(())
        } else {
            Err(EnvError::config(
                "agent",
                format!(
                    "{agent} is out of range (the episode has {} agents)",
                    self.num_agents()
                ),
            ))
        }
    }

    /// pogema's `Grid.move_agent_to_cell`: frees the agent's cell, then puts it on the padded
    /// cell `xy`. Fails, changing nothing, when the agent's cell is already free (a hidden
    /// agent); fails after freeing that cell, as pogema does, when `xy` holds an obstacle or an
    /// agent.
    pub fn move_agent_to_cell(&mut self, agent: usize, xy: [i64; 2]) -> Result<(), EnvError> {
        self.check_agent(agent)?;
        let to = self.padded_cell(xy)? as usize;
        let from = self.agents.position[agent] as usize;
        let board = &mut self.board;
        if board.occupancy[from] == FREE {
            return Err(EnvError::AgentNotOnMap { agent });
        }
        board.occupancy[from] = FREE;
        if board.obstacles[to] != FREE || board.occupancy[to] != FREE {
            return Err(EnvError::CellBlocked { x: xy[0], y: xy[1] });
        }
        board.occupancy[to] = TAKEN;
        self.agents.position[agent] = to as Cell;
        Ok(())
    }

    /// pogema's `Grid.hide_agent`: takes an active agent off the board. Returns whether it was
    /// active.
    pub fn hide_agent(&mut self, agent: usize) -> Result<bool, EnvError> {
        self.check_agent(agent)?;
        if !self.agents.active[agent] {
            return Ok(false);
        }
        self.agents.active[agent] = false;
        self.board.occupancy[self.agents.position[agent] as usize] = FREE;
        Ok(true)
    }

    /// pogema's `Grid.show_agent`: puts a hidden agent back on its cell. Returns whether it was
    /// hidden; fails, after marking it active as pogema does, when another agent holds the cell.
    pub fn show_agent(&mut self, agent: usize) -> Result<bool, EnvError> {
        self.check_agent(agent)?;
        if self.agents.active[agent] {
            return Ok(false);
        }
        self.agents.active[agent] = true;
        let cell = self.agents.position[agent] as usize;
        if self.board.occupancy[cell] != FREE {
            return Err(EnvError::CellOccupied);
        }
        self.board.occupancy[cell] = TAKEN;
        Ok(true)
    }

    /// Sets `agent`'s goal to the padded cell `xy` (pogema's `finishes_xy[agent] = xy`).
    pub fn set_goal(&mut self, agent: usize, xy: [i64; 2]) -> Result<(), EnvError> {
        self.check_agent(agent)?;
        self.agents.goal[agent] = self.padded_cell(xy)?;
        Ok(())
    }

    /// Draws `agent`'s next lifelong goal from its stream (given its current cell) without
    /// assigning it, as pogema's `PogemaLifeLong._generate_new_target` does when called by hand;
    /// the padded cell. The stream advances, so the agent's next arrival draws the goal after.
    pub fn draw_goal(&mut self, agent: usize) -> Result<[i64; 2], EnvError> {
        self.check_agent(agent)?;
        let a = &mut self.agents;
        let geo = &self.board.geometry;
        let goal =
            self.board
                .goals
                .next_goal(&mut a.stream[agent], agent, a.position[agent], geo)?;
        Ok(geo.padded_xy(goal))
    }

    /// Sets the steps taken since the reset (pogema's `set_elapsed_steps`, which the time limit
    /// counts from).
    pub fn set_elapsed(&mut self, steps: u32) {
        self.elapsed = steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EnvConfig, MapSpec, TargetsSpec};

    /// A 3×3 free map with agents at (0,0) and (0,1), goals far away, radius 1.
    fn episode() -> Episode {
        let config = EnvConfig {
            map: Some(MapSpec::Text("...\n...\n...".into())),
            agents_xy: Some(vec![[0, 0], [0, 1]]),
            targets_xy: Some(TargetsSpec::Single(vec![[2, 2], [2, 0]])),
            obs_radius: 1,
            ..EnvConfig::default()
        };
        let mut e = Episode::new(config.resolve().unwrap(), 0);
        e.reset().unwrap();
        e
    }

    fn xy(e: &Episode, agent: usize) -> [i64; 2] {
        e.board.geometry.padded_xy(e.agents.position[agent])
    }

    #[test]
    fn an_agent_moves_to_a_free_cell_and_the_occupancy_follows() {
        let mut e = episode();
        assert_eq!(xy(&e, 0), [1, 1]);
        e.move_agent_to_cell(0, [2, 1]).unwrap();
        assert_eq!(xy(&e, 0), [2, 1]);
        let taken =
            |e: &Episode, c: [i64; 2]| e.board.occupancy[e.padded_cell(c).unwrap() as usize];
        assert_eq!((taken(&e, [1, 1]), taken(&e, [2, 1])), (FREE, TAKEN));
    }

    #[test]
    fn a_blocked_cell_fails_after_freeing_the_old_cell_as_pogema_does() {
        // Agent 1 stands on padded (1, 2); the ring cell (0, 0) is an obstacle.
        for target in [[1, 2], [0, 0]] {
            let mut e = episode();
            let err = e.move_agent_to_cell(0, target).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "Can't force agent to blocked position {} {}",
                    target[0], target[1]
                )
            );
            // The agent stays where it was, but its cell was freed, so the next move says so.
            assert_eq!(xy(&e, 0), [1, 1]);
            let gone = e.move_agent_to_cell(0, [3, 3]).unwrap_err();
            assert_eq!(gone.to_string(), "Agent 0 is not in the map");
        }
        let mut e = episode();
        assert!(
            e.move_agent_to_cell(0, [9, 0]).is_err(),
            "outside the padded grid"
        );
        assert!(e.move_agent_to_cell(7, [3, 3]).is_err(), "no such agent");
        assert_eq!(xy(&e, 0), [1, 1]);
    }

    #[test]
    fn hiding_and_showing_round_trip_and_showing_on_a_taken_cell_fails() {
        let mut e = episode();
        assert!(e.hide_agent(0).unwrap());
        assert!(!e.hide_agent(0).unwrap());
        assert!(!e.agents.active[0]);
        assert!(e.show_agent(0).unwrap());
        assert!(!e.show_agent(0).unwrap());
        e.hide_agent(0).unwrap();
        e.move_agent_to_cell(1, [1, 1]).unwrap(); // onto hidden agent 0's cell
        assert_eq!(
            e.show_agent(0).unwrap_err().to_string(),
            "The cell is already occupied"
        );
        assert!(
            e.agents.active[0],
            "pogema marks the agent active before it checks"
        );
    }

    #[test]
    fn goals_and_the_step_counter_are_set() {
        let mut e = episode();
        e.set_goal(1, [3, 3]).unwrap();
        assert_eq!(e.board.geometry.padded_xy(e.agents.goal[1]), [3, 3]);
        assert!(e.set_goal(1, [-1, 0]).is_err());
        e.set_elapsed(5);
        assert_eq!(e.elapsed, 5);
    }
}
