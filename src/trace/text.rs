//! The text trace: one record a line, deterministic, diffable. See the README's "Trace
//! format" section for the record kinds.

use crate::trace::float::{fmt_float, fmt_tensor};
use crate::train::events::{Event, Level, Stage, TensorValues};

/// The trace format's version, written in its first line.
pub const FORMAT_VERSION: u32 = 1;

/// The text of one event: zero or more complete lines, each ending in a newline.
pub fn format_event(event: &Event) -> String {
    match event {
        Event::Start(info) => {
            let level = match info.level {
                Level::Epoch => "epoch",
                Level::Step => "step",
                Level::Full => "full",
            };
            let fields: [(&str, String); 12] = [
                ("model", info.model.clone()),
                ("ir_sha256", info.fingerprint.clone()),
                ("nnc", info.version.clone()),
                ("seed", info.seed.to_string()),
                ("dtype", info.dtype.clone()),
                ("gradient", info.gradient.clone()),
                ("optimizer", info.optimizer.clone()),
                ("epochs", info.epochs.to_string()),
                ("batch_size", info.batch_size.to_string()),
                ("examples", info.examples.to_string()),
                ("params", info.params.to_string()),
                ("level", level.into()),
            ];
            let mut out = format!("nnc-trace {FORMAT_VERSION}\n");
            for (k, v) in fields {
                out.push_str(&format!("header {k} {v}\n"));
            }
            out
        }
        Event::Tensor { epoch, step, stage, tensor } => {
            let kind = match stage {
                Stage::Forward => "forward",
                Stage::Gradient => "grad",
                Stage::Update => "update",
            };
            format!("{kind} epoch {epoch} step {step} {}\n", tensor_text(tensor))
        }
        Event::Step { epoch, step, loss } => format!("step epoch {epoch} step {step} loss {}\n", fmt_float(*loss)),
        Event::Epoch { epoch, loss, metrics } => {
            let mut line = format!("epoch {epoch} loss {}", fmt_float(*loss));
            for (m, v) in metrics.iter() {
                line.push_str(&format!(" {} {}", m.name(), fmt_float(*v)));
            }
            line + "\n"
        }
        Event::Final { loss, metrics } => {
            let mut line = format!("final loss {}", fmt_float(*loss));
            for (m, v) in metrics.iter() {
                line.push_str(&format!(" {} {}", m.name(), fmt_float(*v)));
            }
            line + "\n"
        }
        Event::Param(t) => format!("param {}\n", tensor_text(t)),
        Event::Diverged { epoch, step, value, layer } => {
            format!("diverged epoch {epoch} step {step} value {value} layer {}\n", layer.unwrap_or("-"))
        }
    }
}

fn tensor_text(t: &TensorValues) -> String {
    let dims = t.dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    format!("{} [{dims}] = {}", t.name, fmt_tensor(&t.values, &t.dims))
}
