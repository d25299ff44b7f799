//! Episode metrics exactly as pogema 1.4.0's metric wrappers compute them
//! (`pogema/wrappers/metrics.py`), plus a true sum of costs for `finish` mode.

use serde::{Deserialize, Serialize};

use crate::config::OnTarget;

/// Metrics reported on the step an episode finishes. Fields pogema does not emit for the
/// episode's mode are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeMetrics {
    /// Individual success rate (`finish`: fraction that ever arrived; `nothing`: on goal at the end).
    #[serde(rename = "ISR", skip_serializing_if = "Option::is_none")]
    pub isr: Option<f64>,
    /// Cooperative success rate: 1.0 iff all agents succeeded.
    #[serde(rename = "CSR", skip_serializing_if = "Option::is_none")]
    pub csr: Option<f64>,
    /// `finish`: mean arrival step + 1; `nothing`: final step + 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ep_length: Option<f64>,
    /// `nothing`: Σ_i step from which agent i stayed on goal (final step if not) + n.
    #[serde(rename = "SoC", skip_serializing_if = "Option::is_none")]
    pub soc: Option<f64>,
    /// `nothing`: max of those steps + 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub makespan: Option<f64>,
    /// `restart`: goal arrivals / `max_episode_steps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_throughput: Option<f64>,
    /// `finish` (rmapf extra): Σ_i (arrival step + 1), episode length for agents that never arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_of_costs: Option<f64>,
    /// `finish` (rmapf extra): the SRMT reference code's SoC, which equals n × episode length
    /// (its solve times reset after agents disappear); only for comparing with published SoC plots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soc_reference: Option<f64>,
    /// pogema's `AgentsDensityWrapper` (the POGEMA benchmark's wrapper, not in `pogema_v0`): the
    /// mean over the episode's observations, the reset's included, of the agents' mean density
    /// of agents in their window. Only when turned on (`Simulator::set_density_metric`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_agents_density: Option<f64>,
}

impl EpisodeMetrics {
    /// `(pogema name, value)` for every metric pogema 1.4.0 emits in this mode (no rmapf extras;
    /// `avg_agents_density` when it was recorded, as pogema's `AgentsDensityWrapper` adds it).
    pub fn pogema_pairs(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("ISR", self.isr),
            ("CSR", self.csr),
            ("ep_length", self.ep_length),
            ("SoC", self.soc),
            ("makespan", self.makespan),
            ("avg_throughput", self.avg_throughput),
            ("avg_agents_density", self.avg_agents_density),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// Per-episode metric state (pogema's wrapper counters).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsTracker {
    /// The wrappers' 0-based step counter (reset when an episode finishes).
    step: u32,
    /// Σ over steps of agents on goal (finish ISR/CSR; restart arrivals).
    arrivals: u64,
    /// Per agent: the step it arrived (finish) or has stayed on goal since (nothing).
    solve_time: Vec<Option<u32>>,
    /// Σ over the observations counted so far of the agents' mean density.
    density_sum: f64,
    /// Σ of the agents' densities in the observation being counted.
    density_open: f64,
    /// Observations counted (the reset's and one per step; 0 when the metric is off).
    density_observations: u32,
}

impl MetricsTracker {
    /// A tracker for `n` agents.
    pub fn new(n: usize) -> Self {
        Self {
            step: 0,
            arrivals: 0,
            solve_time: vec![None; n],
            density_sum: 0.0,
            density_open: 0.0,
            density_observations: 0,
        }
    }

    /// Adds one agent's density to the observation being counted.
    pub fn add_density(&mut self, density: f64) {
        self.density_open += density;
    }

    /// Closes the observation being counted: its mean over the episode's agents joins the
    /// episode mean.
    pub fn close_density(&mut self) {
        let n = self.solve_time.len();
        if n > 0 {
            self.density_sum += self.density_open / n as f64;
            self.density_observations += 1;
        }
        self.density_open = 0.0;
    }

    /// Whether an observation was counted since the episode began.
    pub fn density_counted(&self) -> bool {
        self.density_observations > 0
    }

    /// Forgets a partial episode (pogema keeps counting across `reset()`; rmapf starts afresh).
    pub fn clear(&mut self) {
        self.step = 0;
        self.arrivals = 0;
        self.solve_time.fill(None);
        self.density_sum = 0.0;
        self.density_open = 0.0;
        self.density_observations = 0;
    }

