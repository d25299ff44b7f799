//! Evaluation outputs: per-episode CSV, an aggregate Markdown table (with published baselines
//! where given), and PNG + SVG plots.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::Deserialize;

use crate::evaluate::EpisodeRecord;

/// Writes `episodes.csv`.
pub fn write_csv(path: &Path, records: &[EpisodeRecord]) -> Result<()> {
    let bytes = csv_bytes(records).with_context(|| format!("serialising {}", path.display()))?;
    write_atomically(path, &bytes)
}

/// `records` as the bytes of an `episodes.csv` (header included; floats in their shortest form
/// that reads back exactly, NaN included).
pub fn csv_bytes(records: &[EpisodeRecord]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Records from the bytes of an `episodes.csv` ([`csv_bytes`] read back).
pub fn records_from_csv(bytes: &[u8]) -> Result<Vec<EpisodeRecord>> {
    csv::Reader::from_reader(bytes)
        .deserialize()
        .map(|row| row.map_err(Into::into))
        .collect()
}

/// Writes `path` beside itself (`<path>.tmp`) and renames it over: a kill at any moment leaves
/// either the old file or the new one, whole.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Reads an `episodes.csv` back.
pub fn read_csv(path: &Path) -> Result<Vec<EpisodeRecord>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    r.deserialize().map(|row| row.map_err(Into::into)).collect()
}

/// One published result row (`Follower.json`, `RHCR.json`, ...).
#[derive(Debug, Deserialize)]
struct Published {
    metrics: BTreeMap<String, f64>,
    env_grid_search: GridKey,
    algorithm: String,
}

#[derive(Debug, Deserialize)]
struct GridKey {
    /// Absent in 06-pathfinding, whose environment fixes one agent.
    num_agents: Option<i64>,
    map_name: Option<String>,
    seed: Option<u64>,
}

/// The benchmark folder of a suite's published results.
pub fn published_folder(suite: &str) -> Option<&'static str> {
    Some(match suite {
        "random" => "01-random",
        "mazes" => "02-mazes",
        "warehouse" => "03-warehouse",
        "movingai" => "04-movingai",
        "puzzles" => "05-puzzles",
        "pathfinding" => "06-pathfinding",
        _ => return None,
    })
}

/// Published `avg_throughput` per algorithm, keyed by (map, agents, seed).
pub type Baselines = BTreeMap<String, BTreeMap<(String, i64, u64), f64>>;

/// Loads every published algorithm's `avg_throughput` on `suite` from the benchmark data folder.
pub fn load_baselines(dir: &Path, suite: &str) -> Result<Baselines> {
    load_metric(dir, suite, "avg_throughput")
}

/// Loads every published algorithm's `metric` (`avg_throughput`, `runtime`, ...) on `suite`.
pub fn load_metric(dir: &Path, suite: &str, metric: &str) -> Result<Baselines> {
    let mut out = Baselines::new();
    let Some(folder) = published_folder(suite) else {
        return Ok(out);
    };
    for algo in ["Follower", "RHCR", "MATS-LP", "MAMBA", "QPLEX-tuned"] {
        let path = dir.join(folder).join(format!("{algo}.json"));
        if !path.exists() {
            continue;
        }
        let rows: Vec<Published> = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("parsing {}", path.display()))?;
        for row in rows {
            if let Some(v) = row.metrics.get(metric) {
                let g = row.env_grid_search;
                let key = (
                    g.map_name.unwrap_or_default(),
                    g.num_agents.unwrap_or(1),
                    g.seed.unwrap_or(0),
                );
                out.entry(row.algorithm.clone())
                    .or_default()
                    .insert(key, *v);
            }
        }
    }
    Ok(out)
}

