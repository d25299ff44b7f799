//! Helpers shared by the trainer's integration tests.
// Each test crate compiles this module and uses a subset of it.
#![allow(dead_code)]

use std::path::PathBuf;

/// Follower's training mazes: `RMAPF_FOLLOWER_MAPS`, or the copy shipped in `maps/data`.
pub fn follower_maps_dir() -> PathBuf {
    std::env::var_os("RMAPF_FOLLOWER_MAPS").map_or_else(
        || rmapf_maps::dataset_dir("learn-to-follow-training-maps"),
        PathBuf::from,
    )
}

/// The POGEMA benchmark data folder: `RMAPF_BENCHMARK_DATA`, or the copy shipped in `maps/data`.
pub fn benchmark_data_dir() -> PathBuf {
    let dir = std::env::var_os("RMAPF_BENCHMARK_DATA")
        .map_or_else(rmapf_maps::benchmark_dir, PathBuf::from);
    assert!(
        dir.join("06-pathfinding/maps.yaml").exists(),
        "benchmark data not found at {}; set RMAPF_BENCHMARK_DATA",
        dir.display()
    );
    dir
}

/// A shipped training config (`trainers/configs/NAME`); a YAML suite reads
/// `RMAPF_FOLLOWER_MAPS` when that is set, else the data shipped in `maps/data`.
pub fn shipped_config(name: &str) -> rmapf_train::ppo::TrainConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("readable config");
    let mut config =
        rmapf_train::ppo::TrainConfig::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    if std::env::var_os("RMAPF_FOLLOWER_MAPS").is_some() {
        config.env.maps_dir = Some(follower_maps_dir());
    }
    config
}
