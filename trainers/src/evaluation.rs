//! One evaluation as `evaluate run`, Python's `rmapf.evaluate` and `rmapf.ray.evaluate` all run
//! it: a request, its tasks (the batches of episodes the evaluator steps together), each task's
//! records, and the files written from the records. Whether the tasks run in one process or on
//! the nodes of a cluster, in any order, the merged records and files are the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rmapf_agents::Policy;
use rmapf_agents::agreement::{Agreement, Shadowed};
use rmapf_agents::nn::PolicyConfig;
use rmapf_env::maps::suites::SuiteInstance;
use serde::{Deserialize, Serialize};

use crate::evaluate::{EpisodeRecord, batches, builtin_policy, load_suite, run_batch};
use crate::high_level::high_level_markdown;
use crate::neural::{CheckpointInputs, NeuralPolicy, check_checkpoint, check_window};
use crate::report::{
    Baselines, bottleneck_markdown, load_baselines, plots, summary_markdown, write_csv,
};

/// What to evaluate and how: the options of `evaluate run` (and of Python's `rmapf.evaluate`,
/// which sends it as JSON), except where the results go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRequest {
    /// A built-in policy name (see [`crate::evaluate::BUILTIN_POLICIES`]) or a checkpoint folder
    /// written by training.
    pub policy: String,
    /// The policy's name in the results (default: the built-in's name, or for a checkpoint its
    /// run folder's name).
    #[serde(default)]
    pub label: Option<String>,
    /// A checkpoint takes its most likely action instead of sampling.
    #[serde(default)]
    pub greedy: bool,
    /// A sampling checkpoint draws from its policy sharpened (below 1) or flattened (above 1)
    /// by this temperature: probabilities raised to `1 / temperature` and renormalised. `None`
    /// is the policy as trained (temperature 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Suite names or files, evaluated in this order.
    pub suites: Vec<String>,
    /// Overrides the suites' seeds.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// Overrides the suites' agent counts.
    #[serde(default)]
    pub agents: Option<Vec<i64>>,
    /// Only the first K maps of each suite.
    #[serde(default)]
    pub max_maps: Option<usize>,
    /// The POGEMA benchmark maps and published results (default: the copy shipped with rmapf).
    #[serde(default)]
    pub maps_dir: Option<PathBuf>,
    /// Simulator threads per batch (results depend on it for sampling checkpoints, whose
    /// generators are per shard of threads).
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Episodes stepped together (results of sampling checkpoints depend on it too).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Record the policy's decision time per step (`policy_ms_per_step`, the one column that
    /// varies from run to run); `false` leaves it empty, which makes the files byte-identical
    /// between runs.
    #[serde(default = "default_timing")]
    pub timing: bool,
    /// Where a checkpoint's network runs: `cpu` (burn flex), or `tch-cpu` / `cuda` in a build
    /// with the `tch` feature (see [`crate::ppo::device`]).
    #[serde(default = "default_device")]
    pub device: String,
    /// A built-in policy asked, at every step, what it would do in the state the evaluated policy
    /// acts in: how often the two agree, per suite (see [`Evaluation::agreement`]). The episodes
    /// are the evaluated policy's alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_with: Option<String>,
}

fn default_threads() -> usize {
    2
}
fn default_batch() -> usize {
    64
}
fn default_timing() -> bool {
    true
}
fn default_device() -> String {
    "cpu".to_string()
}

impl EvaluationRequest {
    /// A request with the defaults of `evaluate run` for `policy` on `suites`.
    pub fn new(policy: impl Into<String>, suites: Vec<String>) -> Self {
        Self {
            policy: policy.into(),
            label: None,
            greedy: false,
            temperature: None,
            suites,
            seeds: None,
            agents: None,
            max_maps: None,
            maps_dir: None,
            threads: default_threads(),
            batch: default_batch(),
            timing: default_timing(),
            device: default_device(),
            agreement_with: None,
        }
    }

    /// Parses a request from JSON (unknown fields are an error).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).context("reading the evaluation request")
    }

    /// The folder of published results and benchmark maps: `maps_dir` or the shipped copy.
    pub fn published_dir(&self) -> PathBuf {
        self.maps_dir
            .clone()
            .unwrap_or_else(rmapf_maps::benchmark_dir)
    }
}

