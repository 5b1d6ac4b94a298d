//! Lowering the `model` block: layer names, shapes and parameters, and the forward IR
//! graph. A `dense` layer lowers to `matmul`, an optional `broadcast` + `add` of the bias,
//! and an optional activation op: layers are syntax, ops are semantics.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, unknown_name_help};
use crate::ir::{Activation, DType, Dim, Graph, Init, Loss, Op, Origin, Shape, ValueId};
use crate::lower::values::{Attrs, MAX_TENSOR_ELEMENTS, boolean, call, integer, known, matrix, name, positive, vector};
use crate::program::LayerSummary;
use crate::syntax::ast::{Ident, ModelBlock, Span, Stmt, Value};

const LAYER_KINDS: &[&str] = &["input", "dense", "loss"];
const DENSE_KEYS: &[&str] = &["activation", "bias", "weights", "bias_values", "init", "trainable"];
const ACTIVATIONS: &[&str] = &["linear", "sigmoid", "tanh", "relu", "softmax"];
const LOSSES: &[&str] = &["mse", "binary_crossentropy", "categorical_crossentropy"];
const INITS: &[&str] = &["zeros", "normal", "uniform", "glorot_uniform", "he_normal"];
/// The most scalar parameters a model may have (checked before any is allocated).
pub const MAX_MODEL_PARAMS: usize = 1 << 28;
/// Names that graph values already use.
const RESERVED: &[&str] = &["x", "y", "loss"];

/// The lowered model: its forward graph and layer summaries.
pub struct LoweredModel {
    /// The forward graph, ending in the loss.
    pub graph: Graph,
    /// One summary per layer, input first.
    pub layers: Vec<LayerSummary>,
    /// The loss's name.
    pub loss_name: String,
    /// The `input` statement's span.
    pub input_span: Span,
    /// The last layer's span (what `y` must match).
    pub output_span: Span,
    /// The loss statement's span.
    pub loss_span: Span,
}

/// What a dense layer's activation statement said.
enum ActivationChoice {
    Linear,
    Elementwise(Activation),
    Softmax,
}

