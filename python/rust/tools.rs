//! The trainer and the evaluator of the binaries, for Python: `rmapf.train` runs `train-srmt`'s
//! code and `rmapf.evaluate` / `rmapf.ray.evaluate` run `evaluate run`'s, with the GIL released
//! while they work. Requests travel as JSON, task results as the rows of an `episodes.csv` (exact
//! floats, NaN included).

use std::path::PathBuf;

use clap::Parser;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rmapf_train::evaluation::{Evaluation, EvaluationRequest, Task, TaskResult, write_outputs};
use rmapf_train::ppo::{IterationLog, TrainConfig};
use rmapf_train::report::{csv_bytes, records_from_csv};
use rmapf_train::train_cli::{TrainArgs, run_reporting};

/// An error of the trainer or the evaluator as a Python `ValueError`, with its causes.
fn error(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

fn evaluation(request_json: &str) -> PyResult<Evaluation> {
    EvaluationRequest::from_json(request_json)
        .and_then(Evaluation::new)
        .map_err(error)
}

/// Runs `args` with `train-srmt`'s code with the GIL released, calling `hook` (with the GIL) after
/// every iteration with its log and whether it checkpointed; an exception from `hook` stops the
/// run there (it resumes from its last checkpoint) and is raised here. Returns the run folder.
fn run_with_hook(
    py: Python<'_>,
    args: &TrainArgs,
    mut hook: impl FnMut(Python<'_>, &IterationLog, bool) -> PyResult<()> + Send,
) -> PyResult<PathBuf> {
    let mut raised: Option<PyErr> = None;
    let outcome = py.detach(|| {
        let mut on_iteration = |log: &IterationLog, checkpointed: bool| -> anyhow::Result<()> {
            Python::attach(|py| hook(py, log, checkpointed)).map_err(|e| {
                raised = Some(e);
                anyhow::anyhow!("stopped by a Python exception")
            })
        };
        run_reporting(args, TrainConfig::srmt_bottleneck(), &mut on_iteration)
    });
    match (outcome, raised) {
        (_, Some(e)) => Err(e),
        (Ok(dir), None) => Ok(dir),
        (Err(e), None) => Err(error(e)),
    }
}

/// Trains as `train-srmt ARGS...` does (the same code, the same run folder), with the GIL released;
/// returns the run folder. Ctrl-C (any pending Python signal handler that raises) stops the run
/// after the iteration in progress, as a kill would (it resumes from its last checkpoint), and its
/// exception is raised here.
#[pyfunction]
pub fn train(py: Python<'_>, args: Vec<String>) -> PyResult<PathBuf> {
    let argv = std::iter::once("train-srmt".to_string()).chain(args);
    let args = TrainArgs::try_parse_from(argv)
        .map_err(|e| PyValueError::new_err(e.render().to_string().trim().to_string()))?;
    run_with_hook(py, &args, |py, _, _| py.check_signals())
}

/// Checks an evaluation request (JSON) and returns `(label, tasks)`: the policy's name in the
/// results and every task as JSON, in order. Every error of the request is raised here, before
/// any episode runs.
#[pyfunction]
pub fn evaluation_plan(py: Python<'_>, request_json: &str) -> PyResult<(String, Vec<String>)> {
    py.detach(|| {
        let e = evaluation(request_json)?;
        let tasks = e
            .tasks()
            .iter()
            .map(|t| serde_json::to_string(t).map_err(|x| PyValueError::new_err(x.to_string())))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((e.label().to_string(), tasks))
    })
}

/// Runs one task of an evaluation (JSON request and task from [`evaluation_plan`]) with the GIL
/// released; returns its records as the bytes of an `episodes.csv`.
#[pyfunction]
pub fn evaluation_run_task(
    py: Python<'_>,
    request_json: &str,
    task_json: &str,
) -> PyResult<Vec<u8>> {
    py.detach(|| {
        let task: Task = serde_json::from_str(task_json)
            .map_err(|e| PyValueError::new_err(format!("reading the task: {e}")))?;
        let result = evaluation(request_json)?
            .run_task(task, |_| ())
            .map_err(error)?;
        csv_bytes(&result.records).map_err(error)
    })
}

/// Merges the results of every task (`(task JSON, csv bytes)` pairs, in any order) into the
/// evaluation's records, as `evaluate run` does; returns them as the bytes of an `episodes.csv`.
#[pyfunction]
pub fn evaluation_merge(
    py: Python<'_>,
    request_json: &str,
    results: Vec<(String, Vec<u8>)>,
) -> PyResult<Vec<u8>> {
    py.detach(|| {
        let e = evaluation(request_json)?;
        let results = results
            .iter()
            .map(|(task, rows)| {
                Ok(TaskResult {
                    task: serde_json::from_str(task)?,
                    records: records_from_csv(rows)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(error)?;
        let records = e.merge(results).map_err(error)?;
        csv_bytes(&records).map_err(error)
    })
}

/// Runs a whole evaluation in this process (as `evaluate run`) with the GIL released; returns its
/// records as the bytes of an `episodes.csv` ([`evaluation_write`] writes its files).
#[pyfunction]
pub fn evaluate(py: Python<'_>, request_json: &str) -> PyResult<Vec<u8>> {
    py.detach(|| {
        let records = evaluation(request_json)?.run(|_| ()).map_err(error)?;
        csv_bytes(&records).map_err(error)
    })
}

/// The sweep's folder of configs: `configs`, or the `trainers/configs` this wheel was built from.
fn configs_or_shipped(configs: Option<PathBuf>) -> PathBuf {
    configs.unwrap_or_else(rmapf_train::sweep::shipped_configs)
}

/// Checks a Bottleneck sweep (cores × rewards × seeds in `runs`) as `bottleneck-sweep` does before
/// its first run: known cores and rewards, valid config files, no conflicting run folder. Returns
/// the cells' run names in the order `bottleneck-sweep` runs them. `extra` are `train-srmt` flags
/// for every run, `fresh` only for new ones.
#[pyfunction]
#[pyo3(signature = (cores, rewards, seeds, runs, configs, extra, fresh))]
#[allow(clippy::too_many_arguments)]
pub fn sweep_plan(
    py: Python<'_>,
    cores: Vec<String>,
    rewards: Vec<String>,
    seeds: Vec<u64>,
    runs: PathBuf,
    configs: Option<PathBuf>,
    extra: Vec<String>,
    fresh: Vec<String>,
) -> PyResult<Vec<String>> {
    py.detach(|| {
        let cells = rmapf_train::sweep::cells(&cores, &rewards, &seeds);
        if cells.is_empty() {
            return Err(PyValueError::new_err(
                "cores, rewards and seeds leave no run to do",
            ));
        }
        rmapf_train::sweep::plan(&cells, &runs, &configs_or_shipped(configs), &extra, &fresh)
            .map_err(error)?;
        Ok(cells
            .iter()
            .map(rmapf_train::sweep::Cell::run_name)
            .collect())
    })
}

/// Carries one cell of a Bottleneck sweep to its end with `train-srmt`'s code, as
/// `bottleneck-sweep` does: a new run starts from `configs/bottleneck-<core>-<reward>.toml`, a
/// partial one resumes from its last checkpoint, a finished one is left alone.
/// `report(line, checkpointed)` is called with every iteration's metrics (a JSON line of
/// `metrics.jsonl`) and whether the run folder now holds that iteration's checkpoint (written
/// every `run.checkpoint_every` iterations); an exception it raises
/// stops the run (it resumes later from its checkpoint) and is raised here. Returns whether the
/// cell trained (`False`: it had finished before).
#[pyfunction]
#[pyo3(signature = (core, reward, seed, runs, configs, extra, fresh, report = None))]
#[allow(clippy::too_many_arguments)]
pub fn sweep_cell(
    py: Python<'_>,
    core: String,
    reward: String,
    seed: u64,
    runs: PathBuf,
    configs: Option<PathBuf>,
    extra: Vec<String>,
    fresh: Vec<String>,
    report: Option<Py<PyAny>>,
) -> PyResult<bool> {
    let cell = rmapf_train::sweep::Cell { core, reward, seed };
    let configs = configs_or_shipped(configs);
    let planned = py.detach(|| rmapf_train::sweep::plan(&[cell], &runs, &configs, &extra, &fresh));
    let Some(args) = planned.map_err(error)?.pop().flatten() else {
        return Ok(false);
    };
    run_with_hook(py, &args, |py, log, checkpointed| {
        let Some(report) = &report else {
            return Ok(());
        };
        let line = serde_json::to_string(log).map_err(|e| PyValueError::new_err(e.to_string()))?;
        report.call1(py, (line, checkpointed)).map(drop)
    })?;
    Ok(true)
}

/// Writes `sweep.md` and `sweep-csr.png`/`.svg` into `runs` from the cells' finished runs, as
/// `bottleneck-sweep` does at its end; returns the Markdown.
#[pyfunction]
pub fn sweep_report(
    py: Python<'_>,
    cores: Vec<String>,
    rewards: Vec<String>,
    seeds: Vec<u64>,
    runs: PathBuf,
) -> PyResult<String> {
    py.detach(|| {
        let cells = rmapf_train::sweep::cells(&cores, &rewards, &seeds);
        rmapf_train::sweep::write_report(&runs, &cells).map_err(error)
    })
}

/// Writes the files of an evaluation (`episodes.csv`, `summary.md`, the plots) from the records of
/// one or more policies (each the bytes of an `episodes.csv`, concatenated in this order), as
/// `evaluate run` writes one policy's and `evaluate compare` the merged results of several;
/// returns the names of the files.
#[pyfunction]
#[pyo3(signature = (csvs, out, maps_dir = None))]
pub fn evaluation_write(
    py: Python<'_>,
    csvs: Vec<Vec<u8>>,
    out: PathBuf,
    maps_dir: Option<PathBuf>,
) -> PyResult<Vec<String>> {
    py.detach(|| {
        let mut records = Vec::new();
        for rows in &csvs {
            records.extend(records_from_csv(rows).map_err(error)?);
        }
        let published = maps_dir.unwrap_or_else(rmapf_maps::benchmark_dir);
        Ok(write_outputs(&out, &records, &published)
            .map_err(error)?
            .files)
    })
}
