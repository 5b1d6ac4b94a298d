//! `nnc run`: compile, train, write the trace.

use std::path::Path;

use nnc::diagnostics::{Code, Diagnostic, Diagnostics, render_without_source};
use nnc::train::events::Level;
use nnc::train::{TrainError, train};

use crate::cli::output::Output;
use crate::cli::{TraceFormat, TraceLevel, exit, load_all, report};

/// Runs `nnc run`.
pub fn run(spec: &Path, level: TraceLevel, output: Option<&Path>, format: TraceFormat) -> i32 {
    let (program, source, data) = match load_all(spec) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let level = match level {
        TraceLevel::Epoch => Level::Epoch,
        TraceLevel::Step => Level::Step,
        TraceLevel::Full => Level::Full,
    };
    let format = match format {
        TraceFormat::Text => nnc::trace::Format::Text,
        TraceFormat::Json => nnc::trace::Format::Json,
    };
    let mut out = match Output::open(output) {
        Ok(o) => o,
        Err(e) => return io_error(output, &e),
    };
    let mut write_error = None;
    let result = train(&program, &data, level, &mut |event| {
        if write_error.is_none()
            && let Err(e) = out.write(&nnc::trace::format_event(event, format))
        {
            write_error = Some(e);
        }
    });
    if let Some(e) = write_error {
        out.abandon();
        return io_error(output, &e);
    }
    // A diverged run keeps its trace: it ends with the `diverged` record.
    if let Err(e) = out.commit() {
        return io_error(output, &e);
    }
    match result {
        Ok(_) => exit::OK,
        Err(TrainError::Diverged(d)) => {
            let lr = program.train.optimizer.to_string();
            let layer = d.layer.as_deref().map_or(String::new(), |l| format!(" in layer `{l}`"));
            let message = format!(
                "training diverged at epoch {}, step {}: `{}`{layer} became NaN or infinite",
                d.epoch, d.step, d.value
            );
            let help = format!("the optimiser is {lr}: try a smaller learning rate, or normalise the data");
            match d.span {
                Some(span) => {
                    let mut diags = Diagnostics::default();
                    diags.push(
                        Diagnostic::error(Code::Diverged, message, span, format!("`{}` comes from here", d.value))
                            .with_help(help),
                    );
                    report(&diags, &source);
                }
                None => eprint!("{}", render_without_source(Code::Diverged, &message, Some(&help))),
            }
            exit::DIVERGED
        }
        Err(e) => {
            eprint!(
                "{}",
                render_without_source(
                    Code::Missing,
                    &e.to_string(),
                    Some("add a `data { x = [...], y = [...] }` block")
                )
            );
            exit::INVALID
        }
    }
}

fn io_error(path: Option<&Path>, e: &std::io::Error) -> i32 {
    if path.is_none() && e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader of standard output stopped reading (`| head`): not an error.
        return exit::OK;
    }
    let what = path.map_or("standard output".to_string(), |p| p.display().to_string());
    eprint!(
        "{}",
        render_without_source(
            Code::Io,
            &format!("cannot write {what}: {e}"),
            Some("check that the folder exists and is writable")
        )
    );
    exit::IO
}
