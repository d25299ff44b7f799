//! numpy 1.26 `Generator` draws against rmapf's port, seed by seed.

use rmapf_env::rng::{NumpyRng, Pcg64, seed_sequence_state};
use rmapf_parity::run_reference;
use serde_json::{Value, json};

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|s| s.as_str().expect("str").parse().expect("u64"))
        .collect()
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

#[test]
fn numpy_generator_draws_match_for_many_seeds() {
    let mut seeds: Vec<u64> = (0..400).collect();
    seeds.extend((0..100u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15u64) >> 1));
    let answer = run_reference("rng", &json!({"seeds": seeds}));
    let answer = answer.as_array().expect("list");
    for (&seed, want) in seeds.iter().zip(answer) {
        assert_eq!(
            seed_sequence_state(seed).to_vec(),
            u64s(&want["state"]),
            "SeedSequence({seed})"
        );
        let mut bits = Pcg64::new(seed);
        let raw: Vec<u64> = (0..4).map(|_| bits.next_u64()).collect();
        assert_eq!(raw, u64s(&want["raw"]), "PCG64({seed}).random_raw");
        let mut g = NumpyRng::new(seed);
        let ints: Vec<i64> = [1i64, 2, 5, 17, 1000, (1 << 31) - 1, 1 << 32]
            .iter()
            .map(|&hi| g.integers(0, hi))
            .collect();
        assert_eq!(
            ints,
            i64s(&want["integers_scalar"]),
            "integers, seed {seed}"
        );
        for (k, w) in want["random"].as_array().expect("list").iter().enumerate() {
            assert_eq!(
                g.random(),
                w.as_f64().expect("f64"),
                "random #{k}, seed {seed}"
            );
        }
        let sized: Vec<i64> = (0..5).map(|_| g.integers(0, (1 << 31) - 1)).collect();
        assert_eq!(
            sized,
            i64s(&want["integers_sized"]),
            "integers(size=5), seed {seed}"
        );
        for w in want["uniform"].as_array().expect("list") {
            assert_eq!(
                g.uniform(0.1, 0.3),
                w.as_f64().expect("f64"),
                "uniform, seed {seed}"
            );
        }
        let ps = [0.0, 0.1, 0.3, 0.5, 0.7, 1.0, (seed % 97) as f64 / 96.0];
        for (p, w) in ps.iter().zip(want["binomial"].as_array().expect("list")) {
            let got: Vec<i64> = (0..12).map(|_| i64::from(g.binomial_one(*p))).collect();
            assert_eq!(got, i64s(w), "binomial(1, {p}), seed {seed}");
        }
        let mut items: Vec<i64> = (0..(seed % 40 + 1) as i64).collect();
        g.shuffle(&mut items);
        assert_eq!(items, i64s(&want["shuffle"]), "shuffle, seed {seed}");
        let choice: Vec<i64> = (0..3).map(|_| 1 + g.choice_index(8) as i64).collect();
        assert_eq!(choice, i64s(&want["choice"]), "choice, seed {seed}");
        let probs = [0.8, 0.1, 0.05, 0.05];
        let weighted: Vec<i64> = (0..4).map(|_| g.choice_weighted(&probs) as i64).collect();
        assert_eq!(
            weighted,
            i64s(&want["choice_p"]),
            "choice(p=...), seed {seed}"
        );
        let after = g.integers(0, 1 << 32) as u64;
        assert_eq!(
            after.to_string(),
            want["after"].as_str().expect("str"),
            "stream position after all draws, seed {seed}"
        );
    }
}
