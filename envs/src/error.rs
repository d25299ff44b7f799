//! Typed errors for configs, maps, instance generation and stepping.

use thiserror::Error;

/// Everything that can go wrong when building or stepping an environment.
///
/// Each variant names the offending field, symbol, agent or position, so a user can fix the input
/// without reading the source.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvError {
    /// A config field holds a value outside its documented range or an unsupported combination.
    #[error("invalid config field `{field}`: {reason}")]
    InvalidConfig {
        /// The `GridConfig` field name, as in pogema.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A string map contains a character outside `. # @ $ !` and ASCII letters.
    #[error("unsupported map symbol {symbol:?} at row {row}, column {col}")]
    UnknownSymbol {
        /// The character found.
        symbol: char,
        /// 0-based row.
        row: usize,
        /// 0-based column.
        col: usize,
    },
    /// Map rows of different lengths.
    #[error("map row {row} has {found} cells, expected {expected} like the rows before it")]
    UnequalRows {
        /// 0-based row index.
        row: usize,
        /// The first row's length.
        expected: usize,
        /// This row's length.
        found: usize,
    },
    /// A map with no cells, or a list map with values other than 0 and 1.
    #[error("malformed map: {0}")]
    MalformedMap(String),
    /// The map cannot host the requested task (pogema raises `OverflowError`/`IndexError`).
    #[error("can't create task: {0}")]
    CantCreateTask(String),
    /// A config could not be parsed from TOML or JSON.
    #[error("could not parse config: {0}")]
    Parse(String),
    /// A config field of the wrong shape or type (a JSON config's field that could not be read).
    #[error("invalid config field `{field}`: {reason}")]
    UnreadableField {
        /// The field's path, e.g. `targets_xy` or `agents_xy`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The number of actions passed to `step` differs from the number of agents.
    #[error("expected {expected} actions (one per agent), got {found}")]
    WrongActionCount {
        /// Number of agents.
        expected: usize,
        /// Number of actions given.
        found: usize,
    },
    /// An action outside `0..5` (`stay, up, down, left, right`).
    #[error(
        "action {action} of agent {agent} is out of range; actions are 0..=4 (stay, up, down, left, right)"
    )]
    InvalidAction {
        /// Row of the agent in the action buffer.
        agent: usize,
        /// The value found.
        action: u8,
    },
    /// A buffer passed to the simulator has the wrong length.
    #[error("buffer `{name}` has length {found}, expected {expected}")]
    WrongBufferLength {
        /// Buffer name.
        name: &'static str,
        /// Required length.
        expected: usize,
        /// Given length.
        found: usize,
    },
    /// The batch would need more memory than the machine has available (checked before
    /// allocating, so that an absurd size is an error rather than an abort).
    #[error(
        "these episodes need about {needed_mib} MiB ({what}), but only {available_mib} MiB of memory is available; use fewer agents or episodes, a smaller obs_radius or a smaller map"
    )]
    TooLarge {
        /// Estimated need, MiB.
        needed_mib: u64,
        /// `MemAvailable`, MiB.
        available_mib: u64,
        /// What the estimate counts.
        what: String,
    },
    /// pogema's persistent rewind asked to move an agent whose cell is free (a hidden agent;
    /// pogema raises `KeyError`).
    #[error("Agent {agent} is not in the map")]
    AgentNotOnMap {
        /// The agent.
        agent: usize,
    },
    /// pogema's persistent rewind asked to put an agent on an obstacle or another agent (pogema
    /// raises `ValueError`).
    #[error("Can't force agent to blocked position {x} {y}")]
    CellBlocked {
        /// Padded row.
        x: i64,
        /// Padded column.
        y: i64,
    },
    /// pogema's persistent rewind showed an agent on a cell another agent holds (pogema raises
    /// `KeyError`).
    #[error("The cell is already occupied")]
    CellOccupied,
    /// A padded position outside the padded grid.
    #[error("padded position [{x}, {y}] is outside the {rows}x{cols} padded grid")]
    OutsideGrid {
        /// Padded row.
        x: i64,
        /// Padded column.
        y: i64,
        /// Padded rows.
        rows: usize,
        /// Padded columns.
        cols: usize,
    },
    /// `step` was called before `reset`, or after a reset failed.
    #[error("the environment must be reset before stepping")]
    ResetNeeded,
    /// A lifelong goal stream can never produce a goal different from the agent's cell
    /// (pogema 1.4.0 loops forever here).
    #[error("agent {agent} can never get a new goal: {reason}")]
    GoalStreamStuck {
        /// Agent index within its episode.
        agent: usize,
        /// Why.
        reason: String,
    },
}

impl EnvError {
    /// Shorthand for [`EnvError::InvalidConfig`].
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}
