//! Trace records: the owned, serialisable form of training events, one per trace line.
//! The same records are written as text (`to_text`) or JSON lines (`serde_json`), and read
//! back from either (`parse_text`, `read`), which is what `nnc diff` and `nnc plot` use.

use serde::{Deserialize, Serialize};

use crate::trace::float::{fmt_float, fmt_tensor, write_float};
use crate::train::events::{Event, Level, Scores, Stage, TensorValues};

/// The trace format's version, written in its first record.
pub const FORMAT_VERSION: u32 = 1;

/// One trace record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The first record: the format version.
    Version {
        /// The version.
        version: u32,
    },
    /// One fact about the run.
    Header {
        /// Its name.
        key: String,
        /// Its value.
        value: String,
    },
    /// A value of one step's forward pass.
    Forward(Tensor),
    /// A parameter's gradient in one step.
    Grad(Tensor),
    /// A parameter after one step's update.
    Update(Tensor),
    /// One step's batch loss.
    Step {
        /// The epoch.
        epoch: u64,
        /// The step.
        step: u64,
        /// The loss.
        loss: f64,
    },
    /// One epoch's learning rate and figures (`loss`, metrics, `val_loss`, `val_` metrics).
    Epoch {
        /// The epoch.
        epoch: u64,
        /// The learning rate.
        lr: f64,
        /// Named figures, in order.
        figures: Vec<(String, f64)>,
    },
    /// Early stopping ended the run.
    Stopped {
        /// The last epoch run.
        epoch: u64,
        /// The epoch whose parameters were kept.
        best_epoch: u64,
        /// The monitored figure.
        monitor: String,
        /// Its best value.
        best: f64,
    },
    /// The trained parameters' figures.
    Final {
        /// Named figures, in order.
        figures: Vec<(String, f64)>,
    },
    /// A trained parameter.
    Param(Tensor),
    /// The run diverged.
    Diverged {
        /// The epoch.
        epoch: u64,
        /// The step.
        step: u64,
        /// The first non-finite value.
        value: String,
        /// Its layer.
        layer: Option<String>,
    },
}

/// A named tensor, with its step when it belongs to one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    /// The epoch (0 for final parameters).
    pub epoch: u64,
    /// The step (0 for final parameters).
    pub step: u64,
    /// The IR name.
    pub name: String,
    /// The dimensions.
    pub dims: Vec<usize>,
    /// The elements, row-major (JSON writes non-finite ones as `null`, read back as NaN).
    #[serde(deserialize_with = "floats_or_null")]
    pub values: Vec<f64>,
}

fn floats_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let values: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn tensor(epoch: u64, step: u64, t: &TensorValues) -> Tensor {
    Tensor { epoch, step, name: t.name.to_string(), dims: t.dims.clone(), values: t.values.clone() }
}

/// Calls `f(prefix, name, value)` for each figure of an epoch or final record, in record
/// order: the training loss and metrics, then the validation ones prefixed `val_`.
pub(crate) fn each_figure(train: &Scores, validation: Option<&Scores>, mut f: impl FnMut(&str, &str, f64)) {
    for (prefix, s) in std::iter::once(("", train)).chain(validation.map(|v| ("val_", v))) {
        f(prefix, "loss", s.loss);
        for (m, v) in &s.metrics {
            f(prefix, m.name(), *v);
        }
    }
}

fn figures(train: &Scores, validation: Option<&Scores>) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    each_figure(train, validation, |prefix, name, v| out.push((format!("{prefix}{name}"), v)));
    out
}

/// Appends a step record's text: `step epoch E step S loss L`.
pub(crate) fn write_step(out: &mut String, epoch: u64, step: u64, loss: f64) {
    let mut digits = itoa::Buffer::new();
    out.push_str("step epoch ");
    out.push_str(digits.format(epoch));
    out.push_str(" step ");
    out.push_str(digits.format(step));
    out.push_str(" loss ");
    write_float(out, loss);
}

/// Appends the start of an epoch record's text: `epoch E lr LR`, LR already formatted.
pub(crate) fn write_epoch_start(out: &mut String, epoch: u64, lr: &str) {
    out.push_str("epoch ");
    out.push_str(itoa::Buffer::new().format(epoch));
    out.push_str(" lr ");
    out.push_str(lr);
}

