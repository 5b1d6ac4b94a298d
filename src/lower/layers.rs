//! Lowering one layer statement into IR: `dense` (matmul, optional bias broadcast + add,
//! optional activation, optional weight penalty), `dropout` (multiplication by a mask input
//! the training loop fills), and `activation` (a standalone activation op).

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{Dim, Graph, Init, Op, Origin, Role, Shape, ValueId};
use crate::lower::choices::{self, ActivationChoice};
use crate::lower::values::{
    Attrs, MAX_TENSOR_ELEMENTS, boolean, integer, matrix, non_negative, npy_file, number, vector,
};
use crate::program::LayerSummary;
use crate::syntax::ast::{Span, Stmt, Value};

/// Layer kinds (besides `input` and `loss`).
pub const LAYER_KINDS: &[&str] = &["dense", "dropout", "activation"];
const DENSE_KEYS: &[&str] = &["activation", "bias", "weights", "bias_values", "init", "trainable", "l1", "l2"];

/// A weight penalty a layer adds to the loss.
pub struct Penalty {
    /// The penalised weight matrix.
    pub weight: ValueId,
    /// The L1 factor.
    pub l1: f64,
    /// The L2 factor.
    pub l2: f64,
    /// The layer's name.
    pub layer: String,
    /// The layer's span.
    pub span: Span,
}

/// What lowering a layer produced.
pub struct LayerOut {
    /// The layer's output value.
    pub out: ValueId,
    /// Its width.
    pub units: usize,
    /// Its row in the summary.
    pub summary: LayerSummary,
    /// Its weight penalty, if any.
    pub penalty: Option<Penalty>,
}

/// Lowers one layer statement of a known kind, applied to `input` of width `width`.
pub fn lower_layer(
    g: &mut Graph,
    s: &Stmt,
    name: &str,
    input: (ValueId, usize),
    diags: &mut Diagnostics,
) -> Option<LayerOut> {
    match s.kind.name.as_str() {
        "dense" => lower_dense(g, s, name, input, diags),
        "dropout" => lower_dropout(g, s, name, input, diags),
        _ => lower_activation(g, s, name, input, diags),
    }
}

fn summary(name: &str, kind: &str, units: usize, params: usize, notes: String, span: Span) -> LayerSummary {
    LayerSummary {
        name: name.into(),
        kind: kind.into(),
        shape: Shape::matrix(Dim::Batch, Dim::Fixed(units)),
        params,
        notes,
        span,
    }
}

/// Reports any attributes on a layer kind that takes none; true when there are none.
fn no_attrs(s: &Stmt, what: &str, diags: &mut Diagnostics) -> bool {
    let errors = Attrs::new(&s.attrs, format!("`{what}`"), &[]).check();
    let ok = errors.is_empty();
    for d in errors {
        diags.push(d);
    }
    ok
}

/// `dropout RATE`: during training each element is zeroed with probability RATE and the
/// rest scaled by 1 / (1 − RATE); outside training the mask is all ones.
fn lower_dropout(
    g: &mut Graph,
    s: &Stmt,
    name: &str,
    (input, width): (ValueId, usize),
    diags: &mut Diagnostics,
) -> Option<LayerOut> {
    let attrs_ok = no_attrs(s, "dropout", diags);
    let v =
        required_arg(s, diags, "`dropout` needs a rate", "which fraction to drop?", "write e.g. `dropout 0.5`".into())?;
    let rate = diags.take(number(v, "the dropout rate"))?;
    if !(0.0..1.0).contains(&rate) {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                "the dropout rate must be in [0, 1)",
                v.span,
                format!("{rate} is out of range"),
            )
            .with_help("the rate is the fraction of units dropped: 0 keeps all, 0.5 drops half"),
        );
        return None;
    }
    if !attrs_ok {
        return None;
    }
    let o = Origin::layer(name, s.span);
    let shape = Shape::matrix(Dim::Batch, Dim::Fixed(width));
    let built = g
        .add_input(&format!("{name}.mask"), shape, Role::Mask { rate }, o.clone())
        .and_then(|mask| g.push(Op::Mul, &[input, mask], name, o));
    parameterless(built, s, name, width, format!("rate {rate}"), diags)
}

/// The statement's argument, or a diagnostic saying it is missing.
fn required_arg<'a>(
    s: &'a Stmt,
    diags: &mut Diagnostics,
    message: &str,
    label: &str,
    help: String,
) -> Option<&'a Value> {
    if s.arg.is_none() {
        diags.push(Diagnostic::error(Code::Missing, message, s.kind.span, label).with_help(help));
    }
    s.arg.as_ref()
}

