//! The `rmapf._rmapf` extension: one batched simulator class over numpy buffers, with the GIL
//! released while stepping, config validation, the planning core of pogema's A* agent, and the
//! trainer and evaluator of the binaries (`tools`).
//! Everything user-facing (pogema's API, PettingZoo, Gymnasium, VecEnv) is plain Python on top
//! (`python/src/rmapf`).

mod astar;
mod tools;

use numpy::{PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadwriteArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rmapf_env::grid::Components;
use rmapf_env::outputs::STEP_OUTPUTS;
use rmapf_env::{
    BatchSimulator, EnvConfig, EnvError, EpisodeMetrics, FlatOutputs, MapSpec, StepIo,
};

/// The `rmapf.errors` class for errors where pogema raises something other than `ValueError`
/// (each class derives from `ValueError` too), or `None` for a plain `ValueError`.
fn pogema_class(e: &EnvError) -> Option<&'static str> {
    match e {
        EnvError::UnknownSymbol { .. } => Some("ConfigKeyError"),
        // Letters together with agents_xy/targets_xy or with pools.
        EnvError::InvalidConfig { field: "map", .. } => Some("ConfigKeyError"),
        EnvError::InvalidConfig { field, reason }
            if field.ends_with("_xy") && reason.contains("out of bounds") =>
        {
            Some("PositionIndexError")
        }
        EnvError::CantCreateTask(_) => Some("TaskError"),
        EnvError::AgentNotOnMap { .. } | EnvError::CellOccupied => Some("GridKeyError"),
        EnvError::OutsideGrid { .. } => Some("PositionIndexError"),
        _ => None,
    }
}

/// The field of a config error that pogema's pydantic model reports as a `ValidationError`.
fn invalid_field(e: &EnvError) -> Option<&str> {
    match e {
        EnvError::InvalidConfig { field, .. } => Some(field),
        EnvError::UnreadableField { field, .. } => Some(field),
        _ => None,
    }
}

/// `e` as a Python exception: an `rmapf.errors` class where pogema raises `KeyError`,
/// `IndexError` or `OverflowError`; for a bad config field what `rmapf.errors.invalid_field`
/// makes (pydantic's `ValidationError`, a `ValueError`, as pogema raises, where pydantic is
/// installed); else `ValueError`. The message is rmapf's sentence.
fn value_error(e: EnvError) -> PyErr {
    let message = e.to_string();
    Python::attach(|py| {
        let errors = py.import("rmapf.errors");
        let made = match (pogema_class(&e), invalid_field(&e)) {
            (Some(class), _) => errors
                .and_then(|m| m.getattr(class))
                .and_then(|c| c.call1((message.clone(),))),
            (None, Some(field)) => errors
                .and_then(|m| m.getattr("invalid_field"))
                .and_then(|f| f.call1((message.clone(), field))),
            (None, None) => return PyValueError::new_err(message),
        };
        made.map_or_else(|_| PyValueError::new_err(message), PyErr::from_value)
    })
}

fn parse(json: &str) -> PyResult<EnvConfig> {
    EnvConfig::from_json_str(json).map_err(value_error)
}

