//! Metrics accumulated over the predictions of an epoch (or of one evaluation).

use ndarray::ArrayView2;

use crate::program::Metric;
use crate::runtime::Scalar;

/// Running totals for every requested metric.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricTotals {
    metrics: Vec<Metric>,
    counts: Counts,
}

/// The sums behind the metrics; a checkpoint taken inside an epoch keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    /// Rows whose predicted class is right.
    pub correct: usize,
    /// Rows added.
    pub rows: usize,
    /// Elements on the right side of 0.5.
    pub binary_correct: usize,
    /// Sum of absolute errors.
    pub abs_error: f64,
    /// Sum of squared errors.
    pub sq_error: f64,
    /// Elements added.
    pub elements: usize,
}

impl MetricTotals {
    /// Empty totals for these metrics.
    pub fn new(metrics: &[Metric]) -> MetricTotals {
        MetricTotals::with_counts(metrics, Counts::default())
    }

    /// Totals for these metrics that start from `counts`.
    pub fn with_counts(metrics: &[Metric], counts: Counts) -> MetricTotals {
        MetricTotals { metrics: metrics.to_vec(), counts }
    }

    /// The sums so far.
    pub fn counts(&self) -> Counts {
        self.counts
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
            self.counts.correct += usize::from(hit);
            self.counts.rows += 1;
            if !sparse {
                for (&p, &t) in p.iter().zip(t.iter()) {
                    self.counts.binary_correct += usize::from((p > half) == (t > half));
                    let e = (p - t).as_f64();
                    self.counts.abs_error += e.abs();
                    self.counts.sq_error += e * e;
                    self.counts.elements += 1;
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
                    Metric::Accuracy => per(self.counts.correct as f64, self.counts.rows),
                    Metric::BinaryAccuracy => per(self.counts.binary_correct as f64, self.counts.elements),
                    Metric::Mae => per(self.counts.abs_error, self.counts.elements),
                    Metric::Mse => per(self.counts.sq_error, self.counts.elements),
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
