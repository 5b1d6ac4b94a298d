//! The interpreter: runs a graph's instructions on `ndarray` buffers, in f32 or f64.
//!
//! Buffers for every value are allocated once per batch size and reused on every step;
//! a short last batch gets its own set. Values whose lives do not overlap may share a
//! buffer (`memory`), when the caller says which values it reads between runs.
//! Parameters live outside the executor (the training loop owns and updates them) and
//! are passed in by reference on each run. The runtime never sees syntax.

pub mod flat;
pub mod fusion;
pub mod kernels;
pub mod memory;
pub mod scalar;
pub mod threads;

use std::ops::Range;

use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, IxDyn};

use crate::ir::{Def, Graph, Op, ValueId};
pub use scalar::Scalar;

/// One batch size's buffers: flat row-major vectors, each holding one value at a time
/// (one per value unless buffers are shared), with every value's dimensions and the
/// matrix (rows, columns) the kernels see.
struct BufferSet<T> {
    /// The batch size these buffers hold.
    batch: usize,
    /// The buffers. (One vector each rather than ranges of one arena: with one arena,
    /// W4's peak RSS rose by 3-4 MB, as glibc's dynamic mmap threshold served it from
    /// reused heap memory; with a fixed threshold it did not.)
    data: Vec<Vec<T>>,
    /// Where each value lives.
    place: Vec<Place>,
    /// Every value's dimensions at this batch size.
    dims: Vec<Vec<usize>>,
    /// Every value as a matrix: a scalar is 1×1, a vector of n is 1×n.
    matrix: Vec<(usize, usize)>,
    /// Each instruction with its operands resolved.
    resolved: Vec<Resolved>,
}

/// Where a value lives at one batch size: its buffer and its number of elements.
#[derive(Clone, Copy)]
struct Place {
    /// The index of its buffer; `NO_BUFFER` for parameters (they live outside the
    /// executor) and for values no pass writes.
    slot: usize,
    /// Its number of elements.
    len: usize,
}

impl Place {
    /// Whether it holds no buffer in common with `other`.
    fn apart(self, other: Place) -> bool {
        self.slot != other.slot || self.slot == NO_BUFFER
    }
}

/// `Place::slot` of a value without a buffer.
const NO_BUFFER: usize = usize::MAX;

/// Where an instruction's operand is read from.
#[derive(Clone, Copy)]
enum Source {
    /// The parameter at this index.
    Param(usize),
    /// A buffer of the set.
    Buffer(Place),
}

/// An instruction as it runs at one batch size, its operands looked up once: where it
/// writes, what it reads (each operand with its matrix shape) and its working space.
struct Resolved {
    /// Where the output lives.
    out: Place,
    /// The operands, in order (an op has at most three).
    args: [(Source, (usize, usize)); 3],
    /// Its working space (a matrix product's scratch, `kernels::matmul_scratch`), when
    /// it needs one.
    work: Option<Place>,
    /// Whether it is a matrix product small enough to sum directly (`kernels::is_tiny`).
    tiny: bool,
}

impl<T> BufferSet<T> {
    /// Value `id`'s contents (empty when it has no buffer).
    #[inline]
    fn get(&self, id: ValueId) -> &[T] {
        let p = self.place[id.0];
        self.data.get(p.slot).map_or(&[], |d| &d[..p.len])
    }

    /// The same, to change.
    #[inline]
    fn get_mut(&mut self, id: ValueId) -> &mut [T] {
        let p = self.place[id.0];
        self.data.get_mut(p.slot).map_or(&mut [], |d| &mut d[..p.len])
    }
}

/// The buffers of a set while `Executor::run` runs passes on them. A pass's outputs and
/// working space lie in buffers apart from one another and from those of the values it
/// reads (`assert_apart`, at each batch size), so a pass can write its outputs while it
/// reads its inputs; all its views are taken from one pointer to the buffers, and live
/// only while the pass runs. Every place with a buffer lies inside it (`assert_inside`, at
/// each batch size) and buffers never change length, so a view is taken without a check.
struct Pass<'a, T> {
    buffers: *mut Vec<T>,
    count: usize,
    set: std::marker::PhantomData<&'a mut [Vec<T>]>,
}

impl<'a, T> Pass<'a, T> {
    /// The buffers, borrowed for one pass.
    #[inline]
    fn over(buffers: &'a mut [Vec<T>]) -> Self {
        Pass { buffers: buffers.as_mut_ptr(), count: buffers.len(), set: std::marker::PhantomData }
    }

