//! Headless evaluation: run a policy over a suite's instances on the batched simulator and
//! collect every episode's metrics.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rmapf_agents::planners::{
    AstarFollower, FollowerPlannerPolicy, Lookahead, Noisy, Pibt, RandomPolicy,
};
use rmapf_agents::{EpisodeView, Policy};
use rmapf_env::maps::suites::{Suite, SuiteInstance};
use rmapf_env::{BatchSimulator, EpisodeMetrics, PathPlanner, Simulator, StepBuffers};
use serde::{Deserialize, Serialize};

/// One evaluated episode, a row of `episodes.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Policy name.
    pub policy: String,
    /// Suite name.
    pub suite: String,
    /// Map name.
    pub map: String,
    /// Agent count.
    pub agents: i64,
    /// Instance seed.
    pub seed: u64,
    /// pogema's ISR.
    #[serde(rename = "ISR")]
    pub isr: Option<f64>,
    /// pogema's CSR.
    #[serde(rename = "CSR")]
    pub csr: Option<f64>,
    /// pogema's ep_length.
    pub ep_length: Option<f64>,
    /// pogema's SoC (`nothing` mode).
    #[serde(rename = "SoC")]
    pub soc: Option<f64>,
    /// pogema's makespan (`nothing` mode).
    pub makespan: Option<f64>,
    /// pogema's avg_throughput (`restart` mode).
    pub avg_throughput: Option<f64>,
    /// True sum of costs (`finish` mode).
    pub sum_of_costs: Option<f64>,
    /// The SRMT reference's SoC (`finish` mode; n × episode length).
    pub soc_reference: Option<f64>,
    /// pogema's `avg_agents_density` (the POGEMA benchmark's `AgentsDensityWrapper`); absent in
    /// files written before it existed.
    #[serde(default)]
    pub avg_agents_density: Option<f64>,
    /// Wall-clock milliseconds the policy spent deciding one step of this episode (its shard's
    /// decision time per step divided by the shard's episodes; for centralised planners, the
    /// planning time per step). The one column that varies from run to run; absent in files
    /// written before it existed.
    #[serde(default)]
    pub policy_ms_per_step: Option<f64>,
}

impl EpisodeRecord {
    /// The corridor length `L` of a Bottleneck episode (its map is named `bottleneck-L`); `None`
    /// for any other map.
    pub fn corridor_length(&self) -> Option<usize> {
        self.map.strip_prefix("bottleneck-")?.parse().ok()
    }

    fn new(policy: &str, suite: &str, inst: &SuiteInstance, m: &EpisodeMetrics) -> Self {
        Self {
            policy: policy.into(),
            suite: suite.into(),
            map: inst.map_name.clone(),
            agents: inst.num_agents,
            seed: inst.seed,
            isr: m.isr,
            csr: m.csr,
            ep_length: m.ep_length,
            soc: m.soc,
            makespan: m.makespan,
            avg_throughput: m.avg_throughput,
            sum_of_costs: m.sum_of_costs,
            soc_reference: m.soc_reference,
            avg_agents_density: m.avg_agents_density,
            policy_ms_per_step: None,
        }
    }

    /// The record without its timing, the part that one seed determines (for comparisons).
    pub fn outcome(&self) -> Self {
        Self {
            policy_ms_per_step: None,
            ..self.clone()
        }
    }
}

/// The built-in policies' names, for help texts and errors.
pub const BUILTIN_POLICIES: &str = "astar-follower, follower-planner (or follower-planner:static-only, :dynamic-only, :unit-cost), pibt, pibt-swap, pibt-follower, pibt-swap-follower, pibt-follower-local:R, pibt-lookahead (or pibt-lookahead:ROLLOUTS:WINDOW), random, noisy:RATE:POLICY (any of these with a share RATE of its actions replaced by random ones)";

