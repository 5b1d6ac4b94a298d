//! Where a run starts and how it may pause: fresh, from saved parameters, or from a
//! `Snapshot` of everything the loop carries (parameters, optimiser state, RNG positions,
//! the data cursor, early stopping's best epoch), so that a resumed run continues exactly
//! as the uninterrupted one would have.

use std::sync::atomic::AtomicBool;

use ndarray::ArrayD;

use crate::train::metrics::Counts;
use crate::train::optimizer::OptimizerState;

/// Everything needed to continue a run from between two steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The run's fingerprint (`Program::fingerprint`): a snapshot only resumes its own run.
    pub fingerprint: String,
    /// Epochs finished.
    pub epoch: u64,
    /// Examples of the next epoch already visited (0 between epochs).
    pub rows_done: usize,
    /// Steps taken.
    pub step: u64,
    /// The next epoch's loss sum so far (weighted by batch size).
    pub loss_sum: f64,
    /// The next epoch's metric sums so far.
    pub counts: Counts,
    /// The example order drawn last.
    pub order: Vec<usize>,
    /// The shuffling RNG's position.
    pub shuffle_pos: u128,
    /// The dropout RNG's position.
    pub dropout_pos: u128,
    /// Every parameter, in graph order (in f64; exact for f32 runs).
    pub params: Vec<ArrayD<f64>>,
    /// The optimiser's state.
    pub optimizer: OptimizerState<f64>,
    /// Early stopping's best figure, its epoch and the parameters then.
    pub best: Option<(f64, u64, Vec<ArrayD<f64>>)>,
}

/// Where a run's parameters come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Start {
    /// The spec's initialisers.
    #[default]
    Fresh,
    /// Saved parameters, in graph order, described for the trace header.
    Params {
        /// The values.
        params: Vec<ArrayD<f64>>,
        /// Where they come from (for the trace header).
        from: String,
    },
    /// A checkpoint.
    Resume(Box<Snapshot>),
}

/// How a run starts and when it pauses.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// The starting point.
    pub start: Start,
    /// Report a `Snapshot` every this many epochs.
    pub checkpoint_every: Option<u64>,
    /// Stop (with a snapshot when checkpointing) after this epoch.
    pub stop_after: Option<u64>,
    /// When set, finish the current step, report a snapshot (when checkpointing) and stop.
    pub interrupt: Option<&'a AtomicBool>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Every epoch ran, or early stopping ended it.
    Finished,
    /// `stop_after` was reached.
    Paused {
        /// The last epoch run.
        epoch: u64,
    },
    /// The interrupt flag was raised.
    Interrupted {
        /// The epoch in progress.
        epoch: u64,
        /// The last step taken.
        step: u64,
    },
}
