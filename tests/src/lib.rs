//! Helpers for rmapf's differential tests against numpy and pogema 1.4.0.
//!
//! The reference side is `tests/pogema_reference.py`, run with the Python interpreter named by
//! `RMAPF_PYTHON` (default: `.venv/bin/python` at the workspace root, which the README's test
//! command creates with `pogema==1.4.0`). Both sides write the same JSON shapes, and
//! [`first_difference`] reports the first field where they differ.

use std::path::{Path, PathBuf};
use std::process::Command;

use rmapf_env::rng::SplitMix64;
use rmapf_env::{EnvConfig, EnvError, ObservationType, Simulator, StepBuffers};
use serde_json::{Value, json};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The Python interpreter with pogema 1.4.0 installed.
///
/// # Panics
/// When no interpreter is found: the differential tests must not silently pass without pogema.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("RMAPF_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no reference Python: set RMAPF_PYTHON or run `scripts/test.sh` (it creates .venv with pogema==1.4.0)"
    );
    venv
}

/// Runs `pogema_reference.py MODE` on `request` and returns its JSON answer.
pub fn run_reference(mode: &str, request: &Value) -> Value {
    let dir = std::env::temp_dir().join(format!("rmapf-parity-{}-{mode}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let req = dir.join("request.json");
    let out = dir.join("answer.json");
    std::fs::write(&req, serde_json::to_vec(request).expect("json")).expect("write request");
    let script = workspace_root().join("tests/pogema_reference.py");
    let status = Command::new(python())
        .arg(&script)
        .arg(mode)
        .arg(&req)
        .arg(&out)
        .status()
        .expect("run python");
    assert!(
        status.success(),
        "pogema_reference.py {mode} failed: {status}"
    );
    let answer: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("read answer")).expect("parse answer");
    let _ = std::fs::remove_dir_all(&dir);
    answer
}

/// The tests' own deterministic case generator (rmapf's SplitMix64 with a few helpers).
#[derive(Clone, Debug)]
pub struct SplitMix(pub SplitMix64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64(seed))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// The scripted action generator both sides share (`pogema_reference.py` draws the same stream).
pub use rmapf_env::rng::lcg_actions;

/// `np.packbits(...).tobytes().hex()` of 0/1 bytes.
pub fn pack_hex(bits: &[u8]) -> String {
    let mut s = String::with_capacity(bits.len() / 4 + 2);
    for chunk in bits.chunks(8) {
        let mut byte = 0u8;
        for (k, &b) in chunk.iter().enumerate() {
            byte |= (b & 1) << (7 - k);
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

fn pairs(v: &[i32]) -> Value {
    Value::Array(v.chunks(2).map(|p| json!([p[0], p[1]])).collect())
}

fn frame(sim: &mut Simulator, b: &StepBuffers, obs_type: ObservationType, extra: Value) -> Value {
    let snap = sim.snapshot(0);
    let mut f = extra;
    let m = f.as_object_mut().expect("frame is an object");
    m.insert("positions".into(), json!(snap.positions));
    m.insert("goals".into(), json!(snap.goals));
    m.insert("occupied".into(), json!(snap.occupied));
    m.insert("obs".into(), json!(pack_hex(&b.obs)));
    if obs_type != ObservationType::Default {
        m.insert("xy".into(), pairs(&b.xy));
        m.insert("target_xy".into(), pairs(&b.target_xy));
        if obs_type == ObservationType::Mapf {
            m.insert("global_xy".into(), pairs(&b.global_xy));
            m.insert("global_target_xy".into(), pairs(&b.global_target_xy));
        }
    }
    f
}

/// One differential case: a pogema `GridConfig` (as JSON kwargs) and how to drive it.
#[derive(Clone, Debug)]
pub struct Case {
    /// `GridConfig(**config)`.
    pub config: Value,
    /// Initial LCG state for the scripted actions.
    pub action_seed: u64,
    /// How many episodes to run (resets).
    pub resets: usize,
    /// Step cap per episode (episodes end by truncation anyway).
    pub max_steps: usize,
}

impl Case {
    /// The case as the Python side reads it.
    pub fn to_json(&self) -> Value {
        json!({"config": self.config, "action_seed": self.action_seed, "resets": self.resets, "max_steps": self.max_steps})
    }
}

/// rmapf's trajectory for a case, in the Python side's JSON shape.
pub fn rmapf_trace(case: &Case) -> Value {
    match try_trace(case) {
        Ok(v) => v,
        Err(e) => json!({"error": format!("{e:?}"), "message": e.to_string()}),
    }
}

fn try_trace(case: &Case) -> Result<Value, EnvError> {
    let config = EnvConfig::from_json_str(&case.config.to_string())?;
    let obs_type = config.observation_type;
    let mut sim = Simulator::new(std::slice::from_ref(&config))?;
    // The Python side wraps dict observations in the benchmark's AgentsDensityWrapper.
    sim.set_density_metric(matches!(
        obs_type,
        ObservationType::Pomapf | ObservationType::Mapf
    ));
    let mut b = sim.new_buffers();
    let n = b.actions.len();
    let mut state = case.action_seed;
    let mut episodes = Vec::new();
    for _ in 0..case.resets {
        sim.reset(&mut b)?;
        let snap = sim.snapshot(0);
        let mut frames = vec![frame(
            &mut sim,
            &b,
            obs_type,
            json!({"active": b.active, "obstacles": snap.obstacles}),
        )];
        let mut metrics = Value::Null;
        for _ in 0..case.max_steps {
            lcg_actions(&mut state, &mut b.actions[..n]);
            sim.step(&mut b)?;
            let extra = json!({
                "actions": b.actions, "rewards": b.rewards, "terminated": b.terminated,
                "truncated": b.truncated, "active": b.active,
            });
            frames.push(frame(&mut sim, &b, obs_type, extra));
            if b.episode_done[0] {
                metrics = match b.metrics[0] {
                    Some(m) => Value::Object(
                        m.pogema_pairs()
                            .map(|(k, v)| (k.to_string(), json!(v)))
                            .collect(),
                    ),
                    None => json!({}),
                };
                break;
            }
        }
        episodes.push(json!({"frames": frames, "metrics": metrics}));
    }
    Ok(json!({"episodes": episodes}))
}

/// The first path where `a` and `b` differ (numbers compared to 1e-9), or `None`.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            ((x - y).abs() > 1e-9).then(|| format!("{path}: {x} != {y}"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: length {} != {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, &format!("{path}.{k}")),
                (u, v) => Some(format!(
                    "{path}.{k}: present on one side only ({} vs {})",
                    u.is_some(),
                    v.is_some()
                )),
            })
        }
        _ => (a != b).then(|| format!("{path}: {a} != {b}")),
    }
}

