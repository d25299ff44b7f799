//! Differential test: pogema 1.4.0 and rmapf driven by the same scripted actions over hundreds of
//! generated configurations, compared field by field at reset and after every step.

use rmapf_parity::{Case, first_difference, generate_cases, rmapf_trace, run_reference};
use serde_json::{Value, json};

/// Number of generated configurations (12 per combination of collision system, on-target mode and
/// observation type, spread over six map kinds).
const CASES: usize = 324;

fn describe(case: &Case) -> String {
    let c = &case.config;
    format!(
        "{} {} {} r={} agents={} map={}",
        c["collision_system"],
        c["on_target"],
        c["observation_type"],
        c["obs_radius"],
        c.get("num_agents")
            .map_or("letters".to_string(), |v| v.to_string()),
        if c.get("map").is_some() {
            "given"
        } else {
            "generated"
        }
    )
}

#[test]
fn rmapf_matches_pogema_step_by_step() {
    let cases = generate_cases(CASES, 2024);
    let request = json!({"cases": cases.iter().map(Case::to_json).collect::<Vec<_>>()});
    let reference = run_reference("episodes", &request);
    let reference = reference.as_array().expect("a list of traces");
    assert_eq!(reference.len(), cases.len());
    let mut failures = Vec::new();
    let (mut compared, mut errors_both, mut steps, mut solved) = (0, 0, 0usize, 0);
    for (k, (case, expected)) in cases.iter().zip(reference).enumerate() {
        let got = rmapf_trace(case);
        match (expected.get("error"), got.get("error")) {
            (Some(_), Some(_)) => errors_both += 1,
            (Some(e), None) => failures.push(format!(
                "case {k} ({}): pogema raised {e}, rmapf did not",
                describe(case)
            )),
            (None, Some(e)) => failures.push(format!(
                "case {k} ({}): rmapf failed with {e}: {}",
                describe(case),
                got["message"]
            )),
            (None, None) => {
                compared += 1;
                for ep in expected["episodes"].as_array().into_iter().flatten() {
                    steps += ep["frames"].as_array().map_or(0, |f| f.len() - 1);
                    if ep["metrics"].get("CSR") == Some(&Value::from(1.0)) {
                        solved += 1;
                    }
                }
                if let Some(diff) = first_difference(expected, &got, "") {
                    failures.push(format!("case {k} ({}): {diff}", describe(case)));
                }
            }
        }
    }
    println!(
        "differential test: {compared} configurations compared exactly over {steps} steps \
         ({solved} solved episodes), {errors_both} rejected by both, {} mismatches",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        compared >= 300,
        "only {compared} configurations were compared"
    );
}
