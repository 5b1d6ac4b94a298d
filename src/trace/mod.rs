//! Traces: training events as records, written as deterministic text or as JSON lines,
//! read back for `nnc diff`. Pure formatting and parsing: files are the CLI's job.

pub mod diff;
pub mod float;
pub mod record;

use crate::Program;
use crate::data::Splits;
use crate::train::events::{Event, Level};
use crate::train::{Outcome, TrainError, train};

/// How a trace is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One text record a line (the default).
    Text,
    /// One JSON object a line.
    Json,
}

/// The lines of one event in the given format, each ending in a newline.
pub fn format_event(event: &Event, format: Format) -> String {
    let mut out = String::new();
    write_event(&mut out, event, format);
    out
}

/// Appends the lines of one event to `out`. The records written once per step or epoch
/// go straight to text, without building records first (the same text `record::to_text`
/// gives their records).
pub fn write_event(out: &mut String, event: &Event, format: Format) {
    match (event, format) {
        (Event::Step { epoch, step, loss }, Format::Text) => {
            record::write_step(out, *epoch, *step, *loss);
            out.push('\n');
        }
        (Event::Epoch { epoch, lr, train, validation }, Format::Text) => {
            record::write_epoch_start(out, *epoch, *lr);
            record::each_figure(train, *validation, |prefix, name, v| record::write_figure(out, prefix, name, v));
            out.push('\n');
        }
        _ => {
            for r in record::records_of(event) {
                match format {
                    Format::Text => out.push_str(&record::to_text(&r)),
                    Format::Json => out.push_str(&serde_json::to_string(&r).unwrap_or_default()),
                }
                out.push('\n');
            }
        }
    }
}

/// Trains a program and returns its whole text trace with the result. (The CLI streams
/// the same text to a file instead of holding it.)
pub fn record(program: &Program, data: &Splits, level: Level) -> (String, Result<Outcome, TrainError>) {
    let mut text = String::new();
    let result = train(program, data, level, &mut |e| write_event(&mut text, e, Format::Text));
    (text, result)
}
