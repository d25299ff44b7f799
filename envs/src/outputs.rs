//! The arrays one step writes, listed once: [`for_each_step_output!`] holds each array's name,
//! element type, rows (one per agent or per episode), row shape and initial value. The owned
//! buffers ([`crate::StepBuffers`]), the borrowed arrays every step writes into ([`FlatOutputs`],
//! inside a [`StepIo`]), the table [`STEP_OUTPUTS`] and the Python extension's numpy arrays are all
//! generated from it, so adding an output is one line there.
//!
//! The simulator writes into whatever arrays the caller lends it (its own [`crate::StepBuffers`],
//! or slices of numpy arrays): a batch's shards write straight into their rows of the caller's
//! arrays, and nothing is copied afterwards.

use crate::metrics::EpisodeMetrics;

/// Whether an output has one row per agent (`[N, ...]`) or one per episode (`[E, ...]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// `N` rows, one per agent, in episode order.
    Agent,
    /// `E` rows, one per episode.
    Episode,
}

/// One dimension of an output's row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// The observation channels `C`.
    Channels,
    /// The observation window side `R`.
    Side,
    /// A fixed size.
    Fixed(usize),
}

/// The sizes an output array's shape follows from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSizes {
    /// Agents `N`.
    pub agents: usize,
    /// Episodes `E`.
    pub episodes: usize,
    /// Observation channels `C`.
    pub channels: usize,
    /// Observation window side `R`.
    pub side: usize,
}

/// One output array: what [`for_each_step_output!`] says about it, as data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputSpec {
    /// Field name (the same in Rust, in the extension and in Python).
    pub name: &'static str,
    /// numpy dtype name of the element type.
    pub dtype: &'static str,
    /// Rows per agent or per episode.
    pub rows: Rows,
    /// Shape of one row (empty: a scalar per row).
    pub row: &'static [Dim],
    /// Initial value (0/1 for booleans).
    pub fill: f64,
}

impl OutputSpec {
    /// The array's full shape, `[rows, row...]` (allocates).
    pub fn shape(&self, s: OutputSizes) -> Vec<usize> {
        self.dims(s).collect()
    }

    /// The array's length, the product of its shape (allocates nothing: the step checks it).
    pub fn len(&self, s: OutputSizes) -> usize {
        self.dims(s).product()
    }

    fn dims(&self, s: OutputSizes) -> impl Iterator<Item = usize> + '_ {
        let rows = match self.rows {
            Rows::Agent => s.agents,
            Rows::Episode => s.episodes,
        };
        let row = self.row.iter().map(move |d| match *d {
            Dim::Channels => s.channels,
            Dim::Side => s.side,
            Dim::Fixed(k) => k,
        });
        std::iter::once(rows).chain(row)
    }

    /// Whether the array is empty for these sizes.
    pub fn is_empty(&self, s: OutputSizes) -> bool {
        self.len(s) == 0
    }
}

/// Calls the macro `$callback` with every output array of a step, in order, as
/// `$(#[doc])* name: type, rows (Agent | Episode), [row dims (C, R or a number)], initial value;`.
/// The one list of outputs: everything else is generated from it.
#[macro_export]
macro_rules! for_each_step_output {
    ($callback:ident) => {
        $callback! {
            /// `[N]` actions: the input of a step; after it, the actions as resolved (moves that
            /// `soft` reverted read 0).
            actions: u8, Agent, [], 0;
            /// `[N, C, R, R]` observations (0/1).
            obs: u8, Agent, [C, R, R], 0;
            /// `[N, 2]` position relative to the start (reported by `POMAPF`/`MAPF`; written for
            /// all types).
            xy: i32, Agent, [2], 0;
            /// `[N, 2]` goal relative to the start.
            target_xy: i32, Agent, [2], 0;
            /// `[N, 2]` padded absolute position (`MAPF`'s `global_xy`).
            global_xy: i32, Agent, [2], 0;
            /// `[N, 2]` padded absolute goal (`MAPF`'s `global_target_xy`).
            global_target_xy: i32, Agent, [2], 0;
            /// `[N]` rewards.
            rewards: f32, Agent, [], 0;
            /// `[N]` terminated flags.
            terminated: bool, Agent, [], 0;
            /// `[N]` truncated flags (time limit).
            truncated: bool, Agent, [], 0;
            /// `[N]` pogema's `infos[i]['is_active']`.
            active: bool, Agent, [], 1;
            /// `[E]` true on the step an episode finished (all terminated or all truncated).
            episode_done: bool, Episode, [], 0;
        }
    };
}

/// A row dimension of [`for_each_step_output!`] as a [`Dim`].
#[doc(hidden)]
#[macro_export]
macro_rules! __output_dim {
    (C) => {
        $crate::outputs::Dim::Channels
    };
    (R) => {
        $crate::outputs::Dim::Side
    };
    ($k:literal) => {
        $crate::outputs::Dim::Fixed($k)
    };
}

/// An initial value of [`for_each_step_output!`] as a value of the element type.
#[doc(hidden)]
#[macro_export]
macro_rules! __output_fill {
    (bool, $v:literal) => {
        $v != 0
    };
    ($t:ty, $v:literal) => {
        $v as $t
    };
}

/// The numpy dtype name of an element type.
#[doc(hidden)]
#[macro_export]
macro_rules! __output_dtype {
    (u8) => {
        "uint8"
    };
    (i32) => {
        "int32"
    };
    (f32) => {
        "float32"
    };
    (bool) => {
        "bool"
    };
}

