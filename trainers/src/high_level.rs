//! The POGEMA benchmark's high-level metrics (Skrynnik et al., 2024, Fig. 6; the SRMT paper's
//! Fig. 6), computed for rmapf's policies beside the published algorithms on the same instances.
//!
//! Each metric is a percentage, relative to the best algorithm compared:
//! - **Performance**: the mean over (map, agents) of throughput ÷ the best throughput there, on
//!   Random ∪ Mazes; **Out-of-Distribution** the same on MovingAI; **Cooperation** on Puzzles.
//! - **Scalability**: on Warehouse, for each pair of agent counts `n < m`, the runtime
//!   per agent at `n` ÷ the runtime per agent at `m` (1 when runtime grows linearly with the
//!   agents); the metric is min(1, their mean). rmapf's runtime is the policy's decision time
//!   per step (`policy ms/step`; every Warehouse episode has the same horizon), the published one the benchmark's measured `runtime`; each
//!   algorithm is compared with itself only, so the hardware cancels out.
//!
//! - **Pathfinding**: one agent on the 256×256 city maps (`pathfinding`, the benchmark's
//!   06-pathfinding), the mean over (map, seed) of the best makespan there ÷ the algorithm's own
//!   (makespan, not `ep_length`: the published files count `ep_length` one step shorter than
//!   pogema 1.4.0 does, while makespan agrees in both).
//!
//! - **Congestion**: on Warehouse at the largest agent count every algorithm ran, 100 × the mean
//!   over seeds of (agents ÷ the map's free cells) ÷ `avg_agents_density` (the mean density of
//!   agents in the agents' own observation windows): how much less crowded agents keep their
//!   surroundings than the map as a whole. Not relative to the best; on the published files this
//!   reproduces the benchmark's values (RHCR 48.9, Follower 86.9, MATS-LP 49.1, MAMBA 85.3,
//!   QPLEX 79.7).
//!
//! Only cells where every algorithm has a result count, so all rows average the same instances.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;

use crate::evaluate::{EpisodeRecord, load_suite};
use crate::report::load_metric;

/// (map, agents) → mean value over seeds, per algorithm.
type Cells = BTreeMap<String, BTreeMap<(String, i64), f64>>;

/// Suites of each throughput metric.
const THROUGHPUT_METRICS: [(&str, &[&str]); 3] = [
    ("Performance", &["random", "mazes"]),
    ("Out-of-Distribution", &["movingai"]),
    ("Cooperation", &["puzzles"]),
];

