//! The POGEMA benchmark's high-level metrics on real runs beside the published results.

mod common;

use rmapf_train::evaluate::{load_suite, run_instances};
use rmapf_train::high_level::high_level_markdown;
use rmapf_train::report::load_metric;

/// The value of `column` in `algo`'s row of the high-level table.
fn cell(table: &str, algo: &str, column: &str) -> f64 {
    let header = table
        .lines()
        .find(|l| l.starts_with("| algorithm |"))
        .expect("a table header");
    let index = header
        .split('|')
        .position(|c| c.trim() == column)
        .unwrap_or_else(|| panic!("no column {column} in {header}"));
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("| {algo} |")))
        .unwrap_or_else(|| panic!("no row {algo} in {table}"));
    row.split('|').nth(index).unwrap().trim().parse().unwrap()
}

#[test]
fn one_agent_on_its_shortest_path_scores_full_pathfinding_on_the_city_maps() {
    // All 80 published instances (8 maps x 10 seeds, one agent, up to 2048 steps).
    let dir = common::benchmark_data_dir();
    let (_, instances) = load_suite("pathfinding", Some(&dir), None, None, None).unwrap();
    assert_eq!(instances.len(), 80);
    let records =
        run_instances("pathfinding", &instances, "astar-follower", 2, 80, |_| {}).unwrap();
    // One agent alone follows a shortest path: every episode is solved.
    assert!(records.iter().all(|r| r.csr == Some(1.0)), "{records:?}");
    // The instances are pogema's, bit for bit: a shortest path is exactly as long as RHCR's
    // published one on every instance.
    let rhcr = &load_metric(&dir, "pathfinding", "makespan").unwrap()["RHCR"];
    for r in &records {
        assert_eq!(
            r.makespan,
            rhcr.get(&(r.map.clone(), 1, r.seed)).copied(),
            "{} seed {}",
            r.map,
            r.seed
        );
    }
    let table = high_level_markdown(&records, &dir).unwrap();
    println!("{table}");
    // Nobody can beat a shortest path, and RHCR and MATS-LP found one on every instance too.
    assert_eq!(cell(&table, "astar-follower", "Pathfinding"), 100.0);
    assert_eq!(cell(&table, "RHCR", "Pathfinding"), 100.0);
    // Computed from the published files alone (per (map, seed), best makespan / own):
    // Follower and QPLEX 99.5, MAMBA 82.6.
    assert!((cell(&table, "Follower", "Pathfinding") - 99.5).abs() < 0.05);
    assert!((cell(&table, "MAMBA", "Pathfinding") - 82.6).abs() < 0.05);
}

#[test]
fn congestion_on_the_warehouse_reproduces_the_published_values() {
    // 192 agents on the seeds every published algorithm ran there (MATS-LP has 0..49).
    let dir = common::benchmark_data_dir();
    let seeds: Vec<u64> = (0..50).collect();
    let (_, instances) =
        load_suite("warehouse", Some(&dir), Some(&seeds), Some(&[192]), None).unwrap();
    let records = run_instances("warehouse", &instances, "random", 2, 50, |_| {}).unwrap();
    assert!(records.iter().all(|r| r.avg_agents_density.is_some()));
    let table = high_level_markdown(&records, &dir).unwrap();
    println!("{table}");
    // The POGEMA benchmark's Congestion values (its raw-data plots), from pogema's
    // avg_agents_density in the published files.
    for (algo, expected) in [
        ("RHCR", 48.9),
        ("Follower", 86.9),
        ("MATS-LP", 49.1),
        ("MAMBA", 85.3),
        ("QPLEX", 79.7),
    ] {
        let got = cell(&table, algo, "Congestion");
        assert!((got - expected).abs() < 0.05, "{algo}: {got} vs {expected}");
    }
    // Random moves spread no better than the map's average density, give or take.
    let random = cell(&table, "random", "Congestion");
    assert!(random > 50.0 && random < 150.0, "{random}");
}
