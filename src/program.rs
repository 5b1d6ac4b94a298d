//! A compiled spec: the forward IR graph, the data and the training settings, all checked.
//! This is what `lower` produces and what `train` consumes.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::data::{DataSpec, Features, Splits};
use crate::ir::print::{PrintOptions, print};
use crate::ir::{Def, Graph, Init, Shape};
use crate::runtime::Scalar;
use crate::syntax::ast::{FilePath, Span};

/// An optimiser and its hyper-parameters (PyTorch's rules and defaults; see
/// `train::optimizer` for the formulas).
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd {
        /// Learning rate (default 0.01).
        lr: f64,
        /// Momentum factor (default 0).
        momentum: f64,
        /// Use Nesterov momentum (default false).
        nesterov: bool,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64,
    },
    /// Adam.
    Adam {
        /// Learning rate (default 0.001).
        lr: f64,
        /// First-moment decay (default 0.9).
        beta1: f64,
        /// Second-moment decay (default 0.999).
        beta2: f64,
        /// Denominator term (default 1e-8).
        eps: f64,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64,
    },
    /// Adam with decoupled weight decay.
    AdamW {
        /// Learning rate (default 0.001).
        lr: f64,
        /// First-moment decay (default 0.9).
        beta1: f64,
        /// Second-moment decay (default 0.999).
        beta2: f64,
        /// Denominator term (default 1e-8).
        eps: f64,
        /// Decoupled decay (default 0.01).
        weight_decay: f64,
    },
    /// RMSprop.
    RmsProp {
        /// Learning rate (default 0.01).
        lr: f64,
        /// Square-average decay, PyTorch's `alpha` (default 0.99).
        rho: f64,
        /// Denominator term (default 1e-8).
        eps: f64,
        /// Momentum factor (default 0).
        momentum: f64,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64,
    },
    /// Adagrad.
    Adagrad {
        /// Learning rate (default 0.01).
        lr: f64,
        /// Denominator term (default 1e-10).
        eps: f64,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64,
    },
}

impl Optimizer {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. }
            | Optimizer::RmsProp { lr, .. }
            | Optimizer::Adagrad { lr, .. } => lr,
        }
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Optimizer::Sgd { lr, momentum, nesterov, weight_decay } => {
                write!(f, "sgd(lr = {lr}, momentum = {momentum}, nesterov = {nesterov}, weight_decay = {weight_decay})")
            }
            Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => write!(
                f,
                "adam(lr = {lr}, beta1 = {beta1}, beta2 = {beta2}, eps = {eps:e}, weight_decay = {weight_decay})"
            ),
            Optimizer::AdamW { lr, beta1, beta2, eps, weight_decay } => write!(
                f,
                "adamw(lr = {lr}, beta1 = {beta1}, beta2 = {beta2}, eps = {eps:e}, weight_decay = {weight_decay})"
            ),
            Optimizer::RmsProp { lr, rho, eps, momentum, weight_decay } => write!(
                f,
                "rmsprop(lr = {lr}, rho = {rho}, eps = {eps:e}, momentum = {momentum}, weight_decay = {weight_decay})"
            ),
            Optimizer::Adagrad { lr, eps, weight_decay } => {
                write!(f, "adagrad(lr = {lr}, eps = {eps:e}, weight_decay = {weight_decay})")
            }
        }
    }
}

/// How the learning rate changes from epoch to epoch (after any warmup).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The optimiser's rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: u64,
        /// The factor.
        gamma: f64,
    },
    /// Multiplied by `gamma` every epoch.
    Exponential {
        /// The factor.
        gamma: f64,
    },
    /// Half a cosine from the base rate down to `min_lr` over `epochs` epochs, then flat.
    Cosine {
        /// The length of the decay.
        epochs: u64,
        /// The final rate.
        min_lr: f64,
    },
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Step { every, gamma } => write!(f, "step(every = {every}, gamma = {gamma})"),
            Schedule::Exponential { gamma } => write!(f, "exponential(gamma = {gamma})"),
            Schedule::Cosine { epochs, min_lr } => write!(f, "cosine(epochs = {epochs}, min_lr = {min_lr})"),
        }
    }
}

impl Schedule {
    /// The learning rate in `epoch` (from 1), for base rate `lr` and `warmup` epochs of
    /// linear warmup (lr·e/warmup in epoch e ≤ warmup; the schedule counts from the first
    /// epoch after the warmup).
    pub fn lr(&self, lr: f64, warmup: u64, epoch: u64) -> f64 {
        if epoch <= warmup {
            return lr * epoch as f64 / warmup as f64;
        }
        let e = (epoch - warmup - 1) as f64;
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => lr * gamma.powf(((epoch - warmup - 1) / every) as f64),
            Schedule::Exponential { gamma } => lr * gamma.powf(e),
            Schedule::Cosine { epochs, min_lr } => {
                let t = e.min(epochs as f64) / epochs as f64;
                min_lr + (lr - min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }
}

/// Which epoch figure early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Monitor {
    /// The validation loss (lower is better).
    ValLoss,
    /// The training loss (lower is better).
    Loss,
    /// A validation metric (higher is better for accuracies, lower for errors).
    ValMetric(Metric),
}

impl Monitor {
    /// The monitored figure's name in specs and traces.
    pub fn name(self) -> String {
        match self {
            Monitor::ValLoss => "val_loss".into(),
            Monitor::Loss => "loss".into(),
            Monitor::ValMetric(m) => format!("val_{}", m.name()),
        }
    }

    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Monitor::ValMetric(Metric::Accuracy | Metric::BinaryAccuracy))
    }
}

