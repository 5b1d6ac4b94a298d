//! `nnc explain`: the hand calculation of a small network's first training step.

use std::path::Path;

use nnc::diagnostics::{Code, render_without_source};
use nnc::explain::{Style, explain as write_explanation};

use crate::cli::{exit, load_all};

/// Runs `nnc explain`.
pub fn explain(spec: &Path, markdown: bool) -> i32 {
    let (program, _, data) = match load_all(spec) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let style = if markdown { Style::Markdown } else { Style::Text };
    match write_explanation(&program, &data, style) {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => {
            eprint!(
                "{}",
                render_without_source(
                    Code::TooLarge,
                    &e.to_string(),
                    Some("`nnc run --trace full` shows every number of any network")
                )
            );
            exit::INVALID
        }
    }
}
