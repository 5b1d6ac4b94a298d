//! Lowering the `train` block: optimiser, schedule, epochs, batch size, seed, gradient
//! mode, dtype, metrics, gradient clipping and early stopping, with defaults and range
//! checks.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::DType;
use crate::lower::values::{Attrs, boolean, call, call_args, integer, known, name, number, option, positive};
use crate::program::{EarlyStopping, GradientMode, Metric, Monitor, Optimizer, Schedule, TrainConfig};
use crate::syntax::ast::{AttrBlock, FilePath, Ident, Value, ValueKind};

const KEYS: &[&str] = &[
    "optimizer",
    "epochs",
    "batch_size",
    "seed",
    "gradient",
    "dtype",
    "metrics",
    "schedule",
    "warmup",
    "clip_norm",
    "early_stopping",
    "weights_from",
];
const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw", "rmsprop", "adagrad"];
const SCHEDULES: &[&str] = &["constant", "step", "exponential", "cosine"];
const METRICS: &[&str] = &["accuracy", "binary_accuracy", "mae", "mse"];

/// Reads the `train` block (or the defaults when there is none), and the dtype it sets
/// for the graph (f32 unless it says otherwise).
pub fn lower_train(block: Option<&AttrBlock>, diags: &mut Diagnostics) -> (TrainConfig, DType) {
    let mut cfg = TrainConfig::default();
    let mut dtype_choice = DType::F32;
    let Some(block) = block else { return (cfg, dtype_choice) };
    let attrs = Attrs::new(&block.attrs, "the `train` block", KEYS);
    for d in attrs.check() {
        diags.push(d);
    }
    if let Some(o) = attrs.get("optimizer").and_then(|v| diags.take(optimizer(v))) {
        cfg.optimizer = o;
    }
    if let Some(e) = attrs.get("epochs").and_then(|v| diags.take(integer(v, "`epochs`", 1))) {
        cfg.epochs = e;
    }
    if let Some(b) = attrs.get("batch_size").and_then(|v| diags.take(integer(v, "`batch_size`", 1))) {
        cfg.batch_size = Some(b as usize);
    }
    if let Some(s) = attrs.get("seed").and_then(|v| diags.take(integer(v, "`seed`", 0))) {
        cfg.seed = s;
    }
    if let Some(g) = attrs.get("gradient").and_then(|v| diags.take(gradient(v))) {
        cfg.gradient = g;
    }
    if let Some(d) = attrs.get("dtype").and_then(|v| diags.take(dtype(v))) {
        dtype_choice = d;
    }
    if let Some(m) = attrs.get("metrics").and_then(|v| diags.take(metrics(v))) {
        cfg.metrics = m;
    }
    if let Some(s) = attrs.get("schedule").and_then(|v| diags.take(schedule(v))) {
        cfg.schedule = s;
    }
    if let Some(w) = attrs.get("warmup").and_then(|v| diags.take(integer(v, "`warmup`", 0))) {
        cfg.warmup = w;
    }
    if let Some(c) = attrs.get("clip_norm").and_then(|v| diags.take(positive(v, "`clip_norm`"))) {
        cfg.clip_norm = Some(c);
    }
    if let Some(e) = attrs.get("early_stopping").and_then(|v| diags.take(early_stopping(v))) {
        cfg.early_stopping = Some(e);
    }
    if let Some(v) = attrs.get("weights_from") {
        match &v.kind {
            ValueKind::Str(path) => cfg.weights_from = Some(FilePath { path: path.clone(), span: v.span }),
            _ => diags.push(
                Diagnostic::error(
                    Code::WrongType,
                    "`weights_from` must be a file path in quotes",
                    v.span,
                    "not a string",
                )
                .with_help("write `weights_from = \"model.safetensors\"` (relative to the spec's folder)"),
            ),
        }
    }
    (cfg, dtype_choice)
}