/// One unit of work: batch `batch` of suite `suite` (indices into the request's suites and
/// [`Evaluation::tasks`]' batches of that suite).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Index of the suite in the request.
    pub suite: usize,
    /// Index of the batch within the suite.
    pub batch: usize,
}

/// A finished task: its records in the order of its batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task.
    pub task: Task,
    /// One record per episode of the batch.
    pub records: Vec<EpisodeRecord>,
}

/// One suite of an evaluation: its name, instances and batches.
pub struct SuiteWork {
    /// The suite's name.
    pub name: String,
    /// Its instances (with a checkpoint's inputs applied).
    pub instances: Vec<SuiteInstance>,
    /// Its batches: indices into `instances` (see [`batches`]).
    pub batches: Vec<Vec<usize>>,
}

/// A checked request with its suites loaded: every error a request can have is raised by
/// [`Evaluation::new`], before any episode runs.
pub struct Evaluation {
    request: EvaluationRequest,
    checkpoint: Option<PathBuf>,
    label: String,
    suites: Vec<SuiteWork>,
    /// Per suite, the agreement with `request.agreement_with` (empty without one).
    agreement: Vec<Arc<Agreement>>,
}

impl Evaluation {
    /// Checks `request` (policy, suites, options) and loads its suites.
    pub fn new(request: EvaluationRequest) -> Result<Self> {
        if request.suites.is_empty() {
            bail!("give at least one suite");
        }
        if request.threads == 0 || request.batch == 0 {
            bail!(
                "threads and batch must be at least 1 (got threads {}, batch {})",
                request.threads,
                request.batch
            );
        }
        if let Some(t) = request.temperature {
            if !(t.is_finite() && t > 0.0) {
                bail!("the sampling temperature must be a positive number, not {t}");
            }
            if request.greedy {
                bail!("give either a sampling temperature or greedy actions, not both");
            }
        }
        // An unknown device, or one this build lacks, is an error before any work starts.
        crate::ppo::device(&request.device)?;
        let checkpoint = Path::new(&request.policy)
            .exists()
            .then(|| PathBuf::from(&request.policy));
        let model: Option<PolicyConfig> = match &checkpoint {
            Some(dir) => Some(check_checkpoint(dir)?),
            None => {
                drop(builtin_policy(&request.policy, 0)?);
                if request.temperature.is_some() {
                    bail!(
                        "a sampling temperature applies to checkpoints; the built-in policy {:?} \
                         has none",
                        request.policy
                    );
                }
                None
            }
        };
        let label = request
            .label
            .clone()
            .unwrap_or_else(|| default_label(&request.policy, checkpoint.as_deref()));
        let inputs = checkpoint
            .as_deref()
            .map(CheckpointInputs::load)
            .transpose()?;
        if let Some(dir) = &request.maps_dir {
            check_published(dir, &request.suites)?;
        }
        if let Some(reference) = &request.agreement_with {
            drop(
                builtin_policy(reference, 0)
                    .with_context(|| format!("agreement with {reference:?}"))?,
            );
        }
        let mut suites = Vec::new();
        for name in &request.suites {
            let (suite, mut instances) = load_suite(
                name,
                request.maps_dir.as_deref(),
                request.seeds.as_deref(),
                request.agents.as_deref(),
                request.max_maps,
            )?;
            if let (Some(model), Some(inputs)) = (&model, &inputs) {
                // Learned policies read the follower observation (with the planner they were
                // trained with) and their training reward, in their own window size.
                for i in &mut instances {
                    inputs.apply(&mut i.config);
                    check_window(model, &suite.name, i.config.obs_radius)?;
                }
            }
            let batches = batches(&instances, request.batch);
            suites.push(SuiteWork {
                name: suite.name,
                instances,
                batches,
            });
        }
        let agreement = match &request.agreement_with {
            Some(_) => suites.iter().map(|_| Arc::default()).collect(),
            None => Vec::new(),
        };
        Ok(Self {
            request,
            checkpoint,
            label,
            suites,
            agreement,
        })
    }

