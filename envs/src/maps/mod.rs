//! Map families, map files and evaluation suites.

pub mod formats;
pub mod generators;
pub mod render;
pub mod suites;
