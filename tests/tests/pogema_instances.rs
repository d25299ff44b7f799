//! Obstacles, starts and goals of pogema 1.4.0's `Grid` against rmapf's instance generation, for
//! over a thousand seeds and a spread of sizes, densities and agent counts.

use rmapf_env::EnvConfig;
use rmapf_env::instance::{PLACEMENT_RETRIES, generate};
use rmapf_parity::{SplitMix, run_reference};
use serde_json::{Value, json};

#[test]
fn maps_and_placements_match_for_1200_seeds() {
    let mut rng = SplitMix::new(7);
    let configs: Vec<Value> = (0..1200u64)
        .map(|seed| {
            let size = rng.range(2, 40);
            let mut c = json!({"seed": seed, "density": rng.unit() * 0.6, "num_agents": rng.range(1, 48), "obs_radius": rng.range(1, 5)});
            if seed % 3 == 0 {
                c["width"] = json!(rng.range(2, 40));
                c["height"] = json!(size);
            } else {
                c["size"] = json!(size);
            }
            if seed % 17 == 0 {
                c["empty_outside"] = json!(false);
            }
            c
        })
        .collect();
    let answer = run_reference("instances", &json!({"configs": configs}));
    let (mut placed, mut rejected) = (0, 0);
    for (c, want) in configs.iter().zip(answer.as_array().expect("list")) {
        let got = EnvConfig::from_json_str(&c.to_string())
            .and_then(|c| c.resolve())
            .and_then(|rc| generate(&rc, None, PLACEMENT_RETRIES));
        match (want.get("error"), got) {
            (Some(_), Err(_)) => rejected += 1,
            (None, Ok(inst)) => {
                placed += 1;
                let obstacles: Vec<i64> = inst.map.iter().map(|&v| i64::from(v)).collect();
                assert_eq!(json!(obstacles), want["obstacles"], "obstacles of {c}");
                assert_eq!(json!(inst.starts), want["starts"], "starts of {c}");
                assert_eq!(json!(inst.goals), want["goals"], "goals of {c}");
            }
            (w, g) => panic!("{c}: pogema {w:?}, rmapf {:?}", g.map(|_| ())),
        }
    }
    println!("instances: {placed} identical, {rejected} rejected by both");
    assert!(placed >= 1000, "only {placed} instances compared");
}
