//! `nnc diff`: compare two traces (text or JSON) with tolerances.

use std::path::Path;

use nnc::diagnostics::{Code, render_without_source};
use nnc::trace::diff::{Tolerance, compare, render};
use nnc::trace::record::{Record, read};

use crate::cli::exit;

fn load(path: &Path) -> Result<Vec<Record>, i32> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprint!("{}", render_without_source(Code::Io, &format!("cannot read {}: {e}", path.display()), None));
        exit::IO
    })?;
    read(&text).map_err(|e| {
        let message = format!("{} is not an nnc trace: {e}", path.display());
        eprint!("{}", render_without_source(Code::Syntax, &message, Some("give files written by `nnc run`")));
        exit::INVALID
    })
}

/// Runs `nnc diff`: exit 0 when the traces agree within tolerance, 1 when they differ.
pub fn diff(a: &Path, b: &Path, rtol: f64, atol: f64) -> i32 {
    let (ta, tb) = match (load(a), load(b)) {
        (Ok(ta), Ok(tb)) => (ta, tb),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let tol = Tolerance { rtol, atol };
    let comparison = compare(&ta, &tb, tol);
    print!("{}", render(&comparison, &a.display().to_string(), &b.display().to_string(), tol));
    if comparison.agrees() { exit::OK } else { exit::INVALID }
}