/// A built-in policy by name (see [`BUILTIN_POLICIES`]).
pub fn builtin_policy(name: &str, seed: u64) -> Result<Box<dyn Policy>> {
    Ok(match name {
        "astar-follower" => Box::new(AstarFollower::new()),
        "follower-planner" => Box::new(FollowerPlannerPolicy::new(PathPlanner::Follower)),
        "follower-planner:static-only" => {
            Box::new(FollowerPlannerPolicy::new(PathPlanner::FollowerStaticOnly))
        }
        "follower-planner:dynamic-only" => {
            Box::new(FollowerPlannerPolicy::new(PathPlanner::FollowerDynamicOnly))
        }
        "follower-planner:unit-cost" => {
            Box::new(FollowerPlannerPolicy::new(PathPlanner::FollowerUnitCost))
        }
        "pibt" => Box::new(Pibt::new()),
        "pibt-swap" => Box::new(Pibt::with_swap(true)),
        "pibt-follower" => Box::new(Pibt::with_follower_paths(false, PathPlanner::Follower)),
        "pibt-swap-follower" => Box::new(Pibt::with_follower_paths(true, PathPlanner::Follower)),
        "pibt-lookahead" => Box::new(Pibt::with_lookahead(Lookahead::default())),
        "random" => Box::new(RandomPolicy::new(seed)),
        other if other.starts_with("pibt-follower-local:") => {
            let r = other.trim_start_matches("pibt-follower-local:");
            match r.parse::<usize>() {
                Ok(r) if (1..=16).contains(&r) => {
                    Box::new(Pibt::with_follower_paths_local(r, PathPlanner::Follower))
                }
                _ => bail!(
                    "{other:?}: write pibt-follower-local:R with R, the cells each agent sees in each direction, from 1 to 16 (e.g. pibt-follower-local:3)"
                ),
            }
        }
        other if other.starts_with("noisy:") => {
            let Some((rate, inner)) = other["noisy:".len()..].split_once(':') else {
                bail!("{other:?}: write noisy:RATE:POLICY, e.g. noisy:0.05:pibt-follower-local:3");
            };
            match rate.parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => {
                    let inner =
                        builtin_policy(inner, seed).with_context(|| format!("{other:?}"))?;
                    Box::new(Noisy::new(inner, rate, seed))
                }
                _ => bail!("{other:?}: RATE must be a number from 0 to 1, not {rate:?}"),
            }
        }
        other if other.starts_with("pibt-lookahead:") => {
            Box::new(Pibt::with_lookahead(parse_lookahead(other)?))
        }
        other => bail!(
            "unknown policy {other:?}; built-in policies: {BUILTIN_POLICIES} (or a checkpoint folder written by training)"
        ),
    })
}

/// `pibt-lookahead:ROLLOUTS:WINDOW` → its look-ahead (each between 1 and 256; exactly ROLLOUTS
/// rollouts whatever the agent count).
fn parse_lookahead(name: &str) -> Result<Lookahead> {
    let parts: Vec<&str> = name.split(':').skip(1).collect();
    let [rollouts, window] = parts[..] else {
        bail!("{name:?}: write pibt-lookahead:ROLLOUTS:WINDOW, e.g. pibt-lookahead:8:8");
    };
    let number = |what: &str, v: &str| -> Result<u32> {
        match v.parse::<u32>() {
            Ok(k) if (1..=256).contains(&k) => Ok(k),
            _ => bail!("{name:?}: {what} must be a whole number from 1 to 256, not {v:?}"),
        }
    };
    Ok(Lookahead {
        rollouts: number("ROLLOUTS", rollouts)?,
        window: number("WINDOW", window)?,
        agent_budget: None,
        crowd: None,
    })
}

/// Runs `policy` on `instances` in batches of `batch` episodes over `threads` threads, calling
/// `progress` after each finished episode. Results are in instance order and do not depend on
/// `threads` or `batch` for deterministic policies.
pub fn run_instances(
    suite: &str,
    instances: &[SuiteInstance],
    policy: &str,
    threads: usize,
    batch: usize,
    progress: impl FnMut(usize),
) -> Result<Vec<EpisodeRecord>> {
    run_instances_with(
        suite,
        instances,
        policy,
        threads,
        batch,
        |s| builtin_policy(policy, s as u64),
        progress,
    )
}