/// Lowers the model block into a forward graph in the given dtype.
pub fn lower_model(model: &ModelBlock, dtype: DType, diags: &mut Diagnostics) -> Option<LoweredModel> {
    let stmts = &model.stmts;
    let Some(first) = stmts.first() else {
        diags.push(
            Diagnostic::error(Code::Missing, "the model is empty", model.name.span, "this model has no statements")
                .with_help("a model needs `input N`, at least one layer such as `dense 1`, and `loss NAME`"),
        );
        return None;
    };
    let mut unknown_kinds = false;
    for s in stmts {
        if !LAYER_KINDS.contains(&s.kind.name.as_str()) {
            unknown_kinds = true;
            diags.push(
                Diagnostic::error(
                    Code::UnknownLayer,
                    format!("unknown layer kind `{}`", s.kind.name),
                    s.kind.span,
                    "not a layer nnc knows",
                )
                .with_help(unknown_name_help(&s.kind.name, "statements", LAYER_KINDS)),
            );
        }
    }
    let inputs: Vec<&Stmt> = stmts.iter().filter(|s| s.kind.name == "input").collect();
    let input = match inputs.first() {
        Some(s) if std::ptr::eq(*s, first) => diags.take(input_width(first)),
        Some(s) => {
            diags.push(
                Diagnostic::error(
                    Code::Misplaced,
                    "`input` must be the model's first statement",
                    s.span,
                    "declared here",
                )
                .with_label(first.span, "but the model starts here")
                .with_help("move `input N` to the top of the model"),
            );
            None
        }
        None => {
            diags.push(
                Diagnostic::error(
                    Code::Missing,
                    "the model must start with `input N`",
                    first.span,
                    "expected `input N` before this",
                )
                .with_help("add `input N` as the model's first statement, N being the number of features"),
            );
            None
        }
    };
    for s in inputs.iter().skip(1) {
        diags.push(
            Diagnostic::error(Code::Misplaced, "a second `input` statement", s.span, "the model already has an input")
                .with_label(inputs[0].span, "the input is declared here")
                .with_help("a model has one `input`: remove this one"),
        );
    }
    let loss_stmt = stmts.iter().rposition(|s| s.kind.name == "loss");
    match loss_stmt {
        None => diags.push(
            Diagnostic::error(
                Code::Missing,
                "the model has no loss",
                model.name.span,
                "this model never says what it minimises",
            )
            .with_help("end the model with `loss mse`, `loss binary_crossentropy` or `loss categorical_crossentropy`"),
        ),
        Some(i) => {
            for s in stmts[..i].iter().filter(|s| s.kind.name == "loss") {
                diags.push(
                    Diagnostic::error(
                        Code::Misplaced,
                        "a second `loss` statement",
                        s.span,
                        "the model has another loss below",
                    )
                    .with_help("keep one `loss` statement, at the end"),
                );
            }
            for s in stmts[i + 1..].iter().filter(|s| s.kind.name != "input") {
                diags.push(
                    Diagnostic::error(
                        Code::Misplaced,
                        format!("`{}` after the loss", s.kind.name),
                        s.span,
                        "after the loss",
                    )
                    .with_label(stmts[i].span, "the loss is here")
                    .with_help("the loss comes last: move this statement above it"),
                );
            }
        }
    }
    let loss = loss_stmt.and_then(|i| diags.take(loss_kind(&stmts[i])));

    let dense: Vec<&Stmt> = stmts.iter().filter(|s| s.kind.name == "dense").collect();
    if dense.is_empty() && loss_stmt.is_some() && !unknown_kinds {
        diags.push(
            Diagnostic::error(Code::Missing, "the model has no layers", model.name.span, "nothing to train")
                .with_help("add a layer between `input` and `loss`, e.g. `dense 1`"),
        );
    }
    let before_names = diags.0.len();
    let names = layer_names(&dense, diags);
    if diags.0.len() > before_names {
        return None;
    }

    let (width, input_span) = (input?, first.span);
    let mut graph = Graph::new(
        &model.name.name,
        dtype,
        Shape::matrix(Dim::Batch, Dim::Fixed(width)),
        Shape::matrix(Dim::Batch, Dim::Fixed(1)),
    );
    let mut layers = vec![LayerSummary {
        name: "input".into(),
        kind: "input".into(),
        shape: Shape::matrix(Dim::Batch, Dim::Fixed(width)),
        params: 0,
        notes: String::new(),
        span: first.span,
    }];
    let mut current = (graph.x(), width);
    let mut output_span = first.span;
    let mut failed = false;
    let mut total_params = 0usize;
    for (stmt, layer_name) in dense.iter().zip(&names) {
        match lower_dense(&mut graph, stmt, layer_name, current, diags) {
            Some((_, _, summary)) if total_params + summary.params > MAX_MODEL_PARAMS => {
                diags.push(
                    Diagnostic::error(
                        Code::TooLarge,
                        format!("the model would have more than {MAX_MODEL_PARAMS} parameters"),
                        stmt.span,
                        format!("this layer brings the total to {}", total_params + summary.params),
                    )
                    .with_help("nnc trains models of at most 2^28 parameters: use fewer or smaller layers"),
                );
                failed = true;
                break;
            }
            Some((out, units, summary)) => {
                total_params += summary.params;
                current = (out, units);
                layers.push(summary);
                output_span = stmt.span;
            }
            None => failed = true,
        }
    }
    let (loss, loss_i) = (loss?, loss_stmt?);
    if failed || diags.has_errors() {
        return None;
    }
    let (pred, units) = current;
    let y = graph.y();
    graph.values[y.0].shape = Shape::matrix(Dim::Batch, Dim::Fixed(units));
    let origin = Origin::layer("loss", stmts[loss_i].span);
    let loss_value = graph.push(Op::Loss(loss), &[pred, graph.y()], "loss", origin).ok()?;
    graph.prediction = pred;
    graph.loss = loss_value;
    let loss_span = stmts[loss_i].span;
    Some(LoweredModel { graph, layers, loss_name: loss.name().to_string(), input_span, output_span, loss_span })
}

