//! The founding tutorial's worked numbers (`shared/seed/README.md`), reproduced.

mod common;

use nnc::ir::DType;
use nnc::train::events::{Event, Level, Stage};
use nnc::train::train;

/// Every tensor of the first step, by stage and name.
fn first_step(program: &nnc::Program, data: &nnc::data::Splits) -> Vec<(Stage, String, Vec<f64>)> {
    let mut seen = Vec::new();
    train(program, data, Level::Full, &mut |e| {
        if let Event::Tensor { step: 1, stage, tensor, .. } = e {
            seen.push((*stage, tensor.name.to_string(), tensor.values.clone()));
        }
    })
    .expect("trains");
    seen
}

fn values(seen: &[(Stage, String, Vec<f64>)], stage: Stage, name: &str) -> Vec<f64> {
    seen.iter().find(|(s, n, _)| *s == stage && n == name).unwrap_or_else(|| panic!("no {name}")).2.clone()
}

/// Agreement to 6 significant digits.
fn close(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() <= 6e-6 * e.abs().max(1e-3), "{what}: {a} vs {e}");
    }
}

#[test]
fn the_forward_pass_loss_and_gradients_of_the_2_3_1_network() {
    for dtype in [DType::F32, DType::F64] {
        let (mut p, data) = common::spec("seed_forward.nn");
        p.graph.dtype = dtype;
        let seen = first_step(&p, &data);
        close(&values(&seen, Stage::Forward, "hidden.pre"), &[1.0, 1.3, 0.8], "pre-activations");
        close(&values(&seen, Stage::Forward, "hidden"), &[0.731059, 0.785835, 0.689974], "activations");
        close(&values(&seen, Stage::Forward, "out"), &[1.233212], "output");
        close(&values(&seen, Stage::Forward, "loss"), &[1.520812], "loss");
        close(&values(&seen, Stage::Gradient, "out.weight"), &[1.803101, 1.938202, 1.701770], "grad W2");
        let w1 = [0.145479, 0.207548, 0.474833];
        close(&values(&seen, Stage::Gradient, "hidden.weight"), &[w1, w1].concat(), "grad W1");
        let updated: Vec<f64> =
            [0.3, 0.5, 0.9].iter().zip([1.803101, 1.938202, 1.701770]).map(|(w, g)| w - 0.01 * g).collect();
        close(&values(&seen, Stage::Update, "out.weight"), &updated, "updated W2");
    }
}

fn final_params(name: &str) -> Vec<f64> {
    let (p, data) = common::spec(name);
    let outcome = train(&p, &data, Level::Epoch, &mut |_| {}).expect("trains");
    outcome.params.to_f64().iter().flat_map(|(_, v)| v.iter().copied()).collect()
}

#[test]
fn finite_differences_fit_the_line_as_the_tutorial_does() {
    let ab = final_params("linear_3x.nn");
    assert!((ab[0] - 2.999337).abs() < 1e-5 && (ab[1] - 0.004455).abs() < 1e-5, "{ab:?}");
}

#[test]
fn backprop_fits_the_line_exactly() {
    let ab = final_params("linear_3x_backprop.nn");
    assert!((ab[0] - 2.999486).abs() < 1e-5 && (ab[1] - 0.003730).abs() < 1e-5, "{ab:?}");
}

#[test]
fn xor_is_learned() {
    let (p, data) = common::spec("xor.nn");
    let outcome = train(&p, &data, Level::Epoch, &mut |_| {}).expect("trains");
    assert!(outcome.train.loss < 0.05, "loss {}", outcome.train.loss);
    assert_eq!(outcome.train.metrics[0].1, 1.0);
}

#[test]
fn ten_thousand_steps_drive_the_tutorial_loss_to_zero() {
    // Workload W1 of shared/bench: the same network, 10,000 steps, f64; final loss ~1.9e-31.
    let (mut p, data) = common::spec("seed_forward.nn");
    p.graph.dtype = DType::F64;
    p.train.epochs = 10_000;
    let mut last = f64::NAN;
    train(&p, &data, Level::Step, &mut |e| {
        if let Event::Step { loss, .. } = e {
            last = *loss;
        }
    })
    .unwrap();
    assert!(last < 1e-29, "final step loss {last:e}");
}
