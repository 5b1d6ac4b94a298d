//! Traces: training events written as deterministic text. Pure formatting: writing the
//! text anywhere is the CLI's job.

pub mod float;
pub mod text;

pub use text::format_event;
