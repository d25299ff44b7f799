//! A memory estimate checked before a simulator allocates, so that absurd but valid sizes (a
//! 4096×4096 map with radius 128 and 10⁵ agents; 10⁹ episodes) end in an error naming the need,
//! not in an allocation failure that aborts the process (and the Python interpreter with it).

use crate::config::{EnvConfig, ResolvedConfig};
use crate::error::EnvError;

/// Bytes per padded cell the simulator keeps (obstacles, occupancy, goal marks, follower fields
/// and planner scratch, with room to spare).
const BYTES_PER_CELL: u64 = 64;

/// Bytes per agent besides its observations (positions, goals, flags, rewards, metrics).
const BYTES_PER_AGENT: u64 = 256;

/// Copies of each observation that exist at once (the simulator's buffer and the caller's copy,
/// as the Python wheel and the trainer's rollouts make).
const OBS_COPIES: u64 = 2;

/// Estimated bytes for `configs` stepped together (resolved), and what the estimate counts.
pub fn estimate(configs: &[ResolvedConfig]) -> (u64, String) {
    let mut agents = 0u64;
    let mut cells = 0u64;
    let mut obs = 0u64;
    for rc in configs {
        let side = 2 * rc.radius as u64 + 1;
        let channels = rc.config.observation_type.channels() as u64;
        let n = rc.num_agents as u64;
        agents = agents.saturating_add(n);
        obs = obs.saturating_add(n.saturating_mul(channels * side * side));
        let padded = (rc.height as u64 + side) * (rc.width as u64 + side);
        cells = cells.saturating_add(padded);
    }
    let bytes = obs
        .saturating_mul(OBS_COPIES)
        .saturating_add(cells.saturating_mul(BYTES_PER_CELL))
        .saturating_add(agents.saturating_mul(BYTES_PER_AGENT));
    let what = format!(
        "{} episodes, {agents} agents, {} MiB of observations, {} MiB of grids",
        configs.len(),
        obs.saturating_mul(OBS_COPIES) >> 20,
        cells.saturating_mul(BYTES_PER_CELL) >> 20
    );
    (bytes, what)
}

/// The memory the OS reports available (`MemAvailable` in `/proc/meminfo`), if it reports it.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// An error when [`estimate`] exceeds [`available_bytes`] (no check where the OS does not say).
pub fn check_fits(configs: &[ResolvedConfig]) -> Result<(), EnvError> {
    check(configs, 1, 0, str::to_string)
}

/// [`check_fits`] for `copies` copies of `configs`, checked before the copies are made (each
/// config itself also takes memory): `--episodes 1e9` or `env.copies = 1e9` end in an error.
pub fn check_copies(configs: &[EnvConfig], copies: u64) -> Result<(), EnvError> {
    let config_bytes = std::mem::size_of_val(configs) as u64;
    let resolved = configs
        .iter()
        .map(EnvConfig::resolve)
        .collect::<Result<Vec<_>, _>>()?;
    check(&resolved, copies, config_bytes, |what| {
        format!("{copies} copies of: {what}")
    })
}

/// `copies` × ([`estimate`] + `extra` bytes) against [`available_bytes`]; `describe` words the
/// estimate's description for the error.
fn check(
    configs: &[ResolvedConfig],
    copies: u64,
    extra: u64,
    describe: impl Fn(&str) -> String,
) -> Result<(), EnvError> {
    let Some(available) = available_bytes() else {
        return Ok(());
    };
    let (one, what) = estimate(configs);
    let needed = one.saturating_add(extra).saturating_mul(copies);
    if needed > available {
        return Err(EnvError::TooLarge {
            needed_mib: needed >> 20,
            available_mib: available >> 20,
            what: describe(&what),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_observations_and_grids() {
        let config = EnvConfig {
            size: 64,
            num_agents: Some(100),
            obs_radius: 5,
            ..EnvConfig::default()
        };
        let (bytes, what) = estimate(&[config.resolve().unwrap()]);
        let obs = 100 * 3 * 11 * 11 * OBS_COPIES;
        assert!(bytes >= obs && bytes < obs + 75 * 75 * BYTES_PER_CELL + 100 * BYTES_PER_AGENT + 1);
        assert!(what.contains("100 agents"), "{what}");
    }

    #[test]
    fn an_absurd_size_is_an_error_before_anything_is_allocated() {
        let config = EnvConfig {
            size: 4096,
            num_agents: Some(1_000_000),
            obs_radius: 128,
            ..EnvConfig::default()
        };
        if available_bytes().is_some() {
            let err = check_fits(&[config.resolve().unwrap()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("MiB") && err.contains("obs_radius"), "{err}");
            let small = EnvConfig::default();
            assert!(check_copies(std::slice::from_ref(&small), 4).is_ok());
            let err = check_copies(&[small], 1_000_000_000_000).unwrap_err();
            assert!(err.to_string().contains("copies"), "{err}");
        }
    }
}