/// [`run_instances`] with any policy: `make(shard)` builds the policy of each shard (rebuilt per
/// batch), and `name` labels the records.
pub fn run_instances_with(
    suite: &str,
    instances: &[SuiteInstance],
    name: &str,
    threads: usize,
    batch: usize,
    make: impl Fn(usize) -> Result<Box<dyn Policy>>,
    mut progress: impl FnMut(usize),
) -> Result<Vec<EpisodeRecord>> {
    let mut out: Vec<Option<EpisodeRecord>> = vec![None; instances.len()];
    for indices in batches(instances, batch) {
        let records = run_batch(
            suite,
            instances,
            &indices,
            name,
            threads,
            &make,
            &mut progress,
        )?;
        for (i, record) in indices.into_iter().zip(records) {
            out[i] = Some(record);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// How [`run_instances_with`] groups `instances` into batches of at most `batch` episodes: indices
/// into `instances`, by agent count then instance order. Batches never mix agent counts (learned
/// policies pool memories per episode and step whole episodes of one size); episodes in one batch
/// must also share radius and observation type, which suites do.
pub fn batches(instances: &[SuiteInstance], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..instances.len()).collect();
    order.sort_by_key(|&i| instances[i].num_agents);
    order
        .chunk_by(|&x, &y| instances[x].num_agents == instances[y].num_agents)
        .flat_map(|group| group.chunks(batch.max(1)))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Runs one batch of [`batches`] (`indices` into `instances`) on `threads` threads and returns its
/// records in the order of `indices`. A batch's results depend only on its instances, `threads`
/// and the policy: running the batches of an evaluation anywhere, in any order, gives the records
/// of running them all in one process.
pub fn run_batch(
    suite: &str,
    instances: &[SuiteInstance],
    indices: &[usize],
    name: &str,
    threads: usize,
    make: impl Fn(usize) -> Result<Box<dyn Policy>>,
    mut progress: impl FnMut(usize),
) -> Result<Vec<EpisodeRecord>> {
    let chunk: Vec<&SuiteInstance> = indices.iter().map(|&i| &instances[i]).collect();
    let Some(first) = chunk.first() else {
        return Ok(Vec::new());
    };
    let configs: Vec<_> = chunk.iter().map(|i| i.config.clone()).collect();
    let mut sim = BatchSimulator::new(&configs, threads)
        .with_context(|| format!("building a batch of {suite}"))?;
    // The benchmark's Congestion metric reads pogema's avg_agents_density.
    sim.set_density_metric(true);
    let mut b = sim.new_buffers();
    sim.reset(&mut b)?;
    // One policy per shard, built afresh for every batch.
    let mut policies = policies_per_shard(&sim, &make)?;
    let shard_episodes: Vec<usize> = sim.layouts().iter().map(|l| l.num_episodes).collect();
    let radius = first.config.obs_radius as usize;
    let mut results: Vec<Option<EpisodeMetrics>> = vec![None; chunk.len()];
    // Decision time: per shard for the last step, per episode summed over its steps.
    let shard_of: Vec<usize> = (0..chunk.len())
        .map(|k| b.locate(k).map_or(0, |(s, _)| s))
        .collect();
    let mut shard_seconds = vec![0.0f64; policies.len()];
    let mut episode_seconds = vec![0.0f64; chunk.len()];
    let mut episode_steps = vec![0u32; chunk.len()];
    let mut remaining = chunk.len();
    while remaining > 0 {
        let mut deciders: Vec<_> = policies
            .iter_mut()
            .zip(shard_seconds.iter_mut())
            .map(|(p, seconds)| {
                move |s: &Simulator, buf: &mut StepBuffers| {
                    let v = EpisodeView::all(s);
                    let mut actions = std::mem::take(&mut buf.actions);
                    let t = Instant::now();
                    p.act(&v, buf, radius, &mut actions);
                    *seconds = t.elapsed().as_secs_f64();
                    buf.actions = actions;
                }
            })
            .collect();
        sim.step_with(&mut b, &mut deciders)?;
        for (k, slot) in results.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let shard = shard_of[k];
            episode_seconds[k] += shard_seconds[shard] / shard_episodes[shard].max(1) as f64;
            episode_steps[k] += 1;
            if let Some(m) = b.metrics(k) {
                *slot = Some(m);
                remaining -= 1;
                progress(1);
            }
        }
    }
    Ok(chunk
        .iter()
        .zip(results)
        .enumerate()
        .map(|(k, (inst, m))| {
            let mut record =
                EpisodeRecord::new(name, suite, inst, &m.expect("every episode finished"));
            record.policy_ms_per_step =
                Some(1e3 * episode_seconds[k] / f64::from(episode_steps[k].max(1)));
            record
        })
        .collect())
}

/// One policy per shard of `sim` (the episode order within a shard is fixed, so a policy can
/// keep per-episode state), each with every episode reset.
pub(crate) fn policies_per_shard(
    sim: &BatchSimulator,
    make: impl Fn(usize) -> Result<Box<dyn Policy>>,
) -> Result<Vec<Box<dyn Policy>>> {
    let mut policies = (0..sim.num_shards())
        .map(make)
        .collect::<Result<Vec<_>>>()?;
    reset_every_episode(&mut policies, sim);
    Ok(policies)
}

/// Makes each shard's policy forget every episode of its shard (after all of them restarted).
pub(crate) fn reset_every_episode(policies: &mut [Box<dyn Policy>], sim: &BatchSimulator) {
    for (p, layout) in policies.iter_mut().zip(sim.layouts()) {
        for e in 0..layout.num_episodes {
            p.reset_episode(e);
        }
    }
}

/// Loads a suite and optionally restricts it (seeds, agent counts, first `max_maps` maps).
pub fn load_suite(
    name: &str,
    maps_dir: Option<&Path>,
    seeds: Option<&[u64]>,
    agents: Option<&[i64]>,
    max_maps: Option<usize>,
) -> Result<(Suite, Vec<SuiteInstance>)> {
    let mut suite = Suite::load(name)?;
    if let Some(s) = seeds {
        suite.seeds = s.to_vec();
    }
    if let Some(a) = agents {
        suite.agents = a.to_vec();
    }
    let mut instances = suite.instances(maps_dir)?;
    if let Some(k) = max_maps {
        let names: Vec<String> = suite
            .maps(maps_dir)?
            .into_iter()
            .take(k)
            .map(|(n, _)| n)
            .collect();
        instances.retain(|i| names.contains(&i.map_name));
    }
    if instances.is_empty() {
        bail!(
            "suite {name}: the chosen seeds, agent counts and --max-maps leave no instance to evaluate"
        );
    }
    Ok((suite, instances))
}
