//! `cargo run --release --bin train-srmt`: SRMT on the Bottleneck training corridors with the
//! Directional reward, on the CPU, with the SRMT paper's hyperparameters scaled for a laptop.

fn main() -> anyhow::Result<()> {
    rmapf_train::train_cli::main_with(rmapf_train::ppo::TrainConfig::srmt_bottleneck())
}
