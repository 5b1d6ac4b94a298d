//! `nnc run`: compile, train, write the trace.

use std::path::Path;

use nnc::diagnostics::{Code, Diagnostic, Diagnostics, render_without_source};
use nnc::train::events::Level;
use nnc::train::{TrainError, train};

use nnc::draw::plot::{boundary_png, curves_svg};
use nnc::trace::record::records_of;
use nnc::train::events::Event;

use crate::cli::output::Output;
use crate::cli::progress::Progress;
use crate::cli::{TraceFormat, TraceLevel, exit, load_all, report};

/// What `nnc run` writes besides the trace.
pub struct Extras<'a> {
    /// Loss curves (SVG).
    pub plot: Option<&'a Path>,
    /// The decision function over the input plane (PNG).
    pub boundary: Option<&'a Path>,
    /// No progress bar.
    pub quiet: bool,
}

/// Runs `nnc run`.
pub fn run(spec: &Path, level: TraceLevel, output: Option<&Path>, format: TraceFormat, extras: Extras) -> i32 {
    let (program, source, data) = match load_all(spec) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Some(path) = extras.boundary
        && data.train.x.ncols() != 2
    {
        let message = format!(
            "cannot draw {}: a decision boundary needs a model with 2 inputs; this one has {}",
            path.display(),
            data.train.x.ncols()
        );
        eprint!("{}", render_without_source(Code::Missing, &message, Some("leave out --plot-boundary for this spec")));
        return exit::USAGE;
    }
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
    let mut epochs = Vec::new();
    let mut progress = Progress::new(program.train.epochs, extras.quiet);
    let result = train(&program, &data, level, &mut |event| {
        if let Event::Epoch { epoch, train, .. } = event {
            progress.epoch(*epoch, train.loss);
            if extras.plot.is_some() {
                epochs.extend(records_of(event));
            }
        }
        if write_error.is_none()
            && let Err(e) = out.write(&nnc::trace::format_event(event, format))
        {
            write_error = Some(e);
        }
    });
    progress.finish();
    if let Some(e) = write_error {
        out.abandon();
        return io_error(output, &e);
    }
    // A diverged run keeps its trace: it ends with the `diverged` record.
    if let Err(e) = out.commit() {
        return io_error(output, &e);
    }
    match result {
        Ok(outcome) => {
            if let Some(path) = extras.plot {
                let name = program.graph.name.clone();
                let written = curves_svg(&[(name, epochs)])
                    .and_then(|svg| Output::write_whole(Some(path), svg.as_bytes()).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    return picture_error(path, &e);
                }
            }
            if let Some(path) = extras.boundary {
                let params: Vec<_> = outcome.params.into_iter().map(|(_, p)| p).collect();
                let written = boundary_png(&program.graph, &params, &data)
                    .and_then(|png| Output::write_whole(Some(path), &png).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    return picture_error(path, &e);
                }
            }
            exit::OK
        }
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

fn picture_error(path: &Path, e: &str) -> i32 {
    eprint!("{}", render_without_source(Code::Io, &format!("cannot draw {}: {e}", path.display()), None));
    exit::IO
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
