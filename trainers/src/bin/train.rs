//! `train --config FILE`: recurrent PPO for any core, reward and suite from a TOML config.

fn main() -> anyhow::Result<()> {
    rmapf_train::train_cli::main_with(rmapf_train::ppo::TrainConfig::srmt_bottleneck())
}