    /// The first element of the buffer at `p`, which has one.
    #[inline]
    fn first(&self, p: Place) -> *mut T {
        debug_assert!(p.slot < self.count, "a value with a buffer names one of the set");
        // SAFETY: every place with a buffer names one of the set's buffers
        // (`assert_inside`), borrowed mutably by the pass; the reference to its vector
        // (not its elements) lives for this call only.
        unsafe { (*self.buffers.add(p.slot)).as_mut_ptr() }
    }

    /// The elements at `p`, to read.
    ///
    /// # Safety
    /// `p` is a place of the set these buffers belong to, and no view `write` gave while
    /// this one is alive overlaps it.
    #[inline]
    unsafe fn read(&self, p: Place) -> &[T] {
        if p.slot == NO_BUFFER {
            return &[];
        }
        // SAFETY: inside its buffer (`assert_inside`), which the pass borrows mutably;
        // nothing written overlaps it (the caller's promise).
        unsafe { std::slice::from_raw_parts(self.first(p), p.len) }
    }

    /// The elements at `p`, to write: an output or working space of the pass.
    ///
    /// # Safety
    /// `p` is a place of the set these buffers belong to, and no other view this pass
    /// gave while this one is alive overlaps it.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn write(&self, p: Place) -> &mut [T] {
        assert!(p.slot != NO_BUFFER, "a value an instruction writes has a buffer: no range cuts a fused pass");
        // SAFETY: inside its buffer (`assert_inside`), which the pass borrows mutably; no
        // other view overlaps it (the caller's promise).
        unsafe { std::slice::from_raw_parts_mut(self.first(p), p.len) }
    }
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
    /// When buffers are shared: the values the caller reads between runs, each with the
    /// last instruction after which it reads it.
    reads: Option<Vec<(ValueId, usize)>>,
}

impl<T: Scalar> Executor<T> {
    /// An executor for this graph. No buffers are allocated until `prepare`.
    pub fn new(graph: &Graph) -> Executor<T> {
        let mut param_index = vec![None; graph.values.len()];
        for (i, p) in graph.params.iter().enumerate() {
            param_index[p.0] = Some(i);
        }
        Executor { graph: graph.clone(), param_index, sets: Vec::new(), active: 0, fused: None, reads: None }
    }

    /// The same, running fused passes where it can (see `fusion`). The intermediate
    /// values a fused pass skips (a bias's broadcast matrix) are not kept: for callers
    /// that never read them, such as training below a full trace and prediction.
    pub fn fused(mut self) -> Executor<T> {
        self.fused = Some(fusion::plan(&self.graph));
        self
    }

    /// The same, letting values share a buffer once nothing reads them any more
    /// (`memory`). `reads` lists the values the caller reads between runs (the loss,
    /// the prediction, gradients), each with the last instruction after which it reads
    /// it; batch inputs are filled before the first instruction. Any other value may be
    /// overwritten once the instructions that read it have run, so callers run the graph
    /// in ranges that never cut a fused pass (`passes`), and `first_non_finite` sees
    /// only the values still held.
    pub fn sharing(mut self, reads: Vec<(ValueId, usize)>) -> Executor<T> {
        self.reads = Some(reads);
        self
    }

    /// Whether values share buffers.
    pub fn is_sharing(&self) -> bool {
        self.reads.is_some()
    }

    /// For each instruction, the first and last instruction of the pass that runs it:
    /// `(i, i)` unless a fused pass covers it.
    pub fn passes(&self) -> Vec<(usize, usize)> {
        memory::passes(self.graph.insts.len(), self.fused.as_deref())
    }

