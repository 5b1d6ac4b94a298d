//! Metrics accumulated over the predictions of an epoch.

use ndarray::ArrayView2;

use crate::program::Metric;
use crate::runtime::Scalar;

/// Running totals for every requested metric.
pub struct MetricTotals {
    metrics: Vec<Metric>,
    correct: usize,
    seen: usize,
}

impl MetricTotals {
    /// Empty totals for these metrics.
    pub fn new(metrics: &[Metric]) -> MetricTotals {
        MetricTotals { metrics: metrics.to_vec(), correct: 0, seen: 0 }
    }

    /// Adds a batch of predictions and their targets.
    pub fn add<T: Scalar>(&mut self, pred: ArrayView2<T>, target: ArrayView2<T>) {
        if self.metrics.is_empty() {
            return;
        }
        let half = T::of_f64(0.5);
        for (p, t) in pred.rows().into_iter().zip(target.rows()) {
            let hit = if p.len() == 1 { (p[0] > half) == (t[0] > half) } else { argmax(p.iter()) == argmax(t.iter()) };
            self.correct += usize::from(hit);
            self.seen += 1;
        }
    }

    /// Each metric's value over everything added.
    pub fn values(&self) -> Vec<(Metric, f64)> {
        self.metrics
            .iter()
            .map(|m| match m {
                Metric::Accuracy => (*m, self.correct as f64 / self.seen.max(1) as f64),
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