fn input_width(s: &Stmt) -> Result<usize, Diagnostic> {
    if let Some(a) = &s.alias {
        return Err(Diagnostic::error(Code::Syntax, "the input cannot be renamed", a.span, "remove `as ...`")
            .with_help("the input is always called `x`"));
    }
    if let Some(a) = s.attrs.first() {
        return Err(Diagnostic::error(Code::UnknownAttribute, "`input` takes no attributes", a.span, "remove this")
            .with_help("write `input N`"));
    }
    let Some(v) = &s.arg else {
        return Err(Diagnostic::error(
            Code::Missing,
            "`input` needs the number of features",
            s.span,
            "expected `input N`",
        )
        .with_help("write e.g. `input 2`"));
    };
    if let crate::syntax::ast::ValueKind::Shape(dims) = &v.kind {
        let flat: u64 = dims.iter().fold(1u64, |a, d| a.saturating_mul(*d));
        return Err(Diagnostic::error(
            Code::WrongType,
            "multi-dimensional inputs are not supported yet",
            v.span,
            "a shape",
        )
        .with_help(format!("flatten the examples and write `input {flat}`")));
    }
    let n = integer(v, "the number of inputs", 1)?;
    if n > MAX_TENSOR_ELEMENTS {
        return Err(Diagnostic::error(
            Code::TooLarge,
            format!("{n} inputs is more than nnc supports"),
            v.span,
            "too many",
        )
        .with_help(format!("at most {MAX_TENSOR_ELEMENTS}")));
    }
    Ok(n as usize)
}

fn loss_kind(s: &Stmt) -> Result<Loss, Diagnostic> {
    let Some(v) = &s.arg else {
        return Err(Diagnostic::error(Code::Missing, "`loss` needs a loss name", s.span, "which loss?")
            .with_help(format!("write e.g. `loss mse`; known losses: {}", LOSSES.join(", "))));
    };
    if let Some(a) = s.attrs.first() {
        return Err(Diagnostic::error(Code::UnknownAttribute, "`loss` takes no attributes", a.span, "remove this"));
    }
    let (id, args) = call(v, "the loss")?;
    let loss = match known(&id, Code::UnknownLoss, "loss", "losses", LOSSES)? {
        "mse" => Loss::Mse,
        "binary_crossentropy" => Loss::BinaryCrossentropy,
        _ => Loss::CategoricalCrossentropy,
    };
    if let Some(d) = Attrs::new(args, format!("`{}`", id.name), &[]).check().into_iter().next() {
        return Err(d);
    }
    Ok(loss)
}

/// Each dense layer's name: its `as` name, or `denseK` by position. Reports duplicates.
fn layer_names(dense: &[&Stmt], diags: &mut Diagnostics) -> Vec<String> {
    let names: Vec<(String, Span)> = dense
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.alias {
            Some(a) => (a.name.clone(), a.span),
            None => (format!("dense{}", i + 1), s.kind.span),
        })
        .collect();
    for (i, (n, span)) in names.iter().enumerate() {
        if let Some((_, first)) = names[..i].iter().find(|(m, _)| m == n) {
            diags.push(
                Diagnostic::error(Code::Duplicate, format!("two layers are named `{n}`"), *span, "named again here")
                    .with_label(*first, "first named here")
                    .with_help("give each layer its own name"),
            );
        } else if RESERVED.contains(&n.as_str()) {
            diags.push(
                Diagnostic::error(Code::Duplicate, format!("`{n}` is reserved"), *span, "reserved name").with_help(
                    format!("`{}` name the data and the loss; pick another layer name", RESERVED.join("`, `")),
                ),
            );
        }
    }
    names.into_iter().map(|(n, _)| n).collect()
}

