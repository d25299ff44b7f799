//! # rmapf-maps
//!
//! The suites shipped with rmapf, as data: one TOML file per suite under `suites/`, naming maps,
//! agent counts, episode lengths, seeds and env settings. `rmapf-env` parses and expands them
//! (`rmapf_env::maps::suites`); this crate only owns the files, so that they travel with the
//! package that compiles them in.

/// The built-in suites, `(name, TOML text)`, in the order `rmapf-maps list` prints them.
pub const SUITES: &[(&str, &str)] = &[
    (
        "bottleneck-train",
        include_str!("../suites/bottleneck-train.toml"),
    ),
    (
        "bottleneck-valid",
        include_str!("../suites/bottleneck-valid.toml"),
    ),
    (
        "bottleneck-test",
        include_str!("../suites/bottleneck-test.toml"),
    ),
    ("random", include_str!("../suites/random.toml")),
    ("mazes", include_str!("../suites/mazes.toml")),
    ("mazes-train", include_str!("../suites/mazes-train.toml")),
    ("warehouse", include_str!("../suites/warehouse.toml")),
    ("movingai", include_str!("../suites/movingai.toml")),
    ("puzzles", include_str!("../suites/puzzles.toml")),
    ("pathfinding", include_str!("../suites/pathfinding.toml")),
    (
        "follower-train",
        include_str!("../suites/follower-train.toml"),
    ),
];

/// The environment variable naming the folder that holds the shipped datasets in place of this
/// crate's `data/` (for a built checkout that has moved: binaries keep the path they were
/// compiled in).
pub const DATA_DIR_VAR: &str = "RMAPF_DATA_DIR";

/// The folder of a dataset shipped in `data/` beside this crate (`pogema-benchmark-lmapf`: the
/// POGEMA benchmark's maps, settings and published results, Apache-2.0;
/// `learn-to-follow-training-maps`: Follower's 40 training mazes, MIT), or in the folder that
/// [`DATA_DIR_VAR`] names when it is set and not empty. See `data/README.md`.
pub fn dataset_dir(name: &str) -> std::path::PathBuf {
    data_root(std::env::var_os(DATA_DIR_VAR)).join(name)
}

/// The datasets' folder: `overridden` (the value of [`DATA_DIR_VAR`]) unless it is absent or
/// empty, else this crate's `data/`.
fn data_root(overridden: Option<std::ffi::OsString>) -> std::path::PathBuf {
    match overridden {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
    }
}

/// The POGEMA benchmark data shipped with rmapf: the default `--maps-dir` of `evaluate`.
pub fn benchmark_dir() -> std::path::PathBuf {
    dataset_dir("pogema-benchmark-lmapf")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_data_folder_can_be_overridden() {
        let shipped = super::data_root(None);
        assert!(
            shipped.join("pogema-benchmark-lmapf").is_dir(),
            "{shipped:?}"
        );
        assert_eq!(super::data_root(Some("".into())), shipped);
        assert_eq!(
            super::data_root(Some("/elsewhere".into())),
            std::path::PathBuf::from("/elsewhere")
        );
    }

    #[test]
    fn every_suite_file_is_named_after_its_suite() {
        for (name, text) in super::SUITES {
            assert!(
                text.contains(&format!("name = \"{name}\"")),
                "suites/{name}.toml does not declare name = \"{name}\""
            );
        }
    }

    #[test]
    fn every_dataset_a_suite_names_is_shipped_with_its_license() {
        for (name, text) in super::SUITES {
            for line in text.lines().filter(|l| l.starts_with("dataset = ")) {
                let dataset = line.trim_start_matches("dataset = ").trim_matches('"');
                let dir = super::dataset_dir(dataset);
                assert!(
                    dir.join("LICENSE").is_file(),
                    "{name}: {} has no LICENSE",
                    dir.display()
                );
                let file = text
                    .lines()
                    .find_map(|l| l.strip_prefix("file = "))
                    .expect("a yaml suite names its file")
                    .trim_matches('"');
                assert!(
                    dir.join(file).is_file(),
                    "{name}: {file} is not in {}",
                    dir.display()
                );
            }
        }
    }
}