/// Appends one figure of an epoch or final record: ` NAME VALUE`, NAME being
/// `prefix` + `name`.
pub(crate) fn write_figure(out: &mut String, prefix: &str, name: &str, value: f64) {
    out.push(' ');
    out.push_str(prefix);
    out.push_str(name);
    out.push(' ');
    write_float(out, value);
}

/// The records of one event.
pub fn records_of(event: &Event) -> Vec<Record> {
    match event {
        Event::Start(info) => {
            let level = match info.level {
                Level::Epoch => "epoch",
                Level::Step => "step",
                Level::Full => "full",
            };
            let mut fields: Vec<(&str, String)> = vec![
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
            fields.extend(info.start.clone().map(|s| ("start", s)));
            std::iter::once(Record::Version { version: FORMAT_VERSION })
                .chain(fields.into_iter().map(|(k, v)| Record::Header { key: k.into(), value: v }))
                .collect()
        }
        Event::Tensor { epoch, step, stage, tensor: t } => {
            let t = tensor(*epoch, *step, t);
            vec![match stage {
                Stage::Forward => Record::Forward(t),
                Stage::Gradient => Record::Grad(t),
                Stage::Update => Record::Update(t),
            }]
        }
        Event::Step { epoch, step, loss } => vec![Record::Step { epoch: *epoch, step: *step, loss: *loss }],
        Event::Epoch { epoch, lr, train, validation } => {
            vec![Record::Epoch { epoch: *epoch, lr: *lr, figures: figures(train, *validation) }]
        }
        Event::Stopped { epoch, best_epoch, monitor, best } => {
            vec![Record::Stopped { epoch: *epoch, best_epoch: *best_epoch, monitor: monitor.to_string(), best: *best }]
        }
        Event::Final { train, validation } => vec![Record::Final { figures: figures(train, *validation) }],
        Event::Param(t) => vec![Record::Param(tensor(0, 0, t))],
        Event::Diverged { epoch, step, value, layer } => vec![Record::Diverged {
            epoch: *epoch,
            step: *step,
            value: value.to_string(),
            layer: layer.map(str::to_string),
        }],
        Event::Checkpoint(_) => Vec::new(),
    }
}

fn tensor_text(t: &Tensor) -> String {
    let dims = t.dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    format!("{} [{dims}] = {}", t.name, fmt_tensor(&t.values, &t.dims))
}

fn write_figures(out: &mut String, figures: &[(String, f64)]) {
    for (name, v) in figures {
        write_figure(out, "", name, *v);
    }
}

/// The record as one text line (without the newline).
pub fn to_text(r: &Record) -> String {
    match r {
        Record::Version { version } => format!("nnc-trace {version}"),
        Record::Header { key, value } => format!("header {key} {value}"),
        Record::Forward(t) => format!("forward epoch {} step {} {}", t.epoch, t.step, tensor_text(t)),
        Record::Grad(t) => format!("grad epoch {} step {} {}", t.epoch, t.step, tensor_text(t)),
        Record::Update(t) => format!("update epoch {} step {} {}", t.epoch, t.step, tensor_text(t)),
        Record::Step { epoch, step, loss } => {
            let mut out = String::new();
            write_step(&mut out, *epoch, *step, *loss);
            out
        }
        Record::Epoch { epoch, lr, figures } => {
            let mut out = String::new();
            write_epoch_start(&mut out, *epoch, &fmt_float(*lr));
            write_figures(&mut out, figures);
            out
        }
        Record::Stopped { epoch, best_epoch, monitor, best } => {
            format!("stopped epoch {epoch} best_epoch {best_epoch} {monitor} {}", fmt_float(*best))
        }
        Record::Final { figures } => {
            let mut out = String::from("final");
            write_figures(&mut out, figures);
            out
        }
        Record::Param(t) => format!("param {}", tensor_text(t)),
        Record::Diverged { epoch, step, value, layer } => {
            format!("diverged epoch {epoch} step {step} value {value} layer {}", layer.as_deref().unwrap_or("-"))
        }
    }
}

/// Why a trace line could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn number<T: std::str::FromStr>(word: Option<&str>, what: &str) -> Result<T, String> {
    word.and_then(|w| w.parse().ok()).ok_or_else(|| format!("expected {what}"))
}