/// Stop when the monitored figure has not improved for `patience` epochs, and keep the
/// parameters of the best epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// What to watch.
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: u64,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
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
    /// Fraction of examples classified correctly: argmax against the one-hot target (or
    /// the class index) for several outputs, a 0.5 threshold for one.
    Accuracy,
    /// Fraction of output elements on the right side of 0.5.
    BinaryAccuracy,
    /// Mean absolute error over every element.
    Mae,
    /// Mean squared error over every element.
    Mse,
}

impl Metric {
    /// The metric's name in specs and traces.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::Mae => "mae",
            Metric::Mse => "mse",
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
    /// How the learning rate changes.
    pub schedule: Schedule,
    /// Epochs of linear learning-rate warmup.
    pub warmup: u64,
    /// Rescale the gradients when their global L2 norm exceeds this.
    pub clip_norm: Option<f64>,
    /// When to stop early.
    pub early_stopping: Option<EarlyStopping>,
    /// Saved parameters to start from instead of the initialisers.
    pub weights_from: Option<FilePath>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: Optimizer::Sgd { lr: 0.01, momentum: 0.0, nesterov: false, weight_decay: 0.0 },
            epochs: 1,
            batch_size: None,
            seed: 0,
            gradient: GradientMode::Backprop,
            metrics: Vec::new(),
            schedule: Schedule::Constant,
            warmup: 0,
            clip_norm: None,
            early_stopping: None,
            weights_from: None,
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
    /// Where the examples come from, when the spec has a `data` block.
    pub data: Option<DataSpec>,
    /// Training settings.
    pub train: TrainConfig,
    /// The layers, for summaries.
    pub layers: Vec<LayerSummary>,
    /// The loss's name as written in the spec, for summaries.
    pub loss_name: String,
    /// The model's hash, kept when its initial values are released
    /// (`release_initial_values`) so that the fingerprints stay what they were.
    pub(crate) model_hash: Option<ModelHash>,
}

/// The sha256 state after a model's IR and initial values (`Program::hash_model`).
#[derive(Clone)]
pub(crate) struct ModelHash(Sha256);

impl PartialEq for ModelHash {
    fn eq(&self, other: &ModelHash) -> bool {
        self.0.clone().finalize() == other.0.clone().finalize()
    }
}

impl fmt::Debug for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelHash({})", hex(&self.0.clone().finalize()))
    }
}

impl Program {
    /// The sha256 of the lowered program and its data: the graph with every initial
    /// value, the training and data settings, and every example, in a canonical form
    /// without source positions. The same spec reformatted, or written as TOML, hashes
    /// the same.
    pub fn fingerprint(&self, data: &Splits) -> String {
        let mut h = self.model_hasher();
        h.update(format!("{:?}", self.train).as_bytes());
        if let Some(spec) = &self.data {
            h.update(spec.canonical().as_bytes());
        }
        for set in std::iter::once(&data.train).chain(&data.validation) {
            h.update(format!("{:?}{:?}", (set.x.nrows(), set.x.ncols()), set.y.dim()).as_bytes());
            match &set.x {
                Features::F64(x) => hash_matrix(&mut h, x),
                Features::F32(x) => hash_matrix(&mut h, x),
            }
            hash_matrix(&mut h, &set.y);
        }
        hex(&h.finalize())
    }

    /// The sha256 of the lowered model alone (its IR): what a weights file is bound to.
    pub fn model_fingerprint(&self) -> String {
        hex(&self.model_hasher().finalize())
    }

    /// Lets go of the spec's explicit initial values (`Graph::release_initial_values`),
    /// keeping the model's hash: for a run whose parameters hold them already. Both
    /// fingerprints stay as they were; a fresh start from this program is refused.
    pub fn release_initial_values(&mut self) {
        if self.model_hash.is_none() {
            self.model_hash = Some(ModelHash(self.model_hasher()));
        }
        self.graph.release_initial_values();
    }

    /// A sha256 that has hashed the model (`hash_model`), or the one kept when the
    /// initial values were released.
    fn model_hasher(&self) -> Sha256 {
        match &self.model_hash {
            Some(ModelHash(h)) => h.clone(),
            None => {
                let mut h = Sha256::new();
                self.hash_model(&mut h);
                h
            }
        }
    }

    /// The IR's canonical text, then the bits of every value given in the spec (hashing
    /// bits rather than printing millions of numbers).
    fn hash_model(&self, h: &mut Sha256) {
        h.update(print(&self.graph, PrintOptions { origins: false, all_values: false }).as_bytes());
        for &id in &self.graph.params {
            if let Def::Param { init: Init::Explicit(values), .. } = &self.graph.value(id).def {
                hash_floats(h, values.iter());
            }
        }
    }
}

/// Feeds the little-endian bits of `values` to `h`, a block at a time (the hash is the
/// same however the stream is cut into blocks).
fn hash_floats(h: &mut Sha256, values: impl Iterator<Item = f64>) {
    let mut block = [0u8; 8 * 1024];
    let mut used = 0;
    for v in values {
        block[used..used + 8].copy_from_slice(&v.to_bits().to_le_bytes());
        used += 8;
        if used == block.len() {
            h.update(block);
            used = 0;
        }
    }
    h.update(&block[..used]);
}

/// `hash_floats` over a matrix's elements in row order, widened to f64 (so data kept in
/// f32 hashes as it did widened).
fn hash_matrix<S: Scalar>(h: &mut Sha256, m: &ndarray::Array2<S>) {
    match m.as_slice() {
        Some(values) => hash_floats(h, values.iter().map(|v| v.as_f64())),
        None => hash_floats(h, m.iter().map(|v| v.as_f64())),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
