//! Fused passes: runs of instructions the executor can do in one sweep over memory,
//! found once per graph. Each fused pass computes exactly what its instructions compute,
//! in the same order, so results are bit-identical; it only skips writing and re-reading
//! intermediate buffers.
//!
//! - bias + activation: `broadcast b`, `add m, b`, then `f(pre)` (or softmax, which is
//!   left to run alone): one pass writes `pre` and `f(pre)` from `m` and the bias vector;
//!   the broadcast matrix is never written, so nothing may read it (a full trace does,
//!   which is why fusion is chosen by the executor's user).
//! - activation gradient + bias gradient: `f'(pre)·dy` then `sum_rows` of it: one pass
//!   writes the gradient and adds each row into the column sums, in row order.

use crate::ir::{Activation, Graph, Op, ValueId};

/// A fused run of instructions, by index into the graph's instruction list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fused {
    /// `broadcast` at `at`, `add` at `at + 1`, and `activate` at `at + 2` when `activation`
    /// is given.
    BiasActivation {
        /// The broadcast instruction.
        at: usize,
        /// The activation that follows the add, if it is fused too.
        activation: Option<Activation>,
    },
    /// `activate_grad` at `at`, `sum_rows` of its output at `at + 1`.
    ActivationGradSum {
        /// The activation-gradient instruction.
        at: usize,
        /// Its activation.
        activation: Activation,
    },
}

impl Fused {
    /// How many instructions it covers.
    pub fn instructions(&self) -> usize {
        match self {
            Fused::BiasActivation { activation: Some(_), .. } => 3,
            Fused::BiasActivation { activation: None, .. } | Fused::ActivationGradSum { .. } => 2,
        }
    }
}

/// For each instruction index, the fused pass that starts there, if any.
pub fn plan(graph: &Graph) -> Vec<Option<Fused>> {
    let insts = &graph.insts;
    let mut uses = vec![0usize; graph.values.len()];
    for inst in insts {
        for a in &inst.args {
            uses[a.0] += 1;
        }
    }
    let mut plan = vec![None; insts.len()];
    let mut i = 0;
    while i < insts.len() {
        let next = |k: usize| insts.get(i + k);
        let fused = match (&insts[i].op, next(1)) {
            (Op::Broadcast, Some(add))
                if add.op == Op::Add
                    && uses[insts[i].out.0] == 1
                    && add.args.contains(&insts[i].out)
                    && add.args.iter().any(|a| *a != insts[i].out) =>
            {
                let activation = match next(2) {
                    Some(act) if act.args.first() == Some(&add.out) => match act.op {
                        Op::Activate(f) => Some(f),
                        _ => None,
                    },
                    _ => None,
                };
                Some(Fused::BiasActivation { at: i, activation })
            }
            (Op::ActivateGrad(f), Some(sum)) if sum.op == Op::SumRows && sum.args.first() == Some(&insts[i].out) => {
                Some(Fused::ActivationGradSum { at: i, activation: *f })
            }
            _ => None,
        };
        plan[i] = fused;
        i += fused.map_or(1, |f| f.instructions());
    }
    plan
}

/// The values a plan's passes never write: each fused bias's broadcast matrix.
pub fn skipped<'a>(graph: &'a Graph, plan: &'a [Option<Fused>]) -> impl Iterator<Item = ValueId> + 'a {
    plan.iter().filter_map(move |f| match f {
        Some(Fused::BiasActivation { at, .. }) => Some(graph.insts[*at].out),
        _ => None,
    })
}
