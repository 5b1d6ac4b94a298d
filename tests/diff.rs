//! `nnc diff` on real pairs of runs, and the trace's text and JSON forms read back.

mod common;

use nnc::trace::diff::{Tolerance, compare, render};
use nnc::trace::record::{read, to_text};
use nnc::trace::{Format, format_event};
use nnc::train::events::Level;

fn trace(text: &str) -> String {
    let (p, _) = nnc::compile(text, nnc::Syntax::Nn).unwrap();
    let d = common::data_in(&p, &common::root().join("specs"));
    nnc::trace::record(&p, &d, Level::Epoch).0
}

fn spec(name: &str) -> String {
    std::fs::read_to_string(common::root().join("specs").join(name)).unwrap()
}

fn report(a: &str, b: &str) -> (bool, String) {
    let tol = Tolerance::default();
    let c = compare(&read(a).unwrap(), &read(b).unwrap(), tol);
    (c.agrees(), render(&c, "a.trace", "b.trace", tol))
}

#[test]
fn a_trace_agrees_with_itself() {
    let t = trace(&spec("xor.nn"));
    let (agrees, text) = report(&t, &t);
    assert!(agrees, "{text}");
}

#[test]
fn two_learning_rates() {
    let a = trace(&spec("xor.nn"));
    let b = trace(&spec("xor.nn").replace("lr = 0.5", "lr = 0.1"));
    let (agrees, text) = report(&a, &b);
    assert!(!agrees);
    assert!(text.contains("first difference: epoch 1"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn two_seeds() {
    let a = trace(&spec("xor.nn"));
    let b = trace(&spec("xor.nn").replace("seed = 7", "seed = 8"));
    let (agrees, text) = report(&a, &b);
    assert!(!agrees);
    insta::assert_snapshot!(text);
}

#[test]
fn backprop_against_finite_differences() {
    let (agrees, text) = report(&trace(&spec("linear_3x_backprop.nn")), &trace(&spec("linear_3x.nn")));
    assert!(!agrees);
    insta::assert_snapshot!(text);
}

#[test]
fn text_records_read_back_to_the_same_text() {
    let (p, d) = common::spec("digits.nn");
    let mut p = p;
    p.train.epochs = 2;
    let text = nnc::trace::record(&p, &d, Level::Full).0;
    let again: String = read(&text).unwrap().iter().map(|r| to_text(r) + "\n").collect();
    assert_eq!(again, text);
}

#[test]
fn json_lines_hold_the_same_records_as_text() {
    let (p, d) = common::spec("iris.nn");
    let (mut text, mut json) = (String::new(), String::new());
    nnc::train::train(&p, &d, Level::Step, &mut |e| {
        text.push_str(&format_event(e, Format::Text));
        json.push_str(&format_event(e, Format::Json));
    })
    .unwrap();
    assert!(json.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    let (agrees, report) = report(&json, &text);
    assert!(agrees, "{report}");
    assert_eq!(read(&json).unwrap().len(), read(&text).unwrap().len());
}

#[test]
fn a_malformed_trace_is_an_error_naming_the_line() {
    let err = read("nnc-trace 1\nheader model m\nepoch one lr 2\n").unwrap_err();
    assert_eq!(err.line, 3);
}
