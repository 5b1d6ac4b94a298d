//! `nnc fmt` (rewrite specs in the canonical layout) and `nnc convert` (between `.nn` and
//! TOML).

use std::path::{Path, PathBuf};

use nnc::SourceFile;
use nnc::diagnostics::{Code, render_without_source};
use nnc::syntax::format::{to_nn, to_toml};
use nnc::syntax::{Syntax, parse};

use crate::cli::output::Output;
use crate::cli::{exit, report};

/// Reads and parses a spec, reporting problems; returns its formatted text in `target`.
fn formatted(path: &Path, target: Syntax) -> Result<(String, String), i32> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprint!("{}", render_without_source(Code::Io, &format!("cannot read {}: {e}", path.display()), None));
        exit::IO
    })?;
    let source = SourceFile { name: path.display().to_string(), text };
    match parse(&source.text, Syntax::from_path(&source.name)) {
        Ok((spec, diags)) if !diags.has_errors() => {
            let out = match target {
                Syntax::Nn => to_nn(&spec, &source.text),
                Syntax::Toml => to_toml(&spec, &source.text),
            };
            Ok((source.text, out))
        }
        Ok((_, diags)) | Err(diags) => {
            report(&diags, &source);
            Err(exit::INVALID)
        }
    }
}

/// The spec files named, folders standing for the `.nn` and `.toml` files in them.
fn spec_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            found.retain(|f| f.extension().is_some_and(|e| e == "nn" || e == "toml"));
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Runs `nnc fmt`: rewrites each spec in place, or with `check` only reports (with a diff)
/// the ones that are not formatted and exits 1.
pub fn fmt(paths: &[PathBuf], check: bool) -> i32 {
    let mut code = exit::OK;
    for path in spec_files(paths) {
        let (before, after) = match formatted(&path, Syntax::from_path(&path.display().to_string())) {
            Ok(t) => t,
            Err(c) => {
                code = code.max(c);
                continue;
            }
        };
        if before == after {
            continue;
        }
        if check {
            let name = path.display().to_string();
            let diff = similar::TextDiff::from_lines(&before, &after);
            print!("{}", diff.unified_diff().header(&name, &format!("{name} (formatted)")));
            code = code.max(exit::INVALID);
        } else if let Err(e) = Output::write_whole(Some(&path), after.as_bytes()) {
            eprint!("{}", render_without_source(Code::Io, &format!("cannot write {}: {e}", path.display()), None));
            code = exit::IO;
        }
    }
    code
}

/// Runs `nnc convert`: prints (or writes) the spec in the other syntax.
pub fn convert(spec: &Path, to: Syntax, output: Option<&Path>) -> i32 {
    let (_, text) = match formatted(spec, to) {
        Ok(t) => t,
        Err(code) => return code,
    };
    match Output::write_whole(output, text.as_bytes()) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprint!("{}", render_without_source(Code::Io, &format!("cannot write: {e}"), None));
            exit::IO
        }
    }
}
