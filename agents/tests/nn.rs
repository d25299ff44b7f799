//! The policy cores: shapes, per-step/per-sequence equivalence with episode boundaries, SRMT's
//! permutation equivariance and episode isolation, memory semantics in paper and reference
//! modes, RATE's segments, memory valve and feedback tokens, save/load, and parameter counts
//! against the spec.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rmapf_agents::nn::{CoreKind, PolicyConfig, PolicyNet, RateConfig, SequenceInput};

const ALL: [CoreKind; 6] = [
    CoreKind::Srmt,
    CoreKind::Rmt,
    CoreKind::Attention,
    CoreKind::Empty,
    CoreKind::Gru,
    CoreKind::Rate,
];

/// Every core at the Bottleneck size, plus RATE's fused-token and RMT-copy variants, all with
/// segments of `segment` steps.
fn configs(segment: usize) -> Vec<PolicyConfig> {
    let mut out: Vec<PolicyConfig> = ALL.iter().map(|&c| PolicyConfig::bottleneck(c)).collect();
    for (fused, mrv_heads) in [(true, 2), (false, 0)] {
        out.push(PolicyConfig {
            rate: RateConfig {
                fused_step_token: fused,
                mrv_heads,
                memory_tokens: 2,
                segment,
            },
            ..PolicyConfig::bottleneck(CoreKind::Rate)
        });
    }
    // A GRU narrower than the tokens (the heads read `gru_hidden` features).
    out.push(PolicyConfig {
        gru_hidden: 12,
        ..PolicyConfig::bottleneck(CoreKind::Gru)
    });
    for c in &mut out {
        c.rate.segment = segment;
    }
    out
}

fn device() -> Device {
    Device::flex()
}

use common::data;

fn obs_seq(n: usize, t: usize, seed: u64, dev: &Device) -> Tensor<5> {
    Tensor::from_data(
        TensorData::new(data(n * t * 75, seed), [n, t, 3, 5, 5]),
        dev,
    )
}

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 data")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn flags(n: usize, t: usize, f: impl Fn(usize, usize) -> bool, dev: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..n * t)
        .map(|k| if f(k / t, k % t) { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(v, [n, t]), dev)
}

/// A sequence input with pseudo-random previous actions and rewards (seeded by `seed`).
fn input(obs: Tensor<5>, first: Tensor<2>, active: Tensor<2>, seed: u64) -> SequenceInput {
    let [n, t, _, _, _] = obs.dims();
    let dev = obs.device();
    let actions: Vec<i64> = data(n * t, seed + 100)
        .iter()
        .map(|v| ((v + 1.0) * 2.49) as i64)
        .collect();
    SequenceInput {
        obs,
        is_first: first,
        active,
        prev_action: Tensor::<2, Int>::from_data(TensorData::new(actions, [n, t]), &dev),
        prev_reward: Tensor::from_data(TensorData::new(data(n * t, seed + 200), [n, t]), &dev),
    }
}

fn run_seq(
    net: &PolicyNet,
    obs: Tensor<5>,
    a: usize,
    dev: &Device,
) -> rmapf_agents::nn::SequenceOutput {
    let [n, t, _, _, _] = obs.dims();
    let first = flags(n, t, |_, k| k == 0, dev);
    let active = flags(n, t, |_, _| true, dev);
    net.forward_sequence(input(obs, first, active, 1), net.initial_state(n, dev), a)
}

#[test]
fn shapes_of_every_core() {
    let dev = device();
    for config in configs(8) {
        let core = config.core;
        let net = config.init(&dev);
        let out = run_seq(&net, obs_seq(4, 3, 1, &dev), 2, &dev);
        assert_eq!(out.logits.dims(), [4, 3, 5], "{core:?}");
        assert_eq!(out.values.dims(), [4, 3], "{core:?}");
        let r = &config.rate;
        let (memory, kept) = if core == CoreKind::Rate {
            (r.memory_tokens * 16, r.tokens_per_step() * r.segment)
        } else {
            (16, 8)
        };
        assert_eq!(out.state.memory.dims(), [4, memory]);
        assert_eq!(out.state.history.dims(), [4, kept, 16]);
        assert_eq!(out.state.position.dims(), [4]);
    }
}