macro_rules! spec_table {
    ($($(#[$doc:meta])* $name:ident: $t:tt, $rows:ident, [$($dim:tt),*], $fill:literal;)*) => {
        /// Every output array of a step, in order, as data (for callers that allocate them, such
        /// as the Python extension).
        pub const STEP_OUTPUTS: &[OutputSpec] = &[$(OutputSpec {
            name: stringify!($name),
            dtype: $crate::__output_dtype!($t),
            rows: Rows::$rows,
            row: &[$($crate::__output_dim!($dim)),*],
            fill: $fill as f64,
        }),*];
    };
}
for_each_step_output!(spec_table);

macro_rules! flat_outputs {
    ($($(#[$doc:meta])* $name:ident: $t:tt, $rows:ident, [$($dim:tt),*], $fill:literal;)*) => {
        /// Borrowed output arrays, `[N, ...]` / `[E, ...]` in episode order (a [`crate::StepBuffers`]'s
        /// own, or the caller's, for example numpy arrays): the arrays of
        /// [`crate::for_each_step_output!`]. `actions` is also a step's input.
        #[derive(Debug)]
        pub struct FlatOutputs<'a> {
            $($(#[$doc])* pub $name: &'a mut [$t],)*
        }

        impl<'a> FlatOutputs<'a> {
            /// (name, length) of every array, in [`STEP_OUTPUTS`] order.
            pub fn lengths(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
                [$((stringify!($name), self.$name.len())),*].into_iter()
            }

            /// Splits off the first rows: the arrays of a batch of `front` sizes, and the rest
            /// (each array must be at least that long: check the lengths first).
            pub(crate) fn split_off_front(self, front: OutputSizes) -> (Self, Self) {
                let mut specs = STEP_OUTPUTS.iter();
                $(let $name = self.$name.split_at_mut(
                    specs.next().expect("one spec per output").len(front),
                );)*
                (
                    FlatOutputs { $($name: $name.0,)* },
                    FlatOutputs { $($name: $name.1,)* },
                )
            }
        }
    };
}
for_each_step_output!(flat_outputs);

/// Everything one reset or step writes: the output arrays and, per episode, the metrics of the
/// episodes that finished on it. Lent to the simulator for one call.
#[derive(Debug)]
pub struct StepIo<'a> {
    /// The output arrays (`actions` is also a step's input).
    pub out: FlatOutputs<'a>,
    /// `[E]` metrics of the episodes that finished on this step (`None` for the others).
    pub metrics: &'a mut [Option<EpisodeMetrics>],
}

impl<'a> StepIo<'a> {
    /// Checks every length against `sizes`.
    pub(crate) fn check(&self, sizes: OutputSizes) -> Result<(), crate::EnvError> {
        check_all_lengths(self.out.lengths(), self.metrics.len(), sizes)
    }

    /// Splits off the first rows: the outputs of a batch of `front` sizes, and the rest (check
    /// the lengths first).
    pub(crate) fn split_off_front(self, front: OutputSizes) -> (Self, Self) {
        let (out, rest_out) = self.out.split_off_front(front);
        let (metrics, rest_metrics) = self.metrics.split_at_mut(front.episodes);
        (
            StepIo { out, metrics },
            StepIo {
                out: rest_out,
                metrics: rest_metrics,
            },
        )
    }
}

/// [`check_lengths`], and that there is one metrics slot per episode.
pub(crate) fn check_all_lengths(
    found: impl IntoIterator<Item = (&'static str, usize)>,
    metrics: usize,
    sizes: OutputSizes,
) -> Result<(), crate::EnvError> {
    check_lengths(found, sizes)?;
    if metrics != sizes.episodes {
        return Err(crate::EnvError::WrongBufferLength {
            name: "metrics",
            expected: sizes.episodes,
            found: metrics,
        });
    }
    Ok(())
}

/// Checks that `found` (name, length) pairs, in [`STEP_OUTPUTS`] order, have the lengths `sizes`
/// gives them.
pub(crate) fn check_lengths(
    found: impl IntoIterator<Item = (&'static str, usize)>,
    sizes: OutputSizes,
) -> Result<(), crate::EnvError> {
    for (spec, (name, found)) in STEP_OUTPUTS.iter().zip(found) {
        debug_assert_eq!(spec.name, name);
        let expected = spec.len(sizes);
        if found != expected {
            if name == "actions" {
                return Err(crate::EnvError::WrongActionCount { expected, found });
            }
            return Err(crate::EnvError::WrongBufferLength {
                name,
                expected,
                found,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_each_output_its_shape_and_initial_value() {
        let s = OutputSizes {
            agents: 5,
            episodes: 2,
            channels: 3,
            side: 11,
        };
        let names: Vec<&str> = STEP_OUTPUTS.iter().map(|o| o.name).collect();
        assert_eq!(names.len(), 11);
        assert_eq!(names[..2], ["actions", "obs"]);
        let shape = |name: &str| {
            let spec = STEP_OUTPUTS.iter().find(|o| o.name == name).unwrap();
            (spec.shape(s), spec.dtype, spec.fill)
        };
        assert_eq!(shape("obs"), (vec![5, 3, 11, 11], "uint8", 0.0));
        assert_eq!(shape("global_target_xy"), (vec![5, 2], "int32", 0.0));
        assert_eq!(shape("rewards"), (vec![5], "float32", 0.0));
        assert_eq!(shape("active"), (vec![5], "bool", 1.0));
        assert_eq!(shape("episode_done"), (vec![2], "bool", 0.0));
    }
}
