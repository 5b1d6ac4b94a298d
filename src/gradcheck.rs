//! `nnc gradcheck`: backprop's gradients against central finite differences, in f64, on
//! the first batch of the training set (file order, dropout off).
//!
//! For every parameter element (or, above `MAX_ELEMENTS` per parameter, a seeded sample)
//! the numeric gradient is (L(p + h) − L(p − h)) / 2h with h = `STEP`, and the error is
//! |analytic − numeric| / max(1, |analytic|, |numeric|): relative for large gradients,
//! absolute for small ones. A parameter passes when its worst error is below `TOLERANCE`.

use ndarray::{ArrayD, s};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::autodiff::{AutodiffError, differentiate};
use crate::data::{Splits, below};
use crate::ir::{DType, Graph};
use crate::program::Program;
use crate::runtime::Executor;
use crate::train::init::initial_params;

/// The finite-difference step.
pub const STEP: f64 = 1e-6;
/// The largest error that passes.
pub const TOLERANCE: f64 = 1e-6;
/// Parameters with more elements are checked on a seeded sample of this many.
pub const MAX_ELEMENTS: usize = 1000;
/// The RNG stream that samples elements.
const SAMPLE_STREAM: u64 = 6;

/// The check of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamCheck {
    /// The parameter's name.
    pub name: String,
    /// Elements compared.
    pub checked: usize,
    /// Elements in all.
    pub elements: usize,
    /// The worst error found.
    pub worst: f64,
    /// The element (row-major index) where it was found.
    pub worst_at: usize,
}

impl ParamCheck {
    /// Whether the worst error is below the tolerance.
    pub fn passes(&self) -> bool {
        self.worst < TOLERANCE
    }
}

/// The result for every trainable parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// One entry per trainable parameter, in declaration order.
    pub params: Vec<ParamCheck>,
    /// The number of examples in the batch checked.
    pub batch: usize,
}

impl Report {
    /// Whether every parameter passes.
    pub fn passes(&self) -> bool {
        self.params.iter().all(ParamCheck::passes)
    }
}

/// Differentiates the program's graph in f64 and checks it.
pub fn gradcheck(program: &Program, data: &Splits) -> Result<Report, AutodiffError> {
    let mut forward = program.graph.clone();
    forward.dtype = DType::F64;
    let differentiated = differentiate(&forward)?;
    Ok(check_graph(program, data, &differentiated))
}

/// Checks an already differentiated f64 graph of the program (tests use this to show
/// that a wrong backward instruction is caught).
pub fn check_graph(program: &Program, data: &Splits, graph: &Graph) -> Report {
    let n = data.train.len();
    let batch = program.train.batch_size.unwrap_or(n).min(n).max(1);
    let (x, y) = data.train.cast::<f64>();
    let mut exec = Executor::<f64>::new(graph);
    exec.feed(x.slice(s![..batch, ..]), Some(y.slice(s![..batch, ..])));
    let params = initial_params::<f64>(&program.graph, program.train.seed);
    exec.run(&params, 0..graph.insts.len());
    let analytic: Vec<Option<ArrayD<f64>>> =
        graph.grads.iter().map(|g| g.map(|id| exec.value(id, &params).to_owned())).collect();
    let forward_len = program.graph.insts.len();
    let mut rng = ChaCha8Rng::seed_from_u64(program.train.seed);
    rng.set_stream(SAMPLE_STREAM);
    let mut probe = params.clone();
    let mut report = Report { params: Vec::new(), batch };
    for (i, grad) in analytic.iter().enumerate() {
        let Some(grad) = grad else { continue };
        let elements = params[i].len();
        let sample: Vec<usize> = if elements <= MAX_ELEMENTS {
            (0..elements).collect()
        } else {
            (0..MAX_ELEMENTS).map(|_| below(&mut rng, elements)).collect()
        };
        let mut check = ParamCheck {
            name: graph.value(graph.params[i]).name.clone(),
            checked: sample.len(),
            elements,
            worst: 0.0,
            worst_at: 0,
        };
        for j in sample {
            let original = params[i].as_slice_memory_order().map_or(0.0, |s| s[j]);
            let mut loss_at = |value: f64| {
                if let Some(s) = probe[i].as_slice_memory_order_mut() {
                    s[j] = value;
                }
                exec.run(&probe, 0..forward_len);
                exec.scalar(graph.loss, &probe)
            };
            let numeric = (loss_at(original + STEP) - loss_at(original - STEP)) / (2.0 * STEP);
            loss_at(original);
            let a = grad.as_slice_memory_order().map_or(0.0, |s| s[j]);
            let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1.0);
            if err > check.worst || err.is_nan() {
                check.worst = if err.is_nan() { f64::INFINITY } else { err };
                check.worst_at = j;
            }
        }
        report.params.push(check);
    }
    report
}
