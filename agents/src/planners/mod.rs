//! Classical planners: decentralised ones that see what an agent sees (the A*-follower) and
//! centralised ones that plan every agent's move jointly (PIBT and its swap variant), plus
//! Follower's own planner as a policy of its own (`follower-planner`).

mod astar_follower;
pub mod distances;
mod follower_path;
mod noisy;
mod pibt;
mod random;

pub use astar_follower::AstarFollower;
pub use follower_path::{FollowerPaths, FollowerPlannerPolicy};
pub use noisy::Noisy;
pub use pibt::{Lookahead, MAX_INHERITANCE_DEPTH, Pibt};
pub use random::RandomPolicy;
