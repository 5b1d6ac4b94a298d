//! `nnc explain`: snapshots of the hand calculation, and agreement with the trace.

mod common;

use nnc::explain::{ExplainError, Style, explain};
use nnc::trace::float::fmt_float;
use nnc::train::events::{Event, Level, Stage};

fn text(name: &str, style: Style) -> String {
    let (p, d) = common::spec(name);
    explain(&p, &d, style).unwrap()
}

#[test]
fn the_tutorial_network() {
    let t = text("seed_forward.nn", Style::Text);
    for expected in
        ["1 × 0.8 + 1 × 0.2 = 1", "sigmoid(1.3) = 0.785835", "= 1.233212", "loss = (1.233212 − 0)² / 1 = 1.520812"]
    {
        assert!(t.contains(expected), "missing {expected}");
    }
    insta::assert_snapshot!(t);
}

#[test]
fn the_tutorial_network_in_markdown() {
    insta::assert_snapshot!(text("seed_forward.nn", Style::Markdown));
}

#[test]
fn the_line_fit_by_forward_differences() {
    insta::assert_snapshot!(text("linear_3x.nn", Style::Text));
}

#[test]
fn its_numbers_are_the_traces_numbers() {
    for name in ["seed_forward.nn", "linear_3x.nn", "linear_3x_backprop.nn", "xor.nn"] {
        let (p, d) = common::spec(name);
        let explained = explain(&p, &d, Style::Text).unwrap();
        let mut first_step = Vec::new();
        nnc::train::train(&p, &d, Level::Full, &mut |e| {
            if let Event::Tensor { step: 1, stage, tensor, .. } = e {
                first_step.push((*stage, tensor.values.clone()));
            }
        })
        .unwrap();
        for (stage, values) in first_step.iter().filter(|(s, _)| *s != Stage::Forward) {
            for v in values {
                assert!(
                    explained.contains(&fmt_float(*v)),
                    "{name}: {stage:?} value {} is not in the explanation",
                    fmt_float(*v)
                );
            }
        }
    }
}

#[test]
fn larger_networks_are_refused_politely() {
    let (p, d) = common::spec("digits.nn");
    assert!(matches!(explain(&p, &d, Style::Text), Err(ExplainError::TooLarge(_))));
}

#[test]
fn relus_derivative_shows_the_pre_activation() {
    // The backward pass reads ReLU's output only ([y > 0]); the hand calculation still
    // shows the pre-activation the tutorial reasons with.
    let spec = "model r {
    input 2
    dense 2 as hidden { activation = relu, bias = false, weights = [[0.5, -0.4], [0.3, -0.2]] }
    dense 1 as out { bias = false, weights = [[0.7], [0.1]] }
    loss mse
}
data {
    x = [[1, 2]]
    y = [[1]]
}
train {
    optimizer = sgd(lr = 0.1)
}
";
    let (program, _) = nnc::compile(spec, nnc::Syntax::Nn).unwrap();
    let data = common::data_in(&program, &common::root());
    let t = explain(&program, &data, Style::Text).unwrap();
    for expected in ["hidden.pre[1] = 1 × 0.5 + 2 × 0.3 = 1.1", "× [1.1 > 0] =", "(-0.046) × [(-0.8) > 0] = 0"] {
        assert!(t.contains(expected), "missing {expected} in\n{t}");
    }
}
