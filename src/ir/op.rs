//! The closed set of IR operations, each with its shape rule.
//!
//! Activations and losses are whole ops (not exp/log primitives) so that the IR reads
//! like the math. Ops whose name ends in `Grad` appear only in backward graphs: they are
//! the vector-Jacobian products that `autodiff` emits.

use std::fmt;

use crate::ir::shape::{Dim, Shape};

/// An elementwise activation function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// tanh x.
    Tanh,
    /// max(x, 0).
    Relu,
    /// x for x > 0, alpha·x otherwise.
    LeakyRelu(f64),
    /// x for x > 0, alpha·(e^x − 1) otherwise.
    Elu(f64),
    /// x·Φ(x), with Φ the standard normal CDF (the exact form, PyTorch's default).
    Gelu,
    /// ln(1 + e^x), computed stably.
    Softplus,
    /// x·sigmoid(x) (also called SiLU).
    Swish,
}

impl Activation {
    /// Whether its derivative reads the input x, not only the output y = f(x): sigmoid's
    /// is y(1 − y), tanh's 1 − y², ReLU's [y > 0], so their backward pass does not keep
    /// the pre-activation (W4's step needed 2.1 MB less).
    pub fn grad_reads_input(self) -> bool {
        !matches!(self, Activation::Sigmoid | Activation::Tanh | Activation::Relu)
    }

    /// The base name used in specs and in the printed IR.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Elu(_) => "elu",
            Activation::Gelu => "gelu",
            Activation::Softplus => "softplus",
            Activation::Swish => "swish",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => write!(f, "{}(alpha = {a})", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// A loss: a mean over the batch of a per-example error, giving a scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Mean over every element of (prediction − target)².
    Mse,
    /// Mean over every element of |prediction − target|.
    Mae,
    /// Mean over every element of ½e² where |e| ≤ delta, delta·(|e| − ½delta) elsewhere.
    Huber(f64),
    /// −mean(y log p + (1 − y) log(1 − p)), p clipped to [eps, 1 − eps].
    BinaryCrossentropy,
    /// Binary cross-entropy of sigmoid(z) from the logits z, computed stably:
    /// mean(max(z, 0) − z·y + log(1 + e^−|z|)).
    BinaryCrossentropyLogits,
    /// −mean over examples of Σ_k y_k log p_k, p clipped to [eps, 1 − eps].
    CategoricalCrossentropy,
    /// Categorical cross-entropy with integer class labels (a `[N, 1]` target).
    SparseCategoricalCrossentropy,
}

impl Loss {
    /// The base name used in specs and in the printed IR.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber(_) => "huber",
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::BinaryCrossentropyLogits => "binary_crossentropy_from_logits",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
        }
    }

    /// Whether the target holds one class index per example instead of one value per output.
    pub fn takes_class_indices(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::Huber(d) => write!(f, "huber(delta = {d})"),
            _ => f.write_str(self.name()),
        }
    }
}

/// The probability clip of the cross-entropy losses, as in Keras (`epsilon()`).
pub const CLIP_EPS: f64 = 1e-7;

/// An IR operation. Arguments are listed in each variant's documentation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `(a, b)`: op(a) · op(b), where op transposes when its flag is set.
    MatMul {
        /// Use the transpose of `a`.
        transpose_a: bool,
        /// Use the transpose of `b`.
        transpose_b: bool,
    },
    /// `(a, b)`: elementwise a + b of two values of the same shape.
    Add,
    /// `(a, b)`: elementwise a · b of two values of the same shape (dropout's mask).
    Mul,
    /// `(v)`: repeats a `[n]` vector as every row of a `[N, n]` batch.
    Broadcast,
    /// `(m)`: sums a `[N, n]` batch over its rows, giving `[n]`.
    SumRows,
    /// `(x)`: an elementwise activation.
    Activate(Activation),
    /// `(x, y, dy)`: the activation's derivative at x (y = f(x)) times dy; `(y, dy)` when
    /// the derivative is a function of y alone (`Activation::grad_reads_input`).
    ActivateGrad(Activation),
    /// `(x)`: softmax over each row.
    Softmax,
    /// `(y, dy)`: softmax's vector-Jacobian product, y (dy - sum(dy y)) per row.
    SoftmaxGrad,
    /// `(prediction, target)`: a loss, giving a scalar.
    Loss(Loss),
    /// `(prediction, target, dloss)`: the loss's gradient with respect to the prediction.
    LossGrad(Loss),
    /// `(probabilities, target, dloss)`: the gradient with respect to the logits of
    /// softmax + categorical cross-entropy, or sigmoid + binary cross-entropy, in one
    /// stable step: dloss (p sum(y) - y) / rows, or dloss (p - y) / elements.
    LogitsLossGrad(Loss),
    /// `()`: a scalar constant.
    Constant(f64),
    /// `(w)`: the weight penalty l1·Σ|w| + l2·Σw², a scalar.
    Penalty {
        /// The L1 factor.
        l1: f64,
        /// The L2 factor.
        l2: f64,
    },
    /// `(w, dl)`: the penalty's gradient, dl·(l1·sign(w) + 2·l2·w).
    PenaltyGrad {
        /// The L1 factor.
        l1: f64,
        /// The L2 factor.
        l2: f64,
    },
}

/// Why an op cannot be applied to its arguments.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ShapeError {
    /// Wrong number of arguments.
    #[error("{op} takes {expected} arguments, got {got}")]
    Arity {
        /// The op.
        op: String,
        /// How many it takes.
        expected: usize,
        /// How many it got.
        got: usize,
    },
    /// Shapes that do not fit together.
    #[error("{op} cannot take {shapes}")]
    Mismatch {
        /// The op.
        op: String,
        /// The argument shapes, printed.
        shapes: String,
    },
}