/// Validates a config given as JSON (pogema `GridConfig` fields) as pogema's `GridConfig` does and
/// returns it normalised (width, height, size, density, num_agents filled in; a map as rows of
/// 0/1, its letters moved into agents_xy/targets_xy), as JSON; normalising the result again gives
/// it back. Whether the agents fit the map is checked when an env is built, as in pogema.
#[pyfunction]
fn resolve_config(json: &str) -> PyResult<String> {
    let (mut config, obstacles) = parse(json)?.normalize().map_err(value_error)?;
    if let (Some(obstacles), Some(width)) = (&obstacles, config.width) {
        let rows = obstacles
            .chunks(usize::try_from(width).unwrap_or(1).max(1))
            .map(|row| row.iter().map(|&v| i64::from(v)).collect())
            .collect();
        config.map = Some(MapSpec::Rows(rows));
    }
    serde_json::to_string(&config).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Every `EnvConfig` field with its default (pogema 1.4.0's `GridConfig` defaults plus rmapf's
/// extensions), as JSON: the one source of the Python `GridConfig`'s fields and defaults.
#[pyfunction]
fn config_defaults() -> PyResult<String> {
    serde_json::to_string(&EnvConfig::default()).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Threads this machine runs at once: the most worker threads a batch starts.
#[pyfunction]
fn machine_threads() -> usize {
    rmapf_env::machine_threads()
}

/// A batch of episodes stepped together; every shard writes straight into its rows of the
/// caller's numpy arrays.
#[pyclass(module = "rmapf._rmapf")]
struct Batch {
    sim: BatchSimulator,
    /// `[E]` metrics of the episodes that finished on the last step.
    metrics: Vec<Option<EpisodeMetrics>>,
    /// Agents `N`.
    num_agents: usize,
    agents_per_episode: Vec<usize>,
    obs_shape: (usize, usize, usize),
}

macro_rules! numpy_outputs {
    ($($(#[$doc:meta])* $name:ident: $t:tt, $rows:ident, [$($dim:tt),*], $fill:literal;)*) => {
        /// The output arrays of one call, borrowed writable from the numpy arrays of the same
        /// names on the Python `Buffers` object (`rmapf._buffers`).
        struct Outputs<'py> {
            $($name: PyReadwriteArrayDyn<'py, $t>,)*
        }

        impl<'py> Outputs<'py> {
            /// Borrows every array from `holder`'s attributes.
            fn borrow(holder: &Bound<'py, PyAny>) -> PyResult<Self> {
                Ok(Self {
                    $($name: holder
                        .getattr(stringify!($name))?
                        .cast_into::<PyArrayDyn<$t>>()
                        .map_err(|_| {
                            PyTypeError::new_err(format!(
                                "output array `{}` must be a numpy array of {}",
                                stringify!($name),
                                rmapf_env::__output_dtype!($t)
                            ))
                        })?
                        .try_readwrite()
                        .map_err(|e| PyValueError::new_err(format!(
                            "output array `{}` cannot be written: {e}",
                            stringify!($name)
                        )))?,)*
                })
            }

            fn flat(&mut self) -> PyResult<FlatOutputs<'_>> {
                Ok(FlatOutputs {
                    $($name: contiguous(self.$name.as_slice_mut(), stringify!($name))?,)*
                })
            }
        }
    };
}
rmapf_env::for_each_step_output!(numpy_outputs);

fn contiguous<'a, T>(
    r: Result<&'a mut [T], numpy::AsSliceError>,
    name: &str,
) -> PyResult<&'a mut [T]> {
    r.map_err(|_| PyValueError::new_err(format!("output array `{name}` must be C-contiguous")))
}

impl Batch {
    fn finished_metrics<'py>(&self, py: Python<'py>) -> PyResult<Vec<(usize, Bound<'py, PyDict>)>> {
        let mut out = Vec::new();
        for k in 0..self.agents_per_episode.len() {
            if let Some(m) = &self.metrics[k] {
                let d = PyDict::new(py);
                for (name, v) in m.pogema_pairs() {
                    d.set_item(name, v)?;
                }
                for (name, v) in [
                    ("sum_of_costs", m.sum_of_costs),
                    ("soc_reference", m.soc_reference),
                ] {
                    if let Some(v) = v {
                        d.set_item(name, v)?;
                    }
                }
                out.push((k, d));
            }
        }
        Ok(out)
    }
}

#[pymethods]
impl Batch {
    /// `configs`: one JSON config per episode; all share `obs_radius` and `observation_type`.
    #[new]
    #[pyo3(signature = (configs, threads = 1, auto_reset = false))]
    fn new(configs: Vec<String>, threads: usize, auto_reset: bool) -> PyResult<Self> {
        let configs = configs
            .iter()
            .map(|c| parse(c))
            .collect::<PyResult<Vec<_>>>()?;
        let mut sim = BatchSimulator::new(&configs, threads).map_err(value_error)?;
        sim.set_auto_reset(auto_reset);
        let layouts = sim.layouts();
        let agents_per_episode: Vec<usize> = layouts
            .iter()
            .flat_map(|l| l.agents_per_episode.clone())
            .collect();
        let l = layouts[0];
        let obs_shape = (l.channels, l.side, l.side);
        let n = agents_per_episode.iter().sum();
        Ok(Self {
            sim,
            metrics: vec![None; agents_per_episode.len()],
            num_agents: n,
            agents_per_episode,
            obs_shape,
        })
    }

    /// Agents per episode, in episode order.
    #[getter]
    fn agents_per_episode(&self) -> Vec<usize> {
        self.agents_per_episode.clone()
    }

    /// `(C, R, R)`.
    #[getter]
    fn obs_shape(&self) -> (usize, usize, usize) {
        self.obs_shape
    }

    /// Resets every episode and fills the output arrays, the attributes of `outputs` named as
    /// in `output_spec` (`rmapf._buffers.Buffers`).
    fn reset(&mut self, py: Python<'_>, outputs: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut out = Outputs::borrow(outputs)?;
        let flat = out.flat()?;
        let (sim, metrics) = (&mut self.sim, &mut self.metrics);
        py.detach(move || sim.reset_into(StepIo { out: flat, metrics }))
            .map_err(value_error)
    }

    /// Every output array as `(name, numpy dtype, shape, initial value)`, in order: what
    /// `outputs` must hold.
    fn output_spec(&self) -> Vec<(&'static str, &'static str, Vec<usize>, f64)> {
        let sizes = self.sim.output_sizes();
        STEP_OUTPUTS
            .iter()
            .map(|o| (o.name, o.dtype, o.shape(sizes), o.fill))
            .collect()
    }

    /// Steps every episode with `actions` (int64, one per agent, 0..5) and fills the output
    /// arrays; returns `[(episode, metrics)]` for the episodes that finished on this step.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        actions_in: PyReadonlyArray1<'py, i64>,
        outputs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<(usize, Bound<'py, PyDict>)>> {
        let given = actions_in.as_array();
        if given.len() != self.num_agents {
            return Err(value_error(EnvError::WrongActionCount {
                expected: self.num_agents,
                found: given.len(),
            }));
        }
        if let Some((i, &a)) = given.iter().enumerate().find(|(_, a)| !(0..5).contains(*a)) {
            return Err(PyValueError::new_err(format!(
                "action {a} of agent {i} is out of range; actions are 0..=4 (stay, up, down, left, right)"
            )));
        }
        let mut out = Outputs::borrow(outputs)?;
        let flat = out.flat()?;
        // The step reads its actions from the `actions` array, which it overwrites with the
        // actions as resolved.
        if flat.actions.len() != given.len() {
            return Err(value_error(EnvError::WrongBufferLength {
                name: "actions",
                expected: given.len(),
                found: flat.actions.len(),
            }));
        }
        for (slot, &a) in flat.actions.iter_mut().zip(given.iter()) {
            *slot = a as u8;
        }
        let (sim, metrics) = (&mut self.sim, &mut self.metrics);
        py.detach(move || sim.step_into(StepIo { out: flat, metrics }))
            .map_err(value_error)?;
        self.finished_metrics(py)
    }

    /// Sets episode `k`'s instance seed from the next reset on (`None`: a fresh instance from OS
    /// entropy at every reset, as pogema does without a seed).
    #[pyo3(signature = (k, seed))]
    fn set_seed(&mut self, k: usize, seed: Option<u64>) -> PyResult<()> {
        self.sim.set_seed(k, seed).map_err(value_error)
    }

    /// Sets how many times episode `k` may draw a random instance again when its agents do not
    /// fit (pogema's `Grid(num_retries=...)`; 10 by default), from the next reset on.
    fn set_placement_retries(&mut self, k: usize, retries: usize) -> PyResult<()> {
        self.sim
            .edit_episode(k, |e| {
                e.instances.placement_retries = retries;
                Ok(())
            })
            .map_err(value_error)
    }

    /// How many times episode `k`'s last reset drew its instance again before it fit (what
    /// pogema's "Created valid configuration only with N attempts" warning counts).
    fn placement_redraws(&mut self, k: usize) -> PyResult<usize> {
        self.sim
            .edit_episode(k, |e| Ok(e.instances.redraws))
            .map_err(value_error)
    }

    /// Episode `k`'s state: unpadded positions, goals, activity, start cells, `on_goal` (pogema's
    /// `was_on_goal`), occupied cells, obstacles and the steps since reset.
    fn snapshot<'py>(&mut self, py: Python<'py>, k: usize) -> PyResult<Bound<'py, PyDict>> {
        let s = self.sim.snapshot(k).map_err(value_error)?;
        let d = PyDict::new(py);
        d.set_item("positions", s.positions)?;
        d.set_item("goals", s.goals)?;
        d.set_item("active", s.active)?;
        d.set_item("starts", s.starts)?;
        d.set_item("on_goal", s.on_goal)?;
        d.set_item("occupied", s.occupied)?;
        d.set_item("obstacles", s.obstacles)?;
        d.set_item("elapsed", s.elapsed)?;
        Ok(d)
    }

    /// pogema's `Grid.move_agent_to_cell` on episode `k` (persistent rewind): `agent` to the
    /// padded cell `(x, y)`.
    fn move_agent_to_cell(&mut self, k: usize, agent: usize, x: i64, y: i64) -> PyResult<()> {
        self.sim
            .edit_episode(k, |e| e.move_agent_to_cell(agent, [x, y]))
            .map_err(value_error)
    }

    /// pogema's `Grid.hide_agent` on episode `k`; whether the agent was active.
    fn hide_agent(&mut self, k: usize, agent: usize) -> PyResult<bool> {
        self.sim
            .edit_episode(k, |e| e.hide_agent(agent))
            .map_err(value_error)
    }

    /// pogema's `Grid.show_agent` on episode `k`; whether the agent was hidden.
    fn show_agent(&mut self, k: usize, agent: usize) -> PyResult<bool> {
        self.sim
            .edit_episode(k, |e| e.show_agent(agent))
            .map_err(value_error)
    }

    /// Sets `agent`'s goal in episode `k` to the padded cell `(x, y)` (pogema's
    /// `finishes_xy[agent] = x, y`).
    fn set_goal(&mut self, k: usize, agent: usize, x: i64, y: i64) -> PyResult<()> {
        self.sim
            .edit_episode(k, |e| e.set_goal(agent, [x, y]))
            .map_err(value_error)
    }

    /// Draws `agent`'s next lifelong goal in episode `k` from its stream without assigning it
    /// (pogema's `PogemaLifeLong._generate_new_target`); the padded cell `(x, y)`.
    fn draw_goal(&mut self, k: usize, agent: usize) -> PyResult<(i64, i64)> {
        let [x, y] = self
            .sim
            .edit_episode(k, |e| e.draw_goal(agent))
            .map_err(value_error)?;
        Ok((x, y))
    }

    /// Sets episode `k`'s steps since its reset (pogema's `set_elapsed_steps`).
    fn set_elapsed(&mut self, k: usize, steps: u32) -> PyResult<()> {
        self.sim
            .edit_episode(k, |e| {
                e.set_elapsed(steps);
                Ok(())
            })
            .map_err(value_error)
    }

    /// Episode `k`'s padded obstacle grid (MAPF's `global_obstacles`), `[H + 2r, W + 2r]` u8.
    fn padded_obstacles<'py>(
        &self,
        py: Python<'py>,
        k: usize,
    ) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let (cells, stride) = self.sim.padded_obstacles(k).map_err(value_error)?;
        grid_array(py, cells, stride)
    }

    /// Episode `k`'s connected components on its padded obstacle grid, `[H + 2r, W + 2r]` u32:
    /// 0 on obstacles (the border ring included), else the component's id, 1-based in the order
    /// a row-major scan meets them (pogema's `get_components` numbers them the same way from 2).
    fn component_labels<'py>(
        &self,
        py: Python<'py>,
        k: usize,
    ) -> PyResult<Bound<'py, PyArray2<u32>>> {
        let (cells, stride) = self.sim.padded_obstacles(k).map_err(value_error)?;
        let comps = Components::label(cells, cells.len() / stride, stride);
        grid_array(py, &comps.label, stride)
    }
}

