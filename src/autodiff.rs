//! Reverse-mode automatic differentiation as an IR-to-IR transform.
//!
//! `differentiate` walks a forward graph's instructions backwards and emits, for each op,
//! its vector-Jacobian product as more IR instructions (`vjp`), accumulating with `add`
//! where a value feeds several users. Softmax followed by categorical cross-entropy, and
//! sigmoid followed by binary cross-entropy, are differentiated in one stable step
//! (`LogitsLossGrad`) when the probabilities feed nothing else. Layers never carry
//! hand-written backward code: this module is the only place gradients come from.

use crate::ir::graph::Def;
use crate::ir::{Activation, Graph, GraphError, Loss, Op, Origin, Pass, ValueId};

/// Why a graph could not be differentiated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AutodiffError {
    /// Building the backward instructions failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A parameter-dependent value is computed by an op with no vector-Jacobian rule.
    #[error("`{0}` has no vector-Jacobian rule: it is a backward-only op")]
    NotDifferentiable(String),
    /// A parameter that does not affect the loss.
    #[error("the loss does not depend on the parameter `{0}`")]
    Unused(String),
}

/// Returns the graph extended with the backward pass: `grads[i]` is the gradient of the
/// loss with respect to `params[i]` (`None` for a frozen parameter).
pub fn differentiate(forward: &Graph) -> Result<Graph, AutodiffError> {
    let mut g = forward.clone();
    let n = forward.values.len();

    // Only values that depend on a parameter need gradients.
    let mut needs = vec![false; n];
    for p in forward.params.iter().filter(|p| forward.is_trainable(**p)) {
        needs[p.0] = true;
    }
    for inst in &forward.insts {
        needs[inst.out.0] = inst.args.iter().any(|a| needs[a.0]);
    }
    // How many gradient contributions each value will receive.
    let mut uses = vec![0usize; n];
    for inst in &forward.insts {
        for a in inst.args.iter().filter(|a| needs[a.0]) {
            uses[a.0] += 1;
        }
    }
    let mut acc = Accumulator { partials: vec![Vec::new(); n], uses, grads: vec![None; n] };

    let seed = g.push(
        Op::Constant(1.0),
        &[],
        &grad_name(&forward.value(forward.loss).name),
        backward_origin(forward, forward.loss),
    )?;
    acc.grads[forward.loss.0] = Some(seed);

    for inst in forward.insts.iter().rev() {
        let Some(dy) = acc.finish(&mut g, inst.out)? else { continue };
        let origin = backward_origin(forward, inst.out);
        vjp(&mut g, forward, &inst.op, &inst.args, inst.out, dy, &needs, &mut acc, &origin)?;
    }
    for p in &forward.params {
        match acc.finish(&mut g, *p)? {
            Some(d) => g.grads.push(Some(d)),
            None if !forward.is_trainable(*p) => g.grads.push(None),
            None => return Err(AutodiffError::Unused(forward.value(*p).name.clone())),
        }
    }
    Ok(g)
}

fn grad_name(of: &str) -> String {
    format!("grad({of})")
}

fn backward_origin(g: &Graph, v: ValueId) -> Origin {
    Origin { pass: Pass::Backward, ..g.value(v).origin.clone() }
}

/// Collects gradient contributions per value and sums them when all have arrived.
struct Accumulator {
    partials: Vec<Vec<ValueId>>,
    uses: Vec<usize>,
    grads: Vec<Option<ValueId>>,
}

impl Accumulator {
    /// The name for the next contribution to `v`: `grad(v)` when it is the only one.
    fn name(&self, g: &Graph, v: ValueId) -> String {
        let base = grad_name(&g.value(v).name);
        if self.uses[v.0] <= 1 { base } else { format!("{base}.{}", self.partials[v.0].len() + 1) }
    }

    fn add(&mut self, v: ValueId, contribution: ValueId) {
        self.partials[v.0].push(contribution);
    }

    /// The full gradient of `v`, summing its contributions into `grad(v)` if needed.
    fn finish(&mut self, g: &mut Graph, v: ValueId) -> Result<Option<ValueId>, GraphError> {
        if let Some(done) = self.grads[v.0] {
            return Ok(Some(done));
        }
        let parts = std::mem::take(&mut self.partials[v.0]);
        let Some((&first, rest)) = parts.split_first() else { return Ok(None) };
        let origin = backward_origin(g, v);
        let mut total = first;
        for (i, &p) in rest.iter().enumerate() {
            let name = if i + 1 == rest.len() {
                grad_name(&g.value(v).name)
            } else {
                format!("{}.sum{}", grad_name(&g.value(v).name), i + 2)
            };
            total = g.push(Op::Add, &[total, p], &name, origin.clone())?;
        }
        self.grads[v.0] = Some(total);
        Ok(Some(total))
    }
}

