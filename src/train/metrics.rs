//! Metrics accumulated over the predictions of an epoch (or of one evaluation).

use ndarray::ArrayView2;

use crate::program::Metric;
use crate::runtime::Scalar;

/// Running totals for every requested metric.
pub struct MetricTotals {
    metrics: Vec<Metric>,
    correct: usize,
    rows: usize,
    binary_correct: usize,
    abs_error: f64,
    sq_error: f64,
    elements: usize,
}

impl MetricTotals {
    /// Empty totals for these metrics.
    pub fn new(metrics: &[Metric]) -> MetricTotals {
        MetricTotals {
            metrics: metrics.to_vec(),
            correct: 0,
            rows: 0,
            binary_correct: 0,
            abs_error: 0.0,
            sq_error: 0.0,
            elements: 0,
        }
    }

    /// Adds a batch of predictions and their targets. Targets are one column of class
    /// indices when the prediction is wider (sparse labels), else shaped like it.
    pub fn add<T: Scalar>(&mut self, pred: ArrayView2<T>, target: ArrayView2<T>) {
        if self.metrics.is_empty() {
            return;
        }
        let half = T::of_f64(0.5);
        let sparse = target.ncols() == 1 && pred.ncols() > 1;
        for (p, t) in pred.rows().into_iter().zip(target.rows()) {
            let hit = if sparse {
                argmax(p.iter()) as f64 == t[0].as_f64()
            } else if p.len() == 1 {
                (p[0] > half) == (t[0] > half)
            } else {
                argmax(p.iter()) == argmax(t.iter())
            };
            self.correct += usize::from(hit);
            self.rows += 1;
            if !sparse {
                for (&p, &t) in p.iter().zip(t.iter()) {
                    self.binary_correct += usize::from((p > half) == (t > half));
                    let e = (p - t).as_f64();
                    self.abs_error += e.abs();
                    self.sq_error += e * e;
                    self.elements += 1;
                }
            }
        }
    }

    /// Each metric's value over everything added.
    pub fn values(&self) -> Vec<(Metric, f64)> {
        let per = |x: f64, n: usize| if n == 0 { f64::NAN } else { x / n as f64 };
        self.metrics
            .iter()
            .map(|m| {
                let v = match m {
                    Metric::Accuracy => per(self.correct as f64, self.rows),
                    Metric::BinaryAccuracy => per(self.binary_correct as f64, self.elements),
                    Metric::Mae => per(self.abs_error, self.elements),
                    Metric::Mse => per(self.sq_error, self.elements),
                };
                (*m, v)
            })
            .collect()
    }
}

/// The index of the first largest element.
fn argmax<'a, T: Scalar>(xs: impl Iterator<Item = &'a T>) -> usize {
    let mut best = (0, T::neg_infinity());
    for (i, &x) in xs.enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0
}
