//! Suites and maps from the command line: list suites, render a suite map to PNG or SVG, export a
//! suite's maps as a POGEMA YAML map file, and animate a random-action episode as an SVG.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use rmapf_env::maps::formats::write_map_set;
use rmapf_env::maps::render::{episode_svg, map_png, map_svg};
use rmapf_env::maps::suites::{Suite, SuiteInstance};
use rmapf_env::{Env, MapSpec};
use rmapf_train::cli::lcg_actions;

/// rmapf maps and suites.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the built-in suites with their sizes.
    List {
        /// Folder with the POGEMA benchmark map files (for warehouse, movingai, puzzles).
        #[arg(long)]
        maps_dir: Option<PathBuf>,
    },
    /// Render one instance of a suite (map, starts, goals) to a .png or .svg file.
    Render {
        /// Suite name or suite file.
        #[arg(long)]
        suite: String,
        /// Instance index (see `list`); maps × agent counts × seeds.
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: PathBuf,
        /// Folder with the POGEMA benchmark map files.
        #[arg(long)]
        maps_dir: Option<PathBuf>,
    },
    /// Export a suite's maps as a POGEMA YAML map file.
    Export {
        /// Suite name or suite file.
        #[arg(long)]
        suite: String,
        /// Output YAML file.
        #[arg(long)]
        out: PathBuf,
        /// Folder with the POGEMA benchmark map files.
        #[arg(long)]
        maps_dir: Option<PathBuf>,
    },
    /// Record a random-action episode of one suite instance as an animated SVG.
    Animate {
        /// Suite name or suite file.
        #[arg(long)]
        suite: String,
        /// Instance index.
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// Output .svg file.
        #[arg(long)]
        out: PathBuf,
        /// Steps to record (at most the episode length).
        #[arg(long, default_value_t = 64)]
        steps: usize,
        /// Folder with the POGEMA benchmark map files.
        #[arg(long)]
        maps_dir: Option<PathBuf>,
    },
}

fn instance(
    suite: &str,
    index: usize,
    maps_dir: Option<&std::path::Path>,
) -> Result<SuiteInstance> {
    let suite = Suite::load(suite)?;
    let mut all = suite.instances(maps_dir)?;
    let n = all.len();
    if index >= n {
        bail!(
            "suite {} has {n} instances; --index {index} is out of range",
            suite.name
        );
    }
    Ok(all.swap_remove(index))
}

fn rows_of(inst: &SuiteInstance) -> Vec<String> {
    match &inst.config.map {
        Some(MapSpec::Text(t)) => t
            .split_whitespace()
            .map(|r| r.replace(['@', '$', '!'], "."))
            .collect(),
        _ => Vec::new(),
    }
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    rmapf_train::say!("wrote {}", path.display());
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::List { maps_dir } => {
            rmapf_train::say!(
                "{:<18} {:>9} {:>6}  description",
                "suite",
                "instances",
                "maps"
            );
            for suite in Suite::builtin() {
                let (inst, maps) = match (
                    suite.instances(maps_dir.as_deref()),
                    suite.maps(maps_dir.as_deref()),
                ) {
                    (Ok(i), Ok(m)) => (i.len().to_string(), m.len().to_string()),
                    _ => ("?".into(), "?".into()),
                };
                rmapf_train::say!(
                    "{:<18} {:>9} {:>6}  {}",
                    suite.name,
                    inst,
                    maps,
                    suite.description
                );
            }
            if maps_dir.is_none() {
                rmapf_train::say!("(? = give --maps-dir with the POGEMA benchmark map files)");
            }
        }
        Command::Render {
            suite,
            index,
            out,
            maps_dir,
        } => {
            let inst = instance(&suite, index, maps_dir.as_deref())?;
            let mut env = Env::new(&inst.config)?;
            env.reset()?;
            let snap = env.snapshot();
            let rows = rows_of(&inst);
            match out.extension().and_then(|e| e.to_str()) {
                Some("png") => write(&out, &map_png(&rows, &snap.positions, &snap.goals)?)?,
                Some("svg") => write(
                    &out,
                    map_svg(&rows, &snap.positions, &snap.goals).as_bytes(),
                )?,
                _ => bail!("--out must end in .png or .svg"),
            }
            rmapf_train::say!(
                "{} with {} agents, seed {}",
                inst.map_name,
                inst.num_agents,
                inst.seed
            );
        }
        Command::Export {
            suite,
            out,
            maps_dir,
        } => {
            let maps = Suite::load(&suite)?.maps(maps_dir.as_deref())?;
            write(
                &out,
                write_map_set(maps.iter().map(|(n, m)| (n.as_str(), m.as_str()))).as_bytes(),
            )?;
            rmapf_train::say!("{} maps", maps.len());
        }
        Command::Animate {
            suite,
            index,
            out,
            steps,
            maps_dir,
        } => {
            if out.extension().and_then(|e| e.to_str()) != Some("svg") {
                bail!(
                    "--out {}: animations are SVG, so the file must end in .svg",
                    out.display()
                );
            }
            let inst = instance(&suite, index, maps_dir.as_deref())?;
            let mut env = Env::new(&inst.config)?;
            env.reset()?;
            let (mut positions, mut goals, mut active) = (Vec::new(), Vec::new(), Vec::new());
            let mut record = |env: &mut Env| {
                let s = env.snapshot();
                positions.push(s.positions);
                goals.push(s.goals);
                active.push(s.active);
            };
            record(&mut env);
            let mut state = inst.seed;
            let mut actions = vec![0u8; env.num_agents()];
            for _ in 0..steps {
                lcg_actions(&mut state, &mut actions);
                env.step(&actions)?;
                record(&mut env);
                if env.buffers.episode_done[0] {
                    break;
                }
            }
            write(
                &out,
                episode_svg(&rows_of(&inst), &positions, &goals, &active, 0.25).as_bytes(),
            )?;
        }
    }
    Ok(())
}
