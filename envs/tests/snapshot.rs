//! The episode snapshot (what the Python `env.grid` and `was_on_goal` read): start cells, and
//! pogema's `was_on_goal` after a reset and after each step.

use rmapf_env::{Env, EnvConfig, MapSpec, OnTarget, TargetsSpec};

#[test]
fn the_snapshot_reports_start_cells_and_pogemas_was_on_goal() {
    // Agent 0 starts on its goal; agent 1 reaches its goal with one step right.
    let c = EnvConfig {
        map: Some(MapSpec::Text("...\n...".into())),
        agents_xy: Some(vec![[0, 0], [1, 1]]),
        targets_xy: Some(TargetsSpec::Single(vec![[0, 0], [1, 2]])),
        on_target: OnTarget::Nothing,
        obs_radius: 1,
        ..Default::default()
    };
    let mut env = Env::new(&c).unwrap();
    env.reset().unwrap();
    let s = env.snapshot();
    assert_eq!(s.starts, [[0, 0], [1, 1]]);
    assert_eq!(s.on_goal, [true, false], "after a reset: on its goal");
    env.step(&[4, 4]).unwrap(); // both step right
    let s = env.snapshot();
    assert_eq!(s.positions, [[0, 1], [1, 2]]);
    assert_eq!(s.starts, [[0, 0], [1, 1]], "the start cells do not move");
    assert_eq!(s.on_goal, [false, true]);
}
