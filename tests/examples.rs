//! The bundled example specs learn what they are for, from their fixed seeds.

mod common;

use nnc::program::Metric;
use nnc::train::events::Level;

fn accuracy(scores: &nnc::train::events::Scores) -> f64 {
    scores.metrics.iter().find(|(m, _)| *m == Metric::Accuracy).map(|(_, v)| *v).unwrap()
}

fn run(name: &str) -> nnc::train::Outcome {
    let (program, data) = common::spec(name);
    nnc::train::train(&program, &data, Level::Epoch, &mut |_| {}).unwrap()
}

#[test]
fn iris_reaches_95_percent_validation_accuracy() {
    let v = accuracy(run("iris.nn").validation.as_ref().unwrap());
    assert!(v >= 0.95, "{v}");
}

#[test]
fn digits_reaches_95_percent_validation_accuracy() {
    let v = accuracy(run("digits.nn").validation.as_ref().unwrap());
    assert!(v >= 0.95, "{v}");
}

#[test]
fn breast_cancer_reaches_95_percent_validation_accuracy() {
    let v = accuracy(run("breast_cancer.nn").validation.as_ref().unwrap());
    assert!(v >= 0.95, "{v}");
}

#[test]
fn spiral_reaches_95_percent_training_accuracy() {
    let v = accuracy(&run("spiral.nn").train);
    assert!(v >= 0.95, "{v}");
}

#[test]
fn regression_recovers_the_generating_weights() {
    let outcome = run("regression.nn");
    let w: Vec<f64> = outcome.params.to_f64().iter().flat_map(|(_, v)| v.iter().copied()).collect();
    for (got, want) in w.iter().zip([1.0, 2.0, 3.0, 0.5]) {
        assert!((got - want).abs() < 0.05, "{w:?}");
    }
}
