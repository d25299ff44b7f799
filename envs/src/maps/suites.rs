//! Evaluation suites: data files (TOML, under `maps/suites/`) naming maps, agent counts, episode
//! lengths, seeds and env settings, expanded into concrete [`EnvConfig`]s.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{EnvConfig, MapSpec, TargetsSpec};
use crate::maps::formats::{MapFileError, parse_map_set};
use crate::maps::generators::{
    MazeRanges, RandomMapSettings, bottleneck, bottleneck_task, to_text,
};

/// The suites shipped with rmapf (`maps/suites/*.toml`, owned by the `rmapf-maps` crate), by name.
pub const BUILTIN: &[(&str, &str)] = rmapf_maps::SUITES;

/// The built-in suites' names, comma-separated.
fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A suite that cannot be loaded or expanded.
#[derive(Debug, Error)]
pub enum SuiteError {
    /// No built-in suite or file by that name.
    #[error("unknown suite {0:?}; built-in suites: {names}", names = builtin_names())]
    Unknown(String),
    /// The suite file does not parse.
    #[error("suite {name}: {reason}")]
    Parse {
        /// Suite name or path.
        name: String,
        /// The TOML error.
        reason: String,
    },
    /// A file the suite needs could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        reason: String,
    },
    /// The suite reads maps from a YAML file but no maps directory was given.
    #[error(
        "suite {0} reads its maps from a POGEMA YAML map file and names no shipped dataset: give the folder holding {1} (--maps-dir)"
    )]
    NeedsMapsDir(String, String),
    /// A map file is malformed.
    #[error(transparent)]
    MapFile(#[from] MapFileError),
    /// A named map is not in the map file.
    #[error("map {0:?} is not in {1}")]
    MissingMap(String, String),
}

/// Where a suite's maps come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MapSource {
    /// pogema-toolbox random maps, `validation-random-seed-NNN` for each seed.
    Random {
        /// Generator seeds `start..end`.
        seeds: std::ops::Range<u64>,
    },
    /// pogema-toolbox mazes with the benchmark's 17–21 ranges, `validation-mazes-seed-NNN`.
    Mazes {
        /// Generator seeds `start..end`.
        seeds: std::ops::Range<u64>,
    },
    /// SRMT Bottleneck corridors of the given lengths (2 agents, starts and goals from the seed).
    Bottleneck {
        /// Corridor lengths.
        lengths: Vec<usize>,
    },
    /// Maps from a POGEMA YAML map file, relative to the maps directory given, or else to the
    /// copy of `dataset` shipped with rmapf ([`rmapf_maps::dataset_dir`]).
    Yaml {
        /// File path relative to the maps directory.
        file: String,
        /// Map names to use (all, in file order, when absent).
        names: Option<Vec<String>>,
        /// The shipped dataset holding `file` (`pogema-benchmark-lmapf`,
        /// `learn-to-follow-training-maps`); without it a maps directory must be given.
        #[serde(default)]
        dataset: Option<String>,
    },
}

/// Episode length: fixed, or `a·L + b` for Bottleneck corridors of length `L`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EpisodeSteps {
    /// The same for every map.
    Fixed(i64),
    /// `[a, b]`: `a·L + b`.
    PerCorridor([i64; 2]),
}

/// A suite definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// What it is and where it comes from.
    pub description: String,
    /// Agent counts (each map is run with each count).
    pub agents: Vec<i64>,
    /// Instance seeds (each map × agent count is run with each seed).
    pub seeds: Vec<u64>,
    /// Episode length.
    pub max_episode_steps: EpisodeSteps,
    /// Settings applied to every instance (collision system, on-target mode, observation, radius).
    pub env: EnvConfig,
    /// The maps.
    pub maps: MapSource,
}

/// One concrete instance of a suite.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteInstance {
    /// Map name, as in the POGEMA benchmark where it has one.
    pub map_name: String,
    /// Agent count.
    pub num_agents: i64,
    /// Instance seed.
    pub seed: u64,
    /// The full config.
    pub config: EnvConfig,
}

/// A named map (name, POGEMA string map).
pub type NamedMap = (String, String);

impl Suite {
    /// Parses a suite from TOML.
    pub fn from_toml(name: &str, text: &str) -> Result<Self, SuiteError> {
        toml::from_str(text).map_err(|e| SuiteError::Parse {
            name: name.into(),
            reason: e.to_string(),
        })
    }