/// An optional number with a default, checked by `check` (which says what is wrong).
fn num(a: &Attrs, key: &str, default: f64, check: fn(f64) -> Option<&'static str>) -> Result<f64, Diagnostic> {
    let Some(v) = a.get(key) else { return Ok(default) };
    let x = number(v, &format!("`{key}`"))?;
    match check(x) {
        None => Ok(x),
        Some(why) => {
            Err(Diagnostic::error(Code::OutOfRange, format!("`{key}` {why}"), v.span, format!("{x} is out of range")))
        }
    }
}

fn pos(x: f64) -> Option<&'static str> {
    (x <= 0.0).then_some("must be greater than 0")
}

fn non_neg(x: f64) -> Option<&'static str> {
    (x < 0.0).then_some("must not be negative")
}

fn unit(x: f64) -> Option<&'static str> {
    (!(0.0..1.0).contains(&x)).then_some("must be in [0, 1)")
}

fn optimizer(v: &Value) -> Result<Optimizer, Diagnostic> {
    let (id, given) = call(v, "`optimizer`")?;
    let kind = known(&id, Code::UnknownOptimizer, "optimizer", "optimizers", OPTIMIZERS)?;
    Ok(match kind {
        "sgd" => {
            let a = call_args(given, kind, &["lr", "momentum", "nesterov", "weight_decay"])?;
            let nesterov = a.get("nesterov").map(|v| boolean(v, "`nesterov`")).transpose()?.unwrap_or(false);
            let momentum = num(&a, "momentum", 0.0, unit)?;
            if nesterov && momentum == 0.0 {
                let span = a.get("nesterov").map_or(v.span, |n| n.span);
                return Err(Diagnostic::error(
                    Code::OutOfRange,
                    "Nesterov momentum needs `momentum` above 0",
                    span,
                    "has no effect without momentum",
                )
                .with_help("add e.g. `momentum = 0.9`"));
            }
            Optimizer::Sgd {
                lr: num(&a, "lr", 0.01, pos)?,
                momentum,
                nesterov,
                weight_decay: num(&a, "weight_decay", 0.0, non_neg)?,
            }
        }
        "adam" | "adamw" => {
            let a = call_args(given, kind, &["lr", "beta1", "beta2", "eps", "weight_decay"])?;
            let (lr, beta1, beta2, eps) = (
                num(&a, "lr", 0.001, pos)?,
                num(&a, "beta1", 0.9, unit)?,
                num(&a, "beta2", 0.999, unit)?,
                num(&a, "eps", 1e-8, pos)?,
            );
            if kind == "adam" {
                Optimizer::Adam { lr, beta1, beta2, eps, weight_decay: num(&a, "weight_decay", 0.0, non_neg)? }
            } else {
                Optimizer::AdamW { lr, beta1, beta2, eps, weight_decay: num(&a, "weight_decay", 0.01, non_neg)? }
            }
        }
        "rmsprop" => {
            let a = call_args(given, kind, &["lr", "rho", "eps", "momentum", "weight_decay"])?;
            Optimizer::RmsProp {
                lr: num(&a, "lr", 0.01, pos)?,
                rho: num(&a, "rho", 0.99, unit)?,
                eps: num(&a, "eps", 1e-8, pos)?,
                momentum: num(&a, "momentum", 0.0, unit)?,
                weight_decay: num(&a, "weight_decay", 0.0, non_neg)?,
            }
        }
        _ => {
            let a = call_args(given, kind, &["lr", "eps", "weight_decay"])?;
            Optimizer::Adagrad {
                lr: num(&a, "lr", 0.01, pos)?,
                eps: num(&a, "eps", 1e-10, pos)?,
                weight_decay: num(&a, "weight_decay", 0.0, non_neg)?,
            }
        }
    })
}