/// Emits the vector-Jacobian product of one op: given dy, the gradient of the loss with
/// respect to the op's output, adds a contribution to each argument that needs one.
#[allow(clippy::too_many_arguments)]
fn vjp(
    g: &mut Graph,
    fwd: &Graph,
    op: &Op,
    args: &[ValueId],
    out: ValueId,
    dy: ValueId,
    needs: &[bool],
    acc: &mut Accumulator,
    origin: &Origin,
) -> Result<(), AutodiffError> {
    let emit =
        |g: &mut Graph, acc: &mut Accumulator, to: ValueId, op: Op, op_args: &[ValueId]| -> Result<(), GraphError> {
            if !needs[to.0] {
                return Ok(());
            }
            let name = acc.name(g, to);
            let v = g.push(op, op_args, &name, origin.clone())?;
            acc.add(to, v);
            Ok(())
        };
    match *op {
        Op::MatMul { transpose_a: ta, transpose_b: tb } => {
            let (a, b) = (args[0], args[1]);
            // C = op(a) op(b): dA = dC op(b)^T, dB = op(a)^T dC, transposed back where needed.
            let (da_op, da_args) = if ta {
                (Op::MatMul { transpose_a: tb, transpose_b: true }, [b, dy])
            } else {
                (Op::MatMul { transpose_a: false, transpose_b: !tb }, [dy, b])
            };
            emit(g, acc, a, da_op, &da_args)?;
            let (db_op, db_args) = if tb {
                (Op::MatMul { transpose_a: true, transpose_b: ta }, [dy, a])
            } else {
                (Op::MatMul { transpose_a: !ta, transpose_b: false }, [a, dy])
            };
            emit(g, acc, b, db_op, &db_args)?;
        }
        Op::Add => {
            // d(a + b) passes dy through unchanged to both sides: no new instruction.
            for &a in args.iter().filter(|a| needs[a.0]) {
                acc.add(a, dy);
            }
        }
        Op::Mul => {
            emit(g, acc, args[0], Op::Mul, &[dy, args[1]])?;
            emit(g, acc, args[1], Op::Mul, &[dy, args[0]])?;
        }
        Op::Penalty { l1, l2 } => emit(g, acc, args[0], Op::PenaltyGrad { l1, l2 }, &[args[0], dy])?,
        Op::Broadcast => emit(g, acc, args[0], Op::SumRows, &[dy])?,
        Op::SumRows => emit(g, acc, args[0], Op::Broadcast, &[dy])?,
        Op::Activate(f) if f.grad_reads_input() => emit(g, acc, args[0], Op::ActivateGrad(f), &[args[0], out, dy])?,
        Op::Activate(f) => emit(g, acc, args[0], Op::ActivateGrad(f), &[out, dy])?,
        Op::Softmax => emit(g, acc, args[0], Op::SoftmaxGrad, &[out, dy])?,
        Op::Loss(loss) => {
            let (p, t) = (args[0], args[1]);
            match fused_logits(fwd, loss, p, acc) {
                Some(logits) => emit(g, acc, logits, Op::LogitsLossGrad(loss), &[p, t, dy])?,
                None => emit(g, acc, p, Op::LossGrad(loss), &[p, t, dy])?,
            }
        }
        Op::ActivateGrad(_)
        | Op::SoftmaxGrad
        | Op::LossGrad(_)
        | Op::LogitsLossGrad(_)
        | Op::PenaltyGrad { .. }
        | Op::Constant(_) => {
            return Err(AutodiffError::NotDifferentiable(op.name()));
        }
    }
    Ok(())
}

/// The logits to differentiate a cross-entropy loss into directly, when `p` is the
/// softmax ((sparse) categorical) or sigmoid (binary) of them and feeds nothing but the loss.
fn fused_logits(fwd: &Graph, loss: Loss, p: ValueId, acc: &Accumulator) -> Option<ValueId> {
    let Def::Inst(i) = fwd.value(p).def else { return None };
    let inst = &fwd.insts[i];
    let fits = matches!(
        (loss, &inst.op),
        (Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy, Op::Softmax)
            | (Loss::BinaryCrossentropy, Op::Activate(Activation::Sigmoid))
    );
    (fits && acc.uses[p.0] == 1).then_some(inst.args[0])
}