/// Lowers one dense layer; returns its output value, width and summary.
fn lower_dense(
    g: &mut Graph,
    s: &Stmt,
    name: &str,
    (input, fan_in): (ValueId, usize),
    diags: &mut Diagnostics,
) -> Option<(ValueId, usize, LayerSummary)> {
    let attrs = Attrs::new(&s.attrs, format!("the dense layer `{name}`"), DENSE_KEYS);
    let before = diags.0.len();
    for d in attrs.check() {
        diags.push(d);
    }
    let Some(units_v) = &s.arg else {
        diags.push(
            Diagnostic::error(Code::Missing, "`dense` needs a number of units", s.kind.span, "how many units?")
                .with_help("write e.g. `dense 3`"),
        );
        return None;
    };
    let units = match integer(units_v, "the number of units", 1) {
        Ok(u) => u,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let elements = (fan_in as u64).checked_mul(units).filter(|e| *e <= MAX_TENSOR_ELEMENTS);
    let Some(elements) = elements else {
        diags.push(
            Diagnostic::error(
                Code::TooLarge,
                format!("`{name}` would have {fan_in} × {units} weights, more than nnc supports"),
                units_v.span,
                "too many units",
            )
            .with_help(format!("one weight matrix may hold at most {MAX_TENSOR_ELEMENTS} elements")),
        );
        return None;
    };
    let units = units as usize;
    let activation =
        attrs.get("activation").map(|v| diags.take(activation(v))).unwrap_or(Some(ActivationChoice::Linear));
    let bias = attrs.get("bias").map(|v| diags.take(boolean(v, "`bias`"))).unwrap_or(Some(true));
    let trainable = attrs.get("trainable").map(|v| diags.take(boolean(v, "`trainable`"))).unwrap_or(Some(true));
    let init = attrs.get("init").map(|v| diags.take(init(v))).unwrap_or(Some(Init::GlorotUniform));
    let weights = attrs.get("weights").map(|v| diags.take(explicit_weights(v, name, s, fan_in, units)));
    let bias_values = attrs.get("bias_values").map(|v| diags.take(explicit_bias(v, name, s, units)));
    if let (Some(false), Some(v)) = (bias, attrs.get("bias_values")) {
        diags.push(
            Diagnostic::error(
                Code::Misplaced,
                format!("`{name}` has `bias = false` but gives `bias_values`"),
                v.span,
                "these values would be ignored",
            )
            .with_help("remove `bias_values`, or set `bias = true`"),
        );
    }
    if diags.0.len() > before {
        return None;
    }
    let (activation, bias, init, trainable) = (activation?, bias?, init?, trainable?);
    let w_init = match weights {
        Some(w) => Init::Explicit(w?),
        None => init,
    };
    let b_init = match bias_values {
        Some(b) => Init::Explicit(b?),
        None => Init::Zeros,
    };

    let o = Origin::layer(name, s.span);
    let push = |g: &mut Graph, op: Op, args: &[ValueId], value: &str| g.push(op, args, value, o.clone());
    let build = |g: &mut Graph| -> Result<ValueId, crate::ir::GraphError> {
        let w = g.add_param(
            &format!("{name}.weight"),
            Shape::matrix(Dim::Fixed(fan_in), Dim::Fixed(units)),
            w_init,
            trainable,
            o.clone(),
        )?;
        let last_is_pre = matches!(activation, ActivationChoice::Linear);
        let pre_name = if last_is_pre { name.to_string() } else { format!("{name}.pre") };
        let matmul_name = if bias { format!("{name}.matmul") } else { pre_name.clone() };
        let mut v = push(g, Op::MatMul { transpose_a: false, transpose_b: false }, &[input, w], &matmul_name)?;
        if bias {
            let b = g.add_param(&format!("{name}.bias"), Shape::vector(units), b_init, trainable, o.clone())?;
            let bb = push(g, Op::Broadcast, &[b], &format!("{name}.broadcast"))?;
            v = push(g, Op::Add, &[v, bb], &pre_name)?;
        }
        match activation {
            ActivationChoice::Linear => Ok(v),
            ActivationChoice::Elementwise(f) => push(g, Op::Activate(f), &[v], name),
            ActivationChoice::Softmax => push(g, Op::Softmax, &[v], name),
        }
    };
    let out = match build(g) {
        Ok(v) => v,
        Err(e) => {
            diags.push(Diagnostic::error(Code::Duplicate, e.to_string(), s.span, "in this layer"));
            return None;
        }
    };
    let act_name = match activation {
        ActivationChoice::Linear => "linear",
        ActivationChoice::Elementwise(f) => f.name(),
        ActivationChoice::Softmax => "softmax",
    };
    let params = elements as usize + if bias { units } else { 0 };
    let notes = format!("{act_name}{}{}", if bias { "" } else { ", no bias" }, if trainable { "" } else { ", frozen" });
    let summary = LayerSummary {
        name: name.to_string(),
        kind: "dense".into(),
        shape: Shape::matrix(Dim::Batch, Dim::Fixed(units)),
        params,
        notes,
        span: s.span,
    };
    Some((out, units, summary))
}

fn activation(v: &Value) -> Result<ActivationChoice, Diagnostic> {
    let n = name(v, "`activation`")?;
    let id = Ident { name: n.to_string(), span: v.span };
    Ok(match known(&id, Code::UnknownActivation, "activation", "activations", ACTIVATIONS)? {
        "sigmoid" => ActivationChoice::Elementwise(Activation::Sigmoid),
        "tanh" => ActivationChoice::Elementwise(Activation::Tanh),
        "relu" => ActivationChoice::Elementwise(Activation::Relu),
        "softmax" => ActivationChoice::Softmax,
        _ => ActivationChoice::Linear,
    })
}

fn init(v: &Value) -> Result<Init, Diagnostic> {
    let (id, args) = call(v, "`init`")?;
    let kind = known(&id, Code::UnknownInit, "initialiser", "initialisers", INITS)?;
    let keys: &'static [&'static str] = match kind {
        "normal" => &["std"],
        "uniform" => &["limit"],
        _ => &[],
    };
    let a = Attrs::new(args, format!("`{kind}`"), keys);
    if let Some(d) = a.check().into_iter().next() {
        return Err(d);
    }
    let param = |key: &str, default: f64| {
        a.get(key).map(|v| positive(v, &format!("`{key}`"))).transpose().map(|x| x.unwrap_or(default))
    };
    Ok(match kind {
        "zeros" => Init::Zeros,
        "normal" => Init::Normal { std: param("std", 0.05)? },
        "uniform" => Init::Uniform { limit: param("limit", 0.05)? },
        "he_normal" => Init::HeNormal,
        _ => Init::GlorotUniform,
    })
}