impl Op {
    /// The op's name in the printed IR.
    pub fn name(&self) -> String {
        match self {
            Op::MatMul { transpose_a, transpose_b } => match (transpose_a, transpose_b) {
                (false, false) => "matmul".into(),
                (true, false) => "matmul_tn".into(),
                (false, true) => "matmul_nt".into(),
                (true, true) => "matmul_tt".into(),
            },
            Op::Add => "add".into(),
            Op::Mul => "mul".into(),
            Op::Broadcast => "broadcast".into(),
            Op::SumRows => "sum_rows".into(),
            Op::Activate(a) => a.to_string(),
            Op::ActivateGrad(a) => format!("{}_grad{}", a.name(), a.to_string().trim_start_matches(a.name())),
            Op::Softmax => "softmax".into(),
            Op::SoftmaxGrad => "softmax_grad".into(),
            Op::Loss(l) => l.to_string(),
            Op::LossGrad(l) => format!("{}_grad{}", l.name(), l.to_string().trim_start_matches(l.name())),
            Op::LogitsLossGrad(l @ (Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy)) => {
                format!("softmax_{}_grad", l.name())
            }
            Op::LogitsLossGrad(l) => format!("sigmoid_{}_grad", l.name()),
            Op::Constant(c) => format!("constant {c}"),
            Op::Penalty { l1, l2 } => format!("penalty(l1 = {l1}, l2 = {l2})"),
            Op::PenaltyGrad { l1, l2 } => format!("penalty_grad(l1 = {l1}, l2 = {l2})"),
        }
    }

    /// How many arguments the op takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Constant(_) => 0,
            Op::Broadcast | Op::SumRows | Op::Activate(_) | Op::Softmax | Op::Penalty { .. } => 1,
            Op::MatMul { .. } | Op::Add | Op::Mul | Op::SoftmaxGrad | Op::Loss(_) | Op::PenaltyGrad { .. } => 2,
            Op::ActivateGrad(f) if !f.grad_reads_input() => 2,
            Op::ActivateGrad(_) | Op::LossGrad(_) | Op::LogitsLossGrad(_) => 3,
        }
    }

    /// An `ActivateGrad`'s operands as (x, y, dy), from its `args`: y stands in for x when
    /// the derivative does not read x (the kernels then read y only).
    pub fn activate_grad_operands<V: Copy>(f: Activation, args: &[V]) -> (V, V, V) {
        if f.grad_reads_input() { (args[0], args[1], args[2]) } else { (args[0], args[0], args[1]) }
    }

    /// The shape rule: the output shape for these argument shapes, or why there is none.
    pub fn output_shape(&self, args: &[&Shape]) -> Result<Shape, ShapeError> {
        if args.len() != self.arity() {
            return Err(ShapeError::Arity { op: self.name(), expected: self.arity(), got: args.len() });
        }
        let mismatch = || ShapeError::Mismatch {
            op: self.name(),
            shapes: args.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" and "),
        };
        let all_same = || args.windows(2).all(|w| w[0] == w[1]);
        match self {
            Op::MatMul { transpose_a, transpose_b } => {
                let (a, b) = (args[0], args[1]);
                if a.rank() != 2 || b.rank() != 2 {
                    return Err(mismatch());
                }
                let (m, k1) = if *transpose_a { (a.0[1], a.0[0]) } else { (a.0[0], a.0[1]) };
                let (k2, n) = if *transpose_b { (b.0[1], b.0[0]) } else { (b.0[0], b.0[1]) };
                if k1 != k2 {
                    return Err(mismatch());
                }
                Ok(Shape::matrix(m, n))
            }
            Op::Add | Op::Mul | Op::Activate(_) | Op::ActivateGrad(_) | Op::SoftmaxGrad => {
                if all_same() {
                    Ok(args[0].clone())
                } else {
                    Err(mismatch())
                }
            }
            Op::Softmax => {
                if args[0].rank() == 2 {
                    Ok(args[0].clone())
                } else {
                    Err(mismatch())
                }
            }
            Op::Broadcast => match args[0].0.as_slice() {
                [n @ Dim::Fixed(_)] => Ok(Shape::matrix(Dim::Batch, *n)),
                _ => Err(mismatch()),
            },
            Op::SumRows => match args[0].0.as_slice() {
                [_, n] => Ok(Shape(vec![*n])),
                _ => Err(mismatch()),
            },
            Op::Loss(l) => {
                if target_fits(*l, args[0], args[1]) {
                    Ok(Shape::scalar())
                } else {
                    Err(mismatch())
                }
            }
            Op::LossGrad(l) | Op::LogitsLossGrad(l) => {
                if target_fits(*l, args[0], args[1]) && args[2].rank() == 0 {
                    Ok(args[0].clone())
                } else {
                    Err(mismatch())
                }
            }
            Op::Constant(_) | Op::Penalty { .. } => Ok(Shape::scalar()),
            Op::PenaltyGrad { .. } => {
                if args[1].rank() == 0 {
                    Ok(args[0].clone())
                } else {
                    Err(mismatch())
                }
            }
        }
    }
}

/// Whether a loss's target fits its prediction: the same shape, or one class index per row
/// for sparse categorical cross-entropy.
fn target_fits(loss: Loss, prediction: &Shape, target: &Shape) -> bool {
    if loss.takes_class_indices() {
        prediction.rank() == 2 && *target == Shape::matrix(prediction.0[0], Dim::Fixed(1))
    } else {
        prediction == target
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
