//! Buffer sharing: which values may hold the same buffer because their lives do not
//! overlap.
//!
//! Time is counted in passes (an instruction, or a fused pass of several). A value lives
//! from the pass that writes it to the last pass that reads it, or to the last instruction
//! after which the executor's caller reads it between runs. Batch inputs, which the caller
//! fills once and may run the graph on several times (finite differences), keep their own
//! buffers. When a pass starts, the buffers of values that died in earlier passes are
//! free, and each value the pass writes takes the free buffer that fits it best. A pass's
//! outputs are alive while it reads its inputs, so no instruction ever writes a buffer it
//! reads. Without sharing, every value lives to the end and holds its own buffer. Working
//! space an instruction needs while it runs (a matrix product's scratch) is planned the
//! same way, living for that one pass.

use super::fusion::{self, Fused};
use crate::ir::{Def, Graph, ValueId};

/// Which buffer holds each value, for one batch size.
pub struct Layout {
    /// Each value's buffer: `None` for parameters (they live outside the executor) and,
    /// when buffers are shared, for the intermediates a fused pass never writes.
    pub slot: Vec<Option<usize>>,
    /// Each instruction's working space: `None` when it needs none.
    pub work: Vec<Option<usize>>,
    /// Each buffer's length: the largest value it holds.
    pub capacity: Vec<usize>,
}

/// For each instruction, the first and last instruction of the pass it runs in.
pub fn passes(insts: usize, plan: Option<&[Option<Fused>]>) -> Vec<(usize, usize)> {
    let mut pass: Vec<(usize, usize)> = (0..insts).map(|i| (i, i)).collect();
    if let Some(plan) = plan {
        for (at, f) in plan.iter().enumerate() {
            if let Some(f) = f {
                let end = at + f.instructions() - 1;
                pass[at..=end].fill((at, end));
            }
        }
    }
    pass
}

/// Every value's life as (first pass, last instruction of the last pass that reads it),
/// `pass` giving each instruction's pass (`passes`). `reads` lists the values the caller reads between runs, each with the last instruction
/// after which it does; `None` keeps every value alive to the end (no sharing).
fn lives(
    graph: &Graph,
    plan: Option<&[Option<Fused>]>,
    pass: &[(usize, usize)],
    reads: Option<&[(ValueId, usize)]>,
) -> Vec<Option<(usize, usize)>> {
    let mut life: Vec<Option<(usize, usize)>> = graph
        .values
        .iter()
        .map(|v| match v.def {
            Def::Input(_) => Some((0, usize::MAX)),
            Def::Inst(i) => Some(pass[i]),
            Def::Param { .. } => None,
        })
        .collect();
    let Some(reads) = reads else {
        return life.into_iter().map(|l| l.map(|(first, _)| (first, usize::MAX))).collect();
    };
    let last = graph.insts.len().saturating_sub(1);
    let uses = graph.insts.iter().enumerate().flat_map(|(i, inst)| inst.args.iter().map(move |a| (*a, i)));
    for (v, i) in uses.chain(reads.iter().copied()) {
        if let (Some((_, end)), Some(&(_, pass_end))) = (&mut life[v.0], pass.get(i.min(last))) {
            *end = (*end).max(pass_end);
        }
    }
    for v in plan.map(|p| fusion::skipped(graph, p)).into_iter().flatten() {
        life[v.0] = None;
    }
    life
}