#[test]
fn step_and_sequence_agree_and_reset_at_episode_starts() {
    let dev = device();
    let (n, t, boundary) = (4, 7, 4);
    // Segments of 2 steps: RATE's memory is written inside the sequence.
    for config in configs(2) {
        let core = config.core;
        let net = config.init(&dev);
        let obs = obs_seq(n, t, 7, &dev);
        // Episode 0 (agents 0, 1) restarts at step 3; episode 1 runs straight through.
        let first = flags(n, t, |i, k| k == 0 || (i < 2 && k == boundary), &dev);
        let active = flags(n, t, |_, _| true, &dev);
        let inp = input(obs.clone(), first, active, 1);
        let seq = net.forward_sequence(inp.clone(), net.initial_state(n, &dev), 2);
        let mut state = net.initial_state(n, &dev);
        let mut stepped = Vec::new();
        for k in 0..t {
            let out = net.forward_step(inp.step(k), state, 2);
            stepped.extend(vec_of(out.logits));
            state = out.state;
        }
        let seq_logits = vec_of(seq.logits.clone().swap_dims(0, 1)); // [T, N, 5], like `stepped`
        assert!(max_diff(&seq_logits, &stepped) < 1e-5, "{core:?}");
        // After the boundary, episode 0 behaves like a fresh episode started there.
        let tail = t - boundary;
        let cut = |x: Tensor<2>| x.narrow(1, boundary, tail);
        let tail_input = SequenceInput {
            obs: obs.narrow(1, boundary, tail),
            is_first: flags(n, tail, |_, k| k == 0, &dev),
            active: cut(inp.active.clone()),
            prev_action: inp.prev_action.clone().narrow(1, boundary, tail),
            prev_reward: cut(inp.prev_reward.clone()),
        };
        let fresh = net.forward_sequence(tail_input, net.initial_state(n, &dev), 2);
        let a = vec_of(seq.logits.narrow(1, boundary, tail).narrow(0, 0, 2));
        let b = vec_of(fresh.logits.narrow(0, 0, 2));
        assert!(
            max_diff(&a, &b) < 1e-5,
            "{core:?}: reset at the episode boundary"
        );
    }
}

/// The learner replays a chunk from the state the actor had at its start: with RATE's segments of
/// 3 steps, a chunk that starts mid-segment (after 4 steps) and an episode that restarts
/// mid-segment inside it (agents 0 and 1 at the chunk's step 2, i.e. step 6 of 8) give the logits
/// and the end state the actor's steps give. Every core is checked the same way.
#[test]
fn a_chunk_replayed_from_a_mid_segment_state_equals_the_steps() {
    let dev = device();
    let (n, before, t) = (4, 4, 8);
    for config in configs(3) {
        let core = config.core;
        let net = config.init(&dev);
        let obs = obs_seq(n, before + t, 13, &dev);
        let first = flags(
            n,
            before + t,
            |i, k| k == 0 || (i < 2 && k == before + 2),
            &dev,
        );
        let active = flags(n, before + t, |i, k| !(i == 3 && k >= 9), &dev);
        let whole = input(obs, first, active, 5);
        // The actor: every step, one at a time; the state at step `before` is the chunk's start.
        let mut state = net.initial_state(n, &dev);
        let mut start = None;
        let mut stepped = Vec::new();
        for k in 0..before + t {
            if k == before {
                start = Some(state.clone());
            }
            let out = net.forward_step(whole.step(k), state, 2);
            if k >= before {
                stepped.extend(vec_of(out.logits));
            }
            state = out.state;
        }
        // The learner: the chunk as one sequence from the stored start state.
        let chunk = |x: Tensor<2>| x.narrow(1, before, t);
        let replay = SequenceInput {
            obs: whole.obs.clone().narrow(1, before, t),
            is_first: chunk(whole.is_first.clone()),
            active: chunk(whole.active.clone()),
            prev_action: whole.prev_action.clone().narrow(1, before, t),
            prev_reward: chunk(whole.prev_reward.clone()),
        };
        let seq = net.forward_sequence(replay, start.expect("the chunk start"), 2);
        let seq_logits = vec_of(seq.logits.swap_dims(0, 1)); // [T, N, 5], like `stepped`
        assert!(max_diff(&seq_logits, &stepped) < 1e-5, "{core:?}: logits");
        let ends = |s: rmapf_agents::nn::CoreState| {
            [
                vec_of(s.memory),
                vec_of(s.history),
                vec_of(s.hidden),
                vec_of(s.position),
            ]
        };
        for (a, b) in ends(seq.state).iter().zip(&ends(state)) {
            assert!(max_diff(a, b) < 1e-5, "{core:?}: end state");
        }
    }
}

