//! `nnc fmt` and `nnc convert`: formatting keeps the lowered IR and is idempotent;
//! converting there and back gives the same IR; comments carry over.

mod common;

use nnc::Syntax;
use nnc::ir::print::{PrintOptions, print};
use nnc::syntax::format::{to_nn, to_toml};
use nnc::syntax::parse;

/// The canonical text of a spec's lowered program, with its data's fingerprint.
fn lowered(text: &str, syntax: Syntax) -> Option<String> {
    let (program, _) = nnc::compile(text, syntax).ok()?;
    Some(
        print(&program.graph, PrintOptions { origins: false, all_values: true })
            + &format!("{:?}{:?}", program.train, program.data.map(|d| d.canonical())),
    )
}

/// Every spec in specs/, tests/runs/ and tests/diagnostics/ that parses without errors.
fn specs() -> Vec<(std::path::PathBuf, String, Syntax)> {
    let mut out = Vec::new();
    for dir in ["specs", "tests/runs", "tests/diagnostics"] {
        for entry in std::fs::read_dir(common::root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "nn" && e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let syntax = Syntax::from_path(&path.display().to_string());
            if parse(&text, syntax).is_ok_and(|(_, d)| !d.has_errors()) {
                out.push((path, text, syntax));
            }
        }
    }
    out
}

#[test]
fn formatting_keeps_the_program_and_is_idempotent() {
    let all = specs();
    assert!(all.len() >= 30, "{}", all.len());
    for (path, text, syntax) in all {
        let (spec, _) = parse(&text, syntax).unwrap();
        let once = match syntax {
            Syntax::Nn => to_nn(&spec, &text),
            Syntax::Toml => to_toml(&spec, &text),
        };
        let (again_spec, _) = parse(&once, syntax).unwrap_or_else(|d| panic!("{}: {d:?}\n{once}", path.display()));
        let twice = match syntax {
            Syntax::Nn => to_nn(&again_spec, &once),
            Syntax::Toml => to_toml(&again_spec, &once),
        };
        assert_eq!(once, twice, "{}: not idempotent", path.display());
        assert_eq!(lowered(&text, syntax), lowered(&once, syntax), "{}: the program changed", path.display());
        assert_eq!(text.matches('#').count(), once.matches('#').count(), "{}: a comment was lost", path.display());
    }
}

#[test]
fn converting_there_and_back_gives_the_same_program() {
    // Specs that do not compile may say what TOML cannot (statements out of order).
    for (path, text, syntax) in specs().into_iter().filter(|(_, t, s)| lowered(t, *s).is_some()) {
        let (spec, _) = parse(&text, syntax).unwrap();
        let (other, back_syntax) = match syntax {
            Syntax::Nn => (to_toml(&spec, &text), Syntax::Toml),
            Syntax::Toml => (to_nn(&spec, &text), Syntax::Nn),
        };
        assert_eq!(lowered(&text, syntax), lowered(&other, back_syntax), "{}: converted\n{other}", path.display());
        let (other_spec, _) = parse(&other, back_syntax).unwrap();
        let back = match syntax {
            Syntax::Nn => to_nn(&other_spec, &other),
            Syntax::Toml => to_toml(&other_spec, &other),
        };
        assert_eq!(lowered(&text, syntax), lowered(&back, syntax), "{}: round trip\n{back}", path.display());
        assert_eq!(
            text.matches('#').count(),
            other.matches('#').count(),
            "{}: comments lost in\n{other}",
            path.display()
        );
    }
}

#[test]
fn the_bundled_specs_are_formatted() {
    for (path, text, syntax) in specs().into_iter().filter(|(p, _, _)| p.starts_with(common::root().join("specs"))) {
        let (spec, _) = parse(&text, syntax).unwrap();
        let formatted = match syntax {
            Syntax::Nn => to_nn(&spec, &text),
            Syntax::Toml => to_toml(&spec, &text),
        };
        assert_eq!(text, formatted, "{} is not formatted: run `nnc fmt specs/`", path.display());
    }
}
