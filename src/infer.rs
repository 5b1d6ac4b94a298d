//! Using trained parameters: predictions for new features (the forward pass up to the
//! prediction, in the model's dtype, dropout off) and loss and metrics on a data set.

use ndarray::{Array2, ArrayD, ArrayView2};

use crate::data::Dataset;
use crate::ir::{DType, Graph};
use crate::program::Program;
use crate::runtime::{Executor, Scalar};
use crate::train::events::Scores;
use crate::train::metrics::MetricTotals;

/// The model's predictions for the rows of `x`, with `params` in graph order.
pub fn predict(graph: &Graph, params: &[ArrayD<f64>], x: ArrayView2<f64>) -> Array2<f64> {
    match graph.dtype {
        DType::F32 => forward::<f32>(graph, params, x.mapv(f32::of_f64).view(), None).0,
        DType::F64 => forward::<f64>(graph, params, x, None).0,
    }
}

/// The loss and the spec's metrics of `params` on `data`.
pub fn evaluate(program: &Program, params: &[ArrayD<f64>], data: &Dataset) -> Scores {
    let (pred, loss) = match program.graph.dtype {
        DType::F32 => forward::<f32>(&program.graph, params, data.x.cast().view(), Some(data.y.view())),
        DType::F64 => forward::<f64>(&program.graph, params, data.x.cast().view(), Some(data.y.view())),
    };
    let mut totals = MetricTotals::new(&program.train.metrics);
    totals.add(pred.view(), data.y.view());
    Scores { loss, metrics: totals.values() }
}

/// Runs the forward pass on `x` (already in the run's float type): to the prediction alone
/// without targets, else through the loss.
fn forward<T: Scalar>(
    graph: &Graph,
    params: &[ArrayD<f64>],
    x: ArrayView2<T>,
    y: Option<ArrayView2<f64>>,
) -> (Array2<f64>, f64) {
    let params: Vec<ArrayD<T>> = params.iter().map(|p| p.mapv(T::of_f64)).collect();
    let mut exec = Executor::<T>::new(graph).fused();
    let y = y.map(|y| y.mapv(T::of_f64));
    exec.feed(x, y.as_ref().map(|y| y.view()));
    let upto = match y {
        Some(_) => graph.insts.len(),
        None => graph.insts.iter().position(|i| i.out == graph.prediction).map_or(graph.insts.len(), |p| p + 1),
    };
    exec.run(&params, 0..upto);
    let pred = exec.matrix(graph.prediction, &params).mapv(|v| v.as_f64());
    let loss = if y.is_some() { exec.scalar(graph.loss, &params).as_f64() } else { f64::NAN };
    (pred, loss)
}
