//! Instance generation, stage by stage as pogema 1.4.0's `Grid.__init__` does it: obstacles,
//! starts and goals (custom, pools or random placement), the padded grid, and the seeds of the
//! per-agent lifelong goal streams. Each stage uses a fresh `default_rng(seed)`.

use crate::config::{Placement, ResolvedConfig};
use crate::error::EnvError;
use crate::grid::{Components, Geometry, Xy, pad_obstacles};
use crate::rng::{NumpyRng, entropy_seed};

/// One generated instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Grid geometry.
    pub geometry: Geometry,
    /// Unpadded obstacles, row-major (after clearing cells under custom starts and goals).
    pub map: Vec<u8>,
    /// Padded obstacles with the ring.
    pub padded: Vec<u8>,
    /// Starts, unpadded.
    pub starts: Vec<Xy>,
    /// First goals, unpadded.
    pub goals: Vec<Xy>,
    /// How many times random placement drew the instance again before it fit (pogema's
    /// `attempt` in "Created valid configuration only with {attempt} attempts"); 0 otherwise.
    pub redraws: usize,
}

/// A fresh stage generator: `default_rng(seed)`, or OS entropy when the seed is `None`.
pub fn stage_rng(seed: Option<u64>) -> NumpyRng {
    NumpyRng::new(seed.unwrap_or_else(entropy_seed))
}

/// `generate_obstacles`: `binomial(1, density, (height, width))`, row-major.
pub fn generate_obstacles(height: usize, width: usize, density: f64, seed: Option<u64>) -> Vec<u8> {
    let mut rng = stage_rng(seed);
    (0..height * width)
        .map(|_| rng.binomial_one(density))
        .collect()
}

/// pogema's `placing` over a shuffled cell order: starts are claimed two cells at a time per
/// component and goals go to the most recent pending requester (LIFO). Returns `None` when fewer
/// than `n` starts fit.
fn place_random(
    map: &[u8],
    height: usize,
    width: usize,
    n: usize,
    seed: Option<u64>,
) -> Option<(Vec<Xy>, Vec<Xy>)> {
    let comps = Components::label(map, height, width);
    let mut order: Vec<u32> = (0..map.len() as u32)
        .filter(|&c| comps.label[c as usize] != 0)
        .collect();
    stage_rng(seed).shuffle(&mut order);
    let mut remaining = comps.size.clone();
    let mut requests: Vec<Vec<u32>> = vec![Vec::new(); comps.size.len()];
    let mut starts: Vec<u32> = Vec::with_capacity(n);
    let mut goals: Vec<Option<u32>> = vec![None; n];
    let mut done = 0usize;
    for &cell in &order {
        let id = comps.label[cell as usize] as usize;
        if let Some(agent) = requests[id].pop() {
            goals[agent as usize] = Some(cell);
            done += 1;
            continue;
        }
        if starts.len() >= n {
            if done >= n {
                break;
            }
            continue;
        }
        if remaining[id] >= 2 {
            remaining[id] -= 2;
            requests[id].push(starts.len() as u32);
            starts.push(cell);
        }
    }
    if starts.len() != n {
        return None;
    }
    let to_xy = |c: u32| [(c as usize / width) as i64, (c as usize % width) as i64];
    let goals: Option<Vec<Xy>> = goals.into_iter().map(|g| g.map(to_xy)).collect();
    Some((starts.into_iter().map(to_xy).collect(), goals?))
}

/// How many times pogema draws a random instance again when agents do not fit (`Grid`'s
/// `num_retries` default).
pub const PLACEMENT_RETRIES: usize = 10;