fn schedule(v: &Value) -> Result<Schedule, Diagnostic> {
    let (id, given) = call(v, "`schedule`")?;
    let kind = known(&id, Code::UnknownOption, "schedule", "schedules", SCHEDULES)?;
    let int = |a: &Attrs, key: &str| -> Result<u64, Diagnostic> {
        match a.get(key) {
            Some(v) => integer(v, &format!("`{key}`"), 1),
            None => Err(Diagnostic::error(
                Code::Missing,
                format!("`{kind}` needs `{key}`"),
                id.span,
                format!("`{key}` is missing"),
            )),
        }
    };
    Ok(match kind {
        "constant" => {
            call_args(given, kind, &[])?;
            Schedule::Constant
        }
        "step" => {
            let a = call_args(given, kind, &["every", "gamma"])?;
            Schedule::Step { every: int(&a, "every")?, gamma: num(&a, "gamma", 0.1, pos)? }
        }
        "exponential" => {
            let a = call_args(given, kind, &["gamma"])?;
            Schedule::Exponential { gamma: num(&a, "gamma", 0.95, pos)? }
        }
        _ => {
            let a = call_args(given, kind, &["epochs", "min_lr"])?;
            Schedule::Cosine { epochs: int(&a, "epochs")?, min_lr: num(&a, "min_lr", 0.0, non_neg)? }
        }
    })
}

fn metric_of(id: &Ident) -> Result<Metric, Diagnostic> {
    Ok(match known(id, Code::UnknownMetric, "metric", "metrics", METRICS)? {
        "accuracy" => Metric::Accuracy,
        "binary_accuracy" => Metric::BinaryAccuracy,
        "mae" => Metric::Mae,
        _ => Metric::Mse,
    })
}

fn early_stopping(v: &Value) -> Result<EarlyStopping, Diagnostic> {
    let (id, given) = call(v, "`early_stopping`")?;
    known(&id, Code::UnknownOption, "stopping rule", "stopping rules", &["early_stopping"])?;
    let a = call_args(given, "early_stopping", &["monitor", "patience", "min_delta"])?;
    let monitor = match a.get("monitor") {
        None => Monitor::ValLoss,
        Some(m) => {
            let n = name(m, "`monitor`")?;
            match n {
                "val_loss" => Monitor::ValLoss,
                "loss" => Monitor::Loss,
                other => match other.strip_prefix("val_") {
                    Some(metric) => Monitor::ValMetric(metric_of(&Ident { name: metric.into(), span: m.span })?),
                    None => {
                        return Err(Diagnostic::error(
                            Code::UnknownOption,
                            format!("cannot monitor `{other}`"),
                            m.span,
                            "not a monitored figure",
                        )
                        .with_help("monitor `val_loss`, `loss`, or `val_` and a metric such as `val_accuracy`"));
                    }
                },
            }
        }
    };
    let patience = a.get("patience").map(|p| integer(p, "`patience`", 1)).transpose()?.unwrap_or(5);
    Ok(EarlyStopping { monitor, patience, min_delta: num(&a, "min_delta", 0.0, non_neg)? })
}

fn gradient(v: &Value) -> Result<GradientMode, Diagnostic> {
    let (id, given) = call(v, "`gradient`")?;
    match known(&id, Code::UnknownOption, "gradient mode", "gradient modes", &["backprop", "finite_difference"])? {
        "backprop" => {
            call_args(given, "backprop", &[])?;
            Ok(GradientMode::Backprop)
        }
        _ => {
            let a = call_args(given, "finite_difference", &["step"])?;
            let step = a.get("step").map(|v| positive(v, "the finite-difference `step`")).transpose()?.unwrap_or(1e-4);
            Ok(GradientMode::FiniteDifference { step })
        }
    }
}

fn dtype(v: &Value) -> Result<DType, Diagnostic> {
    Ok(match option(v, "dtype", "dtype", "dtypes", &["f32", "f64"])? {
        "f32" => DType::F32,
        _ => DType::F64,
    })
}

fn metrics(v: &Value) -> Result<Vec<Metric>, Diagnostic> {
    let ValueKind::Array(items) = &v.kind else {
        return Err(Diagnostic::error(
            Code::WrongType,
            "`metrics` must be an array of names",
            v.span,
            "expected e.g. `[accuracy]`",
        ));
    };
    items
        .iter()
        .map(|item| {
            let n = name(item, "each metric")?;
            metric_of(&Ident { name: n.to_string(), span: item.span })
        })
        .collect()
}
