//! `nnc ir`: print the IR graph, optionally with its backward part.

use std::path::Path;

use nnc::autodiff::differentiate;
use nnc::diagnostics::{Code, render_without_source};
use nnc::ir::print::{PrintOptions, print};

use crate::cli::{exit, load};

/// Runs `nnc ir`.
pub fn ir(spec: &Path, grad: bool, dot: bool) -> i32 {
    let (program, _) = match load(spec) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let graph = if grad {
        match differentiate(&program.graph) {
            Ok(g) => g,
            Err(e) => {
                eprint!("{}", render_without_source(Code::Missing, &e.to_string(), None));
                return exit::INVALID;
            }
        }
    } else {
        program.graph
    };
    if dot {
        print!("{}", nnc::draw::dot::ir(&graph));
    } else {
        print!("{}", print(&graph, PrintOptions { origins: true, all_values: false }));
    }
    exit::OK
}