/// Generates the instance for one reset. `pools` are the episode's mutable start/goal pools
/// (shuffled in place, as pogema shuffles the lists inside its `GridConfig`); random placement
/// that does not fit draws the obstacles (unless the map is given) and the placement again, up
/// to `retries` times, as pogema's `Grid(num_retries=...)` does.
pub fn generate(
    rc: &ResolvedConfig,
    pools: Option<&mut (Vec<Xy>, Vec<Xy>)>,
    retries: usize,
) -> Result<Instance, EnvError> {
    let (h, w, n) = (rc.height, rc.width, rc.num_agents);
    let seed = rc.config.seed;
    let density = rc.config.density;
    // `Grid.rnd` is created first but only draws for a random padding (`empty_outside=False`).
    let padding_seed = seed.or_else(|| Some(entropy_seed()));
    let mut map = match &rc.obstacles {
        Some(m) => m.clone(),
        None => generate_obstacles(h, w, density, seed),
    };
    let mut redraws = 0;
    let (starts, goals) = match &rc.placement {
        Placement::Custom { starts, goals, .. } => {
            let first: Vec<Xy> = goals.iter().map(|g| g[0]).collect();
            for xy in starts.iter().chain(&first) {
                map[xy[0] as usize * w + xy[1] as usize] = 0;
            }
            (starts.clone(), first)
        }
        Placement::Pools { .. } => {
            let pools = pools.expect("pool placement needs the episode's pools");
            let mut rng = stage_rng(seed);
            rng.shuffle(&mut pools.0);
            rng.shuffle(&mut pools.1);
            (pools.0[..n].to_vec(), pools.1[..n].to_vec())
        }
        Placement::Random => {
            let mut placed = place_random(&map, h, w, n, seed);
            for _ in 0..retries {
                if placed.is_some() || seed.is_some() {
                    // A fixed seed repeats the same obstacles and order: retrying cannot help.
                    break;
                }
                if rc.obstacles.is_none() {
                    map = generate_obstacles(h, w, density, None);
                }
                placed = place_random(&map, h, w, n, None);
                redraws += 1;
            }
            placed.ok_or_else(|| {
                EnvError::CantCreateTask(format!(
                    "{n} agents need {} free cells with start and goal in one component; \
                     check density, num_agents and the map",
                    2 * n
                ))
            })?
        }
    };
    if let Some((j, i)) = crate::config::first_repeat(&starts) {
        return Err(EnvError::CantCreateTask(format!(
            "agents {j} and {i} both start at {:?}; starts must be distinct",
            starts[i]
        )));
    }
    let geometry = Geometry::new(h, w, rc.radius);
    let padding = if rc.config.empty_outside {
        None
    } else {
        let mut rng = stage_rng(padding_seed);
        Some(
            (0..geometry.padded_area())
                .map(|_| rng.binomial_one(density))
                .collect::<Vec<u8>>(),
        )
    };
    let padded = pad_obstacles(&geometry, &map, padding.as_deref());
    Ok(Instance {
        geometry,
        map,
        padded,
        starts,
        goals,
        redraws,
    })
}

/// `PogemaLifeLong._initialize_grid`: `default_rng(seed).integers(2**31 - 1, size=n)`, one goal
/// stream seed per agent.
pub fn lifelong_seeds(seed: Option<u64>, n: usize) -> Vec<u64> {
    let mut rng = stage_rng(seed);
    (0..n)
        .map(|_| rng.integers(0, i64::from(i32::MAX)) as u64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvConfig;

    #[test]
    fn random_placement_is_distinct_and_connected() {
        for seed in 0..50 {
            let rc = EnvConfig {
                seed: Some(seed),
                size: 12,
                num_agents: Some(16),
                ..Default::default()
            }
            .resolve()
            .unwrap();
            let inst = generate(&rc, None, PLACEMENT_RETRIES).unwrap();
            let comps = Components::label(&inst.map, 12, 12);
            let mut all: Vec<Xy> = inst.starts.iter().chain(&inst.goals).copied().collect();
            for (s, g) in inst.starts.iter().zip(&inst.goals) {
                let l = |xy: &Xy| comps.label[xy[0] as usize * 12 + xy[1] as usize];
                assert_ne!(l(s), 0);
                assert_eq!(l(s), l(g));
            }
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 32);
        }
    }

    /// Random placement that does not fit draws again only without a seed (a seeded draw would
    /// repeat itself), at most `retries` times, and reports how often it did.
    #[test]
    fn unseeded_placement_draws_again_up_to_the_retries() {
        let tight = |seed| {
            EnvConfig {
                seed,
                size: 4,
                density: 0.3,
                num_agents: Some(6),
                obs_radius: 2,
                ..Default::default()
            }
            .resolve()
            .unwrap()
        };
        let outcomes: Vec<_> = (0..300)
            .map(|_| generate(&tight(None), None, 10_000).map(|i| i.redraws))
            .collect();
        assert!(
            outcomes.iter().all(Result::is_ok),
            "10,000 retries always fit"
        );
        assert!(outcomes.iter().any(|r| matches!(r, Ok(k) if *k > 0)));
        for _ in 0..50 {
            if let Ok(inst) = generate(&tight(None), None, 0) {
                assert_eq!(inst.redraws, 0);
            }
        }
        for seed in 0..40 {
            let first = generate(&tight(Some(seed)), None, 0).map(|i| (i.starts, i.goals));
            let again = generate(&tight(Some(seed)), None, 10_000);
            assert_eq!(again.as_ref().map(|i| i.redraws).unwrap_or(0), 0);
            assert_eq!(first, again.map(|i| (i.starts, i.goals)), "seed {seed}");
        }
    }

    #[test]
    fn too_many_agents_is_a_typed_error() {
        let map = crate::config::MapSpec::Text(
            "..##
####"
                .into(),
        );
        let rc = EnvConfig {
            seed: Some(1),
            map: Some(map),
            num_agents: Some(2),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert!(matches!(
            generate(&rc, None, PLACEMENT_RETRIES),
            Err(EnvError::CantCreateTask(_))
        ));
    }
}
