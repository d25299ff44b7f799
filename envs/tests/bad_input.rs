//! Bad input gives a typed error with a clear message, never a panic.

use rmapf_env::{
    BatchSimulator, Env, EnvConfig, EnvError, FlatOutputs, MapSpec, Simulator, StepIo,
};

fn map_config(text: &str) -> EnvConfig {
    EnvConfig {
        map: Some(MapSpec::Text(text.into())),
        seed: Some(0),
        ..Default::default()
    }
}

#[test]
fn malformed_maps_are_rejected_with_positions() {
    let err = Env::new(&map_config("...\n.?.")).unwrap_err();
    assert_eq!(
        err,
        EnvError::UnknownSymbol {
            symbol: '?',
            row: 1,
            col: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "unsupported map symbol '?' at row 1, column 1"
    );
    let err = Env::new(&map_config("....\n..")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "map row 1 has 2 cells, expected 4 like the rows before it"
    );
    assert!(matches!(
        Env::new(&map_config("a.b\n.A.")),
        Err(EnvError::MalformedMap(_))
    ));
    let rows = EnvConfig {
        map: Some(MapSpec::Rows(vec![vec![0, 1], vec![3, 0]])),
        ..Default::default()
    };
    assert!(
        Env::new(&rows)
            .unwrap_err()
            .to_string()
            .contains("cell (1, 0) is 3")
    );
}

#[test]
fn too_many_agents_for_the_free_cells() {
    let mut env = Env::new(&EnvConfig {
        map: Some(MapSpec::Text("..#\n#..".into())),
        num_agents: Some(3),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(env.reset(), Err(EnvError::CantCreateTask(_))));
    assert_eq!(env.step(&[0, 0, 0]), Err(EnvError::ResetNeeded));
    let pools = EnvConfig {
        map: Some(MapSpec::Text("@.$\n...".into())),
        num_agents: Some(6),
        ..Default::default()
    };
    assert!(matches!(Env::new(&pools), Err(EnvError::CantCreateTask(_))));
}

#[test]
fn actions_are_checked() {
    let mut env = Env::new(&EnvConfig {
        seed: Some(0),
        num_agents: Some(2),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(env.step(&[0, 0]), Err(EnvError::ResetNeeded));
    env.reset().unwrap();
    assert_eq!(
        env.step(&[0]),
        Err(EnvError::WrongActionCount {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        env.step(&[0, 5]),
        Err(EnvError::InvalidAction {
            agent: 1,
            action: 5
        })
    );
    assert_eq!(
        env.step(&[0, 255]),
        Err(EnvError::InvalidAction {
            agent: 1,
            action: 255
        })
    );
    env.step(&[1, 2]).unwrap();
}

#[test]
fn wrong_buffers_and_mixed_batches_are_errors() {
    let a = EnvConfig {
        seed: Some(0),
        ..Default::default()
    };
    let b = EnvConfig {
        obs_radius: 3,
        ..a.clone()
    };
    assert!(matches!(
        Simulator::new(&[a.clone(), b]),
        Err(EnvError::InvalidConfig {
            field: "obs_radius",
            ..
        })
    ));
    assert!(Simulator::new(&[]).is_err());
    let mut sim = Simulator::new(&[a]).unwrap();
    let mut buffers = sim.new_buffers();
    buffers.obs.pop();
    assert!(matches!(
        sim.reset(&mut buffers),
        Err(EnvError::WrongBufferLength { name: "obs", .. })
    ));
}

/// Runs `reset_into` on a two-shard batch with flat arrays of the right sizes, except `xy` of
/// `xy_len` elements and `metrics` of `metrics_len`.
fn reset_into_with(xy_len: usize, metrics_len: usize) -> Result<(), EnvError> {
    let configs: Vec<EnvConfig> = (0..4)
        .map(|k| EnvConfig {
            seed: Some(k),
            num_agents: Some(2),
            ..Default::default()
        })
        .collect();
    let mut sim = BatchSimulator::new(&configs, 2).unwrap();
    assert_eq!(sim.num_shards(), 2);
    let sizes = sim.output_sizes();
    let (n, e) = (sizes.agents, sizes.episodes);
    let mut obs = vec![0u8; n * sizes.channels * sizes.side * sizes.side];
    let mut xy = vec![0i32; xy_len];
    let mut coords = [vec![0i32; 2 * n], vec![0; 2 * n], vec![0; 2 * n]];
    let mut rewards = vec![0f32; n];
    let mut flags = [
        vec![false; n],
        vec![false; n],
        vec![false; n],
        vec![false; e],
    ];
    let mut actions = vec![0u8; n];
    let mut metrics = vec![None; metrics_len];
    let [target_xy, global_xy, global_target_xy] = &mut coords;
    let [terminated, truncated, active, episode_done] = &mut flags;
    let out = FlatOutputs {
        actions: &mut actions,
        obs: &mut obs,
        xy: &mut xy,
        target_xy,
        global_xy,
        global_target_xy,
        rewards: &mut rewards,
        terminated,
        truncated,
        active,
        episode_done,
    };
    sim.reset_into(StepIo {
        out,
        metrics: &mut metrics,
    })
}

#[test]
fn caller_arrays_of_the_wrong_size_are_an_error_before_any_write() {
    // Four episodes of two agents in two shards: `xy` is `[8, 2]`.
    assert!(reset_into_with(16, 4).is_ok());
    // Long enough for the first shard's rows, too short for the whole batch: refused before the
    // split (which would panic) and before any shard writes.
    for len in [8, 15, 17, 100] {
        assert!(matches!(
            reset_into_with(len, 4),
            Err(EnvError::WrongBufferLength { name: "xy", .. })
        ));
    }
    assert!(matches!(
        reset_into_with(16, 3),
        Err(EnvError::WrongBufferLength {
            name: "metrics",
            ..
        })
    ));
}

#[test]
fn duplicate_custom_starts_are_rejected() {
    let c = EnvConfig {
        agents_xy: Some(vec![[0, 0], [0, 0]]),
        targets_xy: Some(rmapf_env::TargetsSpec::Single(vec![[1, 1], [2, 2]])),
        ..Default::default()
    };
    assert!(matches!(
        Env::new(&c),
        Err(EnvError::InvalidConfig {
            field: "agents_xy",
            ..
        })
    ));
}

#[test]
fn goal_sequences_cycle_even_for_a_walled_in_agent() {
    // With a random goal stream, a one-cell component would make pogema loop forever; goal
    // sequences just cycle.
    let c = EnvConfig {
        map: Some(MapSpec::Text(".#.\n##.\n...".into())),
        on_target: rmapf_env::OnTarget::Restart,
        agents_xy: Some(vec![[0, 0]]),
        targets_xy: Some(rmapf_env::TargetsSpec::Sequences(vec![vec![
            [0, 0],
            [2, 2],
        ]])),
        ..Default::default()
    };
    let mut env = Env::new(&c).unwrap();
    env.reset().unwrap();
    env.step(&[0]).unwrap();
    assert_eq!(env.buffers.rewards, [1.0]);
    assert_eq!(env.snapshot().goals, [[2, 2]]);
}

/// Positions of the wrong shape or type name the field and say what a position is, in JSON (the
/// Python `GridConfig`'s path) and TOML, instead of serde's "did not match any variant".
#[test]
fn malformed_positions_name_the_field_and_the_rule() {
    let read = |fields: &str| EnvConfig::from_json_str(&format!("{{{fields}}}")).unwrap_err();
    for (fields, field, says) in [
        (
            r#""targets_xy": [[[2, 2, 3], [4, 4]]]"#,
            "targets_xy",
            "Position must be a list/tuple of length 2",
        ),
        (
            r#""targets_xy": [[[2.5, 2], [4, 4]]]"#,
            "targets_xy",
            "Position coordinates must be integers",
        ),
        (
            r#""targets_xy": [[[2, 2], [4, 4]], [3, 3]]"#,
            "targets_xy",
            "Position must be a list/tuple of length 2",
        ),
        (
            r#""targets_xy": 7"#,
            "targets_xy",
            "Invalid targets_xy format",
        ),
        (
            r#""agents_xy": [[0, 0, 1]]"#,
            "agents_xy",
            "Position must be a list/tuple of length 2",
        ),
        (
            r#""possible_targets_xy": [["a", 1]]"#,
            "possible_targets_xy",
            "Position coordinates must be integers",
        ),
    ] {
        match read(fields) {
            EnvError::UnreadableField { field: f, reason } => {
                assert_eq!(f, field);
                assert!(reason.starts_with(says), "{reason}");
                assert!(!reason.contains("line 1"), "{reason}");
            }
            other => panic!("{fields}: {other:?}"),
        }
    }
    let err = EnvConfig::from_toml_str("agents_xy = [[0, 0, 1]]").unwrap_err();
    assert!(
        err.to_string()
            .contains("Position must be a list/tuple of length 2"),
        "{err}"
    );
    let ok =
        EnvConfig::from_json_str(r#"{"agents_xy": [[0, 0]], "targets_xy": [[[1, 1], [2, 2]]]}"#)
            .unwrap();
    assert_eq!(ok.agents_xy, Some(vec![[0, 0]]));
}