    /// The request.
    pub fn request(&self) -> &EvaluationRequest {
        &self.request
    }

    /// The policy's name in the results.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The checkpoint folder, when the policy is one.
    pub fn checkpoint(&self) -> Option<&Path> {
        self.checkpoint.as_deref()
    }

    /// The suites with their instances and batches, in the request's order.
    pub fn suites(&self) -> &[SuiteWork] {
        &self.suites
    }

    /// Every task, suite by suite, batch by batch.
    pub fn tasks(&self) -> Vec<Task> {
        self.suites
            .iter()
            .enumerate()
            .flat_map(|(suite, w)| (0..w.batches.len()).map(move |batch| Task { suite, batch }))
            .collect()
    }

    /// How often the evaluated policy took the action `request.agreement_with` would have, in
    /// suite `suite` (by index) so far; `None` without a reference policy.
    pub fn agreement(&self, suite: usize) -> Option<&Agreement> {
        self.agreement.get(suite).map(|a| &**a)
    }

    /// The policy of one shard of a batch of suite `suite`.
    fn make_policy(&self, shard: usize, suite: usize) -> Result<Box<dyn Policy>> {
        let acting = self.make_acting_policy(shard)?;
        Ok(
            match (&self.request.agreement_with, self.agreement.get(suite)) {
                (Some(reference), Some(agreement)) => Box::new(Shadowed::new(
                    acting,
                    builtin_policy(reference, shard as u64)?,
                    agreement.clone(),
                )),
                _ => acting,
            },
        )
    }

    /// The evaluated policy of one shard.
    fn make_acting_policy(&self, shard: usize) -> Result<Box<dyn Policy>> {
        match &self.checkpoint {
            Some(dir) => Ok(Box::new(
                NeuralPolicy::load(
                    dir,
                    crate::ppo::device(&self.request.device)?,
                    self.request.greedy,
                    0,
                )?
                .with_temperature(self.request.temperature.unwrap_or(1.0)),
            )),
            None => builtin_policy(&self.request.policy, shard as u64),
        }
    }

    /// The instance indices of `task`'s batch, if the task is part of this evaluation.
    fn batch(&self, task: Task) -> Option<&[usize]> {
        let batch = self.suites.get(task.suite)?.batches.get(task.batch)?;
        Some(batch)
    }

    /// Runs one task, calling `progress` after each finished episode.
    pub fn run_task(&self, task: Task, progress: impl FnMut(usize)) -> Result<TaskResult> {
        let Some(indices) = self.batch(task) else {
            bail!(
                "task {task:?} is not part of this evaluation ({} tasks)",
                self.tasks().len()
            );
        };
        let work = &self.suites[task.suite];
        let mut records = run_batch(
            &work.name,
            &work.instances,
            indices,
            &self.label,
            self.request.threads,
            |shard| self.make_policy(shard, task.suite),
            progress,
        )?;
        if !self.request.timing {
            for r in &mut records {
                r.policy_ms_per_step = None;
            }
        }
        Ok(TaskResult { task, records })
    }

    /// Puts finished tasks (from anywhere, in any order) back together: every suite's records in
    /// instance order, suites in the request's order. Every task must be there exactly once.
    pub fn merge(&self, results: Vec<TaskResult>) -> Result<Vec<EpisodeRecord>> {
        let mut slots: Vec<Vec<Option<EpisodeRecord>>> = self
            .suites
            .iter()
            .map(|w| vec![None; w.instances.len()])
            .collect();
        let mut seen = BTreeMap::new();
        for result in results {
            let task = result.task;
            let Some(indices) = self.batch(task) else {
                bail!("result of task {task:?}, which is not part of this evaluation");
            };
            if seen.insert((task.suite, task.batch), ()).is_some() {
                bail!("task {task:?} was given twice");
            }
            if result.records.len() != indices.len() {
                bail!(
                    "task {task:?} has {} records for a batch of {} episodes",
                    result.records.len(),
                    indices.len()
                );
            }
            for (&i, record) in indices.iter().zip(result.records) {
                slots[task.suite][i] = Some(record);
            }
        }
        let missing = self.tasks().len() - seen.len();
        if missing > 0 {
            bail!("{missing} tasks of this evaluation have no result");
        }
        Ok(slots.into_iter().flatten().flatten().collect())
    }

