//! `nnc export`: the trained inference graph as an ONNX file.

use std::path::Path;

use nnc::diagnostics::Code;
use nnc::export::onnx::onnx;
use nnc::persist::weights;

use crate::cli::exit;
use crate::cli::output::Output;
use crate::cli::predict::trained;
use crate::cli::saved::Blame;

/// Runs `nnc export`.
pub fn export(spec: &Path, weights_path: &Path, output: &Path) -> i32 {
    let t = match trained(spec, weights_path) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut metadata =
        vec![(weights::MODEL, t.program.graph.name.clone()), (weights::IR_SHA256, t.program.model_fingerprint())];
    if let Some(c) = &t.classes {
        metadata.push((weights::CLASSES, serde_json::to_string(c).unwrap_or_default()));
    }
    let bytes = match onnx(&t.program, &t.loaded.params, t.normalizer.as_ref(), &metadata) {
        Ok(b) => b,
        Err(why) => {
            return Blame::Flag.report(Code::Missing, &format!("cannot export: {why}"), "", exit::INVALID);
        }
    };
    match Output::write_whole(Some(output), &bytes) {
        Ok(()) => exit::OK,
        Err(e) => Blame::Flag.report(
            Code::Io,
            &format!("cannot write {}: {e}", output.display()),
            "check that the folder exists and is writable",
            exit::IO,
        ),
    }
}
