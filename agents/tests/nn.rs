//! The policy cores: shapes, per-step/per-sequence equivalence with episode boundaries, SRMT's
//! permutation equivariance and episode isolation, memory semantics in paper and reference
//! modes, save/load, and parameter counts against the spec.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rmapf_agents::nn::{CoreKind, PolicyConfig, PolicyNet};

const ALL: [CoreKind; 5] = [
    CoreKind::Srmt,
    CoreKind::Rmt,
    CoreKind::Attention,
    CoreKind::Empty,
    CoreKind::Gru,
];

fn device() -> Device {
    Device::flex()
}

/// Deterministic pseudo-random values in `[-1, 1]`.
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

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

fn run_seq(
    net: &PolicyNet,
    obs: Tensor<5>,
    a: usize,
    dev: &Device,
) -> rmapf_agents::nn::SequenceOutput {
    let [n, t, _, _, _] = obs.dims();
    net.forward_sequence(
        obs,
        net.initial_state(n, dev),
        flags(n, t, |_, k| k == 0, dev),
        flags(n, t, |_, _| true, dev),
        a,
    )
}

#[test]
fn shapes_of_every_core() {
    let dev = device();
    for core in ALL {
        let net = PolicyConfig::bottleneck(core).init(&dev);
        let out = run_seq(&net, obs_seq(4, 3, 1, &dev), 2, &dev);
        assert_eq!(out.logits.dims(), [4, 3, 5], "{core:?}");
        assert_eq!(out.values.dims(), [4, 3], "{core:?}");
        assert_eq!(out.state.memory.dims(), [4, 16]);
        assert_eq!(out.state.history.dims(), [4, 8, 16]);
    }
}

#[test]
fn step_and_sequence_agree_and_reset_at_episode_starts() {
    let dev = device();
    let (n, t, boundary) = (4, 6, 3);
    for core in ALL {
        let net = PolicyConfig::bottleneck(core).init(&dev);
        let obs = obs_seq(n, t, 7, &dev);
        // Episode 0 (agents 0, 1) restarts at step 3; episode 1 runs straight through.
        let first = flags(n, t, |i, k| k == 0 || (i < 2 && k == boundary), &dev);
        let active = flags(n, t, |_, _| true, &dev);
        let seq = net.forward_sequence(
            obs.clone(),
            net.initial_state(n, &dev),
            first.clone(),
            active.clone(),
            2,
        );
        let mut state = net.initial_state(n, &dev);
        let mut stepped = Vec::new();
        for k in 0..t {
            let o = obs.clone().narrow(1, k, 1).reshape([n, 3, 5, 5]);
            let f = first.clone().narrow(1, k, 1).reshape([n]);
            let out = net.forward_step(o, state, f, active.clone().narrow(1, k, 1).reshape([n]), 2);
            stepped.extend(vec_of(out.logits));
            state = out.state;
        }
        let seq_logits = vec_of(seq.logits.clone().swap_dims(0, 1)); // [T, N, 5], like `stepped`
        assert!(max_diff(&seq_logits, &stepped) < 1e-5, "{core:?}");
        // After the boundary, episode 0 behaves like a fresh episode started there.
        let tail = t - boundary;
        let fresh = run_seq(&net, obs.narrow(1, boundary, tail), 2, &dev);
        let a = vec_of(seq.logits.narrow(1, boundary, tail).narrow(0, 0, 2));
        let b = vec_of(fresh.logits.narrow(0, 0, 2));
        assert!(
            max_diff(&a, &b) < 1e-5,
            "{core:?}: reset at the episode boundary"
        );
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
        state = net
            .forward_step(o, state, first, Tensor::ones([n], dev), 2)
            .state;
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
    for core in ALL {
        let net = PolicyConfig {
            seed: 9,
            ..PolicyConfig::bottleneck(core)
        }
        .init(&dev);
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
    for core in ALL {
        let net = PolicyConfig::bottleneck(core).init(&dev);
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