/// Mean of values grouped by key.
fn means(values: impl Iterator<Item = ((String, i64), f64)>) -> BTreeMap<(String, i64), f64> {
    let mut sums: BTreeMap<(String, i64), (f64, usize)> = BTreeMap::new();
    for (k, v) in values {
        let e = sums.entry(k).or_default();
        e.0 += v;
        e.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// Per algorithm (rmapf's policies and the published ones), mean `metric` per (suite-prefixed
/// map, agents) over `suites`, on the seeds rmapf ran; with `per_seed`, one cell per seed
/// instead (the map key then ends in `#seed`).
fn cells(
    records: &[EpisodeRecord],
    dir: &Path,
    suites: &[&str],
    ours: impl Fn(&EpisodeRecord) -> Option<f64>,
    metric: &str,
    per_seed: bool,
) -> Result<Cells> {
    let key = |suite: &str, map: &str, agents: i64, seed: u64| {
        let map = if per_seed {
            format!("{suite}/{map}#{seed}")
        } else {
            format!("{suite}/{map}")
        };
        (map, agents)
    };
    let mut out = Cells::new();
    let mine: Vec<&EpisodeRecord> = records
        .iter()
        .filter(|r| suites.contains(&r.suite.as_str()))
        .collect();
    for policy in mine
        .iter()
        .map(|r| r.policy.clone())
        .collect::<BTreeSet<_>>()
    {
        let rows = mine.iter().filter(|r| r.policy == policy);
        let values = rows.filter_map(|r| Some((key(&r.suite, &r.map, r.agents, r.seed), ours(r)?)));
        let values = means(values);
        out.insert(policy, values);
    }
    for suite in suites {
        let published = load_metric(dir, suite, metric)?;
        let ran: BTreeSet<(String, i64, u64)> = mine
            .iter()
            .filter(|r| r.suite == *suite)
            .map(|r| (r.map.clone(), r.agents, r.seed))
            .collect();
        for (algo, values) in published {
            let values = ran.iter().filter_map(|(map, agents, seed)| {
                let v = values
                    .get(&(map.clone(), *agents, *seed))
                    .or_else(|| values.get(&(String::new(), *agents, *seed)))?;
                Some((key(suite, map, *agents, *seed), *v))
            });
            out.entry(algo).or_default().extend(means(values));
        }
    }
    Ok(out)
}

/// Mean over the cells every algorithm has of value ÷ the best value there, in percent.
fn relative_to_best(cells: &Cells) -> BTreeMap<String, f64> {
    let shared: Vec<&(String, i64)> = cells
        .values()
        .next()
        .map(|c| {
            c.keys()
                .filter(|k| cells.values().all(|o| o.contains_key(*k)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    if shared.is_empty() {
        return out;
    }
    for (algo, values) in cells {
        let ratios = shared.iter().map(|k| {
            let best = cells.values().map(|c| c[*k]).fold(f64::MIN, f64::max);
            if best > 0.0 { values[*k] / best } else { 1.0 }
        });
        out.insert(
            algo.clone(),
            100.0 * ratios.sum::<f64>() / shared.len() as f64,
        );
    }
    out
}

/// Scalability of one algorithm from its mean runtime per agent count, in percent: min(1, the
/// mean over every pair of agent counts `n < m` of runtime per agent at `n` ÷ at `m`).
fn scalability(runtime: &BTreeMap<i64, f64>) -> Option<f64> {
    let per_agent: Vec<f64> = runtime.iter().map(|(&n, &t)| t / n as f64).collect();
    let mut ratios = Vec::new();
    for (i, a) in per_agent.iter().enumerate() {
        for b in per_agent[i + 1..].iter().filter(|&&b| b > 0.0) {
            ratios.push(a / b);
        }
    }
    (!ratios.is_empty())
        .then(|| 100.0 * (ratios.iter().sum::<f64>() / ratios.len() as f64).min(1.0))
}

/// Runtime per agent count on Warehouse, per algorithm (agent counts every algorithm has).
fn warehouse_runtimes(
    records: &[EpisodeRecord],
    dir: &Path,
) -> Result<BTreeMap<String, BTreeMap<i64, f64>>> {
    // Every Warehouse episode has the same horizon, so time per step stands in for time per
    // episode in the ratios.
    let cells = cells(
        records,
        dir,
        &["warehouse"],
        |r| r.policy_ms_per_step,
        "runtime",
        false,
    )?;
    let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (algo, values) in cells {
        let by_agents = means(
            values
                .into_iter()
                .map(|((_, n), v)| ((String::new(), n), v)),
        );
        out.insert(
            algo,
            by_agents.into_iter().map(|((_, n), v)| (n, v)).collect(),
        );
    }
    let shared: BTreeSet<i64> = out
        .values()
        .flat_map(|m| m.keys().copied())
        .filter(|n| out.values().all(|m| m.contains_key(n)))
        .collect();
    for m in out.values_mut() {
        m.retain(|n, _| shared.contains(n));
    }
    Ok(out)
}

/// Congestion per algorithm (see the module doc), given the Warehouse map's free cells.
fn congestion(
    records: &[EpisodeRecord],
    dir: &Path,
    free_cells: f64,
) -> Result<BTreeMap<String, f64>> {
    let c = cells(
        records,
        dir,
        &["warehouse"],
        |r| r.avg_agents_density,
        "avg_agents_density",
        true,
    )?;
    let Some(most) = c
        .values()
        .flat_map(|m| m.keys())
        .filter(|k| c.values().all(|o| o.contains_key(*k)))
        .map(|(_, agents)| *agents)
        .max()
    else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (algo, values) in &c {
        let ratios: Vec<f64> = values
            .iter()
            .filter(|(k, v)| k.1 == most && **v > 0.0 && c.values().all(|o| o.contains_key(*k)))
            .map(|((_, agents), v)| *agents as f64 / free_cells / v)
            .collect();
        if !ratios.is_empty() {
            out.insert(
                algo.clone(),
                100.0 * ratios.iter().sum::<f64>() / ratios.len() as f64,
            );
        }
    }
    Ok(out)
}

/// Free cells of the Warehouse suite's map.
fn warehouse_free_cells(dir: &Path) -> Result<f64> {
    // One instance is enough: every Warehouse instance has the same map.
    let (_, instances) = load_suite("warehouse", Some(dir), Some(&[0]), None, Some(1))?;
    let first = instances
        .first()
        .ok_or_else(|| anyhow::anyhow!("the warehouse suite has no instance"))?;
    let obstacles = first
        .config
        .resolve()?
        .obstacles
        .ok_or_else(|| anyhow::anyhow!("the warehouse suite's map has no obstacle grid"))?;
    Ok(obstacles.iter().filter(|&&o| o == 0).count() as f64)
}

/// The high-level metrics table (markdown) for the suites present in `records`, or an empty
/// string when none of them is.
pub fn high_level_markdown(records: &[EpisodeRecord], dir: &Path) -> Result<String> {
    let mut columns: Vec<(&str, BTreeMap<String, f64>)> = Vec::new();
    for (name, suites) in THROUGHPUT_METRICS {
        if records.iter().any(|r| suites.contains(&r.suite.as_str())) {
            let c = cells(
                records,
                dir,
                suites,
                |r| r.avg_throughput,
                "avg_throughput",
                false,
            )?;
            columns.push((name, relative_to_best(&c)));
        }
    }
    if records.iter().any(|r| r.suite == "pathfinding") {
        // Shorter is better: the best makespan ÷ the own one is the ratio of the reciprocals.
        let mut c = cells(
            records,
            dir,
            &["pathfinding"],
            |r| r.makespan,
            "makespan",
            true,
        )?;
        for values in c.values_mut() {
            for v in values.values_mut() {
                *v = if *v > 0.0 { 1.0 / *v } else { 0.0 };
            }
        }
        columns.push(("Pathfinding", relative_to_best(&c)));
    }
    if records.iter().any(|r| r.suite == "warehouse") {
        let runtimes = warehouse_runtimes(records, dir)?;
        let values = runtimes
            .iter()
            .filter_map(|(a, r)| Some((a.clone(), scalability(r)?)))
            .collect();
        columns.push(("Scalability", values));
        if records.iter().any(|r| r.avg_agents_density.is_some()) {
            let free = warehouse_free_cells(dir)?;
            columns.push(("Congestion", congestion(records, dir, free)?));
        }
    }
    if columns.is_empty() {
        return Ok(String::new());
    }
    let algos: BTreeSet<&String> = columns.iter().flat_map(|(_, c)| c.keys()).collect();
    let mut s = String::from(
        "\n## High-level metrics (POGEMA benchmark, % of the best algorithm compared)\n\n| algorithm |",
    );
    for (name, _) in &columns {
        s.push_str(&format!(" {name} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(columns.len()));
    s.push('\n');
    for algo in algos {
        s.push_str(&format!("| {algo} |"));
        for (_, c) in &columns {
            s.push_str(&c.get(algo).map_or(" – |".into(), |v| format!(" {v:.1} |")));
        }
        s.push('\n');
    }
    s.push_str(
        "\nPerformance: Random ∪ Mazes; Out-of-Distribution: MovingAI; Cooperation: Puzzles (each \
         the mean over (map, agents) of throughput ÷ the best throughput there, on the cells every \
         algorithm has). Pathfinding: one agent on the 256×256 city maps, mean over (map, seed) of \
         the best makespan ÷ the own. Scalability: Warehouse, min(1, mean over all pairs of agent \
         counts of the per-agent runtime ratio), each algorithm against itself (rmapf: policy \
         decision time). Congestion: Warehouse at the largest agent count, mean over seeds of \
         (agents ÷ free cells) ÷ avg_agents_density (not relative to the best).\n",
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_algorithm_scores_100_and_others_their_ratio() {
        let mut c = Cells::new();
        c.entry("a".into())
            .or_default()
            .insert(("m".into(), 8), 2.0);
        c.entry("b".into())
            .or_default()
            .insert(("m".into(), 8), 1.0);
        // A cell only one algorithm has does not count.
        c.entry("a".into())
            .or_default()
            .insert(("n".into(), 8), 9.0);
        let r = relative_to_best(&c);
        assert_eq!(r["a"], 100.0);
        assert_eq!(r["b"], 50.0);
    }

    #[test]
    fn linear_runtime_scales_perfectly_and_quadratic_does_not() {
        let linear: BTreeMap<i64, f64> = [(32, 1.0), (64, 2.0), (128, 4.0)].into();
        assert_eq!(scalability(&linear), Some(100.0));
        // Per agent 1/32, 4/64, 16/128: pair ratios 1/2, 1/4, 1/2.
        let quadratic: BTreeMap<i64, f64> = [(32, 1.0), (64, 4.0), (128, 16.0)].into();
        assert_eq!(scalability(&quadratic), Some(100.0 * (1.25 / 3.0)));
        assert_eq!(scalability(&[(32, 1.0)].into()), None);
    }
}
