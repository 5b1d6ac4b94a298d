//! The interpreter: runs a graph's instructions on `ndarray` buffers, in f32 or f64.
//!
//! Buffers for every value are allocated once per batch size and reused on every step;
//! a short last batch gets its own set. Parameters live outside the executor (the
//! training loop owns and updates them) and are passed in by reference on each run.
//! The runtime never sees syntax.

pub mod kernels;
pub mod scalar;
pub mod threads;

use std::ops::Range;

use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, IxDyn};

use crate::ir::{Def, Graph, Op, ValueId};
use kernels::{as1, as1_mut, as2, as2_mut};
pub use scalar::Scalar;

/// Runs one graph, owning a buffer for every non-parameter value per batch size.
pub struct Executor<T> {
    graph: Graph,
    /// For each value, its index among the graph's parameters.
    param_index: Vec<Option<usize>>,
    /// Buffer sets, one per batch size seen.
    sets: Vec<(usize, Vec<ArrayD<T>>)>,
    /// The set in use.
    active: usize,
    /// An empty array that stands in for an instruction's output while the instruction
    /// writes it (so that no step allocates).
    spare: Option<ArrayD<T>>,
}

impl<T: Scalar> Executor<T> {
    /// An executor for this graph. No buffers are allocated until `prepare`.
    pub fn new(graph: &Graph) -> Executor<T> {
        let mut param_index = vec![None; graph.values.len()];
        for (i, p) in graph.params.iter().enumerate() {
            param_index[p.0] = Some(i);
        }
        Executor {
            graph: graph.clone(),
            param_index,
            sets: Vec::new(),
            active: 0,
            spare: Some(ArrayD::zeros(IxDyn(&[0]))),
        }
    }

    /// The graph this executor runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Selects the buffers for a batch of `batch` rows, allocating them the first time.
    pub fn prepare(&mut self, batch: usize) {
        if let Some(i) = self.sets.iter().position(|(b, _)| *b == batch) {
            self.active = i;
            return;
        }
        let buffers = self
            .graph
            .values
            .iter()
            .map(|v| match v.def {
                Def::Param { .. } => ArrayD::zeros(IxDyn(&[])),
                _ => ArrayD::zeros(IxDyn(&v.shape.resolve(batch))),
            })
            .collect();
        self.sets.push((batch, buffers));
        self.active = self.sets.len() - 1;
    }

    /// The buffer of a batch input (`x`, `y` or a dropout mask), to be filled before `run`.
    pub fn input_mut(&mut self, id: ValueId) -> ArrayViewMut2<'_, T> {
        as2_mut(self.sets[self.active].1[id.0].view_mut())
    }

    /// Prepares for the examples of `x`, copies them (and the targets `y`, when given) into
    /// the inputs, and sets every dropout mask to ones: the graph as it runs outside
    /// training.
    pub fn feed(&mut self, x: ArrayView2<T>, y: Option<ArrayView2<T>>) {
        self.prepare(x.nrows());
        let (xi, yi) = (self.graph.x(), self.graph.y());
        self.input_mut(xi).assign(&x);
        if let Some(y) = y {
            self.input_mut(yi).assign(&y);
        }
        for (mask, _) in self.graph.masks() {
            self.input_mut(mask).fill(T::one());
        }
    }

    /// A value's current contents (parameters come from `params`).
    pub fn value<'a>(&'a self, id: ValueId, params: &'a [ArrayD<T>]) -> ArrayViewD<'a, T> {
        match self.param_index[id.0] {
            Some(i) => params[i].view(),
            None => self.sets[self.active].1[id.0].view(),
        }
    }

    /// Runs the instructions in `range` (indices into the graph's instruction list).
    pub fn run(&mut self, params: &[ArrayD<T>], range: Range<usize>) {
        for i in range {
            let inst = &self.graph.insts[i];
            let out_id = inst.out.0;
            let spare = self.spare.take().expect("the spare array is back after every instruction");
            let mut out = std::mem::replace(&mut self.sets[self.active].1[out_id], spare);
            {
                let arg = |k: usize| self.value(inst.args[k], params);
                let o = out.view_mut();
                match &inst.op {
                    Op::MatMul { transpose_a, transpose_b } => {
                        kernels::matmul(as2(arg(0)), as2(arg(1)), *transpose_a, *transpose_b, as2_mut(o))
                    }
                    Op::Add => kernels::add(arg(0), arg(1), o),
                    Op::Mul => kernels::mul(arg(0), arg(1), o),
                    Op::Penalty { l1, l2 } => {
                        let v = kernels::penalty(*l1, *l2, arg(0));
                        out.fill(v);
                    }
                    Op::PenaltyGrad { l1, l2 } => kernels::penalty_grad(*l1, *l2, arg(0), kernels::scalar(arg(1)), o),
                    Op::Broadcast => kernels::broadcast(as1(arg(0)), as2_mut(o)),
                    Op::SumRows => kernels::sum_rows(as2(arg(0)), as1_mut(o)),
                    Op::Activate(f) => kernels::activate(*f, arg(0), o),
                    Op::ActivateGrad(f) => kernels::activate_grad(*f, arg(0), arg(1), arg(2), o),
                    Op::Softmax => kernels::softmax(as2(arg(0)), as2_mut(o)),
                    Op::SoftmaxGrad => kernels::softmax_grad(as2(arg(0)), as2(arg(1)), as2_mut(o)),
                    Op::Loss(l) => {
                        let v = kernels::loss(*l, as2(arg(0)), as2(arg(1)));
                        out.fill(v);
                    }
                    Op::LossGrad(l) => {
                        kernels::loss_grad(*l, as2(arg(0)), as2(arg(1)), kernels::scalar(arg(2)), as2_mut(o))
                    }
                    Op::LogitsLossGrad(l) => {
                        kernels::logits_loss_grad(*l, as2(arg(0)), as2(arg(1)), kernels::scalar(arg(2)), as2_mut(o))
                    }
                    Op::Constant(c) => out.fill(T::of_f64(*c)),
                }
            }
            self.spare = Some(std::mem::replace(&mut self.sets[self.active].1[out_id], out));
        }
    }

    /// The first value in `range` of instructions whose output holds a NaN or infinity.
    pub fn first_non_finite(&self, params: &[ArrayD<T>], range: Range<usize>) -> Option<ValueId> {
        self.graph.insts[range]
            .iter()
            .map(|inst| inst.out)
            .find(|v| self.value(*v, params).iter().any(|x| !x.is_finite()))
    }
}