#[test]
fn srmt_is_permutation_equivariant_and_episodes_are_isolated() {
    let dev = device();
    let net = PolicyConfig::bottleneck(CoreKind::Srmt).init(&dev);
    let (n, t, a) = (6, 4, 3);
    let raw = data(n * t * 75, 11);
    let run = |v: Vec<f32>| {
        vec_of(
            run_seq(
                &net,
                Tensor::from_data(TensorData::new(v, [n, t, 3, 5, 5]), &dev),
                a,
                &dev,
            )
            .logits,
        )
    };
    let base = run(raw.clone());
    // Swap agents 0 and 2 of episode 0: their outputs swap, everyone else's stay.
    let row = t * 75;
    let mut perm = raw.clone();
    perm[..row].copy_from_slice(&raw[2 * row..3 * row]);
    perm[2 * row..3 * row].copy_from_slice(&raw[..row]);
    let swapped = run(perm);
    let out = t * 5;
    assert!(max_diff(&swapped[..out], &base[2 * out..3 * out]) < 1e-5);
    assert!(max_diff(&swapped[2 * out..3 * out], &base[..out]) < 1e-5);
    assert!(max_diff(&swapped[out..2 * out], &base[out..2 * out]) < 1e-5);
    // Changing episode 1's observations leaves episode 0 untouched (and does change episode 1).
    let mut other = raw.clone();
    other[3 * row..].iter_mut().for_each(|v| *v = -*v);
    let changed = run(other);
    assert!(max_diff(&changed[..3 * out], &base[..3 * out]) < 1e-6);
    assert!(max_diff(&changed[3 * out..], &base[3 * out..]) > 1e-4);
}

/// Memory after two steps, with the second step's observations multiplied by `scale`.
fn memory_after(net: &PolicyNet, scale: f32, dev: &Device) -> Vec<f32> {
    let n = 2;
    let mut state = net.initial_state(n, dev);
    for (k, s) in [1.0, scale].into_iter().enumerate() {
        let o: Vec<f32> = data(n * 75, 3 + k as u64)
            .into_iter()
            .map(|v| v * s)
            .collect();
        let o = Tensor::<4>::from_data(TensorData::new(o, [n, 3, 5, 5]), dev);
        let first = Tensor::<1>::from_data(
            TensorData::new(vec![if k == 0 { 1.0f32 } else { 0.0 }; n], [n]),
            dev,
        );
        let step = rmapf_agents::nn::StepInput {
            obs: o,
            is_first: first,
            active: Tensor::ones([n], dev),
            prev_action: Tensor::zeros([n], dev),
            prev_reward: Tensor::zeros([n], dev),
        };
        state = net.forward_step(step, state, 2).state;
    }
    vec_of(state.memory)
}

/// Whether the memory head gets a gradient from a loss on the last of three steps' logits.
fn mem_head_gets_gradient(config: &PolicyConfig) -> bool {
    let dev = device().autodiff();
    let net = config.init(&dev);
    let out = run_seq(&net, obs_seq(2, 3, 5, &dev), 2, &dev);
    let grads = out.logits.narrow(1, 2, 1).sum().backward();
    let head = net.mem_head().expect("SRMT has a memory head");
    head.weight
        .grad(&grads)
        .is_some_and(|g| g.abs().sum().into_scalar::<f32>() > 0.0)
}

#[test]
fn paper_memory_sees_observations_and_trains_compat_memory_does_not() {
    let dev = device();
    let paper = PolicyConfig::bottleneck(CoreKind::Srmt);
    let net = paper.init(&dev);
    assert!(
        max_diff(
            &memory_after(&net, 1.0, &dev),
            &memory_after(&net, -3.0, &dev)
        ) > 1e-4
    );
    let compat = PolicyConfig {
        reference_compat: true,
        ..paper.clone()
    };
    let net = compat.init(&dev);
    assert!(
        max_diff(
            &memory_after(&net, 1.0, &dev),
            &memory_after(&net, -3.0, &dev)
        ) < 1e-6
    );
    assert!(mem_head_gets_gradient(&paper));
    assert!(!mem_head_gets_gradient(&compat));
}

