//! The POGEMA benchmark's maps: the 128 random and 128 maze validation maps regenerated from their
//! seeds equal the benchmark's YAML copies character for character, and every suite loads and steps.

use std::path::PathBuf;

use rmapf_env::maps::formats::parse_map_set;
use rmapf_env::maps::suites::Suite;
use rmapf_env::{Env, EnvError};

/// The benchmark data folder: `RMAPF_BENCHMARK_DATA`, or the copy shipped in `maps/data`.
fn data_dir() -> PathBuf {
    let dir = std::env::var_os("RMAPF_BENCHMARK_DATA")
        .map_or_else(rmapf_maps::benchmark_dir, PathBuf::from);
    assert!(
        dir.join("01-random/maps.yaml").exists(),
        "benchmark data not found at {}; set RMAPF_BENCHMARK_DATA",
        dir.display()
    );
    dir
}

/// Follower's training mazes: `RMAPF_FOLLOWER_MAPS`, or the copy shipped in `maps/data`.
fn follower_maps_dir() -> PathBuf {
    let dir = std::env::var_os("RMAPF_FOLLOWER_MAPS").map_or_else(
        || rmapf_maps::dataset_dir("learn-to-follow-training-maps"),
        PathBuf::from,
    );
    assert!(
        dir.join("training-maps.yaml").exists(),
        "Follower's training maps not found at {}; set RMAPF_FOLLOWER_MAPS",
        dir.display()
    );
    dir
}

#[test]
fn follower_training_suite_has_the_forty_65x65_mazes() {
    let suite = Suite::load("follower-train").unwrap();
    let maps = suite.maps(Some(&follower_maps_dir())).unwrap();
    assert_eq!(maps.len(), 40);
    assert_eq!(maps[0].0, "mazes-s0_wc8_od55");
    for (name, text) in &maps {
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 65, "{name}");
        assert!(rows.iter().all(|r| r.len() == 65), "{name}");
    }
    let instances = suite.instances(Some(&follower_maps_dir())).unwrap();
    assert_eq!(instances.len(), 40);
    assert!(instances.iter().all(|i| i.num_agents == 64));
}

fn check_regenerated(suite: &str, file: &str) {
    let text = std::fs::read_to_string(data_dir().join(file)).unwrap();
    let published = parse_map_set(&text).unwrap();
    let generated = Suite::load(suite).unwrap().maps(None).unwrap();
    assert_eq!(published.len(), 128);
    assert_eq!(generated.len(), published.len());
    for ((gn, gm), (pn, pm)) in generated.iter().zip(&published) {
        assert_eq!(gn, pn);
        assert_eq!(gm, pm, "map {gn} differs");
    }
}

#[test]
fn random_maps_are_regenerated_exactly() {
    check_regenerated("random", "01-random/maps.yaml");
}

#[test]
fn maze_maps_are_regenerated_exactly() {
    check_regenerated("mazes", "02-mazes/maps.yaml");
}

#[test]
fn every_suite_loads_and_steps() -> Result<(), EnvError> {
    let dir = data_dir();
    for suite in Suite::builtin() {
        let dir = match suite.name.as_str() {
            "follower-train" => follower_maps_dir(),
            _ => dir.clone(),
        };
        let instances = suite.instances(Some(&dir)).unwrap();
        assert!(!instances.is_empty(), "{} is empty", suite.name);
        // Step the first and the last instance of each suite a few times.
        for inst in [&instances[0], &instances[instances.len() - 1]] {
            let mut env = Env::new(&inst.config)?;
            env.reset()?;
            let n = env.num_agents();
            for t in 0..4u8 {
                let actions: Vec<u8> = (0..n).map(|i| ((i + t as usize) % 5) as u8).collect();
                env.step(&actions)?;
            }
        }
        println!("suite {}: {} instances", suite.name, instances.len());
    }
    Ok(())
}

#[test]
fn yaml_suites_read_the_shipped_data_unless_told_otherwise() {
    let warehouse = Suite::load("warehouse").unwrap();
    assert!(!warehouse.instances(None).unwrap().is_empty());
    let err = warehouse
        .instances(Some(std::path::Path::new("no-such-dir")))
        .unwrap_err();
    assert!(err.to_string().contains("03-warehouse/maps.yaml"), "{err}");
    // A suite file of the user's own that names no shipped dataset needs a maps folder.
    let (_, text) = rmapf_maps::SUITES
        .iter()
        .find(|(n, _)| *n == "warehouse")
        .unwrap();
    let own = text.replace("dataset = \"pogema-benchmark-lmapf\"\n", "");
    assert_ne!(&own, text);
    let err = Suite::from_toml("mine", &own)
        .unwrap()
        .instances(None)
        .unwrap_err();
    assert!(err.to_string().contains("--maps-dir"), "{err}");
    assert!(
        Suite::load("no-such-suite")
            .unwrap_err()
            .to_string()
            .contains("built-in suites")
    );
}
