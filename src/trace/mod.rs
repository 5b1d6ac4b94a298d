//! Traces: training events as records, written as deterministic text or as JSON lines,
//! read back for `nnc diff`. Pure formatting and parsing: files are the CLI's job.

pub mod diff;
pub mod float;
pub mod record;

use crate::Program;
use crate::data::Splits;
use crate::train::events::{Event, Level};
use crate::train::{Outcome, TrainError, train};
use float::Repeated;

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
    Writer::new(format).write(&mut out, event);
    out
}

/// Writes a run's events as trace lines in one format, remembering the learning rate's
/// text (an epoch record repeats it, and formatting it took a sixth of a W1 epoch).
pub struct Writer {
    format: Format,
    lr: Repeated,
}

impl Writer {
    /// A writer of the given format.
    pub fn new(format: Format) -> Writer {
        Writer { format, lr: Repeated::default() }
    }

    /// Appends the lines of one event to `out`. The records written once per step or
    /// epoch go straight to text, without building records first (the same text
    /// `record::to_text` gives their records).
    pub fn write(&mut self, out: &mut String, event: &Event) {
        match (event, self.format) {
            (Event::Step { epoch, step, loss }, Format::Text) => {
                record::write_step(out, *epoch, *step, *loss);
                out.push('\n');
            }
            (Event::Epoch { epoch, lr, train, validation }, Format::Text) => {
                record::write_epoch_start(out, *epoch, self.lr.text(*lr));
                record::each_figure(train, *validation, |prefix, name, v| record::write_figure(out, prefix, name, v));
                out.push('\n');
            }
            (_, format) => {
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
}

/// Trains a program and returns its whole text trace with the result. (The CLI streams
/// the same text to a file instead of holding it.)
pub fn record(program: &Program, data: &Splits, level: Level) -> (String, Result<Outcome, TrainError>) {
    let mut text = String::new();
    let mut writer = Writer::new(Format::Text);
    let result = train(program, data, level, &mut |e| writer.write(&mut text, e));
    (text, result)
}
