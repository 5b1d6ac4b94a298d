//! Reading named choices with their arguments: activations, losses and initialisers.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Activation, Init, Loss};
use crate::lower::values::{Attrs, boolean, call, call_args, known, number, positive};
use crate::syntax::ast::{Stmt, Value};

/// Activation names a layer may use.
pub const ACTIVATIONS: &[&str] =
    &["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "swish", "softmax"];
/// Loss names.
pub const LOSSES: &[&str] =
    &["mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"];
/// Initialiser names.
pub const INITS: &[&str] = &[
    "zeros",
    "ones",
    "constant",
    "normal",
    "uniform",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
];

/// What an `activation` attribute or layer said.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationChoice {
    /// No activation.
    Linear,
    /// An elementwise function.
    Elementwise(Activation),
    /// Softmax over each row.
    Softmax,
}

impl ActivationChoice {
    /// The choice as written in a spec.
    pub fn describe(self) -> String {
        match self {
            ActivationChoice::Linear => "linear".into(),
            ActivationChoice::Elementwise(f) => f.to_string(),
            ActivationChoice::Softmax => "softmax".into(),
        }
    }
}

/// An optional positive argument with a default.
fn positive_arg(a: &Attrs, key: &str, default: f64) -> Result<f64, Diagnostic> {
    a.get(key).map(|v| positive(v, &format!("`{key}`"))).transpose().map(|x| x.unwrap_or(default))
}

/// `activation = NAME` or `activation = leaky_relu(alpha = 0.2)`.
pub fn activation(v: &Value) -> Result<ActivationChoice, Diagnostic> {
    let (id, given) = call(v, "`activation`")?;
    let kind = known(&id, Code::UnknownActivation, "activation", "activations", ACTIVATIONS)?;
    let keys: &'static [&'static str] = match kind {
        "leaky_relu" | "elu" => &["alpha"],
        _ => &[],
    };
    let a = call_args(given, kind, keys)?;
    let f = match kind {
        "linear" => return Ok(ActivationChoice::Linear),
        "softmax" => return Ok(ActivationChoice::Softmax),
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "relu" => Activation::Relu,
        "leaky_relu" => Activation::LeakyRelu(positive_arg(&a, "alpha", 0.01)?),
        "elu" => Activation::Elu(positive_arg(&a, "alpha", 1.0)?),
        "gelu" => Activation::Gelu,
        "softplus" => Activation::Softplus,
        _ => Activation::Swish,
    };
    Ok(ActivationChoice::Elementwise(f))
}

/// `init = NAME` or `init = normal(std = 0.1)`.
pub fn init(v: &Value) -> Result<Init, Diagnostic> {
    let (id, given) = call(v, "`init`")?;
    let kind = known(&id, Code::UnknownInit, "initialiser", "initialisers", INITS)?;
    let keys: &'static [&'static str] = match kind {
        "normal" => &["std"],
        "uniform" => &["limit"],
        "constant" => &["value"],
        _ => &[],
    };
    let a = call_args(given, kind, keys)?;
    Ok(match kind {
        "zeros" => Init::Zeros,
        "ones" => Init::Constant { value: 1.0 },
        "constant" => {
            Init::Constant { value: a.get("value").map(|v| number(v, "`value`")).transpose()?.unwrap_or(0.0) }
        }
        "normal" => Init::Normal { std: positive_arg(&a, "std", 0.05)? },
        "uniform" => Init::Uniform { limit: positive_arg(&a, "limit", 0.05)? },
        "glorot_normal" => Init::GlorotNormal,
        "he_normal" => Init::HeNormal,
        "he_uniform" => Init::HeUniform,
        "lecun_normal" => Init::LecunNormal,
        _ => Init::GlorotUniform,
    })
}

/// `loss NAME`, `loss huber(delta = 1.0)`, `loss binary_crossentropy(from_logits = true)`.
pub fn loss(s: &Stmt) -> Result<Loss, Diagnostic> {
    let Some(v) = &s.arg else {
        return Err(Diagnostic::error(Code::Missing, "`loss` needs a loss name", s.span, "which loss?")
            .with_help(format!("write e.g. `loss mse`; known losses: {}", LOSSES.join(", "))));
    };
    if let Some(a) = s.attrs.first() {
        return Err(Diagnostic::error(Code::UnknownAttribute, "`loss` takes no attributes", a.span, "remove this")
            .with_help("write arguments in parentheses: `loss huber(delta = 0.5)`"));
    }
    let (id, given) = call(v, "the loss")?;
    let kind = known(&id, Code::UnknownLoss, "loss", "losses", LOSSES)?;
    let keys: &'static [&'static str] = match kind {
        "huber" => &["delta"],
        "binary_crossentropy" => &["from_logits"],
        _ => &[],
    };
    let a = call_args(given, kind, keys)?;
    Ok(match kind {
        "mse" => Loss::Mse,
        "mae" => Loss::Mae,
        "huber" => Loss::Huber(positive_arg(&a, "delta", 1.0)?),
        "binary_crossentropy" => {
            let logits = a.get("from_logits").map(|v| boolean(v, "`from_logits`")).transpose()?.unwrap_or(false);
            if logits { Loss::BinaryCrossentropyLogits } else { Loss::BinaryCrossentropy }
        }
        "categorical_crossentropy" => Loss::CategoricalCrossentropy,
        _ => Loss::SparseCategoricalCrossentropy,
    })
}
