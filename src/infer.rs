//! Using trained parameters: predictions for new features (the forward pass up to the
//! prediction, in the model's dtype, dropout off) and loss and metrics on a data set.

use ndarray::{Array2, ArrayD, ArrayView2};

use crate::data::{Dataset, Features};
use crate::ir::{DType, Graph};
use crate::program::Program;
use crate::runtime::{Executor, Scalar};
use crate::train::events::Scores;
use crate::train::metrics::MetricTotals;

/// The model's predictions for the rows of `x`, with `params` in graph order.
pub fn predict(graph: &Graph, params: &[ArrayD<f64>], x: ArrayView2<f64>) -> Array2<f64> {
    match graph.dtype {
        DType::F32 => forward::<f32, f64>(graph, params, x, None).0,
        DType::F64 => forward::<f64, f64>(graph, params, x, None).0,
    }
}

/// The loss and the spec's metrics of `params` on `data`.
pub fn evaluate(program: &Program, params: &[ArrayD<f64>], data: &Dataset) -> Scores {
    let (pred, loss) = match program.graph.dtype {
        DType::F32 => forward_on::<f32>(&program.graph, params, data),
        DType::F64 => forward_on::<f64>(&program.graph, params, data),
    };
    let mut totals = MetricTotals::new(&program.train.metrics);
    totals.add(pred.view(), data.y.view());
    Scores { loss, metrics: totals.values() }
}

/// `forward` through the loss on a data set, its features in their own precision.
fn forward_on<T: Scalar>(graph: &Graph, params: &[ArrayD<f64>], data: &Dataset) -> (Array2<f64>, f64) {
    let y = Some(data.y.view());
    match &data.x {
        Features::F64(x) => forward::<T, f64>(graph, params, x.view(), y),
        Features::F32(x) => forward::<T, f32>(graph, params, x.view(), y),
    }
}

/// Runs the forward pass in `T` (the executor converts `x` and `y` as it copies them in):
/// to the prediction alone without targets, else through the loss.
fn forward<T: Scalar, X: Scalar>(
    graph: &Graph,
    params: &[ArrayD<f64>],
    x: ArrayView2<X>,
    y: Option<ArrayView2<f64>>,
) -> (Array2<f64>, f64) {
    let params: Vec<ArrayD<T>> = params.iter().map(|p| p.mapv(T::of_f64)).collect();
    let mut exec = Executor::<T>::new(graph).fused();
    exec.feed(x, y);
    let upto = match y {
        Some(_) => graph.insts.len(),
        None => graph.insts.iter().position(|i| i.out == graph.prediction).map_or(graph.insts.len(), |p| p + 1),
    };
    exec.run(&params, 0..upto);
    let pred = exec.matrix(graph.prediction, &params).mapv(|v| v.as_f64());
    let loss = if y.is_some() { exec.scalar(graph.loss, &params).as_f64() } else { f64::NAN };
    (pred, loss)
}
