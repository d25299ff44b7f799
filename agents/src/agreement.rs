//! How often one policy takes the action another would in the states the first one visits: the
//! imitation fidelity of a learned policy against the planner it was taught by, measured on the
//! benchmark's episodes rather than on training batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmapf_env::StepBuffers;

use crate::policy::{EpisodeView, Policy};

/// Counts of (reference action, acting action) pairs over active agent-steps, shared by the
/// shards of an evaluation (`[5][5]`, row: the reference's action, column: the acting one's).
#[derive(Debug, Default)]
pub struct Agreement {
    counts: [[AtomicU64; 5]; 5],
}

impl Agreement {
    /// The counts so far, `[reference][acting]`.
    pub fn counts(&self) -> [[u64; 5]; 5] {
        std::array::from_fn(|r| std::array::from_fn(|a| self.counts[r][a].load(Ordering::Relaxed)))
    }

    /// Agent-steps counted.
    pub fn total(&self) -> u64 {
        self.counts().iter().flatten().sum()
    }

    /// Share of counted agent-steps where both chose the same action (`None` before any).
    pub fn rate(&self) -> Option<f64> {
        let counts = self.counts();
        let total: u64 = counts.iter().flatten().sum();
        let same: u64 = (0..5).map(|a| counts[a][a]).sum();
        (total > 0).then(|| same as f64 / total as f64)
    }

    /// A markdown table of the counts as shares of all counted agent-steps, one row per
    /// reference action and one column per acting action, in pogema's action order.
    pub fn markdown(&self, reference: &str, acting: &str) -> String {
        const ACTIONS: [&str; 5] = ["wait", "up", "down", "left", "right"];
        let counts = self.counts();
        let total = counts.iter().flatten().sum::<u64>().max(1) as f64;
        let mut out = format!(
            "| {reference} \\ {acting} | {} |\n|---|{}\n",
            ACTIONS.join(" | "),
            "---:|".repeat(5)
        );
        for (name, row) in ACTIONS.iter().zip(counts) {
            let cells: Vec<String> = row
                .iter()
                .map(|&c| format!("{:.2}%", 100.0 * c as f64 / total))
                .collect();
            out += &format!("| {name} | {} |\n", cells.join(" | "));
        }
        out
    }

    fn add(&self, reference: u8, acting: u8) {
        if let (Some(row), true) = (self.counts.get(usize::from(reference)), acting < 5) {
            row[usize::from(acting)].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `acting` drives the episodes; `reference` is asked what it would do in the same state, and the
/// pair of actions of every active agent goes into `agreement`.
pub struct Shadowed {
    acting: Box<dyn Policy>,
    reference: Box<dyn Policy>,
    agreement: Arc<Agreement>,
    scratch: Vec<u8>,
}

impl Shadowed {
    /// `acting`, shadowed by `reference`, counting into `agreement`.
    pub fn new(
        acting: Box<dyn Policy>,
        reference: Box<dyn Policy>,
        agreement: Arc<Agreement>,
    ) -> Self {
        Self {
            acting,
            reference,
            agreement,
            scratch: Vec::new(),
        }
    }
}

impl Policy for Shadowed {
    fn name(&self) -> &str {
        self.acting.name()
    }

    fn reset_episode(&mut self, episode: usize) {
        self.acting.reset_episode(episode);
        self.reference.reset_episode(episode);
    }

    fn act(
        &mut self,
        episodes: &[EpisodeView<'_>],
        buffers: &StepBuffers,
        radius: usize,
        actions: &mut [u8],
    ) {
        self.acting.act(episodes, buffers, radius, actions);
        self.scratch.resize(actions.len(), 0);
        self.reference
            .act(episodes, buffers, radius, &mut self.scratch);
        for ((&a, &r), &active) in actions.iter().zip(&self.scratch).zip(&buffers.active) {
            if active {
                self.agreement.add(r, a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::Constant;

    #[test]
    fn counts_pairs_of_active_agents_only() {
        let agreement = Arc::new(Agreement::default());
        assert_eq!(agreement.rate(), None);
        let buffers = StepBuffers {
            active: vec![true, false, true],
            ..Default::default()
        };
        let mut actions = vec![0u8; 3];
        let mut same = Shadowed::new(
            Box::new(Constant(2)),
            Box::new(Constant(2)),
            agreement.clone(),
        );
        same.act(&[], &buffers, 5, &mut actions);
        assert_eq!(
            actions,
            [2, 2, 2],
            "the acting policy's actions are the ones taken"
        );
        let mut other = Shadowed::new(
            Box::new(Constant(1)),
            Box::new(Constant(4)),
            agreement.clone(),
        );
        other.act(&[], &buffers, 5, &mut actions);
        assert_eq!(agreement.total(), 4);
        assert_eq!(agreement.counts()[2][2], 2);
        assert_eq!(agreement.counts()[4][1], 2);
        assert_eq!(agreement.rate(), Some(0.5));
        let table = agreement.markdown("ref", "act");
        assert!(
            table.contains("| down | 0.00% | 0.00% | 50.00% |"),
            "{table}"
        );
        assert!(table.contains("| right | 0.00% | 50.00% |"), "{table}");
    }
}
