//! Data-driven diagnostics tests: every file in `tests/diagnostics/` is a bad spec whose
//! rendered report (no colour, fixed width) is pinned in a snapshot. Adding a file adds
//! a test.

use nnc::diagnostics::{Style, render};
use nnc::{SourceFile, Syntax};

#[test]
fn every_bad_spec_gets_a_located_report() {
    insta::glob!("diagnostics/*.{nn,toml}", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!("tests/diagnostics/{}", path.file_name().unwrap().to_string_lossy());
        let folder = path.parent().unwrap().to_path_buf();
        let diags = match nnc::compile(&text, Syntax::from_path(&name)) {
            Ok((program, mut warnings)) => {
                let mut loader =
                    |p: &str| nnc::data::FileBytes::read(&folder.join(p)).map_err(|e| format!("cannot read {p}: {e}"));
                if let Err(errors) = nnc::data::prepare(&program, &mut loader) {
                    warnings.0.extend(errors.0);
                }
                warnings
            }
            Err(diags) => diags,
        };
        assert!(!diags.is_empty(), "{name}: no diagnostic");
        for d in &diags.0 {
            assert!(!d.labels.is_empty(), "{name}: {} has no label", d.message);
            let len = d.file.as_ref().map_or(text.len(), |f| f.text.len());
            assert!(d.labels.iter().all(|l| l.span.end <= len), "{name}: a label lies outside the file");
        }
        let report = render(&diags, &SourceFile { name: name.clone(), text }, Style::Plain { width: 80 });
        assert!(
            report.contains(&format!("[{name}:")) || report.contains(".csv:"),
            "{name}: the report names no line and column"
        );
        insta::assert_snapshot!(report);
    });
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_without_recursion() {
    let depth = 100_000;
    let text = format!(
        "model m {{\n input 1\n dense 1 {{ weights = {}{} }}\n loss mse\n}}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let started = std::time::Instant::now();
    let err = nnc::compile(&text, Syntax::Nn).unwrap_err();
    assert_eq!(err.0[0].code, nnc::diagnostics::Code::TooDeep);
    // Generous: the check is linear and allocation-free; this only catches a hang.
    assert!(started.elapsed().as_secs() < 5);
    let toml = format!("[data]\nx = {}{}\n", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(nnc::compile(&toml, Syntax::Toml).unwrap_err().0[0].code, nnc::diagnostics::Code::TooDeep);
}

#[test]
fn a_layer_too_large_to_allocate_is_refused_before_allocation() {
    for units in ["1000000000", "1000000000000", "99999999999999999999"] {
        let text = format!("model m {{\n input 1000000\n dense {units}\n loss mse\n}}\n");
        let err = nnc::compile(&text, Syntax::Nn).unwrap_err();
        assert!(err.0.iter().any(|d| d.code == nnc::diagnostics::Code::TooLarge), "{units}: {err:?}");
    }
}

#[test]
fn every_code_is_documented_in_the_catalogue() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    for code in nnc::diagnostics::Code::ALL {
        assert!(doc.contains(&format!("| `{}` |", code.as_str())), "{} is not in docs/errors.md", code.as_str());
    }
    let mut codes: Vec<&str> = nnc::diagnostics::Code::ALL.iter().map(|c| c.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), nnc::diagnostics::Code::ALL.len(), "two variants share a code");
}
