//! The IR graph: a flat, topologically ordered list of instructions over SSA values.
//!
//! Every value has a unique name, a shape (whose first dimension may be the batch) and an
//! origin. The graph's dtype applies to every value. Instructions are typed when they
//! are added: `push` runs the op's shape rule and refuses what does not fit.

use std::sync::Arc;

use crate::ir::op::{Loss, Op, ShapeError};
use crate::ir::shape::{DType, Shape};
use crate::syntax::ast::{FilePath, Span};

/// The index of a value in its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// Explicit values, row-major, in the precision they were given in: a float32 `.npy`
/// file stays float32 (half the memory of widening it; widening is exact, so every
/// reader sees the same f64 values either way). Shared: every copy of a graph, such as
/// the executor's, refers to the one array.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Double precision (spec literals, and every file type but float32).
    F64(Arc<[f64]>),
    /// Single precision (float32 files).
    F32(Arc<[f32]>),
}

impl Values {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every value, widened to f64 (exactly).
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let (wide, narrow) = match self {
            Values::F64(v) => (Some(v.iter().copied()), None),
            Values::F32(v) => (None, Some(v.iter().map(|&x| f64::from(x)))),
        };
        wide.into_iter().flatten().chain(narrow.into_iter().flatten())
    }

    /// Every value in a vector of f64.
    pub fn to_f64(&self) -> Vec<f64> {
        self.iter().collect()
    }
}

impl From<Vec<f64>> for Values {
    fn from(v: Vec<f64>) -> Values {
        Values::F64(v.into())
    }
}

/// How a parameter gets its first value.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Values given in the spec or read from a file.
    Explicit(Values),
    /// Values in a numpy file named in the spec, read into `Explicit` by
    /// `lower::files::resolve` before anything runs.
    File(FilePath),
    /// Explicit values that a run has copied into its parameters and let go
    /// (`Graph::release_initial_values`).
    Released {
        /// How many values there were.
        count: usize,
    },
    /// Every element zero.
    Zeros,
    /// Every element this value (`ones` is `constant(value = 1)`).
    Constant {
        /// The value.
        value: f64,
    },
    /// Normal with mean 0 and this standard deviation.
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// Uniform on [-limit, limit].
    Uniform {
        /// Half-width of the interval.
        limit: f64,
    },
    /// Uniform on ±sqrt(6 / (fan_in + fan_out)) (Keras' default).
    GlorotUniform,
    /// Normal with standard deviation sqrt(2 / (fan_in + fan_out)) (PyTorch's xavier_normal).
    GlorotNormal,
    /// Normal with standard deviation sqrt(2 / fan_in) (PyTorch's kaiming_normal).
    HeNormal,
    /// Uniform on ±sqrt(6 / fan_in) (PyTorch's kaiming_uniform for ReLU).
    HeUniform,
    /// Normal with standard deviation sqrt(1 / fan_in).
    LecunNormal,
}

/// What kind of thing a graph input is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    /// The features of a batch, `x`.
    Features,
    /// The targets of a batch, `y`.
    Targets,
    /// A dropout mask: in training each element is 0 with probability `rate`, else
    /// 1 / (1 − rate); otherwise all ones.
    Mask {
        /// The fraction dropped.
        rate: f64,
    },
}

/// How a value is defined.
#[derive(Clone, Debug, PartialEq)]
pub enum Def {
    /// A batch input.
    Input(Role),
    /// A parameter: its initialiser, and whether the optimiser updates it.
    Param {
        /// How it gets its first value.
        init: Init,
        /// False for a frozen parameter (`trainable = false`): no gradient, no update.
        trainable: bool,
    },
    /// The output of the instruction at this index.
    Inst(usize),
}

/// Whether a value belongs to the forward or the backward computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Computed from inputs and parameters.
    Forward,
    /// Emitted by `autodiff`.
    Backward,
}

/// Where a value came from: the layer and spec span that made it, and the pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// The layer's name, when a layer made it.
    pub layer: Option<String>,
    /// The span of the spec text that made it.
    pub span: Option<Span>,
    /// Forward or backward.
    pub pass: Pass,
}

impl Origin {
    /// A forward value made by a layer.
    pub fn layer(name: &str, span: Span) -> Origin {
        Origin { layer: Some(name.to_string()), span: Some(span), pass: Pass::Forward }
    }
}

/// One value.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    /// Its unique name (`hidden.weight`, `hidden.pre`, `grad(out.weight)`).
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// How it is defined.
    pub def: Def,
    /// Where it came from.
    pub origin: Origin,
}

/// One instruction: an op applied to values, defining one new value.
#[derive(Clone, Debug, PartialEq)]
pub struct Inst {
    /// The operation.
    pub op: Op,
    /// Its arguments.
    pub args: Vec<ValueId>,
    /// The value it defines.
    pub out: ValueId,
}

/// Why an instruction or value could not be added.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// The op's shape rule refused the arguments.
    #[error("`{name}`: {source}")]
    Shape {
        /// The value being defined.
        name: String,
        /// What the shape rule said.
        source: ShapeError,
    },
    /// A name already in use.
    #[error("the name `{0}` is already used in the graph")]
    DuplicateName(String),
}