    /// Records one step: `on_goal[i]` = on goal and active after the move, before hiding.
    /// Returns the metrics when `finished` (all terminated or all truncated).
    pub fn record(
        &mut self,
        mode: OnTarget,
        on_goal: &[bool],
        finished: bool,
        max_episode_steps: u32,
    ) -> Option<EpisodeMetrics> {
        let n = on_goal.len() as f64;
        let step = self.step;
        let count = on_goal.iter().filter(|&&g| g).count() as u64;
        let mut out = None;
        match mode {
            OnTarget::Finish => {
                self.arrivals += count;
                for (t, &g) in self.solve_time.iter_mut().zip(on_goal) {
                    if t.is_none() && (g || finished) {
                        *t = Some(step);
                    }
                }
                if finished {
                    let times = self.solve_time.iter().map(|t| f64::from(t.unwrap_or(step)));
                    let total: f64 = times.sum();
                    out = Some(EpisodeMetrics {
                        isr: Some(self.arrivals as f64 / n),
                        csr: Some(if self.arrivals as f64 == n { 1.0 } else { 0.0 }),
                        ep_length: Some(total / n + 1.0),
                        sum_of_costs: Some(total + n),
                        soc_reference: Some(n * (f64::from(step) + 1.0)),
                        ..Default::default()
                    });
                }
            }
            OnTarget::Nothing => {
                for (t, &g) in self.solve_time.iter_mut().zip(on_goal) {
                    if t.is_none() && (g || finished) {
                        *t = Some(step);
                    }
                    if !g && !finished {
                        *t = None;
                    }
                }
                if finished {
                    let times = self.solve_time.iter().map(|t| t.unwrap_or(step));
                    let total: u64 = times.clone().map(u64::from).sum();
                    let max = times.max().unwrap_or(step);
                    out = Some(EpisodeMetrics {
                        isr: Some(count as f64 / n),
                        csr: Some(if count as f64 == n { 1.0 } else { 0.0 }),
                        ep_length: Some(f64::from(step) + 1.0),
                        soc: Some(total as f64 + n),
                        makespan: Some(f64::from(max) + 1.0),
                        ..Default::default()
                    });
                }
            }
            OnTarget::Restart => {
                self.arrivals += count;
                if finished {
                    out = Some(EpisodeMetrics {
                        avg_throughput: Some(self.arrivals as f64 / f64::from(max_episode_steps)),
                        ..Default::default()
                    });
                }
            }
        }
        if let Some(m) = &mut out {
            m.avg_agents_density = (self.density_observations > 0)
                .then(|| self.density_sum / f64::from(self.density_observations));
        }
        self.step += 1;
        if finished {
            self.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_is_the_mean_over_observations_of_the_agent_mean() {
        let mut m = MetricsTracker::new(2);
        // Reset observation: agents at 0.5 and 0.25; then one step at 0.0 and 0.25.
        for (d, close) in [(0.5, false), (0.25, true), (0.0, false), (0.25, true)] {
            m.add_density(d);
            if close {
                m.close_density();
            }
        }
        let out = m
            .record(OnTarget::Restart, &[false, false], true, 1)
            .unwrap();
        assert_eq!(out.avg_agents_density, Some((0.375 + 0.125) / 2.0));
        // Off (nothing counted): no value.
        let out = m
            .record(OnTarget::Restart, &[false, false], true, 1)
            .unwrap();
        assert_eq!(out.avg_agents_density, None);
    }

    #[test]
    fn finish_metrics_count_arrivals_once() {
        let mut m = MetricsTracker::new(2);
        assert_eq!(m.record(OnTarget::Finish, &[false, false], false, 4), None);
        assert_eq!(m.record(OnTarget::Finish, &[true, false], false, 4), None);
        let out = m
            .record(OnTarget::Finish, &[false, false], true, 4)
            .unwrap();
        assert_eq!(
            (out.isr, out.csr, out.ep_length, out.sum_of_costs),
            (Some(0.5), Some(0.0), Some(2.5), Some(5.0))
        );
    }

    #[test]
    fn nothing_soc_restarts_when_an_agent_leaves() {
        let mut m = MetricsTracker::new(2);
        m.record(OnTarget::Nothing, &[true, false], false, 9);
        m.record(OnTarget::Nothing, &[false, true], false, 9);
        let out = m.record(OnTarget::Nothing, &[true, true], true, 9).unwrap();
        // Agent 0 on goal since step 2, agent 1 since step 1.
        assert_eq!(
            (out.soc, out.makespan, out.csr, out.ep_length),
            (Some(5.0), Some(3.0), Some(1.0), Some(3.0))
        );
    }
}