    /// Each pass once, in order, as its range of instructions.
    pub fn pass_ranges(&self) -> Vec<Range<usize>> {
        let passes = self.passes();
        passes
            .iter()
            .enumerate()
            .filter(|(i, (first, _))| i == first)
            .map(|(_, &(first, last))| first..last + 1)
            .collect()
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
        let len: Vec<usize> = dims.iter().map(|d| d.iter().product()).collect();
        let matrix: Vec<(usize, usize)> = dims
            .iter()
            .map(|d| match d[..] {
                [] => (1, 1),
                [n] => (1, n),
                [r, c] => (r, c),
                _ => (d[0], d[1..].iter().product()),
            })
            .collect();
        // Each instruction's working space, and whether it is a product small enough to
        // sum directly.
        let (work, tiny): (Vec<usize>, Vec<bool>) = (self.graph.insts.iter())
            .map(|inst| match inst.op {
                Op::MatMul { transpose_a: ta, transpose_b: tb } => {
                    let dims = |k: usize, t: bool| {
                        let (r, c) = matrix[inst.args[k].0];
                        if t { (c, r) } else { (r, c) }
                    };
                    let ((m, k), (_, n)) = (dims(0, ta), dims(1, tb));
                    (kernels::matmul_scratch(m, k, n, ta, tb), kernels::is_tiny(m, k, n))
                }
                _ => (0, false),
            })
            .unzip();
        let layout = memory::layout(&self.graph, self.fused.as_deref(), self.reads.as_deref(), &len, &work);
        let data: Vec<Vec<T>> = layout.capacity.iter().map(|&c| vec![T::zero(); c]).collect();
        let place: Vec<Place> =
            layout.slot.iter().zip(&len).map(|(s, &len)| Place { slot: s.unwrap_or(NO_BUFFER), len }).collect();
        let resolved: Vec<Resolved> = self
            .graph
            .insts
            .iter()
            .zip(layout.work)
            .zip(work.iter().zip(tiny))
            .map(|((inst, slot), (&len, tiny))| {
                let mut args = [(Source::Buffer(Place { slot: NO_BUFFER, len: 0 }), (0, 0)); 3];
                for (a, id) in args.iter_mut().zip(&inst.args) {
                    let source = self.param_index[id.0].map_or(Source::Buffer(place[id.0]), Source::Param);
                    *a = (source, matrix[id.0]);
                }
                Resolved { out: place[inst.out.0], args, work: slot.map(|slot| Place { slot, len }), tiny }
            })
            .collect();
        assert_inside(&data, &place, &resolved);
        assert_apart(&self.graph, &self.pass_ranges(), &place, &resolved);
        self.sets.push(BufferSet { batch, data, place, resolved, dims, matrix });
        self.active = self.sets.len() - 1;
    }

    /// The bytes of the buffers for the batch size in use (after `prepare`).
    pub fn buffer_bytes(&self) -> usize {
        self.sets.get(self.active).map_or(0, |set| set.data.iter().map(Vec::len).sum::<usize>() * size_of::<T>())
    }

    /// The buffer of a batch input (`x`, `y` or a dropout mask), to be filled before `run`.
    pub fn input_mut(&mut self, id: ValueId) -> ArrayViewMut2<'_, T> {
        let set = &mut self.sets[self.active];
        as_matrix(set.matrix[id.0], set.get_mut(id))
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
    #[inline]
    pub fn slice<'a>(&'a self, id: ValueId, params: &'a [ArrayD<T>]) -> &'a [T] {
        match self.param_index[id.0] {
            Some(i) => param_values(params, i),
            None => self.sets[self.active].get(id),
        }
    }

    /// The buffer of a value the graph computes (empty for a parameter).
    pub fn buffer(&self, id: ValueId) -> &[T] {
        self.sets[self.active].get(id)
    }

    /// The buffer of a value that is not a parameter, row-major, to fill or change in
    /// place: a batch input (`x`, `y`, a dropout mask) before `run`, or a gradient
    /// (clipping scales gradients where they are).
    pub fn buffer_mut(&mut self, id: ValueId) -> &mut [T] {
        self.sets[self.active].get_mut(id)
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
        let BufferSet { data, resolved, place, .. } = &mut self.sets[self.active];
        let insts = &self.graph.insts;
        let pass = Pass::over(data);
        let mut i = range.start;
        while i < range.end {
            let fused = self.fused.as_ref().and_then(|plan| plan[i]).filter(|f| i + f.instructions() <= range.end);
            match fused {
                Some(f) => {
                    run_fused(insts, &self.param_index, place, &pass, params, f);
                    i += f.instructions();
                }
                None => {
                    run_one(&insts[i], &resolved[i], &pass, params);
                    i += 1;
                }
            }
        }
    }

    /// The first value in `range` of instructions (which ran last) whose output holds a
    /// NaN or infinity, among those still held: when buffers are shared, a value whose
    /// buffer a later instruction of `range` wrote is gone and not looked at.
    pub fn first_non_finite(&self, params: &[ArrayD<T>], range: Range<usize>) -> Option<ValueId> {
        let place = &self.sets[self.active].place;
        let held = |i: usize| {
            let s = place[self.graph.insts[i].out.0].slot;
            s != NO_BUFFER && self.graph.insts[i + 1..range.end].iter().all(|later| place[later.out.0].slot != s)
        };
        range
            .clone()
            .filter(|&i| held(i))
            .map(|i| self.graph.insts[i].out)
            .find(|v| self.slice(*v, params).iter().any(|x| !x.is_finite()))
    }

