//! Checkpoint files: a `Snapshot` of a run as safetensors. Parameters, optimiser buffers
//! and early stopping's best parameters are tensors (`param/`, `first/`, `second/`,
//! `best/` + the IR name) in the run's dtype, the example order is an I64 tensor, and the
//! counters are JSON metadata with every float stored as its bit pattern, so a resumed run
//! continues bit for bit.

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::ir::Graph;
use crate::persist::tensors::{Container, Stored, Values};
use crate::persist::weights::{Provenance, RUN_SHA256, params_named, stored};
use crate::train::metrics::Counts;
use crate::train::optimizer::OptimizerState;
use crate::train::snapshot::Snapshot;

/// Metadata key: the loop's counters, as JSON.
pub const STATE: &str = "nnc.state";

/// The counters of a snapshot; floats as `f64::to_bits`.
#[derive(Serialize, Deserialize)]
struct State {
    epoch: u64,
    rows_done: usize,
    step: u64,
    optimizer_step: u64,
    loss_sum: u64,
    correct: usize,
    rows: usize,
    binary_correct: usize,
    abs_error: u64,
    sq_error: u64,
    elements: usize,
    shuffle_pos: String,
    dropout_pos: String,
    best: Option<(u64, u64)>,
}

/// A checkpoint file for `s` (whose fingerprint is the provenance's `run_sha256`).
pub fn checkpoint_file(prov: &Provenance, s: &Snapshot) -> Container {
    let mut c = prov.metadata("checkpoint");
    let graph = &prov.program.graph;
    let state = State {
        epoch: s.epoch,
        rows_done: s.rows_done,
        step: s.step,
        optimizer_step: s.optimizer.step,
        loss_sum: s.loss_sum.to_bits(),
        correct: s.counts.correct,
        rows: s.counts.rows,
        binary_correct: s.counts.binary_correct,
        abs_error: s.counts.abs_error.to_bits(),
        sq_error: s.counts.sq_error.to_bits(),
        elements: s.counts.elements,
        shuffle_pos: s.shuffle_pos.to_string(),
        dropout_pos: s.dropout_pos.to_string(),
        best: s.best.as_ref().map(|(v, e, _)| (v.to_bits(), *e)),
    };
    c.metadata.insert(STATE.into(), serde_json::to_string(&state).unwrap_or_default());
    let mut add = |prefix: &str, arrays: &[ArrayD<f64>]| {
        for (&id, a) in graph.params.iter().zip(arrays) {
            c.tensors.push(stored(format!("{prefix}{}", graph.value(id).name), a, graph.dtype));
        }
    };
    add("param/", &s.params);
    add("first/", &s.optimizer.first);
    add("second/", &s.optimizer.second);
    if let Some((_, _, best)) = &s.best {
        add("best/", best);
    }
    let order = Values::I64(s.order.iter().map(|&i| i as i64).collect());
    c.tensors.push(Stored { name: "order".into(), dims: vec![s.order.len()], values: order });
    c
}

/// The snapshot in a checkpoint file, checked against `graph`'s parameters. The caller
/// compares `fingerprint` with its own run's.
pub fn snapshot(c: &Container, graph: &Graph) -> Result<Snapshot, String> {
    let text = c.meta(STATE).ok_or_else(|| format!("it has no `{STATE}` metadata: it is not an nnc checkpoint"))?;
    let st: State = serde_json::from_str(text).map_err(|e| format!("its `{STATE}` metadata is malformed: {e}"))?;
    let pos = |s: &str, what: &str| s.parse::<u128>().map_err(|_| format!("its {what} position `{s}` is not a number"));
    let fingerprint = c.meta(RUN_SHA256).ok_or_else(|| format!("it has no `{RUN_SHA256}` metadata"))?;
    let order = match c.tensor("order") {
        Some(Stored { values: Values::I64(v), .. }) => {
            v.iter().map(|&i| usize::try_from(i).map_err(|_| format!("its example order holds {i}"))).collect()
        }
        _ => Err("it has no I64 tensor `order`".to_string()),
    }?;
    let best = match st.best {
        Some((bits, epoch)) => Some((f64::from_bits(bits), epoch, params_named(graph, c, "best/")?)),
        None => None,
    };
    Ok(Snapshot {
        fingerprint: fingerprint.to_string(),
        epoch: st.epoch,
        rows_done: st.rows_done,
        step: st.step,
        loss_sum: f64::from_bits(st.loss_sum),
        counts: Counts {
            correct: st.correct,
            rows: st.rows,
            binary_correct: st.binary_correct,
            abs_error: f64::from_bits(st.abs_error),
            sq_error: f64::from_bits(st.sq_error),
            elements: st.elements,
        },
        order,
        shuffle_pos: pos(&st.shuffle_pos, "shuffling")?,
        dropout_pos: pos(&st.dropout_pos, "dropout")?,
        params: params_named(graph, c, "param/")?,
        optimizer: OptimizerState {
            step: st.optimizer_step,
            first: params_named(graph, c, "first/")?,
            second: params_named(graph, c, "second/")?,
        },
        best,
    })
}
