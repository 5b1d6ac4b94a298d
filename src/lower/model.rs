//! Lowering the `model` block: layer names, shapes and parameters, and the forward IR
//! graph. A `dense` layer lowers to `matmul`, an optional `broadcast` + `add` of the bias,
//! and an optional activation op: layers are syntax, ops are semantics.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, unknown_name_help};
use crate::ir::{DType, Dim, Graph, Op, Origin, Shape, ValueId};
use crate::lower::choices;
use crate::lower::layers::{LAYER_KINDS, lower_layer};
use crate::lower::values::{MAX_TENSOR_ELEMENTS, integer};
use crate::program::LayerSummary;
use crate::syntax::ast::{ModelBlock, Span, Stmt};

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
    /// The loss as written.
    pub loss_name: String,
    /// The `input` statement's span.
    pub input_span: Span,
    /// The last layer's span (what `y` must match).
    pub output_span: Span,
    /// The loss statement's span.
    pub loss_span: Span,
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
        let known = ["input", "loss"].iter().chain(LAYER_KINDS).copied().collect::<Vec<_>>();
        if !known.contains(&s.kind.name.as_str()) {
            unknown_kinds = true;
            diags.push(
                Diagnostic::error(
                    Code::UnknownLayer,
                    format!("unknown layer kind `{}`", s.kind.name),
                    s.kind.span,
                    "not a layer nnc knows",
                )
                .with_help(unknown_name_help(&s.kind.name, "statements", &known)),
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
    let loss = loss_stmt.and_then(|i| diags.take(choices::loss(&stmts[i])));

    let layer_stmts: Vec<&Stmt> = stmts.iter().filter(|s| LAYER_KINDS.contains(&s.kind.name.as_str())).collect();
    if !layer_stmts.iter().any(|s| s.kind.name == "dense") && loss_stmt.is_some() && !unknown_kinds {
        diags.push(
            Diagnostic::error(Code::Missing, "the model has no layers", model.name.span, "nothing to train")
                .with_help("add a layer between `input` and `loss`, e.g. `dense 1`"),
        );
    }
    let before_names = diags.0.len();
    let names = layer_names(&layer_stmts, diags);
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
    let mut penalties = Vec::new();
    for (stmt, layer_name) in layer_stmts.iter().zip(&names) {
        match lower_layer(&mut graph, stmt, layer_name, current, diags) {
            Some(l) if total_params + l.summary.params > MAX_MODEL_PARAMS => {
                diags.push(
                    Diagnostic::error(
                        Code::TooLarge,
                        format!("the model would have more than {MAX_MODEL_PARAMS} parameters"),
                        stmt.span,
                        format!("this layer brings the total to {}", total_params + l.summary.params),
                    )
                    .with_help("nnc trains models of at most 2^28 parameters: use fewer or smaller layers"),
                );
                failed = true;
                break;
            }
            Some(l) => {
                total_params += l.summary.params;
                current = (l.out, l.units);
                layers.push(l.summary);
                penalties.extend(l.penalty);
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
    let target_cols = if loss.takes_class_indices() { 1 } else { units };
    graph.values[y.0].shape = Shape::matrix(Dim::Batch, Dim::Fixed(target_cols));
    let loss_span = stmts[loss_i].span;
    let origin = Origin::layer("loss", loss_span);
    let data_loss_name = if penalties.is_empty() { "loss" } else { "loss.data" };
    let built = graph.push(Op::Loss(loss), &[pred, graph.y()], data_loss_name, origin.clone()).and_then(|data_loss| {
        // The weight penalties are added to the data loss; the sum is `loss`.
        let mut total: ValueId = data_loss;
        for (i, p) in penalties.iter().enumerate() {
            let o = Origin::layer(&p.layer, p.span);
            let term =
                graph.push(Op::Penalty { l1: p.l1, l2: p.l2 }, &[p.weight], &format!("{}.penalty", p.layer), o)?;
            let name = if i + 1 == penalties.len() { "loss".to_string() } else { format!("loss.sum{}", i + 1) };
            total = graph.push(Op::Add, &[total, term], &name, origin.clone())?;
        }
        Ok(total)
    });
    let loss_value =
        diags.take(built.map_err(|e| Diagnostic::error(Code::Duplicate, e.to_string(), loss_span, "here")))?;
    graph.prediction = pred;
    graph.loss = loss_value;
    Some(LoweredModel { graph, layers, loss_name: loss.to_string(), input_span, output_span, loss_span })
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

/// Each layer's name: its `as` name, or its kind and position among that kind (`dense1`,
/// `dropout2`). Reports duplicates and reserved names.
fn layer_names(layers: &[&Stmt], diags: &mut Diagnostics) -> Vec<String> {
    let names: Vec<(String, Span)> = layers
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.alias {
            Some(a) => (a.name.clone(), a.span),
            None => {
                let position = layers[..=i].iter().filter(|l| l.kind.name == s.kind.name).count();
                (format!("{}{position}", s.kind.name), s.kind.span)
            }
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