    /// An executor of the same graph, without fused passes or shared buffers, that has run
    /// instructions `0..upto` on this one's batch inputs: every value of the step as it
    /// was, for a report when a value that shared its buffer is gone. `params` must be
    /// the ones this executor's run read.
    pub fn replay(&self, params: &[ArrayD<T>], upto: usize) -> Executor<T> {
        let mut replay = Executor::new(&self.graph);
        replay.prepare(self.sets[self.active].batch);
        for (k, v) in self.graph.values.iter().enumerate() {
            if let Def::Input(_) = v.def {
                replay.buffer_mut(ValueId(k)).copy_from_slice(self.buffer(ValueId(k)));
            }
        }
        replay.run(params, 0..upto);
        replay
    }
}

/// Runs one instruction alone, its operands resolved as `r`, on the buffers of `pass`
/// (the set `r` was resolved for).
#[inline(always)]
fn run_one<T: Scalar>(inst: &crate::ir::Inst, r: &Resolved, pass: &Pass<'_, T>, params: &[ArrayD<T>]) {
    let Resolved { out, work, args, tiny } = r;
    // SAFETY (each `read` and `write` below): the places are the set's; the instruction's
    // output, its working space and its operands lie apart (`assert_apart` checked it for
    // its pass), and each is viewed once, for this instruction only.
    let arg = |k: usize| match args[k].0 {
        Source::Param(p) => param_values(params, p),
        Source::Buffer(b) => unsafe { pass.read(b) },
    };
    let cols = |k: usize| args[k].1.1;
    let operand = |k: usize, transposed: bool| kernels::Operand { values: arg(k), shape: args[k].1, transposed };
    let scalar = |k: usize| arg(k).first().copied().unwrap_or_else(T::nan);
    let o = unsafe { pass.write(*out) };
    match &inst.op {
        Op::MatMul { transpose_a, transpose_b } if *tiny => {
            kernels::tiny_matmul(operand(0, *transpose_a), operand(1, *transpose_b), o)
        }
        Op::MatMul { transpose_a, transpose_b } => {
            let scratch = work.map_or(&mut [][..], |w| unsafe { pass.write(w) });
            kernels::matmul(operand(0, *transpose_a), operand(1, *transpose_b), o, scratch)
        }
        Op::Add => kernels::add(arg(0), arg(1), o),
        Op::Mul => kernels::mul(arg(0), arg(1), o),
        Op::Penalty { l1, l2 } => o.fill(kernels::penalty(*l1, *l2, arg(0))),
        Op::PenaltyGrad { l1, l2 } => kernels::penalty_grad(*l1, *l2, arg(0), scalar(1), o),
        Op::Broadcast => kernels::broadcast(arg(0), o),
        Op::SumRows => kernels::sum_rows(arg(0), cols(0), o),
        Op::Activate(f) => kernels::activate(*f, arg(0), o),
        Op::ActivateGrad(f) => {
            let (x, y, dy) = Op::activate_grad_operands(*f, &[0, 1, 2]);
            kernels::activate_grad(*f, arg(x), arg(y), arg(dy), o)
        }
        Op::Softmax => kernels::softmax(arg(0), cols(0), o),
        Op::SoftmaxGrad => kernels::softmax_grad(arg(0), arg(1), cols(0), o),
        Op::Loss(l) => o.fill(kernels::loss(*l, arg(0), cols(0), arg(1), cols(1))),
        Op::LossGrad(l) => kernels::loss_grad(*l, arg(0), cols(0), arg(1), cols(1), scalar(2), o),
        Op::LogitsLossGrad(l) => kernels::logits_loss_grad(*l, arg(0), cols(0), arg(1), cols(1), scalar(2), o),
        Op::Constant(c) => o.fill(T::of_f64(*c)),
    }
}

/// Runs a fused pass on the buffers of `pass`, whose values lie at `place`.
fn run_fused<T: Scalar>(
    insts: &[crate::ir::Inst],
    param_index: &[Option<usize>],
    place: &[Place],
    pass: &Pass<'_, T>,
    params: &[ArrayD<T>],
    f: fusion::Fused,
) {
    // SAFETY (each `read` and `write` below): the places are the set's; the
    // pass's outputs lie apart from one another and from the values it reads
    // (`assert_apart`), and each is viewed once.
    let read = |id: ValueId| match param_index[id.0] {
        Some(i) => param_values(params, i),
        None => unsafe { pass.read(place[id.0]) },
    };
    match f {
        fusion::Fused::BiasActivation { at, activation } => {
            let (bias, add) = (insts[at].args[0], &insts[at + 1]);
            let m = *add.args.iter().find(|a| **a != insts[at].out).expect("the plan checked the add");
            let pre = unsafe { pass.write(place[add.out.0]) };
            let out = activation.map_or(&mut [][..], |_| unsafe { pass.write(place[insts[at + 2].out.0]) });
            kernels::bias_activate(read(m), read(bias), activation, pre, out);
        }
        fusion::Fused::ActivationGradSum { at, activation } => {
            let (grad, sum) = (&insts[at], &insts[at + 1]);
            let (g, sums) = unsafe { (pass.write(place[grad.out.0]), pass.write(place[sum.out.0])) };
            let (x, y, dy) = Op::activate_grad_operands(activation, &grad.args);
            kernels::activate_grad_sum_rows(activation, read(x), read(y), read(dy), g, sums);
        }
    }
}