    /// A built-in suite by name, or a suite file by path.
    pub fn load(name_or_path: &str) -> Result<Self, SuiteError> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_toml(name, text);
        }
        let path = Path::new(name_or_path);
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| SuiteError::Io {
                path: path.into(),
                reason: e.to_string(),
            })?;
            return Self::from_toml(name_or_path, &text);
        }
        Err(SuiteError::Unknown(name_or_path.into()))
    }

    /// All built-in suites.
    pub fn builtin() -> Vec<Self> {
        BUILTIN
            .iter()
            .map(|(n, t)| Self::from_toml(n, t).expect("built-in suites parse"))
            .collect()
    }

    /// The suite's maps, in order. YAML suites need `maps_dir`.
    pub fn maps(&self, maps_dir: Option<&Path>) -> Result<Vec<NamedMap>, SuiteError> {
        Ok(match &self.maps {
            MapSource::Random { seeds } => seeds
                .clone()
                .map(|s| {
                    (
                        format!("validation-random-seed-{s:03}"),
                        to_text(&RandomMapSettings::sample(s).generate()),
                    )
                })
                .collect(),
            MapSource::Mazes { seeds } => seeds
                .clone()
                .map(|s| {
                    (
                        format!("validation-mazes-seed-{s:03}"),
                        to_text(&MazeRanges::benchmark_validation().sample(s).generate()),
                    )
                })
                .collect(),
            MapSource::Bottleneck { lengths } => lengths
                .iter()
                .map(|&l| (format!("bottleneck-{l}"), to_text(&bottleneck(l))))
                .collect(),
            MapSource::Yaml {
                file,
                names,
                dataset,
            } => {
                let dir = match (maps_dir, dataset) {
                    (Some(dir), _) => dir.to_path_buf(),
                    (None, Some(dataset)) => rmapf_maps::dataset_dir(dataset),
                    (None, None) => {
                        return Err(SuiteError::NeedsMapsDir(self.name.clone(), file.clone()));
                    }
                };
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|e| SuiteError::Io {
                    path: path.clone(),
                    reason: if maps_dir.is_none() && !path.exists() {
                        format!(
                            "{e} (rmapf's shipped copy of {}; if this build has moved from its checkout, set {} to the folder holding it, the checkout's maps/data, or pass the maps folder)",
                            dataset.as_deref().unwrap_or_default(),
                            rmapf_maps::DATA_DIR_VAR
                        )
                    } else {
                        e.to_string()
                    },
                })?;
                let all = parse_map_set(&text)?;
                match names {
                    None => all,
                    Some(names) => names
                        .iter()
                        .map(|n| {
                            all.iter().find(|(m, _)| m == n).cloned().ok_or_else(|| {
                                SuiteError::MissingMap(n.clone(), path.display().to_string())
                            })
                        })
                        .collect::<Result<_, _>>()?,
                }
            }
        })
    }

    /// Every instance: maps × agent counts × seeds, in that nesting order.
    pub fn instances(&self, maps_dir: Option<&Path>) -> Result<Vec<SuiteInstance>, SuiteError> {
        let maps = self.maps(maps_dir)?;
        let mut out = Vec::new();
        for (map_name, map) in &maps {
            let corridor = match &self.maps {
                MapSource::Bottleneck { .. } => Some(map.lines().count() - 4),
                _ => None,
            };
            let steps = match (&self.max_episode_steps, corridor) {
                (EpisodeSteps::Fixed(s), _) => *s,
                (EpisodeSteps::PerCorridor([a, b]), Some(l)) => a * l as i64 + b,
                (EpisodeSteps::PerCorridor(_), None) => {
                    return Err(SuiteError::Parse {
                        name: self.name.clone(),
                        reason:
                            "max_episode_steps = [a, b] (a·L + b) only applies to bottleneck maps"
                                .into(),
                    });
                }
            };
            for &num_agents in &self.agents {
                for &seed in &self.seeds {
                    let mut config = EnvConfig {
                        map: Some(MapSpec::Text(map.clone())),
                        map_name: Some(map_name.clone()),
                        num_agents: Some(num_agents),
                        seed: Some(seed),
                        max_episode_steps: steps,
                        ..self.env.clone()
                    };
                    if let Some(l) = corridor {
                        let (starts, goals) = bottleneck_task(l, seed);
                        config.agents_xy = Some(starts);
                        config.targets_xy = Some(TargetsSpec::Single(goals));
                        config.num_agents = Some(2);
                    }
                    out.push(SuiteInstance {
                        map_name: map_name.clone(),
                        num_agents: config.num_agents.unwrap_or(1),
                        seed,
                        config,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tasks of a built-in Bottleneck suite: corridor length, starts and goals.
    fn tasks(suite: &str) -> Vec<(usize, String)> {
        let instances = Suite::load(suite).unwrap().instances(None).unwrap();
        instances
            .iter()
            .map(|i| {
                let length = i.map_name["bottleneck-".len()..].parse().unwrap();
                let c = &i.config;
                (length, format!("{:?} {:?}", c.agents_xy, c.targets_xy))
            })
            .collect()
    }

    /// `best/` is chosen on `bottleneck-valid`: none of its tasks may be a training or a test
    /// task, none of its lengths a training length, and it must cover short corridors as well as
    /// long ones (the test corridors run from L = 3 to 1000).
    #[test]
    fn validation_corridors_are_held_out_and_span_short_and_long_lengths() {
        let valid = tasks("bottleneck-valid");
        let (train, test) = (tasks("bottleneck-train"), tasks("bottleneck-test"));
        for task in &valid {
            assert!(!train.contains(task) && !test.contains(task), "{task:?}");
            assert!(train.iter().all(|(l, _)| *l != task.0), "length {}", task.0);
        }
        let lengths: Vec<usize> = valid.iter().map(|(l, _)| *l).collect();
        assert!(lengths.iter().any(|&l| l <= 10) && lengths.iter().any(|&l| l >= 150));
    }
}
