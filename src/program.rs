//! A compiled spec: the forward IR graph, the data and the training settings, all checked.
//! This is what `lower` produces and what `train` consumes.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::data::Dataset;
use crate::ir::print::{PrintOptions, print};
use crate::ir::{Graph, Shape};
use crate::syntax::ast::Span;

/// An optimiser and its hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// Plain stochastic gradient descent: p -= lr * g.
    Sgd {
        /// Learning rate.
        lr: f64,
    },
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Optimizer::Sgd { lr } => write!(f, "sgd(lr = {lr})"),
        }
    }
}

/// How gradients are computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GradientMode {
    /// Exact reverse-mode gradients from the autodiff graph.
    Backprop,
    /// The tutorial's forward difference: (loss(p + step) - loss(p)) / step per element.
    FiniteDifference {
        /// The step added to each parameter element.
        step: f64,
    },
}

impl fmt::Display for GradientMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradientMode::Backprop => f.write_str("backprop"),
            GradientMode::FiniteDifference { step } => write!(f, "finite_difference(step = {step})"),
        }
    }
}

/// A metric reported each epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Fraction of examples classified correctly: argmax for several outputs, a 0.5
    /// threshold for one.
    Accuracy,
}

impl Metric {
    /// The metric's name in specs and traces.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
        }
    }
}

/// The `train` block, with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Passes over the data.
    pub epochs: u64,
    /// Examples per step; `None` means the whole data set.
    pub batch_size: Option<usize>,
    /// The seed of every random choice (initialisers, shuffling).
    pub seed: u64,
    /// How gradients are computed.
    pub gradient: GradientMode,
    /// Metrics to report.
    pub metrics: Vec<Metric>,
    /// Whether minibatches are reshuffled every epoch.
    pub shuffle: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: Optimizer::Sgd { lr: 0.01 },
            epochs: 1,
            batch_size: None,
            seed: 0,
            gradient: GradientMode::Backprop,
            metrics: Vec::new(),
            shuffle: true,
        }
    }
}

/// One row of the `nnc check` summary.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSummary {
    /// The layer's name.
    pub name: String,
    /// Its kind (`input`, `dense`).
    pub kind: String,
    /// Its output shape.
    pub shape: Shape,
    /// Its number of scalar parameters.
    pub params: usize,
    /// Notes such as the activation and whether it has a bias.
    pub notes: String,
    /// Where the layer is written.
    pub span: Span,
}

/// A checked, lowered spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The forward graph.
    pub graph: Graph,
    /// The examples, when the spec has a `data` block.
    pub data: Option<Dataset>,
    /// Training settings.
    pub train: TrainConfig,
    /// The layers, for summaries.
    pub layers: Vec<LayerSummary>,
    /// The loss's name as written in the spec, for summaries.
    pub loss_name: String,
}

impl Program {
    /// The sha256 of the lowered program: the graph with every initial value, the data and
    /// the training settings, in a canonical text form without source positions. The same
    /// spec reformatted, or written as TOML, hashes the same.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(print(&self.graph, PrintOptions { origins: false, all_values: true }).as_bytes());
        h.update(format!("{:?}", self.train).as_bytes());
        if let Some(d) = &self.data {
            for v in d.x.iter().chain(d.y.iter()) {
                h.update(v.to_bits().to_le_bytes());
            }
            h.update(format!("{:?}{:?}", d.x.dim(), d.y.dim()).as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
