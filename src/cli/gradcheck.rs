//! `nnc gradcheck`: backprop against central finite differences, per parameter.

use std::path::Path;

use nnc::diagnostics::{Code, render_without_source};
use nnc::gradcheck::{TOLERANCE, gradcheck as check};
use nnc::trace::float::fmt_float;

use crate::cli::{exit, load_all};

/// Runs `nnc gradcheck`.
pub fn gradcheck(spec: &Path) -> i32 {
    let (program, _, data) = match load_all(spec) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let report = match check(&program, &data) {
        Ok(r) => r,
        Err(e) => {
            eprint!("{}", render_without_source(Code::Missing, &e.to_string(), None));
            return exit::INVALID;
        }
    };
    let width = report.params.iter().map(|p| p.name.len()).max().unwrap_or(5).max(9);
    println!(
        "gradcheck {}: f64, first batch of {} examples, central differences, tolerance {}\n",
        program.graph.name,
        report.batch,
        fmt_float(TOLERANCE)
    );
    println!("  {:<width$}  {:>9}  {:>12}  result", "parameter", "checked", "worst error");
    for p in &report.params {
        let checked =
            if p.checked == p.elements { p.checked.to_string() } else { format!("{}/{}", p.checked, p.elements) };
        let verdict = if p.passes() { "ok".to_string() } else { format!("FAILED at element {}", p.worst_at) };
        println!("  {:<width$}  {checked:>9}  {:>12}  {verdict}", p.name, fmt_float(p.worst));
    }
    if report.passes() { exit::OK } else { exit::INVALID }
}
