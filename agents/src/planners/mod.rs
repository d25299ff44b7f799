//! Classical decentralised planners.

mod astar_follower;
mod random;

pub use astar_follower::AstarFollower;
pub use random::RandomPolicy;
