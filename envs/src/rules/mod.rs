//! The rules of one step: collision resolution (goals, rewards and metrics live in
//! [`crate::metrics`] and the ECS systems).

pub mod collision;
