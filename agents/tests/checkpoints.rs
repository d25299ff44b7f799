//! Checkpoints written by earlier versions keep loading and give the same outputs: one tiny
//! network per core, saved by the version whose `PolicyNet` held every core's parts as optional
//! fields (before the cores became an enum), with the logits and values it computed on a fixed
//! input. Loading must give exactly those outputs, and initialising the same config must give
//! the same network (the cores draw their initial weights in the same order as then).
//!
//! `cargo test -p rmapf-agents --test checkpoints -- --ignored write_fixtures` rewrites the
//! fixtures with the current version (only for a deliberate format change).

mod common;

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rmapf_agents::nn::{CoreKind, PolicyConfig, PolicyNet, SequenceInput};

const CORES: [(CoreKind, &str); 6] = [
    (CoreKind::Srmt, "srmt"),
    (CoreKind::Rmt, "rmt"),
    (CoreKind::Attention, "attention"),
    (CoreKind::Empty, "empty"),
    (CoreKind::Gru, "gru"),
    (CoreKind::Rate, "rate"),
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/checkpoints-v1")
}

/// A tiny network of `core` (r = 2, 4 filters, width 8, 2 heads, 2 history tokens, RATE
/// segments of 2 steps), seed 3.
fn tiny(core: CoreKind) -> PolicyConfig {
    let mut c = PolicyConfig::bottleneck(core);
    c.encoder.filters = 4;
    c.encoder.width = 8;
    c.heads = 2;
    c.history = 2;
    c.gru_hidden = 6;
    c.rate.memory_tokens = 2;
    c.rate.segment = 2;
    c.rate.mrv_heads = 2;
    c.seed = 3;
    c
}

use common::data;

/// Logits then values of 2 episodes × 2 agents over 5 steps (an episode start at step 3 for
/// the first episode), flattened.
fn outputs(net: &PolicyNet, dev: &Device) -> Vec<f32> {
    let (n, t) = (4, 5);
    let obs = Tensor::<5>::from_data(
        TensorData::new(
            data(n * t * 75, 1)
                .iter()
                .map(|v| (*v > 0.0) as u8 as f32)
                .collect(),
            [n, t, 3, 5, 5],
        ),
        dev,
    );
    let first: Vec<f32> = (0..n * t)
        .map(|k| (k % t == 0 || (k / t < 2 && k % t == 3)) as u8 as f32)
        .collect();
    let actions: Vec<i64> = data(n * t, 2)
        .iter()
        .map(|v| ((v + 1.0) * 2.49) as i64)
        .collect();
    let input = SequenceInput {
        obs,
        is_first: Tensor::from_data(TensorData::new(first, [n, t]), dev),
        active: Tensor::ones([n, t], dev),
        prev_action: Tensor::<2, Int>::from_data(TensorData::new(actions, [n, t]), dev),
        prev_reward: Tensor::from_data(TensorData::new(data(n * t, 3), [n, t]), dev),
    };
    let out = net.forward_sequence(input, net.initial_state(n, dev), 2);
    let mut v = out.logits.into_data().try_to_vec::<f32>().unwrap();
    v.extend(out.values.into_data().try_to_vec::<f32>().unwrap());
    v
}

#[test]
#[ignore = "rewrites the fixtures"]
fn write_fixtures() {
    let dev = Device::flex();
    for (core, name) in CORES {
        let dir = fixtures().join(name);
        let net = tiny(core).init(&dev);
        net.save(&dir).unwrap();
        let bits: Vec<u32> = outputs(&net, &dev).iter().map(|v| v.to_bits()).collect();
        std::fs::write(dir.join("outputs.json"), serde_json::to_vec(&bits).unwrap()).unwrap();
    }
}

#[test]
fn earlier_checkpoints_load_and_give_their_outputs() {
    let dev = Device::flex();
    for (core, name) in CORES {
        let dir = fixtures().join(name);
        let saved: Vec<u32> =
            serde_json::from_slice(&std::fs::read(dir.join("outputs.json")).unwrap()).unwrap();
        // The fixtures are in the earlier layout: the current one does not read them directly
        // (except Empty's, whose parameters are the encoder's and the heads' in both).
        let direct = tiny(core).init(&dev).try_load_file(dir.join("weights.bpk"));
        assert_eq!(direct.is_ok(), core == CoreKind::Empty, "{name}");
        let loaded = PolicyNet::load(&dir, &dev).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        assert_eq!(bits(outputs(&loaded, &dev)), saved, "{name}: loaded");
        assert_eq!(
            bits(outputs(&tiny(core).init(&dev), &dev)),
            saved,
            "{name}: initialised from the same config"
        );
    }
}