    /// Runs every task of suite `k` in this process, calling `progress` after each episode.
    pub fn run_suite(&self, k: usize, mut progress: impl FnMut(usize)) -> Result<Vec<TaskResult>> {
        let n = self.suites.get(k).map_or(0, |w| w.batches.len());
        (0..n)
            .map(|batch| self.run_task(Task { suite: k, batch }, &mut progress))
            .collect()
    }

    /// Runs the whole evaluation in this process and returns its records.
    pub fn run(&self, mut progress: impl FnMut(usize)) -> Result<Vec<EpisodeRecord>> {
        let mut results = Vec::new();
        for k in 0..self.suites.len() {
            results.extend(self.run_suite(k, &mut progress)?);
        }
        self.merge(results)
    }
}

/// The label of a policy without `--label`: a built-in's name, or for a checkpoint its run folder's
/// name (`runs/<name>/checkpoint` → `<name>`).
fn default_label(policy: &str, checkpoint: Option<&Path>) -> String {
    match checkpoint {
        Some(dir) => {
            let dir = if dir.ends_with("checkpoint") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            dir.file_name()
                .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned())
        }
        None => policy.to_string(),
    }
}

/// Checks that a `maps_dir` given explicitly holds the published results of every benchmark
/// suite in `suites` (a mistyped folder would otherwise drop the baselines of the generated
/// suites, Random and Mazes, without a word: they read no map file).
fn check_published(dir: &Path, suites: &[String]) -> Result<()> {
    for suite in suites {
        if let Some(folder) = crate::report::published_folder(suite) {
            let path = dir.join(folder);
            if !path.is_dir() {
                bail!(
                    "--maps-dir {}: no folder {folder} of the POGEMA benchmark's maps and published results for suite {suite} (expected {})",
                    dir.display(),
                    path.display()
                );
            }
        }
    }
    Ok(())
}

fn baselines_for(
    records: &[EpisodeRecord],
    published: &Path,
) -> Result<BTreeMap<String, Baselines>> {
    let mut out = BTreeMap::new();
    for r in records {
        if !out.contains_key(&r.suite) {
            out.insert(r.suite.clone(), load_baselines(published, &r.suite)?);
        }
    }
    Ok(out)
}

/// The files of an evaluation, written by [`write_outputs`].
pub struct Outputs {
    /// The Markdown table of `summary.md`.
    pub summary: String,
    /// The file names written into the folder, `episodes.csv` and `summary.md` first.
    pub files: Vec<String>,
}