#[test]
fn save_then_load_gives_identical_outputs() {
    let dev = device();
    let dir = std::env::temp_dir().join(format!("rmapf-ckpt-{}", std::process::id()));
    for config in configs(8) {
        let core = config.core;
        let net = PolicyConfig { seed: 9, ..config }.init(&dev);
        net.save(&dir).unwrap();
        let loaded = PolicyNet::load(&dir, &dev).unwrap();
        assert_eq!(loaded.config(), net.config());
        let run = |m: &PolicyNet| vec_of(run_seq(m, obs_seq(2, 2, 4, &dev), 2, &dev).logits);
        assert_eq!(run(&net), run(&loaded), "{core:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(PolicyNet::load(&dir, &dev).is_err());
}

#[test]
fn a_seed_gives_the_same_network_and_another_seed_a_different_one() {
    // Every parameter is drawn from the model seed's stream, burn's GRU and attention layers
    // included (burn's own initialisers draw from a global, unseeded stream).
    let dev = device();
    for config in configs(8) {
        let core = config.core;
        let run = |seed: u64| {
            let net = PolicyConfig {
                seed,
                ..config.clone()
            }
            .init(&dev);
            vec_of(run_seq(&net, obs_seq(2, 2, 4, &dev), 2, &dev).logits)
        };
        assert_eq!(run(3), run(3), "{core:?}");
        assert_ne!(run(3), run(4), "{core:?}");
    }
}

#[test]
fn parameter_counts_match_the_spec() {
    let dev = device();
    let count = |core| PolicyConfig::bottleneck(core).init(&dev).num_params();
    // Spec (models-and-training §4.3), Bottleneck H = 16: encoder 4,608; GPT-2 block with
    // cross-attention 4,400; mem_head 256; ln_f 32; heads 102. rmapf keeps a position table of
    // L = 10 rows (160 parameters) and no dummy `rnn_placeholder`.
    assert_eq!(
        count(CoreKind::Srmt),
        4608 + 4400 + 256 + 32 + 102 + 10 * 16
    );
    assert_eq!(count(CoreKind::Empty), 4710);
    assert_eq!(count(CoreKind::Gru), 6342);
    // RATE: encoder, a block without cross-attention (4,400 − 1,120), ln_f, heads; action
    // embedding 6×16, reward Linear(1, 16), M_0 4×16, positions (2·4 + 3·8)×16, MRV 4×(16·16 + 16).
    assert_eq!(
        count(CoreKind::Rate),
        4608 + 3280 + 32 + 102 + 96 + 32 + 64 + 32 * 16 + 1088
    );
}

/// Counts float parameters with and without a non-zero gradient.
struct GradCensus<'a> {
    grads: &'a burn::tensor::Gradients,
    with: usize,
    without: Vec<String>,
    path: Vec<String>,
}

impl burn::module::ModuleVisitor for GradCensus<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        match param.grad(self.grads) {
            Some(g) if g.clone().abs().sum().into_scalar::<f32>() > 0.0 => self.with += 1,
            _ => self.without.push(self.path.join(".")),
        }
    }
}

#[test]
fn every_parameter_trains() {
    let dev = device().autodiff();
    // Two-step segments over four steps: RATE's valve and write path are inside the graph.
    for config in configs(2) {
        let core = config.core;
        let net = config.init(&dev);
        let out = run_seq(&net, obs_seq(4, 4, 8, &dev), 2, &dev);
        // Logits and values of every step, as in the PPO loss.
        let loss = out.logits.powi_scalar(2).sum() + out.values.powi_scalar(2).sum();
        let grads = loss.backward();
        let mut census = GradCensus {
            grads: &grads,
            with: 0,
            without: Vec::new(),
            path: Vec::new(),
        };
        net.visit(&mut census);
        assert!(
            census.without.is_empty(),
            "{core:?}: parameters without gradient: {:?}",
            census.without
        );
        assert!(census.with > 4, "{core:?}");
    }
}

/// Memories and segment positions after each of `t` steps of a RATE net with segments of 3.
fn rate_trace(net: &PolicyNet, t: usize, dev: &Device) -> Vec<(Vec<f32>, Vec<f32>)> {
    let n = 2;
    let inp = input(
        obs_seq(n, t, 21, dev),
        flags(n, t, |_, k| k == 0, dev),
        flags(n, t, |_, _| true, dev),
        3,
    );
    let mut state = net.initial_state(n, dev);
    let mut trace = Vec::new();
    for k in 0..t {
        state = net.forward_step(inp.step(k), state, 2).state;
        trace.push((vec_of(state.memory.clone()), vec_of(state.position.clone())));
    }
    trace
}

