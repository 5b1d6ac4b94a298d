//! `nnc graph` (the layer diagram) and `nnc plot` (loss curves of several traces).

use std::path::{Path, PathBuf};

use nnc::diagnostics::{Code, render_without_source};
use nnc::draw::{dot, network, plot};
use nnc::trace::record::read;

use crate::cli::output::Output;
use crate::cli::{exit, load};

fn write(path: Option<&Path>, bytes: &[u8]) -> i32 {
    match Output::write_whole(path, bytes) {
        Ok(()) => exit::OK,
        Err(e) => {
            let what = path.map_or("standard output".into(), |p| p.display().to_string());
            eprint!("{}", render_without_source(Code::Io, &format!("cannot write {what}: {e}"), None));
            exit::IO
        }
    }
}

/// Runs `nnc graph`: SVG unless `dot` (or the output ends in `.dot`).
pub fn graph(spec: &Path, output: Option<&Path>, dot_format: bool) -> i32 {
    let (program, _) = match load(spec) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let as_dot = dot_format || output.is_some_and(|p| p.extension().is_some_and(|e| e == "dot"));
    let text = if as_dot { dot::network(&program) } else { network::svg(&program) };
    write(output, text.as_bytes())
}

/// Runs `nnc plot`: the loss curves of every trace, overlaid, as SVG.
pub fn plot(traces: &[PathBuf], output: &Path) -> i32 {
    let mut runs = Vec::new();
    for path in traces {
        let loaded = std::fs::read_to_string(path)
            .map_err(|e| (exit::IO, e.to_string()))
            .and_then(|t| read(&t).map_err(|e| (exit::INVALID, e.to_string())));
        match loaded {
            Ok(records) => runs.push((
                path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned()),
                records,
            )),
            Err((code, e)) => {
                eprint!(
                    "{}",
                    render_without_source(Code::Io, &format!("cannot read the trace {}: {e}", path.display()), None)
                );
                return code;
            }
        }
    }
    match plot::curves_svg(&runs) {
        Ok(svg) => write(Some(output), svg.as_bytes()),
        Err(e) => {
            eprint!("{}", render_without_source(Code::Io, &format!("cannot draw {}: {e}", output.display()), None));
            exit::IO
        }
    }
}