/// Writes `episodes.csv`, `summary.md` (beside the baselines published in `published`) and the
/// plots into `out`. The same records give byte-identical files.
pub fn write_outputs(out: &Path, records: &[EpisodeRecord], published: &Path) -> Result<Outputs> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_csv(&out.join("episodes.csv"), records)?;
    let baselines = baselines_for(records, published)?;
    let summary = summary_markdown(records, &baselines)
        + &bottleneck_markdown(records)
        + &high_level_markdown(records, published)?;
    std::fs::write(out.join("summary.md"), &summary)
        .with_context(|| format!("writing {}", out.join("summary.md").display()))?;
    let mut files = vec!["episodes.csv".to_string(), "summary.md".to_string()];
    files.extend(plots(out, records, &baselines)?);
    Ok(Outputs { summary, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> EvaluationRequest {
        let mut r = EvaluationRequest::new("pibt", vec!["mazes".into(), "random".into()]);
        r.max_maps = Some(1);
        r.seeds = Some(vec![0]);
        r.agents = Some(vec![8, 16]);
        r.batch = 1;
        r.timing = false;
        r
    }

    #[test]
    fn tasks_run_in_any_order_merge_into_the_records_of_one_run() {
        let e = Evaluation::new(request()).unwrap();
        let tasks = e.tasks();
        // Two suites × two agent counts, one episode per batch.
        assert_eq!(tasks.len(), 4);
        let whole = e.run(|_| ()).unwrap();
        let mut results: Vec<TaskResult> = tasks
            .iter()
            .rev()
            .map(|&t| e.run_task(t, |_| ()).unwrap())
            .collect();
        results.rotate_left(1);
        assert_eq!(e.merge(results.clone()).unwrap(), whole);
        assert!(whole.iter().all(|r| r.policy_ms_per_step.is_none()));
        assert_eq!(whole[0].suite, "mazes");
        // A missing, repeated or foreign task is an error, not a short table.
        let err = e.merge(results[..3].to_vec()).unwrap_err().to_string();
        assert!(err.contains("1 tasks"), "{err}");
        let mut twice = results.clone();
        twice.push(results[0].clone());
        assert!(e.merge(twice).unwrap_err().to_string().contains("twice"));
        let foreign = Task { suite: 5, batch: 0 };
        assert!(e.run_task(foreign, |_| ()).is_err());
    }

    #[test]
    fn agreement_counts_every_agent_step_per_suite_and_leaves_the_episodes_alone() {
        let plain = Evaluation::new(request()).unwrap();
        assert!(plain.agreement(0).is_none());
        let alone = plain.run(|_| ()).unwrap();
        let mut r = request();
        r.agreement_with = Some("pibt".into());
        let same = Evaluation::new(r).unwrap();
        assert_eq!(
            same.run(|_| ()).unwrap(),
            alone,
            "the reference does not act"
        );
        // Lifelong episodes run to their step limit with every agent active throughout.
        for (suite, work) in same.suites().iter().enumerate() {
            let agent_steps: u64 = work
                .instances
                .iter()
                .map(|i| i.num_agents as u64 * i.config.max_episode_steps as u64)
                .sum();
            assert!(
                agent_steps >= (8 + 16) * 128,
                "suite {suite}: {agent_steps}"
            );
            let a = same.agreement(suite).unwrap();
            assert_eq!(a.total(), agent_steps, "suite {suite}");
            assert_eq!(a.rate(), Some(1.0), "pibt against itself");
        }
        let mut r = request();
        r.agreement_with = Some("astar-follower".into());
        let other = Evaluation::new(r).unwrap();
        other.run(|_| ()).unwrap();
        let rate = other.agreement(0).unwrap().rate().unwrap();
        assert!(rate > 0.3 && rate < 1.0, "{rate}");
        let mut r = request();
        r.agreement_with = Some("no-such-policy".into());
        let err = Evaluation::new(r).err().expect("refused").to_string();
        assert!(err.contains("no-such-policy"), "{err}");
    }

    #[test]
    fn a_bad_request_fails_before_any_episode() {
        let mut r = request();
        r.policy = "no-such-policy".into();
        assert!(Evaluation::new(r).is_err());
        let mut r = request();
        r.suites = vec!["no-such-suite".into()];
        assert!(Evaluation::new(r).is_err());
        let mut r = request();
        r.threads = 0;
        assert!(Evaluation::new(r).is_err());
        // An unknown device, or `cuda` in a build without the `tch` feature.
        for device in ["tpu", "cuda"] {
            let mut r = request();
            r.device = device.into();
            if cfg!(feature = "tch") && device == "cuda" {
                continue;
            }
            let err = Evaluation::new(r).err().expect("refused");
            assert!(err.to_string().contains("not available"), "{err}");
        }
        for t in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let mut r = request();
            r.temperature = Some(t);
            let err = Evaluation::new(r)
                .err()
                .expect("a bad temperature is refused");
            assert!(err.to_string().contains("temperature"), "{err}");
        }
        let mut r = request();
        r.temperature = Some(0.5);
        r.greedy = true;
        assert!(Evaluation::new(r).is_err());
        // Built-in planners do not sample from a network.
        let mut r = request();
        r.temperature = Some(0.5);
        let err = Evaluation::new(r).err().expect("pibt has no temperature");
        assert!(err.to_string().contains("checkpoints"), "{err}");
        let err =
            EvaluationRequest::from_json(r#"{"policy": "pibt", "suites": ["mazes"], "thread": 2}"#)
                .unwrap_err();
        assert!(format!("{err:#}").contains("thread"), "{err:#}");
    }
}