#[test]
fn rate_memory_changes_only_when_a_segment_completes() {
    let dev = device();
    let mut config = PolicyConfig::bottleneck(CoreKind::Rate);
    config.rate.segment = 3;
    let net = config.init(&dev);
    let trace = rate_trace(&net, 7, &dev);
    let positions: Vec<f32> = trace.iter().map(|(_, p)| p[0]).collect();
    assert_eq!(positions, [1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0]);
    // Steps 1 and 2 keep M_0; step 3 writes; steps 4, 5 keep it; step 6 writes again.
    let same = |i: usize, j: usize| max_diff(&trace[i].0, &trace[j].0) < 1e-7;
    assert!(same(0, 1) && same(2, 3) && same(3, 4) && same(5, 6));
    assert!(!same(1, 2) && !same(4, 5));
}

#[test]
fn rate_reads_previous_action_and_reward_except_at_episode_starts() {
    let dev = device();
    let net = PolicyConfig::bottleneck(CoreKind::Rate).init(&dev);
    let (n, t) = (2, 3);
    let base = input(
        obs_seq(n, t, 5, &dev),
        flags(n, t, |_, k| k == 0, &dev),
        flags(n, t, |_, _| true, &dev),
        4,
    );
    let logits = |inp: SequenceInput| {
        vec_of(
            net.forward_sequence(inp, net.initial_state(n, &dev), 2)
                .logits,
        )
    };
    let reference = logits(base.clone());
    let with = |k: usize, action: i64, reward: f32| {
        let mut a = base
            .prev_action
            .clone()
            .into_data()
            .iter::<i64>()
            .collect::<Vec<_>>();
        let mut r = base
            .prev_reward
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for row in 0..n {
            a[row * t + k] = action;
            r[row * t + k] = reward;
        }
        SequenceInput {
            prev_action: Tensor::from_data(TensorData::new(a, [n, t]), &dev),
            prev_reward: Tensor::from_data(TensorData::new(r, [n, t]), &dev),
            ..base.clone()
        }
    };
    // At an episode start the previous step belongs to another episode: ignored.
    assert!(max_diff(&logits(with(0, 4, 9.0)), &reference) < 1e-7);
    // Later, both the previous action and the previous reward change the policy.
    let a = base
        .prev_action
        .clone()
        .into_data()
        .iter::<i64>()
        .collect::<Vec<_>>()[1];
    assert!(
        max_diff(
            &logits(with(1, (a + 1) % 5, base_reward(&base, 1))),
            &reference
        ) > 1e-5
    );
    assert!(max_diff(&logits(with(1, a, 5.0)), &reference) > 1e-5);
}

fn base_reward(inp: &SequenceInput, k: usize) -> f32 {
    inp.prev_reward
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()[k]
}

#[test]
fn a_checkpoint_config_no_network_can_have_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("rmapf-heads0-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let net = PolicyConfig::bottleneck(CoreKind::Srmt).init(&device());
    net.save(&dir).unwrap();
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["heads"] = 0.into();
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let Err(err) = PolicyNet::load(&dir, &device()) else {
        panic!("a config with heads 0 loaded");
    };
    let err = err.to_string();
    assert!(err.contains("heads 0"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every parameter is in the weights file: loaded into a network initialised from another seed,
/// a checkpoint gives the saved network's outputs (a parameter left out of the record would keep
/// the other seed's initial value). Runs past RATE's segment ends, so its memory write counts.
#[test]
fn every_parameter_is_saved_whatever_the_initial_seed() {
    let dev = device();
    let dir = std::env::temp_dir().join(format!("rmapf-ckpt-seed-{}", std::process::id()));
    for config in configs(3) {
        let core = config.core;
        let net = PolicyConfig { seed: 9, ..config }.init(&dev);
        net.save(&dir).unwrap();
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"seed\": 9"), "{text}");
        std::fs::write(&path, text.replace("\"seed\": 9", "\"seed\": 10")).unwrap();
        let loaded = PolicyNet::load(&dir, &dev).unwrap();
        let run = |m: &PolicyNet| vec_of(run_seq(m, obs_seq(2, 8, 4, &dev), 2, &dev).logits);
        let fresh = PolicyConfig {
            seed: 10,
            ..net.config().clone()
        }
        .init(&dev);
        assert_ne!(
            run(&net),
            run(&fresh),
            "{core:?}: the seeds give different networks"
        );
        assert_eq!(run(&net), run(&loaded), "{core:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