/// The published value for the instance of record `r`. Results of single-map suites (the
/// warehouse) name no map: they are keyed by an empty map name and match any map.
fn published_value(values: &BTreeMap<(String, i64, u64), f64>, r: &EpisodeRecord) -> Option<f64> {
    values
        .get(&(r.map.clone(), r.agents, r.seed))
        .or_else(|| values.get(&(String::new(), r.agents, r.seed)))
        .copied()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

/// The `agents` key of a summary row over every agent count.
const ALL_AGENTS: i64 = i64::MAX;

/// The aggregate table: one row per (policy, suite, agents), means of every metric, the policy's
/// decision time per step beside its throughput, and a row `all` per (suite, policy) when the
/// suite has several agent counts; with baselines, the published algorithms' mean throughput on
/// exactly the same instances.
pub fn summary_markdown(
    records: &[EpisodeRecord],
    baselines: &BTreeMap<String, Baselines>,
) -> String {
    let mut groups: BTreeMap<(String, String, i64), Vec<&EpisodeRecord>> = BTreeMap::new();
    for r in records {
        groups
            .entry((r.suite.clone(), r.policy.clone(), r.agents))
            .or_default()
            .push(r);
    }
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (suite, policy, _) in groups.keys() {
        *counts.entry((suite.clone(), policy.clone())).or_default() += 1;
    }
    for ((suite, policy), n) in counts {
        if n > 1 {
            let all = records
                .iter()
                .filter(|r| r.suite == suite && r.policy == policy)
                .collect();
            groups.insert((suite, policy, ALL_AGENTS), all);
        }
    }
    let algos: Vec<String> = baselines
        .values()
        .flat_map(|b| b.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut s = String::from(
        "| suite | policy | agents | episodes | ISR | CSR | ep_length | SoC | makespan | sum_of_costs | soc_reference | avg_throughput | policy ms/step | avg_agents_density |",
    );
    for a in &algos {
        s.push_str(&format!(" {a} throughput |"));
    }
    s.push_str("\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    s.push_str(&"---:|".repeat(algos.len()));
    s.push('\n');
    for ((suite, policy, agents), rows) in &groups {
        let m = |f: fn(&EpisodeRecord) -> Option<f64>| mean(rows.iter().filter_map(|r| f(r)));
        let agents = if *agents == ALL_AGENTS {
            "all".to_string()
        } else {
            agents.to_string()
        };
        s.push_str(&format!(
            "| {suite} | {policy} | {agents} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rows.len(),
            cell(m(|r| r.isr)),
            cell(m(|r| r.csr)),
            cell(m(|r| r.ep_length)),
            cell(m(|r| r.soc)),
            cell(m(|r| r.makespan)),
            cell(m(|r| r.sum_of_costs)),
            cell(m(|r| r.soc_reference)),
            cell(m(|r| r.avg_throughput)),
            cell(m(|r| r.policy_ms_per_step)),
            cell(m(|r| r.avg_agents_density)),
        ));
        for a in &algos {
            let published = baselines.get(suite).and_then(|b| b.get(a));
            let v = published.and_then(|p| mean(rows.iter().filter_map(|r| published_value(p, r))));
            s.push_str(&format!(" {} |", cell(v)));
        }
        s.push('\n');
    }
    s
}

/// Means of `f` per policy and corridor length `L` (Bottleneck maps are named `bottleneck-L`).
fn by_length(
    rows: &[&EpisodeRecord],
    f: fn(&EpisodeRecord) -> Option<f64>,
) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut series: BTreeMap<String, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
    for r in rows {
        let l = r.corridor_length().unwrap_or(0) as i64;
        if let Some(v) = f(r) {
            series
                .entry(r.policy.clone())
                .or_default()
                .entry(l)
                .or_default()
                .push(v);
        }
    }
    series
        .into_iter()
        .map(|(p, m)| {
            let means = m
                .into_iter()
                .map(|(l, v)| (l, mean(v.into_iter()).unwrap_or(0.0)))
                .collect();
            (p, means)
        })
        .collect()
}

/// For each Bottleneck suite, a table of CSR by corridor length (rows) and policy (columns).
pub fn bottleneck_markdown(records: &[EpisodeRecord]) -> String {
    let mut s = String::new();
    let suites: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.suite.as_str()).collect();
    for suite in suites {
        let rows: Vec<&EpisodeRecord> = records.iter().filter(|r| r.suite == suite).collect();
        if !rows.iter().all(|r| r.map.starts_with("bottleneck-")) {
            continue;
        }
        let csr = by_length(&rows, |r| r.csr);
        let lengths: std::collections::BTreeSet<i64> =
            csr.values().flat_map(|m| m.keys().copied()).collect();
        s.push_str(&format!("\n### {suite}: CSR by corridor length\n\n| L |"));
        for p in csr.keys() {
            s.push_str(&format!(" {p} |"));
        }
        s.push_str("\n|---:|");
        s.push_str(&"---:|".repeat(csr.len()));
        s.push('\n');
        for l in lengths {
            s.push_str(&format!("| {l} |"));
            for m in csr.values() {
                s.push_str(&format!(" {} |", cell(m.get(&l).copied())));
            }
            s.push('\n');
        }
    }
    s
}

/// Registers the embedded DejaVu Sans as plotters' "sans-serif" (bitmaps need a font to draw
/// text, and this machine kind may have none installed).
fn register_font() -> Result<()> {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    if !ok {
        anyhow::bail!("the embedded DejaVu Sans font did not load");
    }
    Ok(())
}

/// A line plot of `y` (a metric) against `x` groups, one line per series, written as
/// `<stem>.png` and `<stem>.svg`. Returns the two file names.
pub fn line_plot(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<[String; 2]> {
    let series = series
        .iter()
        .map(|(name, points)| {
            let points = points.iter().map(|&(x, y)| [x, y, y, y]).collect();
            (name.clone(), points)
        })
        .collect();
    line_plot_with_spread(stem, title, x_label, y_label, &series)
}

/// [`line_plot`] with a vertical bar at each point: `[x, y, low, high]` (no bar where low = high),
/// e.g. the mean over seeds with the lowest and the highest seed.
pub fn line_plot_with_spread(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &BTreeMap<String, Vec<[f64; 4]>>,
) -> Result<[String; 2]> {
    register_font()?;
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let size = (720, 480);
    draw_lines(
        BitMapBackend::new(&png, size).into_drawing_area(),
        title,
        x_label,
        y_label,
        series,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", png.display()))?;
    draw_lines(
        SVGBackend::new(&svg, size).into_drawing_area(),
        title,
        x_label,
        y_label,
        series,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", svg.display()))?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Ok([name(&png), name(&svg)])
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &BTreeMap<String, Vec<[f64; 4]>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    // Only finite points are drawn: an infinite or NaN value (a CSV may hold `inf`) would make
    // an unbounded axis, which plotters never finishes laying out.
    let series: BTreeMap<&String, Vec<[f64; 4]>> = series
        .iter()
        .map(|(name, points)| {
            let finite = points
                .iter()
                .copied()
                .filter(|p| p.iter().all(|v| v.is_finite()))
                .collect();
            (name, finite)
        })
        .collect();
    let xs = series.values().flatten().map(|p| p[0]);
    let ys = series.values().flatten().map(|p| p[1].max(p[3]));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let y1 = ys.fold(0.0f64, f64::max);
    let (x0, x1) = if x0 < x1 {
        (x0, x1)
    } else if x0 == x1 {
        (x0 - 1.0, x0 + 1.0)
    } else {
        (0.0, 1.0) // no finite point at all
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, 0.0..(y1 * 1.1).max(1e-6))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p[0], p[1])),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new((p[0], p[1]), 3, color.filled())),
        )?;
        chart.draw_series(
            points
                .iter()
                .filter(|p| p[2] != p[3])
                .map(|p| ErrorBar::new_vertical(p[0], p[2], p[1], p[3], color.stroke_width(1), 6)),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Plots for the records: throughput against agents per lifelong suite (with baselines), and
/// CSR/ISR/sum of costs against corridor length for Bottleneck suites. Returns the files written.
pub fn plots(
    dir: &Path,
    records: &[EpisodeRecord],
    baselines: &BTreeMap<String, Baselines>,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let suites: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.suite.as_str()).collect();
    for suite in suites {
        let rows: Vec<&EpisodeRecord> = records.iter().filter(|r| r.suite == suite).collect();
        let bottleneck = rows.iter().all(|r| r.map.starts_with("bottleneck-"));
        if bottleneck {
            for (metric, f) in [
                (
                    "CSR",
                    (|r: &EpisodeRecord| r.csr) as fn(&EpisodeRecord) -> Option<f64>,
                ),
                ("ISR", |r| r.isr),
                ("sum_of_costs", |r| r.sum_of_costs),
                ("soc_reference", |r| r.soc_reference),
            ] {
                let lines = by_length(&rows, f)
                    .into_iter()
                    .map(|(p, m)| (p, m.into_iter().map(|(l, v)| (l as f64, v)).collect()))
                    .collect();
                written.extend(line_plot(
                    &dir.join(format!("{suite}-{metric}")),
                    &format!("{suite}: {metric} vs corridor length"),
                    "corridor length L",
                    metric,
                    &lines,
                )?);
            }
        } else if rows.iter().any(|r| r.avg_throughput.is_some()) {
            let mut series: BTreeMap<String, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
            for r in &rows {
                if let Some(v) = r.avg_throughput {
                    series
                        .entry(r.policy.clone())
                        .or_default()
                        .entry(r.agents)
                        .or_default()
                        .push(v);
                }
                if let Some(b) = baselines.get(suite) {
                    for (algo, values) in b {
                        if let Some(v) = published_value(values, r) {
                            series
                                .entry(format!("{algo} (published)"))
                                .or_default()
                                .entry(r.agents)
                                .or_default()
                                .push(v);
                        }
                    }
                }
            }
            let lines = series
                .into_iter()
                .map(|(p, m)| {
                    (
                        p,
                        m.into_iter()
                            .map(|(a, v)| (a as f64, mean(v.into_iter()).unwrap_or(0.0)))
                            .collect(),
                    )
                })
                .collect();
            written.extend(line_plot(
                &dir.join(format!("{suite}-throughput")),
                &format!("{suite}: throughput vs agents"),
                "agents",
                "avg_throughput",
                &lines,
            )?);
        }
    }
    Ok(written)
}
