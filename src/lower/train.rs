//! Lowering the `train` block: optimiser, epochs, batch size, seed, gradient mode, dtype
//! and metrics, with defaults and range checks.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::DType;
use crate::lower::values::{Attrs, call, integer, known, name, positive};
use crate::program::{GradientMode, Metric, Optimizer, TrainConfig};
use crate::syntax::ast::{AttrBlock, Value, ValueKind};

const KEYS: &[&str] = &["optimizer", "epochs", "batch_size", "seed", "gradient", "dtype", "metrics"];
/// Keys the language defines that this version does not implement yet.
const PLANNED: &[&str] = &["weights_from", "schedule", "early_stopping", "clip_norm"];

/// Reads the `train` block (or the defaults when there is none), and the dtype it sets
/// for the graph (f32 unless it says otherwise).
pub fn lower_train(block: Option<&AttrBlock>, diags: &mut Diagnostics) -> (TrainConfig, DType) {
    let mut cfg = TrainConfig::default();
    let mut dtype_choice = DType::F32;
    let Some(block) = block else { return (cfg, dtype_choice) };
    let attrs = Attrs::new(&block.attrs, "the `train` block", KEYS);
    for d in attrs.check() {
        diags.push(planned(d, &block.attrs, PLANNED));
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
    (cfg, dtype_choice)
}

/// Turns "unknown key" into "not implemented yet" for keys the language plans.
pub fn planned(d: Diagnostic, attrs: &[crate::syntax::ast::Attr], planned: &[&str]) -> Diagnostic {
    let Some(a) = attrs.iter().find(|a| a.key.span == d.labels[0].span) else { return d };
    if d.code == Code::UnknownAttribute && planned.contains(&a.key.name.as_str()) {
        Diagnostic::error(
            Code::UnknownAttribute,
            format!("`{}` is not supported by this version of nnc yet", a.key.name),
            a.key.span,
            "not implemented yet",
        )
        .with_help("remove it; see docs/language.md for what this version supports")
    } else {
        d
    }
}

fn optimizer(v: &Value) -> Result<Optimizer, Diagnostic> {
    let (id, args) = call(v, "`optimizer`")?;
    known(&id, Code::UnknownOptimizer, "optimizer", "optimizers", &["sgd"])?;
    let a = Attrs::new(args, "`sgd`", &["lr"]);
    if let Some(d) = a.check().into_iter().next() {
        return Err(d);
    }
    let lr = a.get("lr").map(|v| positive(v, "the learning rate `lr`")).transpose()?.unwrap_or(0.01);
    Ok(Optimizer::Sgd { lr })
}

fn gradient(v: &Value) -> Result<GradientMode, Diagnostic> {
    let (id, args) = call(v, "`gradient`")?;
    match known(&id, Code::UnknownOption, "gradient mode", "gradient modes", &["backprop", "finite_difference"])? {
        "backprop" => {
            if let Some(d) = Attrs::new(args, "`backprop`", &[]).check().into_iter().next() {
                return Err(d);
            }
            Ok(GradientMode::Backprop)
        }
        _ => {
            let a = Attrs::new(args, "`finite_difference`", &["step"]);
            if let Some(d) = a.check().into_iter().next() {
                return Err(d);
            }
            let step = a.get("step").map(|v| positive(v, "the finite-difference `step`")).transpose()?.unwrap_or(1e-4);
            Ok(GradientMode::FiniteDifference { step })
        }
    }
}

fn dtype(v: &Value) -> Result<DType, Diagnostic> {
    let n = name(v, "`dtype`")?;
    let id = crate::syntax::ast::Ident { name: n.to_string(), span: v.span };
    Ok(match known(&id, Code::UnknownOption, "dtype", "dtypes", &["f32", "f64"])? {
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
            let id = crate::syntax::ast::Ident { name: n.to_string(), span: item.span };
            known(&id, Code::UnknownMetric, "metric", "metrics", &["accuracy"]).map(|_| Metric::Accuracy)
        })
        .collect()
}
