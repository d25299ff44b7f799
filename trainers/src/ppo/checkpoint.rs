//! Checkpoints: the model, optimiser and trainer state written as one folder, atomically (a
//! temporary folder renamed into place), and read back on resume.

use std::path::Path;

use anyhow::{Context, Result};
use burn::optim::AdamConfig;
use rmapf_agents::nn::PolicyNet;
use serde::{Deserialize, Serialize};

use super::rollout::EpisodeStats;
use super::{IterationLog, Trainer, TrainerState};
use crate::neural::SplitMix;

impl Trainer {
    /// Writes `dir/checkpoint` atomically (model, optimiser, trainer state) and restarts the
    /// episodes, so that resuming from it continues exactly like this run does.
    pub fn checkpoint(&mut self, dir: &Path) -> Result<()> {
        self.count_before_restart();
        write_dir_atomically(dir, "checkpoint", |tmp| {
            self.learner.model.save(&tmp.join("model"))?;
            self.inputs().save(&tmp.join("model"))?;
            self.learner
                .optim
                .save(tmp.join("optimizer.bpk"))
                .map_err(|e| anyhow::anyhow!("saving the optimiser: {e}"))?;
            let saved = SavedState {
                progress: self.progress.clone(),
                learner_rng: self.learner.rng,
                actor_rng: self.actor.rng,
                recent: self.recent.iter().copied().collect(),
            };
            std::fs::write(tmp.join("trainer.json"), serde_json::to_vec_pretty(&saved)?)?;
            Ok(())
        })?;
        self.actor.restart()
    }

    /// Writes the current model to `dir/best/model` with `dir/best/best.json` (the iteration's
    /// log), atomically (which model is best is the caller's rule: held-out results, or the
    /// reference's training CSR).
    pub fn save_best(&self, dir: &Path, log: &IterationLog) -> Result<()> {
        write_dir_atomically(dir, "best", |tmp| {
            self.learner.model.save(&tmp.join("model"))?;
            self.inputs().save(&tmp.join("model"))?;
            std::fs::write(tmp.join("best.json"), serde_json::to_vec_pretty(log)?)?;
            Ok(())
        })
    }

    /// Restores model, optimiser and trainer state from `dir/checkpoint`.
    pub fn restore(&mut self, dir: &Path) -> Result<()> {
        recover_dir(dir, "checkpoint")?;
        let ck = dir.join("checkpoint");
        self.learner.model = PolicyNet::load(&ck.join("model"), &self.learner.device)?;
        let optim = AdamConfig::new().with_epsilon(1e-6).init();
        self.learner.optim = optim
            .load(ck.join("optimizer.bpk"))
            .map_err(|e| anyhow::anyhow!("loading the optimiser: {e}"))?;
        let saved: SavedState = serde_json::from_slice(&std::fs::read(ck.join("trainer.json"))?)
            .context("reading trainer.json")?;
        self.progress = saved.progress;
        self.learner.rng = saved.learner_rng;
        self.actor.rng = saved.actor_rng;
        self.recent = saved.recent.into();
        self.actor.restart()
    }
}

/// Replaces `dir/name` with a folder that `fill` writes: `fill` writes `dir/name.tmp`, which is
/// then renamed into place (the previous folder moved aside to `dir/name.old` first and removed
/// last), so a kill at any point leaves a complete folder at `dir/name` or, between the two
/// renames, at `dir/name.old`, which [`recover_dir`] moves back.
fn write_dir_atomically(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    fill(&tmp)?;
    let target = dir.join(name);
    let old = dir.join(format!("{name}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&tmp, &target)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Moves `dir/name.old` back to `dir/name` when a kill between the two renames of an atomic
/// folder write (checkpoints, `best/`) left only the former.
pub fn recover_dir(dir: &Path, name: &str) -> Result<()> {
    let (target, old) = (dir.join(name), dir.join(format!("{name}.old")));
    if !target.exists() && old.exists() {
        std::fs::rename(&old, &target)?;
    }
    Ok(())
}

/// What `trainer.json` holds besides the model and optimiser.
#[derive(Serialize, Deserialize)]
struct SavedState {
    progress: TrainerState,
    learner_rng: SplitMix,
    actor_rng: SplitMix,
    /// The finished episodes the logged means run over (empty in checkpoints written before it
    /// was saved).
    #[serde(default)]
    recent: Vec<EpisodeStats>,
}