/// A computation graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// The model's name.
    pub name: String,
    /// The element type of every value.
    pub dtype: DType,
    /// Every value, indexed by `ValueId`.
    pub values: Vec<ValueInfo>,
    /// The instructions, in an order where arguments come before their users.
    pub insts: Vec<Inst>,
    /// The parameters, in declaration order.
    pub params: Vec<ValueId>,
    /// The gradient of the loss for each parameter (same order), once `autodiff` ran;
    /// `None` for frozen parameters.
    pub grads: Vec<Option<ValueId>>,
    /// The model's prediction.
    pub prediction: ValueId,
    /// The scalar loss.
    pub loss: ValueId,
}

impl Graph {
    /// An empty graph with the batch inputs `x : features` and `y : targets`.
    pub fn new(name: &str, dtype: DType, features: Shape, targets: Shape) -> Graph {
        let mut g = Graph {
            name: name.to_string(),
            dtype,
            values: Vec::new(),
            insts: Vec::new(),
            params: Vec::new(),
            grads: Vec::new(),
            prediction: ValueId(0),
            loss: ValueId(0),
        };
        let origin = Origin { layer: None, span: None, pass: Pass::Forward };
        g.values.push(ValueInfo {
            name: "x".into(),
            shape: features,
            def: Def::Input(Role::Features),
            origin: origin.clone(),
        });
        g.values.push(ValueInfo { name: "y".into(), shape: targets, def: Def::Input(Role::Targets), origin });
        g
    }

    /// The features input.
    pub fn x(&self) -> ValueId {
        ValueId(0)
    }

    /// The targets input.
    pub fn y(&self) -> ValueId {
        ValueId(1)
    }

    /// A value's description.
    pub fn value(&self, id: ValueId) -> &ValueInfo {
        &self.values[id.0]
    }

    /// Looks a value up by name.
    pub fn find(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name).map(ValueId)
    }

    fn add_value(&mut self, info: ValueInfo) -> Result<ValueId, GraphError> {
        if self.find(&info.name).is_some() {
            return Err(GraphError::DuplicateName(info.name));
        }
        self.values.push(info);
        Ok(ValueId(self.values.len() - 1))
    }

    /// Adds a batch input (a dropout mask).
    pub fn add_input(&mut self, name: &str, shape: Shape, role: Role, origin: Origin) -> Result<ValueId, GraphError> {
        self.add_value(ValueInfo { name: name.to_string(), shape, def: Def::Input(role), origin })
    }

    /// The dropout masks: each mask value and its rate.
    pub fn masks(&self) -> Vec<(ValueId, f64)> {
        self.values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v.def {
                Def::Input(Role::Mask { rate }) => Some((ValueId(i), rate)),
                _ => None,
            })
            .collect()
    }

    /// Adds a parameter.
    pub fn add_param(
        &mut self,
        name: &str,
        shape: Shape,
        init: Init,
        trainable: bool,
        origin: Origin,
    ) -> Result<ValueId, GraphError> {
        let id =
            self.add_value(ValueInfo { name: name.to_string(), shape, def: Def::Param { init, trainable }, origin })?;
        self.params.push(id);
        Ok(id)
    }

    /// Adds an instruction after running its shape rule, and returns the value it defines.
    pub fn push(&mut self, op: Op, args: &[ValueId], name: &str, origin: Origin) -> Result<ValueId, GraphError> {
        let shapes: Vec<&Shape> = args.iter().map(|a| &self.values[a.0].shape).collect();
        let shape = op.output_shape(&shapes).map_err(|source| GraphError::Shape { name: name.to_string(), source })?;
        let out =
            self.add_value(ValueInfo { name: name.to_string(), shape, def: Def::Inst(self.insts.len()), origin })?;
        self.insts.push(Inst { op, args: args.to_vec(), out });
        Ok(out)
    }

    /// The number of instructions that compute the forward pass (those before the first
    /// backward one).
    pub fn forward_len(&self) -> usize {
        self.insts.iter().position(|i| self.value(i.out).origin.pass == Pass::Backward).unwrap_or(self.insts.len())
    }

    /// The loss the graph computes (mean squared error when it names none).
    pub fn loss_kind(&self) -> Loss {
        self.insts
            .iter()
            .find_map(|i| match i.op {
                Op::Loss(l) => Some(l),
                _ => None,
            })
            .unwrap_or(Loss::Mse)
    }

    /// The number of scalar parameters.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| self.value(*p).shape.fixed_len().unwrap_or(0)).sum()
    }

    /// Whether the optimiser updates this parameter.
    pub fn is_trainable(&self, param: ValueId) -> bool {
        matches!(self.value(param).def, Def::Param { trainable: true, .. })
    }

    /// Lets go of every explicit initial value (`Init::Explicit` becomes
    /// `Init::Released`), for a run whose parameters hold them already: a large model's
    /// initial weights are then not kept twice while it trains.
    pub fn release_initial_values(&mut self) {
        for v in &mut self.values {
            if let Def::Param { init, .. } = &mut v.def
                && let Init::Explicit(values) = init
            {
                *init = Init::Released { count: values.len() };
            }
        }
    }

    /// Whether some initial values were let go (`release_initial_values`).
    pub fn has_released_values(&self) -> bool {
        self.values.iter().any(|v| matches!(v.def, Def::Param { init: Init::Released { .. }, .. }))
    }
}
