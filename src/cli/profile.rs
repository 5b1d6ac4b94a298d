//! `nnc profile`: where a training step's time goes, op by op (like `caffe time`). Runs a
//! few steps of the differentiated graph on the first minibatch as a run does (fused
//! passes, each timed as one row; shared buffers; each parameter updated as soon as its
//! gradient is final), timing every instruction or pass and the optimiser's updates, and
//! prints them sorted by cost, with the achieved GFLOP/s of each matrix product and the
//! memory the step's buffers take.

use std::path::Path;
use std::time::{Duration, Instant};

use nnc::autodiff::differentiate;
use nnc::data::gather;
use nnc::diagnostics::{Code, render_without_source};
use nnc::ir::{DType, Graph, Op};
use nnc::runtime::threads::threads;
use nnc::runtime::{Executor, Scalar};
use nnc::train::init::initial_params;
use nnc::train::optimizer::{OptimizerState, StepUpdate};
use nnc::train::step_executor;
use nnc::{Program, data::Splits};

use crate::cli::{exit, load_all};

/// One row of the table.
struct Row {
    stage: &'static str,
    op: String,
    value: String,
    time: Duration,
    flops: f64,
}

/// Runs `nnc profile`.
pub fn profile(spec: &Path, steps: usize) -> i32 {
    let (program, _, data) = match load_all(spec) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let result = match program.graph.dtype {
        DType::F32 => measure::<f32>(&program, &data, steps),
        DType::F64 => measure::<f64>(&program, &data, steps),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(why) => {
            eprint!("{}", render_without_source(Code::Missing, &why, None));
            exit::INVALID
        }
    }
}

fn measure<T: Scalar>(program: &Program, data: &Splits, steps: usize) -> Result<String, String> {
    let graph = differentiate(&program.graph).map_err(|e| e.to_string())?;
    let n = data.train.len();
    let batch = program.train.batch_size.unwrap_or(n).min(n).max(1);
    let rows: Vec<usize> = (0..batch).collect();
    let mut params = initial_params::<T>(&program.graph, program.train.seed);
    let mut state = OptimizerState::new(&program.train.optimizer, &params);
    let trainable: Vec<usize> = (0..params.len()).filter(|&i| graph.is_trainable(graph.params[i])).collect();
    let forward_len = program.graph.insts.len();
    // As a run below a full trace executes the step: a fused pass is one row, and each
    // parameter is updated where the run updates it (after the whole pass when clipping).
    let (mut exec, updates) = step_executor::<T>(&graph, &program.train, forward_len, &graph.grads, &trainable);
    let last = graph.insts.len() - 1;
    let updates = if updates.is_empty() { trainable.iter().map(|&i| (last, i)).collect() } else { updates };
    let spans = exec.pass_ranges();
    let mut times = vec![Duration::ZERO; spans.len()];
    let mut update_time = Duration::ZERO;
    // One untimed step first: buffers are allocated and caches warm.
    for step in 0..=steps {
        exec.prepare(batch);
        data.train.x.gather(&rows, exec.buffer_mut(graph.x()));
        gather(&data.train.y, &rows, exec.buffer_mut(graph.y()));
        for (mask, _) in graph.masks() {
            exec.buffer_mut(mask).fill(T::one());
        }
        let opt = &program.train.optimizer;
        let update = StepUpdate::begin(opt, opt.lr(), &mut state);
        let mut due = updates.iter().peekable();
        for (span, t) in spans.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            exec.run(&params, span.clone());
            if step > 0 {
                *t += start.elapsed();
            }
            // The updates due after this pass, timed only when there are some.
            if due.peek().is_some_and(|(at, _)| *at < span.end) {
                let start = Instant::now();
                while let Some(&(_, i)) = due.next_if(|(at, _)| *at < span.end) {
                    let grad = graph.grads.get(i).copied().flatten().map_or(&[][..], |id| exec.buffer(id));
                    update.apply(&mut state, i, &mut params[i], grad);
                }
                if step > 0 {
                    update_time += start.elapsed();
                }
            }
        }
    }
    let mut own = Executor::<T>::new(&graph).fused();
    own.prepare(batch);
    let memory = (exec.buffer_bytes(), own.buffer_bytes());
    let mut table: Vec<Row> = spans
        .iter()
        .zip(&times)
        .map(|(span, &time)| {
            let insts = &graph.insts[span.clone()];
            // A fused pass never writes its broadcast matrix: name what it does write.
            let written = insts.iter().filter(|inst| insts.len() == 1 || inst.op != Op::Broadcast);
            Row {
                stage: if span.start < forward_len { "forward" } else { "backward" },
                op: insts.iter().map(|inst| inst.op.name()).collect::<Vec<_>>().join("+"),
                value: written.map(|inst| graph.value(inst.out).name.clone()).collect::<Vec<_>>().join(", "),
                time,
                flops: insts.iter().map(|inst| flops(&graph, inst, batch)).sum(),
            }
        })
        .collect();
    table.push(Row {
        stage: "update",
        op: program.train.optimizer.to_string(),
        value: "all parameters".into(),
        time: update_time,
        flops: 0.0,
    });
    Ok(render(program, &table, steps, batch, memory))
}