/// A row-major grid of `stride` columns as a 2-D numpy array, `[cells.len() / stride, stride]`.
fn grid_array<'py, T: numpy::Element + Copy>(
    py: Python<'py>,
    cells: &[T],
    stride: usize,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let rows: Vec<Vec<T>> = cells.chunks(stride).map(<[T]>::to_vec).collect();
    PyArray2::from_vec2(py, &rows).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// An animated SVG of a recorded episode: `rows` of `.`/`#`, `positions[t][i]` and `goals[t][i]`
/// as `[row, col]`, `active[t][i]`.
#[pyfunction]
#[pyo3(signature = (rows, positions, goals, active, seconds_per_step = 0.25))]
fn episode_svg(
    rows: Vec<String>,
    positions: Vec<Vec<[i64; 2]>>,
    goals: Vec<Vec<[i64; 2]>>,
    active: Vec<Vec<bool>>,
    seconds_per_step: f64,
) -> PyResult<String> {
    let width = rows.first().map_or(0, String::len);
    if rows.is_empty() || rows.iter().any(|r| r.len() != width) {
        return Err(PyValueError::new_err(
            "rows must be non-empty and of equal length",
        ));
    }
    let n = positions.first().map_or(0, Vec::len);
    let well_formed = !positions.is_empty()
        && !goals.is_empty()
        && positions.iter().chain(&goals).all(|p| p.len() == n)
        && active.iter().all(|a| a.len() == n);
    if !well_formed {
        return Err(PyValueError::new_err(
            "positions, goals and active need one entry per agent at every step",
        ));
    }
    Ok(rmapf_env::maps::render::episode_svg(
        &rows,
        &positions,
        &goals,
        &active,
        seconds_per_step,
    ))
}

