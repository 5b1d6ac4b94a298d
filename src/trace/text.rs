//! The text trace: one record a line, deterministic, diffable. See the README's "Trace
//! format" section for the record kinds.

use crate::trace::float::{fmt_float, fmt_tensor};
use crate::train::events::{Event, Level, Scores, Stage, TensorValues};

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
            let fields: [(&str, String); 16] = [
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
                ("validation_examples", info.validation_examples.to_string()),
                ("schedule", info.schedule.clone()),
                ("clip_norm", info.clip_norm.clone()),
                ("early_stopping", info.early_stopping.clone()),
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
        Event::Epoch { epoch, lr, train, validation } => {
            format!("epoch {epoch} lr {}{}\n", fmt_float(*lr), scores_text(train, *validation))
        }
        Event::Stopped { epoch, best_epoch, monitor, best } => {
            format!("stopped epoch {epoch} best_epoch {best_epoch} {monitor} {}\n", fmt_float(*best))
        }
        Event::Final { train, validation } => format!("final{}\n", scores_text(train, *validation)),
        Event::Param(t) => format!("param {}\n", tensor_text(t)),
        Event::Diverged { epoch, step, value, layer } => {
            format!("diverged epoch {epoch} step {step} value {value} layer {}\n", layer.unwrap_or("-"))
        }
    }
}

/// ` loss L metric V ... val_loss L val_metric V ...`.
fn scores_text(train: &Scores, validation: Option<&Scores>) -> String {
    let mut out = String::new();
    let mut add = |prefix: &str, s: &Scores| {
        out.push_str(&format!(" {prefix}loss {}", fmt_float(s.loss)));
        for (m, v) in &s.metrics {
            out.push_str(&format!(" {prefix}{} {}", m.name(), fmt_float(*v)));
        }
    };
    add("", train);
    if let Some(v) = validation {
        add("val_", v);
    }
    out
}

fn tensor_text(t: &TensorValues) -> String {
    let dims = t.dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    format!("{} [{dims}] = {}", t.name, fmt_tensor(&t.values, &t.dims))
}
