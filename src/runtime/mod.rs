//! The interpreter: runs a graph's instructions on `ndarray` buffers, in f32 or f64.
//!
//! Buffers for every value are allocated once per batch size and reused on every step;
//! a short last batch gets its own set. Parameters live outside the executor (the
//! training loop owns and updates them) and are passed in by reference on each run.
//! The runtime never sees syntax.

pub mod fusion;
pub mod kernels;
pub mod scalar;
pub mod threads;

use std::cell::Cell;
use std::ops::Range;

use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, IxDyn};

use crate::ir::{Def, Graph, Op, ValueId};
pub use scalar::Scalar;

/// One batch size's buffers: a flat row-major vector per value (empty for parameters),
/// with its dimensions and the matrix (rows, columns) the kernels see.
struct BufferSet<T> {
    /// The batch size these buffers hold.
    batch: usize,
    /// The contents of every non-parameter value.
    data: Vec<Vec<T>>,
    /// Every value's dimensions at this batch size.
    dims: Vec<Vec<usize>>,
    /// Every value as a matrix: a scalar is 1×1, a vector of n is 1×n.
    matrix: Vec<(usize, usize)>,
    /// Working space for the matrix products that need it (`kernels::matmul_scratch`),
    /// in a `Cell` so that a product can take it while its operands are borrowed.
    scratch: Cell<Vec<T>>,
}

/// Runs one graph, owning a buffer for every non-parameter value per batch size.
pub struct Executor<T> {
    graph: Graph,
    /// For each value, its index among the graph's parameters.
    param_index: Vec<Option<usize>>,
    /// Buffer sets, one per batch size seen.
    sets: Vec<BufferSet<T>>,
    /// The set in use.
    active: usize,
    /// The fused pass starting at each instruction, when fusion is on.
    fused: Option<Vec<Option<fusion::Fused>>>,
}

impl<T: Scalar> Executor<T> {
    /// An executor for this graph. No buffers are allocated until `prepare`.
    pub fn new(graph: &Graph) -> Executor<T> {
        let mut param_index = vec![None; graph.values.len()];
        for (i, p) in graph.params.iter().enumerate() {
            param_index[p.0] = Some(i);
        }
        Executor { graph: graph.clone(), param_index, sets: Vec::new(), active: 0, fused: None }
    }

    /// The same, running fused passes where it can (see `fusion`). The intermediate
    /// values a fused pass skips (a bias's broadcast matrix) are not kept: for callers
    /// that never read them, such as training below a full trace and prediction.
    pub fn fused(mut self) -> Executor<T> {
        self.fused = Some(fusion::plan(&self.graph));
        self
    }

    /// The graph this executor runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Selects the buffers for a batch of `batch` rows, allocating them the first time.
    pub fn prepare(&mut self, batch: usize) {
        if let Some(i) = self.sets.iter().position(|s| s.batch == batch) {
            self.active = i;
            return;
        }
        let dims: Vec<Vec<usize>> = self.graph.values.iter().map(|v| v.shape.resolve(batch)).collect();
        let data = self
            .graph
            .values
            .iter()
            .zip(&dims)
            .map(|(v, d)| match v.def {
                Def::Param { .. } => Vec::new(),
                _ => vec![T::zero(); d.iter().product()],
            })
            .collect();
        let matrix: Vec<(usize, usize)> = dims
            .iter()
            .map(|d| match d[..] {
                [] => (1, 1),
                [n] => (1, n),
                [r, c] => (r, c),
                _ => (d[0], d[1..].iter().product()),
            })
            .collect();
        let scratch = self
            .graph
            .insts
            .iter()
            .filter_map(|inst| match inst.op {
                Op::MatMul { transpose_a: ta, transpose_b: tb } => {
                    let dims = |k: usize, t: bool| {
                        let (r, c) = matrix[inst.args[k].0];
                        if t { (c, r) } else { (r, c) }
                    };
                    let ((m, k), (_, n)) = (dims(0, ta), dims(1, tb));
                    Some(kernels::matmul_scratch(m, k, n, ta, tb))
                }
                _ => None,
            })
            .max()
            .unwrap_or(0);
        self.sets.push(BufferSet { batch, data, dims, matrix, scratch: Cell::new(vec![T::zero(); scratch]) });
        self.active = self.sets.len() - 1;
    }