/// 2·m·n·k for a matrix product, else 0.
fn flops(graph: &Graph, inst: &nnc::ir::Inst, batch: usize) -> f64 {
    if !matches!(inst.op, Op::MatMul { .. }) {
        return 0.0;
    }
    let out = graph.value(inst.out).shape.resolve(batch);
    let Op::MatMul { transpose_a, .. } = inst.op else { return 0.0 };
    let a = graph.value(inst.args[0]).shape.resolve(batch);
    let k = if transpose_a { a[0] } else { a[1] };
    2.0 * out.iter().product::<usize>() as f64 * k as f64
}

/// The table, the totals, and the buffers' memory (shared as a run plans them, and with
/// one buffer per value).
fn render(program: &Program, table: &[Row], steps: usize, batch: usize, (shared, own): (usize, usize)) -> String {
    let per_step = |d: Duration| d.as_secs_f64() / steps as f64;
    let total: f64 = table.iter().map(|r| per_step(r.time)).sum();
    let mut sorted: Vec<&Row> = table.iter().collect();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then(a.value.cmp(&b.value)));
    let mut out = format!(
        "profile of `{}`: {steps} steps of batch {batch} ({}), {} threads for large matrix products\n\n",
        program.graph.name,
        program.graph.dtype,
        threads()
    );
    out.push_str(&format!(
        "{:<9} {:<28} {:<28} {:>12} {:>7} {:>9}\n",
        "stage", "op", "value", "time/step", "share", "GFLOP/s"
    ));
    for r in sorted {
        let t = per_step(r.time);
        let gflops = if r.flops > 0.0 && t > 0.0 { format!("{:.1}", r.flops / t / 1e9) } else { "-".into() };
        out.push_str(&format!(
            "{:<9} {:<28} {:<28} {:>12} {:>6.1}% {:>9}\n",
            r.stage,
            truncate(&r.op, 28),
            truncate(&r.value, 28),
            duration(t),
            100.0 * t / total.max(f64::MIN_POSITIVE),
            gflops
        ));
    }
    let stage = |s: &str| table.iter().filter(|r| r.stage == s).map(|r| per_step(r.time)).sum::<f64>();
    let matmul_flops: f64 = table.iter().map(|r| r.flops).sum();
    let matmul_time: f64 = table.iter().filter(|r| r.flops > 0.0).map(|r| per_step(r.time)).sum();
    out.push_str(&format!(
        "\nper step: forward {}, backward {}, update {}, total {} ({:.0} steps/s, {:.0} samples/s)\n",
        duration(stage("forward")),
        duration(stage("backward")),
        duration(stage("update")),
        duration(total),
        1.0 / total,
        batch as f64 / total
    ));
    if matmul_time > 0.0 {
        out.push_str(&format!(
            "matrix products: {:.1}% of the time, {:.1} GFLOP/s\n",
            100.0 * matmul_time / total,
            matmul_flops / matmul_time / 1e9
        ));
    }
    out.push_str(&format!(
        "buffers: {} at batch {batch}, shared between values whose lives do not overlap ({} with one per value)\n",
        bytes(shared),
        bytes(own)
    ));
    out
}

fn bytes(n: usize) -> String {
    match n {
        0..1_000 => format!("{n} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

fn duration(seconds: f64) -> String {
    if seconds >= 1e-3 { format!("{:.3} ms", seconds * 1e3) } else { format!("{:.2} µs", seconds * 1e6) }
}