/// `key value key value ...` pairs of numbers.
fn figures_of(words: &[&str]) -> Result<Vec<(String, f64)>, String> {
    words
        .chunks(2)
        .map(|p| match p {
            [k, v] => Ok((k.to_string(), number(Some(v), "a number")?)),
            _ => Err("expected a name and a number".to_string()),
        })
        .collect()
}

/// `NAME [d, d] = [[...]]` after the epoch and step.
fn parse_tensor(epoch: u64, step: u64, rest: &str) -> Result<Tensor, String> {
    let (head, values) = rest.split_once(" = ").ok_or("expected `NAME [DIMS] = VALUES`")?;
    let (name, dims) = head.split_once(' ').ok_or("expected `NAME [DIMS]`")?;
    let dims = dims.trim_matches(['[', ']']);
    let dims: Vec<usize> = if dims.is_empty() {
        Vec::new()
    } else {
        dims.split(", ").map(|d| number(Some(d), "a dimension")).collect::<Result<_, _>>()?
    };
    let values: Vec<f64> = values
        .split(|c: char| c == ',' || c == '[' || c == ']' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| number(Some(w), "a number"))
        .collect::<Result<_, _>>()?;
    if values.len() != dims.iter().product::<usize>() {
        return Err(format!("`{name}` has {} values for dimensions {dims:?}", values.len()));
    }
    Ok(Tensor { epoch, step, name: name.to_string(), dims, values })
}

/// Reads one text line.
pub fn parse_line(line: &str) -> Result<Record, String> {
    let words: Vec<&str> = line.split(' ').collect();
    let at = |i: usize| words.get(i).copied();
    let stepped = |kind: &str| -> Result<(u64, u64, String), String> {
        if at(1) != Some("epoch") || at(3) != Some("step") {
            return Err(format!("expected `{kind} epoch E step S ...`"));
        }
        Ok((number(at(2), "an epoch")?, number(at(4), "a step")?, words.get(5..).unwrap_or(&[]).join(" ")))
    };
    match at(0) {
        Some("nnc-trace") => Ok(Record::Version { version: number(at(1), "a version")? }),
        Some("header") => Ok(Record::Header {
            key: at(1).ok_or("expected a key")?.to_string(),
            value: words.get(2..).unwrap_or(&[]).join(" "),
        }),
        Some(kind @ ("forward" | "grad" | "update")) => {
            let (epoch, step, rest) = stepped(kind)?;
            let t = parse_tensor(epoch, step, &rest)?;
            Ok(match kind {
                "forward" => Record::Forward(t),
                "grad" => Record::Grad(t),
                _ => Record::Update(t),
            })
        }
        Some("step") => {
            let (epoch, step, _) = stepped("step")?;
            Ok(Record::Step { epoch, step, loss: number(at(6), "the loss")? })
        }
        Some("epoch") => {
            if at(2) != Some("lr") {
                return Err("expected `epoch E lr R ...`".into());
            }
            Ok(Record::Epoch {
                epoch: number(at(1), "an epoch")?,
                lr: number(at(3), "a rate")?,
                figures: figures_of(&words[4..])?,
            })
        }
        Some("stopped") => Ok(Record::Stopped {
            epoch: number(at(2), "an epoch")?,
            best_epoch: number(at(4), "an epoch")?,
            monitor: at(5).ok_or("expected the monitor")?.to_string(),
            best: number(at(6), "a number")?,
        }),
        Some("final") => Ok(Record::Final { figures: figures_of(&words[1..])? }),
        Some("param") => Ok(Record::Param(parse_tensor(0, 0, &words[1..].join(" "))?)),
        Some("diverged") => {
            let (epoch, step, _) = stepped("diverged")?;
            let layer = at(8).filter(|l| *l != "-").map(str::to_string);
            Ok(Record::Diverged { epoch, step, value: at(6).ok_or("expected the value")?.to_string(), layer })
        }
        _ => Err(format!("`{}` is not a trace record", at(0).unwrap_or(""))),
    }
}

/// Reads a whole trace, text or JSON lines (told apart by the first character).
pub fn read(text: &str) -> Result<Vec<Record>, ParseError> {
    let json = text.trim_start().starts_with('{');
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let parsed = if json { serde_json::from_str(l).map_err(|e| e.to_string()) } else { parse_line(l) };
            parsed.map_err(|message| ParseError { line: i + 1, message })
        })
        .collect()
}