    /// The buffer of a batch input (`x`, `y` or a dropout mask), to be filled before `run`.
    pub fn input_mut(&mut self, id: ValueId) -> ArrayViewMut2<'_, T> {
        let set = &mut self.sets[self.active];
        as_matrix(set.matrix[id.0], &mut set.data[id.0])
    }

    /// Frees every buffer (the next `prepare` allocates again), and hands the freed
    /// memory back to the system where the allocator keeps it otherwise.
    pub fn release(&mut self) {
        self.sets.clear();
        self.active = 0;
        return_freed_memory();
    }

    /// Prepares for the examples of `x`, copies them (and the targets `y`, when given) into
    /// the inputs, converting them to the run's float type as they are copied, and sets
    /// every dropout mask to ones: the graph as it runs outside training.
    pub fn feed<X: Scalar, Y: Scalar>(&mut self, x: ArrayView2<X>, y: Option<ArrayView2<Y>>) {
        self.prepare(x.nrows());
        let (xi, yi) = (self.graph.x(), self.graph.y());
        self.input_mut(xi).zip_mut_with(&x, |d, &v| *d = T::of_f64(v.as_f64()));
        if let Some(y) = y {
            self.input_mut(yi).zip_mut_with(&y, |d, &v| *d = T::of_f64(v.as_f64()));
        }
        for (mask, _) in self.graph.masks() {
            self.input_mut(mask).fill(T::one());
        }
    }

    /// A value's current contents, row-major (parameters come from `params`).
    pub fn slice<'a>(&'a self, id: ValueId, params: &'a [ArrayD<T>]) -> &'a [T] {
        match self.param_index[id.0] {
            Some(i) => params[i].as_slice().expect("parameters are stored row-major"),
            None => &self.sets[self.active].data[id.0],
        }
    }

    /// The buffer of a value the graph computes (empty for a parameter).
    pub fn buffer(&self, id: ValueId) -> &[T] {
        &self.sets[self.active].data[id.0]
    }

    /// The buffer of a value that is not a parameter, row-major, to fill or change in
    /// place: a batch input (`x`, `y`, a dropout mask) before `run`, or a gradient
    /// (clipping scales gradients where they are).
    pub fn buffer_mut(&mut self, id: ValueId) -> &mut [T] {
        &mut self.sets[self.active].data[id.0]
    }

    /// A value's current contents, in its own dimensions.
    pub fn value<'a>(&'a self, id: ValueId, params: &'a [ArrayD<T>]) -> ArrayViewD<'a, T> {
        let dims = &self.sets[self.active].dims[id.0];
        ArrayViewD::from_shape(IxDyn(dims), self.slice(id, params)).expect("a buffer holds its shape")
    }

    /// A value's current contents as a matrix (a scalar is 1×1, a vector a single row).
    pub fn matrix<'a>(&'a self, id: ValueId, params: &'a [ArrayD<T>]) -> ArrayView2<'a, T> {
        let shape = self.sets[self.active].matrix[id.0];
        ArrayView2::from_shape(shape, self.slice(id, params)).expect("a buffer holds its shape")
    }

    /// The single element of a scalar value.
    pub fn scalar(&self, id: ValueId, params: &[ArrayD<T>]) -> T {
        self.slice(id, params).first().copied().unwrap_or_else(T::nan)
    }

    /// Runs the instructions in `range` (indices into the graph's instruction list),
    /// as fused passes where fusion is on and a pass lies wholly inside `range`.
    pub fn run(&mut self, params: &[ArrayD<T>], range: Range<usize>) {
        let mut i = range.start;
        while i < range.end {
            let fused = self.fused.as_ref().and_then(|plan| plan[i]).filter(|f| i + f.instructions() <= range.end);
            match fused {
                Some(f) => {
                    self.run_fused(params, f);
                    i += f.instructions();
                }
                None => {
                    self.run_one(params, i);
                    i += 1;
                }
            }
        }
    }

    /// Runs instruction `i` alone.
    fn run_one(&mut self, params: &[ArrayD<T>], i: usize) {
        let inst = &self.graph.insts[i];
        let out_id = inst.out.0;
        // The output leaves its slot while the instruction writes it (a vector moves
        // without allocating), so the inputs can be borrowed beside it.
        let mut out = std::mem::take(&mut self.sets[self.active].data[out_id]);
        {
            let arg = |k: usize| self.slice(inst.args[k], params);
            let cols = |k: usize| self.sets[self.active].matrix[inst.args[k].0].1;
            let operand = |k: usize, transposed: bool| kernels::Operand {
                values: self.slice(inst.args[k], params),
                shape: self.sets[self.active].matrix[inst.args[k].0],
                transposed,
            };
            let o = &mut out;
            match &inst.op {
                Op::MatMul { transpose_a, transpose_b } => {
                    let cell = &self.sets[self.active].scratch;
                    let mut scratch = cell.take();
                    kernels::matmul(operand(0, *transpose_a), operand(1, *transpose_b), o, &mut scratch);
                    cell.set(scratch);
                }
                Op::Add => kernels::add(arg(0), arg(1), o),
                Op::Mul => kernels::mul(arg(0), arg(1), o),
                Op::Penalty { l1, l2 } => o.fill(kernels::penalty(*l1, *l2, arg(0))),
                Op::PenaltyGrad { l1, l2 } => {
                    kernels::penalty_grad(*l1, *l2, arg(0), self.scalar(inst.args[1], params), o)
                }
                Op::Broadcast => kernels::broadcast(arg(0), o),
                Op::SumRows => kernels::sum_rows(arg(0), cols(0), o),
                Op::Activate(f) => kernels::activate(*f, arg(0), o),
                Op::ActivateGrad(f) => kernels::activate_grad(*f, arg(0), arg(1), arg(2), o),
                Op::Softmax => kernels::softmax(arg(0), cols(0), o),
                Op::SoftmaxGrad => kernels::softmax_grad(arg(0), arg(1), cols(0), o),
                Op::Loss(l) => o.fill(kernels::loss(*l, arg(0), cols(0), arg(1), cols(1))),
                Op::LossGrad(l) => {
                    let dl = self.scalar(inst.args[2], params);
                    kernels::loss_grad(*l, arg(0), cols(0), arg(1), cols(1), dl, o)
                }
                Op::LogitsLossGrad(l) => {
                    let dl = self.scalar(inst.args[2], params);
                    kernels::logits_loss_grad(*l, arg(0), cols(0), arg(1), cols(1), dl, o)
                }
                Op::Constant(c) => o.fill(T::of_f64(*c)),
            }
        }
        self.sets[self.active].data[out_id] = out;
    }

    /// Runs a fused pass.
    fn run_fused(&mut self, params: &[ArrayD<T>], f: fusion::Fused) {
        let insts = &self.graph.insts;
        match f {
            fusion::Fused::BiasActivation { at, activation } => {
                let (bias, add) = (insts[at].args[0], &insts[at + 1]);
                let m = *add.args.iter().find(|a| **a != insts[at].out).expect("the plan checked the add");
                let pre_id = add.out.0;
                let out_id = activation.map(|_| insts[at + 2].out.0);
                let mut pre = std::mem::take(&mut self.sets[self.active].data[pre_id]);
                let mut out = out_id.map(|o| std::mem::take(&mut self.sets[self.active].data[o])).unwrap_or_default();
                kernels::bias_activate(self.slice(m, params), self.slice(bias, params), activation, &mut pre, &mut out);
                self.sets[self.active].data[pre_id] = pre;
                if let Some(o) = out_id {
                    self.sets[self.active].data[o] = out;
                }
            }
            fusion::Fused::ActivationGradSum { at, activation } => {
                let (grad, sum) = (&insts[at], &insts[at + 1]);
                let (g_id, s_id) = (grad.out.0, sum.out.0);
                let mut g = std::mem::take(&mut self.sets[self.active].data[g_id]);
                let mut sums = std::mem::take(&mut self.sets[self.active].data[s_id]);
                let arg = |k: usize| self.slice(grad.args[k], params);
                kernels::activate_grad_sum_rows(activation, arg(0), arg(1), arg(2), &mut g, &mut sums);
                self.sets[self.active].data[g_id] = g;
                self.sets[self.active].data[s_id] = sums;
            }
        }
    }

    /// The first value in `range` of instructions whose output holds a NaN or infinity.
    pub fn first_non_finite(&self, params: &[ArrayD<T>], range: Range<usize>) -> Option<ValueId> {
        self.graph.insts[range]
            .iter()
            .map(|inst| inst.out)
            .find(|v| self.slice(*v, params).iter().any(|x| !x.is_finite()))
    }
}

/// glibc keeps freed blocks below its mmap threshold for reuse; with products on two
/// threads the buffers end up interleaved with the pool threads' allocations, so after a
/// W4 run their 20 MB stayed resident while the parameters were copied out (56 MB peak
/// against 47 MB on one thread). `malloc_trim` returns every free page.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators keep their own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

/// A flat buffer viewed as a matrix of `shape`.
fn as_matrix<T>(shape: (usize, usize), buffer: &mut [T]) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape(shape, buffer).expect("a buffer holds its shape")
}
