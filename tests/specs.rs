//! Data-driven tests over `specs/`: every `.nn` spec gets snapshots of its IR, its
//! gradient IR and its trace; every `.toml` twin must lower to the same IR and trace;
//! every run must be reproducible byte for byte.

mod common;

use nnc::autodiff::differentiate;
use nnc::ir::print::{PrintOptions, print};
use nnc::ir::verify::verify;
use nnc::trace::record;
use nnc::train::events::Level;

/// Specs this small get a `full` trace snapshot as well.
const FULL_TRACE_MAX_EPOCHS: u64 = 10;

fn ir_text(p: &nnc::Program, grad: bool) -> String {
    let g = if grad { differentiate(&p.graph).expect("the graph differentiates") } else { p.graph.clone() };
    verify(&g).unwrap_or_else(|e| panic!("{}: {e:?}", g.name));
    print(&g, PrintOptions { origins: true, all_values: false })
}

#[test]
fn every_spec_snapshots_its_ir_gradient_ir_and_trace() {
    insta::glob!("../specs", "*.nn", |path| {
        let (program, data) = common::load_file(path);
        insta::assert_snapshot!("ir", ir_text(&program, false));
        insta::assert_snapshot!("grad_ir", ir_text(&program, true));
        let (trace, result) = record(&program, &data, Level::Epoch);
        result.expect("every bundled spec trains");
        insta::assert_snapshot!("trace", trace);
        if program.train.epochs <= FULL_TRACE_MAX_EPOCHS {
            insta::assert_snapshot!("trace_full", record(&program, &data, Level::Full).0);
        }
    });
}

#[test]
fn every_toml_twin_lowers_to_the_same_ir_and_trace() {
    let mut twins = 0;
    for entry in std::fs::read_dir(common::root().join("specs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nn") {
            continue;
        }
        let toml = path.with_extension("toml");
        assert!(toml.exists(), "{} has no .toml twin", path.display());
        let ((a, da), (b, db)) = (common::load_file(&path), common::load_file(&toml));
        assert_eq!(ir_text(&a, true), ir_text(&b, true));
        assert_eq!(a.fingerprint(&da), b.fingerprint(&db));
        assert_eq!(record(&a, &da, Level::Step).0, record(&b, &db, Level::Step).0, "{}: traces differ", path.display());
        twins += 1;
    }
    assert!(twins >= 4, "expected the bundled specs, found {twins}");
}

#[test]
fn fused_passes_give_the_same_bits_as_single_instructions() {
    // Below a full trace the executor fuses bias + activation and activation gradient +
    // bias gradient, values share buffers and parameters are updated as soon as their
    // gradients are final; a full trace runs every instruction alone, each value in its
    // own buffer, and updates after the whole backward pass. Their step, epoch, final and
    // parameter records must agree to the last digit.
    let records = |trace: &str| -> Vec<String> {
        trace
            .lines()
            .filter(|l| ["step ", "epoch ", "final", "param "].iter().any(|k| l.starts_with(k)))
            .map(String::from)
            .collect()
    };
    let mut compared = 0;
    for entry in std::fs::read_dir(common::root().join("specs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nn") {
            continue;
        }
        let (mut program, data) = common::load_file(&path);
        program.train.epochs = program.train.epochs.min(5);
        let fused = records(&record(&program, &data, Level::Step).0);
        let single = records(&record(&program, &data, Level::Full).0);
        assert!(!fused.is_empty());
        assert_eq!(fused, single, "{}", path.display());
        compared += 1;
    }
    assert!(compared >= 4);
}

#[test]
fn the_same_spec_and_seed_give_byte_identical_traces() {
    // digits has dropout and reshuffles its minibatches every epoch.
    for name in ["xor.nn", "seed_forward.nn", "linear_3x.nn", "digits.nn", "spiral.nn"] {
        let (p, d) = common::spec(name);
        let (first, _) = record(&p, &d, Level::Step);
        let (p2, d2) = common::spec(name);
        let (second, _) = record(&p2, &d2, Level::Step);
        assert_eq!(first, second, "{name}");
    }
}

#[test]
fn a_different_seed_changes_the_trace_of_a_randomly_initialised_model() {
    let (a, data) = common::spec("xor.nn");
    let mut b = a.clone();
    b.train.seed = 8;
    assert_ne!(record(&a, &data, Level::Epoch).0, record(&b, &data, Level::Epoch).0);
}

#[test]
fn reformatting_a_spec_keeps_its_fingerprint() {
    let text = std::fs::read_to_string(common::root().join("specs/seed_forward.nn")).unwrap();
    let squeezed: String =
        text.lines().filter(|l| !l.trim_start().starts_with('#')).map(|l| format!("{}\n", l.trim())).collect();
    let (a, _) = nnc::compile(&text, nnc::Syntax::Nn).unwrap();
    let (b, _) = nnc::compile(&squeezed, nnc::Syntax::Nn).unwrap();
    let data = common::data_in(&a, &common::root());
    assert_eq!(a.fingerprint(&data), b.fingerprint(&data));
}
