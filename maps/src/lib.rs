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

#[cfg(test)]
mod tests {
    #[test]
    fn every_suite_file_is_named_after_its_suite() {
        for (name, text) in super::SUITES {
            assert!(
                text.contains(&format!("name = \"{name}\"")),
                "suites/{name}.toml does not declare name = \"{name}\""
            );
        }
    }
}
