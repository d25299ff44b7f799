//! The held-out validation a training run chooses its `best/` model by: the model being trained,
//! run on the episodes of the suite named by `run.validation` (for the Bottleneck,
//! `bottleneck-valid`: corridor lengths and seeds that training never sees), with the same
//! observation, reward and path planner as training.

use anyhow::{Context, Result};
use rmapf_agents::Policy;
use rmapf_env::maps::suites::SuiteInstance;

use crate::evaluate::{EpisodeRecord, load_suite, run_instances_with};
use crate::neural::{CheckpointInputs, NeuralPolicy, check_window};
use crate::ppo::{HeldOut, TrainConfig, Trainer, mean};

/// Episodes of one validation batch stepped together.
const BATCH: usize = 256;

/// The validation episodes of a run, loaded once.
pub struct Validation {
    suite: String,
    instances: Vec<SuiteInstance>,
}

impl Validation {
    /// The episodes of `config.run.validation` (none: `Ok(None)`), as training sees them. The
    /// model samples its actions, as the SRMT reference evaluates (always, so that every
    /// validation of a run, resumed or not, is comparable).
    pub fn load(config: &TrainConfig) -> Result<Option<Self>> {
        let Some(suite) = &config.run.validation else {
            return Ok(None);
        };
        let (_, mut instances) =
            load_suite(suite, config.env.maps_dir.as_deref(), None, None, None)
                .with_context(|| format!("run.validation = {suite:?}"))?;
        // As a checkpoint of this run is evaluated: its observation, planner and reward.
        let inputs = CheckpointInputs::of_training(&config.env);
        for i in &mut instances {
            check_window(&config.model, suite, i.config.obs_radius)?;
            inputs.apply(&mut i.config);
        }
        Ok(Some(Self {
            suite: suite.clone(),
            instances,
        }))
    }

    /// Runs the trainer's current model on every validation episode (sampling seeded by the run's
    /// seed, so one run always scores a model alike, on any number of threads).
    pub fn run(&self, trainer: &Trainer) -> Result<HeldOut> {
        let (net, device) = trainer.inference_model();
        let side = trainer.config.model.encoder.side;
        let seed = trainer.config.run.seed;
        let make = |_shard: usize| -> Result<Box<dyn Policy>> {
            let policy = NeuralPolicy::from_net(net.clone(), device.clone(), side, false, seed);
            Ok(Box::new(match &trainer.config.env.advice {
                Some(name) => policy.with_advice(name, seed)?,
                None => policy,
            }))
        };
        let records = run_instances_with(
            &self.suite,
            &self.instances,
            "training model",
            trainer.config.env.threads,
            BATCH,
            make,
            |_| {},
        )?;
        let field = |f: fn(&EpisodeRecord) -> Option<f64>| mean(records.iter().filter_map(f));
        Ok(HeldOut {
            suite: self.suite.clone(),
            episodes: records.len(),
            csr: field(|r| r.csr),
            isr: field(|r| r.isr),
            sum_of_costs: field(|r| r.sum_of_costs),
            throughput: field(|r| r.avg_throughput),
        })
    }
}
