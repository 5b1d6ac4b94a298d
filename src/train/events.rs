//! What the training loop reports, as typed events. Writers (the text trace, and later
//! JSON, plots, explanations) turn events into output; the loop knows none of them.

use crate::program::Metric;

/// How much the loop reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// One record per epoch, then the final results.
    Epoch,
    /// Also one record per optimisation step.
    Step,
    /// Also every forward value, gradient and updated parameter of every step.
    Full,
}

/// Facts about a run, reported once at its start.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The model's name.
    pub model: String,
    /// The sha256 of the lowered program.
    pub fingerprint: String,
    /// nnc's version.
    pub version: String,
    /// The seed.
    pub seed: u64,
    /// The float type.
    pub dtype: String,
    /// The gradient mode.
    pub gradient: String,
    /// The optimiser.
    pub optimizer: String,
    /// Epochs to run.
    pub epochs: u64,
    /// Examples per step.
    pub batch_size: usize,
    /// Examples in the data set.
    pub examples: usize,
    /// Scalar parameters in the model.
    pub params: usize,
    /// Examples held out for validation.
    pub validation_examples: usize,
    /// The learning-rate schedule, with any warmup.
    pub schedule: String,
    /// Gradient clipping, or `none`.
    pub clip_norm: String,
    /// Early stopping, or `none`.
    pub early_stopping: String,
    /// The level of detail.
    pub level: Level,
    /// Where the parameters come from when not from the initialisers.
    pub start: Option<String>,
}

/// Loss and metrics of one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// The loss (including weight penalties).
    pub loss: f64,
    /// The metrics.
    pub metrics: Vec<(Metric, f64)>,
}

/// Which part of a step a tensor comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A value of the forward pass (including the batch inputs and the loss).
    Forward,
    /// The gradient of the loss for a parameter.
    Gradient,
    /// A parameter after the optimiser's update.
    Update,
}

/// A tensor's values, converted to f64 for reporting.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorValues<'a> {
    /// The value's IR name.
    pub name: &'a str,
    /// Its concrete dimensions.
    pub dims: Vec<usize>,
    /// Its elements, row-major.
    pub values: Vec<f64>,
}

/// One thing that happened in a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// The run starts.
    Start(&'a RunInfo),
    /// A tensor of one step (level `Full`).
    Tensor {
        /// The epoch, from 1.
        epoch: u64,
        /// The step, from 1, counted across epochs.
        step: u64,
        /// Which part of the step.
        stage: Stage,
        /// The tensor.
        tensor: TensorValues<'a>,
    },
    /// A step ended (level `Step` and above).
    Step {
        /// The epoch.
        epoch: u64,
        /// The step.
        step: u64,
        /// The batch's loss before the update.
        loss: f64,
    },
    /// An epoch ended.
    Epoch {
        /// The epoch.
        epoch: u64,
        /// The learning rate used in this epoch.
        lr: f64,
        /// The mean loss over the epoch's examples, each batch's loss taken before its
        /// update, and metrics over the same predictions.
        train: &'a Scores,
        /// The parameters at the end of the epoch evaluated on the validation set.
        validation: Option<&'a Scores>,
    },
    /// Early stopping ended training; the parameters of the best epoch were restored.
    Stopped {
        /// The last epoch run.
        epoch: u64,
        /// The epoch whose parameters were kept.
        best_epoch: u64,
        /// The monitored figure's name.
        monitor: &'a str,
        /// Its best value.
        best: f64,
    },
    /// Training ended: the trained parameters evaluated on the training set (and the
    /// validation set, if any).
    Final {
        /// On the training set.
        train: &'a Scores,
        /// On the validation set.
        validation: Option<&'a Scores>,
    },
    /// A trained parameter's value (models of at most `MAX_REPORTED_PARAMS` parameters).
    Param(TensorValues<'a>),
    /// Training stopped because a value became NaN or infinite.
    Diverged {
        /// The epoch.
        epoch: u64,
        /// The step.
        step: u64,
        /// The first IR value that became non-finite.
        value: &'a str,
        /// The layer it belongs to, if any.
        layer: Option<&'a str>,
    },
    /// Everything needed to resume the run here (not part of the trace).
    Checkpoint(&'a crate::train::snapshot::Snapshot),
}

impl Event<'_> {
    /// Whether this event ends a training loop that plans `last` epochs: the last planned
    /// epoch, early stopping or divergence. (A paused or interrupted loop ends when
    /// training returns, which no event marks.)
    pub fn ends_loop(&self, last: u64) -> bool {
        match self {
            Event::Epoch { epoch, .. } => *epoch >= last,
            Event::Stopped { .. } | Event::Diverged { .. } => true,
            _ => false,
        }
    }
}

/// Models with at most this many scalar parameters report every final value.
pub const MAX_REPORTED_PARAMS: usize = 1000;
