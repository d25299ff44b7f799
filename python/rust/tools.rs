//! The trainer and the evaluator of the binaries, for Python: `rmapf.train` runs `train-srmt`'s
//! code and `rmapf.evaluate` / `rmapf.ray.evaluate` run `evaluate run`'s, with the GIL released
//! while they work. Requests travel as JSON, task results as the rows of an `episodes.csv` (exact
//! floats, NaN included).

use std::path::PathBuf;

use clap::Parser;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rmapf_train::evaluation::{Evaluation, EvaluationRequest, Task, TaskResult, write_outputs};
use rmapf_train::ppo::TrainConfig;
use rmapf_train::report::{csv_bytes, records_from_csv};
use rmapf_train::train_cli::{TrainArgs, run};

/// An error of the trainer or the evaluator as a Python `ValueError`, with its causes.
fn error(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

fn evaluation(request_json: &str) -> PyResult<Evaluation> {
    EvaluationRequest::from_json(request_json)
        .and_then(Evaluation::new)
        .map_err(error)
}

/// Trains as `train-srmt ARGS...` does (the same code, the same run folder), with the GIL released;
/// returns the run folder.
#[pyfunction]
pub fn train(py: Python<'_>, args: Vec<String>) -> PyResult<PathBuf> {
    let argv = std::iter::once("train-srmt".to_string()).chain(args);
    let args = TrainArgs::try_parse_from(argv)
        .map_err(|e| PyValueError::new_err(e.render().to_string().trim().to_string()))?;
    py.detach(|| run(&args, TrainConfig::srmt_bottleneck()))
        .map_err(error)
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
/// evaluation's records and writes its files into `out` when given, as `evaluate run` does;
/// returns the records as the bytes of an `episodes.csv`.
#[pyfunction]
#[pyo3(signature = (request_json, results, out = None))]
pub fn evaluation_merge(
    py: Python<'_>,
    request_json: &str,
    results: Vec<(String, Vec<u8>)>,
    out: Option<PathBuf>,
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
        finish(&e, &records, out)
    })
}

/// Writes the files of `records` into `out` (when given) and returns the records' CSV bytes.
fn finish(
    e: &Evaluation,
    records: &[rmapf_train::evaluate::EpisodeRecord],
    out: Option<PathBuf>,
) -> PyResult<Vec<u8>> {
    if let Some(out) = out {
        write_outputs(&out, records, &e.request().published_dir()).map_err(error)?;
    }
    csv_bytes(records).map_err(error)
}

/// Runs a whole evaluation in this process (as `evaluate run`) with the GIL released and writes
/// its files into `out` when given; returns its records as the bytes of an `episodes.csv`.
#[pyfunction]
#[pyo3(signature = (request_json, out = None))]
pub fn evaluate(py: Python<'_>, request_json: &str, out: Option<PathBuf>) -> PyResult<Vec<u8>> {
    py.detach(|| {
        let e = evaluation(request_json)?;
        let records = e.run(|_| ()).map_err(error)?;
        finish(&e, &records, out)
    })
}