/// The result of a layer without parameters, given what building its ops gave.
fn parameterless(
    built: Result<ValueId, crate::ir::GraphError>,
    s: &Stmt,
    name: &str,
    width: usize,
    notes: String,
    diags: &mut Diagnostics,
) -> Option<LayerOut> {
    let out =
        diags.take(built.map_err(|e| Diagnostic::error(Code::Duplicate, e.to_string(), s.span, "in this layer")))?;
    let summary = summary(name, &s.kind.name, width, 0, notes, s.span);
    Some(LayerOut { out, units: width, summary, penalty: None })
}

/// `activation NAME`: an activation on its own, after any layer.
fn lower_activation(
    g: &mut Graph,
    s: &Stmt,
    name: &str,
    (input, width): (ValueId, usize),
    diags: &mut Diagnostics,
) -> Option<LayerOut> {
    let attrs_ok = no_attrs(s, "activation", diags);
    let help = format!("write e.g. `activation relu`; known: {}", choices::ACTIVATIONS.join(", "));
    let v = required_arg(s, diags, "`activation` needs a function", "which activation?", help)?;
    let choice = diags.take(choices::activation(v))?;
    if !attrs_ok {
        return None;
    }
    let o = Origin::layer(name, s.span);
    let built = match choice {
        ActivationChoice::Linear => Ok(input),
        ActivationChoice::Elementwise(f) => g.push(Op::Activate(f), &[input], name, o),
        ActivationChoice::Softmax => g.push(Op::Softmax, &[input], name, o),
    };
    parameterless(built, s, name, width, choice.describe(), diags)
}

/// Lowers one dense layer.
fn lower_dense(
    g: &mut Graph,
    s: &Stmt,
    name: &str,
    (input, fan_in): (ValueId, usize),
    diags: &mut Diagnostics,
) -> Option<LayerOut> {
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
        attrs.get("activation").map(|v| diags.take(choices::activation(v))).unwrap_or(Some(ActivationChoice::Linear));
    let bias = attrs.get("bias").map(|v| diags.take(boolean(v, "`bias`"))).unwrap_or(Some(true));
    let trainable = attrs.get("trainable").map(|v| diags.take(boolean(v, "`trainable`"))).unwrap_or(Some(true));
    let init = attrs.get("init").map(|v| diags.take(choices::init(v))).unwrap_or(Some(Init::GlorotUniform));
    let penalty = |key: &str| attrs.get(key).map(|v| non_negative(v, &format!("`{key}`"))).transpose();
    let l1 = diags.take(penalty("l1")).map(|x| x.unwrap_or(0.0));
    let l2 = diags.take(penalty("l2")).map(|x| x.unwrap_or(0.0));
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
    let (activation, bias, init, trainable, l1, l2) = (activation?, bias?, init?, trainable?, l1?, l2?);
    let w_init = match weights {
        Some(w) => w?,
        None => init,
    };
    let b_init = match bias_values {
        Some(b) => b?,
        None => Init::Zeros,
    };

    let o = Origin::layer(name, s.span);
    let push = |g: &mut Graph, op: Op, args: &[ValueId], value: &str| g.push(op, args, value, o.clone());
    let build = |g: &mut Graph| -> Result<(ValueId, ValueId), crate::ir::GraphError> {
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
        let out = match activation {
            ActivationChoice::Linear => v,
            ActivationChoice::Elementwise(f) => push(g, Op::Activate(f), &[v], name)?,
            ActivationChoice::Softmax => push(g, Op::Softmax, &[v], name)?,
        };
        Ok((out, w))
    };
    let (out, weight) = match build(g) {
        Ok(v) => v,
        Err(e) => {
            diags.push(Diagnostic::error(Code::Duplicate, e.to_string(), s.span, "in this layer"));
            return None;
        }
    };
    let params = elements as usize + if bias { units } else { 0 };
    let mut notes = activation.describe();
    if !bias {
        notes.push_str(", no bias");
    }
    if !trainable {
        notes.push_str(", frozen");
    }
    if l1 > 0.0 || l2 > 0.0 {
        notes.push_str(&format!(", l1 {l1} l2 {l2}"));
    }
    let summary = summary(name, "dense", units, params, notes, s.span);
    let penalty = (l1 > 0.0 || l2 > 0.0).then_some(Penalty { weight, l1, l2, layer: name.to_string(), span: s.span });
    Some(LayerOut { out, units, summary, penalty })
}

fn explicit_weights(v: &Value, name: &str, s: &Stmt, fan_in: usize, units: usize) -> Result<Init, Diagnostic> {
    if let Some(file) = npy_file(v) {
        return file.map(Init::File);
    }
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
    Ok(Init::Explicit(values.into()))
}

fn explicit_bias(v: &Value, name: &str, s: &Stmt, units: usize) -> Result<Init, Diagnostic> {
    if let Some(file) = npy_file(v) {
        return file.map(Init::File);
    }
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
    Ok(Init::Explicit(values.into()))
}