fn explicit_weights(v: &Value, name: &str, s: &Stmt, fan_in: usize, units: usize) -> Result<Vec<f64>, Diagnostic> {
    let (rows, cols, values) = matrix(v, "`weights`")?;
    if (rows, cols) != (fan_in, units) {
        let units_span = s.arg.as_ref().map_or(s.kind.span, |a| a.span);
        return Err(Diagnostic::error(
            Code::WeightsShape,
            format!("the weights of `{name}` are {rows}×{cols}, but the layer needs {fan_in}×{units}"),
            v.span,
            format!("{rows} rows of {cols}"),
        )
        .with_label(units_span, format!("{units} units"))
        .with_help(format!("write {fan_in} rows (one per input) of {units} values (one per unit): row i holds the weights leaving input i")));
    }
    Ok(values)
}

fn explicit_bias(v: &Value, name: &str, s: &Stmt, units: usize) -> Result<Vec<f64>, Diagnostic> {
    let values = vector(v, "`bias_values`")?;
    if values.len() != units {
        let units_span = s.arg.as_ref().map_or(s.kind.span, |a| a.span);
        return Err(Diagnostic::error(
            Code::BiasShape,
            format!("`{name}` has {units} units but {} bias values", values.len()),
            v.span,
            format!("{} values", values.len()),
        )
        .with_label(units_span, format!("{units} units"))
        .with_help(format!("give one bias value per unit: {units} values")));
    }
    Ok(values)
}
