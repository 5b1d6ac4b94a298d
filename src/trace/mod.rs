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
    record::records_of(event)
        .iter()
        .map(|r| match format {
            Format::Text => record::to_text(r) + "\n",
            Format::Json => serde_json::to_string(r).unwrap_or_default() + "\n",
        })
        .collect()
}

/// Trains a program and returns its whole text trace with the result. (The CLI streams
/// the same text to a file instead of holding it.)
pub fn record(program: &Program, data: &Splits, level: Level) -> (String, Result<Outcome, TrainError>) {
    let mut text = String::new();
    let result = train(program, data, level, &mut |e| text.push_str(&format_event(e, Format::Text)));
    (text, result)
}
