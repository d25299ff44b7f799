//! Command-line vocabulary shared by the binaries.

use std::io::Write as _;

use clap::ValueEnum;
use rmapf_env::{CollisionSystem, ObservationType, OnTarget};

/// `--on-target`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnTargetArg {
    /// Agents disappear on arrival.
    Finish,
    /// Agents stay; solved when all are on goal.
    Nothing,
    /// Lifelong: new goals on arrival.
    Restart,
}

impl From<OnTargetArg> for OnTarget {
    fn from(v: OnTargetArg) -> Self {
        match v {
            OnTargetArg::Finish => OnTarget::Finish,
            OnTargetArg::Nothing => OnTarget::Nothing,
            OnTargetArg::Restart => OnTarget::Restart,
        }
    }
}

/// `--collision`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CollisionArg {
    /// Lower index wins.
    Priority,
    /// Contestants all stay.
    BlockBoth,
    /// Followers and rotations allowed.
    Soft,
}

impl From<CollisionArg> for CollisionSystem {
    fn from(v: CollisionArg) -> Self {
        match v {
            CollisionArg::Priority => CollisionSystem::Priority,
            CollisionArg::BlockBoth => CollisionSystem::BlockBoth,
            CollisionArg::Soft => CollisionSystem::Soft,
        }
    }
}

/// `--obs`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ObsArg {
    /// Three channels: obstacles, agents, target.
    Default,
    /// Obstacles and agents plus relative coordinates.
    Pomapf,
    /// POMAPF plus global coordinates.
    Mapf,
}

impl From<ObsArg> for ObservationType {
    fn from(v: ObsArg) -> Self {
        match v {
            ObsArg::Default => ObservationType::Default,
            ObsArg::Pomapf => ObservationType::Pomapf,
            ObsArg::Mapf => ObservationType::Mapf,
        }
    }
}

pub use rmapf_env::rng::lcg_actions;

/// `println!` for the binaries: a closed stdout (`train-srmt | head`) ends the output, not the
/// program; a run keeps training and writing its files.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Warns on stderr when `threads` (given by `what`, e.g. `--threads`) is more than this machine
/// runs at once: the batch then starts only [`rmapf_env::machine_threads`] workers (results do
/// not depend on the thread count). Returns whether it warned.
pub fn warn_threads(what: &str, threads: usize) -> bool {
    let machine = rmapf_env::machine_threads();
    if threads <= machine {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "warning: {what} {threads} is more than the {machine} threads this machine runs at once; \
         using at most {machine} worker threads (results do not depend on the thread count)"
    );
    true
}