/// The buffers for values of `sizes` elements and for `work[i]` elements of working
/// space while instruction i runs (see `lives` for `plan` and `reads`).
pub fn layout(
    graph: &Graph,
    plan: Option<&[Option<Fused>]>,
    reads: Option<&[(ValueId, usize)]>,
    sizes: &[usize],
    work: &[usize],
) -> Layout {
    let pass = passes(graph.insts.len(), plan);
    let mut life = lives(graph, plan, &pass, reads);
    life.extend(work.iter().zip(&pass).map(|(&w, &p)| (w > 0).then_some(p)));
    let size = |k: usize| if k < sizes.len() { sizes[k] } else { work[k - sizes.len()] };
    let mut order: Vec<(usize, usize, usize)> =
        life.iter().enumerate().filter_map(|(k, l)| l.map(|(first, end)| (first, k, end))).collect();
    order.sort_unstable();
    let mut slot = vec![None; life.len()];
    let mut capacity: Vec<usize> = Vec::new();
    // Buffers in use, with the last instruction their value lives to, and free ones.
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    for (first, k, end) in order {
        taken.retain(|&(last, s)| {
            let dead = last < first;
            if dead {
                free.push(s);
            }
            !dead
        });
        let size = size(k);
        // The smallest free buffer that holds the value; else the largest, grown.
        let fits = free.iter().enumerate().filter(|(_, s)| capacity[**s] >= size).min_by_key(|(_, s)| capacity[**s]);
        let pick = fits.or_else(|| free.iter().enumerate().max_by_key(|(_, s)| capacity[**s])).map(|(at, _)| at);
        let s = match pick {
            Some(at) => free.swap_remove(at),
            None => {
                capacity.push(0);
                capacity.len() - 1
            }
        };
        capacity[s] = capacity[s].max(size);
        slot[k] = Some(s);
        taken.push((end, s));
    }
    let work = slot.split_off(sizes.len());
    Layout { slot, work, capacity }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::differentiate;
    use crate::runtime::fusion;

    /// A deep model's differentiated graph, with a penalty, dropout and a frozen layer.
    fn graph() -> Graph {
        let text = "model m {
            input 8
            dense 32 { activation = relu, l2 = 0.1 }
            dropout 0.5
            dense 32 { activation = tanh, trainable = false }
            dense 16 { activation = sigmoid }
            dense 4 { activation = softmax }
            loss categorical_crossentropy
        }";
        let (program, _) = crate::compile(text, crate::Syntax::Nn).expect("compiles");
        differentiate(&program.graph).expect("differentiates")
    }

    /// Every pair of values that must both be intact while some instruction runs (read
    /// by it or later, or by the caller afterwards, and already written) holds distinct
    /// buffers: checked instruction by instruction, without the plan's passes or lives.
    #[test]
    fn values_alive_together_never_share_a_buffer_and_sharing_saves_memory() {
        let g = graph();
        let plan = fusion::plan(&g);
        let n = g.insts.len();
        let reads: Vec<(ValueId, usize)> =
            g.grads.iter().flatten().map(|&v| (v, n - 1)).chain([(g.loss, n / 2)]).collect();
        let sizes: Vec<usize> = g.values.iter().map(|v| v.shape.resolve(16).iter().product()).collect();
        let work = vec![0; n];
        let shared = layout(&g, Some(&plan), Some(&reads), &sizes, &work);
        let skipped: Vec<ValueId> = fusion::skipped(&g, &plan).collect();
        let written = |v: ValueId| match g.value(v).def {
            Def::Inst(k) => Some(k),
            Def::Input(_) => Some(0),
            Def::Param { .. } => None,
        };
        let last_read = |v: ValueId| {
            let by_insts = g.insts.iter().enumerate().filter(|(_, inst)| inst.args.contains(&v)).map(|(k, _)| k);
            let by_caller = reads.iter().filter(|(r, _)| *r == v).map(|(_, k)| *k);
            let input = matches!(g.value(v).def, Def::Input(_)).then_some(n);
            by_insts.chain(by_caller).chain(input).max()
        };
        for i in 0..n {
            let alive: Vec<ValueId> = (0..g.values.len())
                .map(ValueId)
                .filter(|v| !skipped.contains(v))
                .filter(|&v| {
                    written(v).is_some_and(|w| w <= i)
                        && (last_read(v).is_some_and(|r| r >= i) || written(v) == Some(i))
                })
                .collect();
            for (a, &u) in alive.iter().enumerate() {
                for &v in &alive[a + 1..] {
                    assert_ne!(
                        shared.slot[u.0],
                        shared.slot[v.0],
                        "{} and {} at instruction {i}",
                        g.value(u).name,
                        g.value(v).name
                    );
                }
                let slot = shared.slot[u.0].expect("a value that is alive has a buffer");
                assert!(shared.capacity[slot] >= sizes[u.0]);
            }
        }
        let own = layout(&g, Some(&plan), None, &sizes, &work);
        let total = |l: &Layout| l.capacity.iter().sum::<usize>();
        assert!(2 * total(&shared) < total(&own), "{} against {}", total(&shared), total(&own));
    }
}
