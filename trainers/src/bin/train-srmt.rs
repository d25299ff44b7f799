//! `cargo run --release --bin train-srmt`: recurrent PPO. Without `--config` it trains SRMT on the
//! Bottleneck training corridors with the Directional reward, on the CPU, with the SRMT paper's
//! hyperparameters scaled for a laptop; `--config FILE` trains any core, reward and suite.

/// mimalloc instead of glibc's allocator: burn allocates and frees a buffer for every tensor
/// operation, and training ran 8-12% faster with it (BENCHMARKS.md, "Allocators"); `main` tells it
/// to keep the memory it frees (`rmapf_train::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    rmapf_train::allocator::keep_freed_memory();
    rmapf_train::train_cli::main_with(rmapf_train::ppo::TrainConfig::srmt_bottleneck())
}
