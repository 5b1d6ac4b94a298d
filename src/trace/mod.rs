//! Traces: training events written as deterministic text. Pure formatting: writing the
//! text anywhere is the CLI's job.

pub mod float;
pub mod text;

pub use text::format_event;

use crate::Program;
use crate::data::Splits;
use crate::train::events::Level;
use crate::train::{Outcome, TrainError, train};

/// Trains a program and returns its whole text trace with the result. (The CLI streams
/// the same text to a file instead of holding it.)
pub fn record(program: &Program, data: &Splits, level: Level) -> (String, Result<Outcome, TrainError>) {
    let mut text = String::new();
    let result = train(program, data, level, &mut |e| text.push_str(&format_event(e)));
    (text, result)
}