/// Parameter `i`'s values, row-major.
#[inline]
fn param_values<T>(params: &[ArrayD<T>], i: usize) -> &[T] {
    flat::values(&params[i])
}

/// Checks what `Pass` relies on to take views unchecked: every value with a buffer, and
/// every working space, lies inside its buffer.
fn assert_inside<T>(data: &[Vec<T>], place: &[Place], resolved: &[Resolved]) {
    let inside = |p: &Place| p.slot == NO_BUFFER || data.get(p.slot).is_some_and(|d| p.len <= d.len());
    let works = resolved.iter().filter_map(|r| r.work.as_ref());
    assert!(place.iter().chain(works).all(inside), "a value lies outside its buffer: the buffer plan is wrong");
}

/// Checks what `Pass` relies on: each pass's outputs and working space lie apart from one
/// another and from every value the pass reads that it does not write itself.
fn assert_apart(graph: &Graph, passes: &[Range<usize>], place: &[Place], resolved: &[Resolved]) {
    for insts in passes {
        let written = |v: ValueId| insts.clone().any(|i| graph.insts[i].out == v);
        let writes: Vec<Place> =
            insts.clone().flat_map(|i| [Some(resolved[i].out), resolved[i].work]).flatten().collect();
        let reads = insts.clone().flat_map(|i| graph.insts[i].args.iter()).filter(|v| !written(**v));
        let apart = writes.iter().enumerate().all(|(k, w)| writes[k + 1..].iter().all(|o| w.apart(*o)))
            && reads.into_iter().all(|v| writes.iter().all(|w| w.apart(place[v.0])));
        assert!(apart, "the pass of instructions {insts:?} writes a buffer it reads: the buffer plan is wrong");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::differentiate;

    /// `Pass` relies on `assert_apart`: a plan whose instruction writes where it reads is
    /// refused before anything runs.
    #[test]
    #[should_panic(expected = "writes a buffer it reads")]
    fn a_plan_that_writes_a_buffer_its_pass_reads_is_refused() {
        let text = "model m {
            input 2
            dense 3 { activation = sigmoid }
            dense 1
            loss mse
        }";
        let (program, _) = crate::compile(text, crate::Syntax::Nn).expect("compiles");
        let graph = differentiate(&program.graph).expect("differentiates");
        let last = graph.insts.len() - 1;
        let mut exec = Executor::<f64>::new(&graph).fused().sharing(vec![(graph.loss, last)]);
        // The planner's own layout passes the check.
        exec.prepare(4);
        let passes = exec.pass_ranges();
        let set = &mut exec.sets[0];
        let (i, read) = (set.resolved.iter().enumerate())
            .filter(|(_, r)| r.out.slot != NO_BUFFER)
            .find_map(|(i, r)| {
                r.args.iter().find_map(|(s, _)| match s {
                    Source::Buffer(p) if p.slot != NO_BUFFER => Some((i, *p)),
                    _ => None,
                })
            })
            .expect("some instruction reads a buffer");
        set.resolved[i].out.slot = read.slot;
        assert_apart(&exec.graph, &passes, &set.place, &set.resolved);
    }

    /// `Pass` takes its views unchecked, relying on `assert_inside`: a plan that puts a
    /// value outside its buffer is refused before anything runs.
    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn a_plan_that_puts_a_value_outside_its_buffer_is_refused() {
        let (program, _) =
            crate::compile("model m { input 2\n dense 3\n loss mse }", crate::Syntax::Nn).expect("compiles");
        let graph = differentiate(&program.graph).expect("differentiates");
        let mut exec = Executor::<f32>::new(&graph);
        // The planner's own layout passes the check.
        exec.prepare(4);
        let set = &mut exec.sets[0];
        let held = set.place.iter().position(|p| p.slot != NO_BUFFER).expect("some value has a buffer");
        set.place[held].len = set.data[set.place[held].slot].len() + 1;
        assert_inside(&set.data, &set.place, &set.resolved);
    }
}
