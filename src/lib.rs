//! nnc: a declarative neural-network compiler.
//!
//! The pipeline, one module per stage: `syntax` (text -> AST), `lower` (AST -> checked
//! `Program` holding an IR `Graph`), `autodiff` (graph -> graph with gradients),
//! `runtime` (the ndarray interpreter), `train` (the training loop, emitting events) and
//! `trace` (events -> text). The library is pure: it never touches the file system, the
//! clock or the terminal; `cli` (in the binary) does.

pub mod autodiff;
pub mod data;
pub mod diagnostics;
pub mod draw;
pub mod explain;
pub mod export;
pub mod gradcheck;
pub mod infer;
pub mod ir;
pub mod lower;
pub mod persist;
pub mod program;
pub mod runtime;
pub mod syntax;
pub mod trace;
pub mod train;

pub use diagnostics::{Diagnostic, Diagnostics, SourceFile};
pub use program::Program;
pub use syntax::Syntax;

/// Parses, checks and lowers a spec. On success returns the program and any warnings; on
/// failure every diagnostic found, in source order.
pub fn compile(text: &str, syntax: Syntax) -> Result<(Program, Diagnostics), Diagnostics> {
    let (spec, mut diags) = syntax::parse(text, syntax)?;
    let program = match lower::lower(&spec) {
        Ok((program, warnings)) => {
            diags.0.extend(warnings.0);
            Some(program)
        }
        Err(errors) => {
            diags.0.extend(errors.0);
            None
        }
    };
    diags.sort();
    match program {
        Some(p) if !diags.has_errors() => Ok((p, diags)),
        _ => Err(diags),
    }
}