/// A random 0/1 grid with obstacle probability `density`.
fn random_grid(rng: &mut SplitMix, h: usize, w: usize, density: f64) -> Vec<Vec<u8>> {
    (0..h)
        .map(|_| (0..w).map(|_| u8::from(rng.unit() < density)).collect())
        .collect()
}

fn free_cells(grid: &[Vec<u8>]) -> Vec<[i64; 2]> {
    let mut out = Vec::new();
    for (x, row) in grid.iter().enumerate() {
        for (y, &v) in row.iter().enumerate() {
            if v == 0 {
                out.push([x as i64, y as i64]);
            }
        }
    }
    out
}

fn shuffle<T>(rng: &mut SplitMix, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Map kinds the generator covers.
pub const MAP_KINDS: [&str; 6] = [
    "random",
    "random_rect",
    "string",
    "letters",
    "pools",
    "list",
];

/// `count` cases covering every collision system × on-target mode × observation type and every
/// map kind, 1–64 agents, radii 1–6.
pub fn generate_cases(count: usize, seed: u64) -> Vec<Case> {
    let mut rng = SplitMix::new(seed);
    let collisions = ["priority", "block_both", "soft"];
    let modes = ["finish", "nothing", "restart"];
    let obs_types = ["default", "POMAPF", "MAPF"];
    (0..count)
        .map(|k| {
            let combo = k % 27;
            let (collision, mode, obs) = (
                collisions[combo % 3],
                modes[(combo / 3) % 3],
                obs_types[combo / 9],
            );
            let kind = MAP_KINDS[(k / 27) % MAP_KINDS.len()];
            let mut c = json!({
                "collision_system": collision, "on_target": mode, "observation_type": obs,
                "obs_radius": rng.range(1, 6), "max_episode_steps": rng.range(4, 48),
                "seed": rng.range(0, 1 << 40),
            });
            let tiny = k % 11 == 0;
            let (h, w) = if tiny {
                (rng.range(2, 4) as usize, rng.range(2, 4) as usize)
            } else {
                (rng.range(4, 24) as usize, rng.range(4, 24) as usize)
            };
            let density = if tiny { 0.1 } else { rng.unit() * 0.45 };
            let area = (h * w) as i64;
            let max_agents = (area / 4).clamp(1, 64);
            let mut n = if tiny {
                rng.range(1, 2)
            } else {
                rng.range(1, max_agents)
            };
            if k % 7 == 3 {
                n = max_agents; // crowded scenes: followers, rotations, swaps
            }
            let obj = c.as_object_mut().expect("object");
            match kind {
                "random" => {
                    obj.insert("size".into(), json!(h.max(2)));
                    obj.insert("density".into(), json!(density));
                    obj.insert("num_agents".into(), json!(n));
                }
                "random_rect" => {
                    obj.insert("width".into(), json!(w));
                    obj.insert("height".into(), json!(h));
                    obj.insert("density".into(), json!(density));
                    obj.insert("num_agents".into(), json!(n));
                }
                "string" | "list" => {
                    let grid = random_grid(&mut rng, h, w, density);
                    if kind == "list" {
                        obj.insert("map".into(), json!(grid));
                    } else {
                        let text: Vec<String> = grid
                            .iter()
                            .map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect())
                            .collect();
                        obj.insert("map".into(), json!(text.join("\n")));
                    }
                    obj.insert("num_agents".into(), json!(n));
                }
                "letters" => {
                    let grid = random_grid(&mut rng, h, w, density * 0.5);
                    let mut free = free_cells(&grid);
                    shuffle(&mut rng, &mut free);
                    let n = (n as usize).min(26).min(free.len() / 2).max(1);
                    if free.len() < 2 {
                        free = vec![[0, 0], [0, 1]];
                    }
                    if mode == "restart" {
                        // Lifelong letter maps crash pogema: use goal sequences instead.
                        let text: Vec<String> = grid
                            .iter()
                            .map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect())
                            .collect();
                        let starts: Vec<[i64; 2]> = free[..n].to_vec();
                        let seqs: Vec<Vec<[i64; 2]>> = (0..n)
                            .map(|_| (0..rng.range(2, 4)).map(|_| *rng.pick(&free)).collect())
                            .collect();
                        obj.insert("map".into(), json!(text.join("\n")));
                        obj.insert("agents_xy".into(), json!(starts));
                        obj.insert("targets_xy".into(), json!(seqs));
                    } else {
                        let mut chars: Vec<Vec<char>> = grid
                            .iter()
                            .map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect())
                            .collect();
                        for i in 0..n {
                            let [sx, sy] = free[i];
                            let [gx, gy] = free[n + i];
                            chars[sx as usize][sy as usize] = (b'a' + i as u8) as char;
                            chars[gx as usize][gy as usize] = (b'A' + i as u8) as char;
                        }
                        let text: Vec<String> = chars.iter().map(|r| r.iter().collect()).collect();
                        obj.insert("map".into(), json!(text.join("\n")));
                    }
                }
                "pools" => {
                    let grid = random_grid(&mut rng, h, w, density * 0.5);
                    let text: Vec<String> = grid
                        .iter()
                        .map(|r| {
                            r.iter()
                                .map(|&v| {
                                    if v == 1 {
                                        '#'
                                    } else {
                                        *rng.pick(&['.', '.', '@', '$', '!'])
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    obj.insert("map".into(), json!(text.join("\n")));
                    obj.insert("num_agents".into(), json!(n.min(4)));
                }
                _ => unreachable!("unknown map kind"),
            }
            if k % 19 == 5 {
                obj.insert("empty_outside".into(), json!(false));
            }
            let resets = if kind == "pools" || k % 13 == 0 { 2 } else { 1 };
            Case {
                config: c,
                action_seed: rng.next_u64(),
                resets,
                max_steps: 64,
            }
        })
        .collect()
}