/// The compiled core of the `rmapf` package.
#[pymodule]
fn _rmapf(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Batch>()?;
    // pogema's `Grid(num_retries=...)` default, defined once in the Rust core.
    m.add("PLACEMENT_RETRIES", rmapf_env::instance::PLACEMENT_RETRIES)?;
    m.add_class::<astar::AStarCore>()?;
    m.add_class::<astar::AStarBatch>()?;
    m.add_function(wrap_pyfunction!(resolve_config, m)?)?;
    m.add_function(wrap_pyfunction!(config_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(machine_threads, m)?)?;
    m.add_function(wrap_pyfunction!(episode_svg, m)?)?;
    m.add_function(wrap_pyfunction!(tools::train, m)?)?;
    m.add_function(wrap_pyfunction!(tools::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(tools::evaluation_plan, m)?)?;
    m.add_function(wrap_pyfunction!(tools::evaluation_run_task, m)?)?;
    m.add_function(wrap_pyfunction!(tools::evaluation_merge, m)?)?;
    m.add_function(wrap_pyfunction!(tools::evaluation_write, m)?)?;
    m.add_function(wrap_pyfunction!(tools::sweep_plan, m)?)?;
    m.add_function(wrap_pyfunction!(tools::sweep_cell, m)?)?;
    m.add_function(wrap_pyfunction!(tools::sweep_report, m)?)?;
    Ok(())
}
