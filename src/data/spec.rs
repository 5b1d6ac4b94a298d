//! What a `data` block says, checked but not yet loaded: the source of the examples and
//! how to split, normalise and encode them.

use std::fmt::Write;

use ndarray::Array2;

use crate::syntax::ast::{FilePath, Span};

/// A column of a CSV file, by header name or by 0-based index.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnRef {
    /// A header name.
    Name(String),
    /// A 0-based position.
    Index(usize),
}

impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnRef::Name(n) => write!(f, "`{n}`"),
            ColumnRef::Index(i) => write!(f, "column {i}"),
        }
    }
}

/// A synthetic data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Generator {
    /// Two inputs in [-1, 1]²; class 1 where the signs differ.
    Xor,
    /// Two inputs; class 1 inside radius 0.5, class 0 in the ring from 0.7 to 1.
    Circle,
    /// Two Gaussian clusters at (1, 1) (class 1) and (-1, -1) (class 0), std 0.5.
    Gauss,
    /// `classes` interleaved spiral arms (CS231n's spiral).
    Spiral,
    /// Two interleaved half circles (scikit-learn's make_moons).
    Moons,
    /// Regression: y = Σ_j (j + 1)·x_j + 0.5 + noise, x uniform in [-1, 1]^features.
    Linear,
    /// `classes` Gaussian clusters in `features` dimensions, centres uniform in [-10, 10],
    /// standard deviation `spread`.
    Blobs,
}

impl Generator {
    /// The generator's name in specs.
    pub fn name(self) -> &'static str {
        match self {
            Generator::Xor => "xor",
            Generator::Circle => "circle",
            Generator::Gauss => "gauss",
            Generator::Spiral => "spiral",
            Generator::Moons => "moons",
            Generator::Linear => "linear",
            Generator::Blobs => "blobs",
        }
    }
}

/// A generator with its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorCall {
    /// Which data set.
    pub kind: Generator,
    /// Examples in all.
    pub n: usize,
    /// Noise level (standard deviation of added Gaussian noise; for spiral, of the angle).
    pub noise: f64,
    /// Classes (spiral, blobs).
    pub classes: usize,
    /// Input features (linear, blobs).
    pub features: usize,
    /// Cluster standard deviation (blobs).
    pub spread: f64,
    /// The generator's own seed; the run's seed when absent.
    pub seed: Option<u64>,
}

/// Where the examples come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// Written in the spec.
    Inline {
        /// Features, one row per example.
        x: Array2<f64>,
        /// Targets (values, or class labels when the loss is a classification loss).
        y: Array2<f64>,
    },
    /// A CSV file with a header row.
    Csv {
        /// The path as written (relative to the spec).
        path: String,
        /// The feature columns; all but the target when absent.
        features: Option<Vec<ColumnRef>>,
        /// The target column.
        target: ColumnRef,
    },
    /// A synthetic data set.
    Generate(GeneratorCall),
    /// Arrays in numpy `.npy` files (paths relative to the spec).
    Npy {
        /// Features, `[examples, inputs]` (a vector is one input).
        x: FilePath,
        /// Targets: `[examples, outputs]`, or a vector of values or class labels.
        y: FilePath,
    },
}

/// How features are rescaled, with statistics from the training split only.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// (x − mean) / std per feature (std 0 becomes 1).
    Standard,
    /// (x − min) / (max − min) per feature (a zero range becomes 1).
    MinMax,
}

/// Where the parts of the data block were written, for diagnostics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataSpans {
    /// The `data` keyword.
    pub block: Span,
    /// The source (`x`, `csv = ...` or `generate = ...`).
    pub source: Span,
    /// `y`, `target`, or the source again.
    pub target: Span,
    /// `features`, or the source again.
    pub features: Span,
    /// `classes`, when given.
    pub classes: Span,
}

/// A checked `data` block.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// The source.
    pub source: DataSource,
    /// The fraction held out for validation (0 for none).
    pub validation: f64,
    /// Whether minibatches are reshuffled every epoch.
    pub shuffle: bool,
    /// Feature rescaling.
    pub normalize: Option<Normalize>,
    /// Class names in index order, when the spec fixes them.
    pub classes: Option<Vec<String>>,
    /// Where things were written.
    pub spans: DataSpans,
}

impl DataSpec {
    /// The settings as canonical text (for the program's fingerprint; inline values are
    /// hashed with the loaded data, not here).
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        match &self.source {
            DataSource::Inline { .. } => out.push_str("inline"),
            DataSource::Csv { path, features, target } => {
                let _ = write!(out, "csv {path:?} features {features:?} target {target:?}");
            }
            DataSource::Generate(g) => {
                let _ = write!(out, "{g:?}");
            }
            DataSource::Npy { x, y } => {
                let _ = write!(out, "npy {x:?} {y:?}");
            }
        }
        let _ = write!(
            out,
            " validation {} shuffle {} normalize {:?} classes {:?}",
            self.validation, self.shuffle, self.normalize, self.classes
        );
        out
    }
}
