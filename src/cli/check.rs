//! `nnc check`: compile and print a summary table of layers, shapes and parameters.

use std::fmt::Write;
use std::path::Path;

use nnc::Program;

use crate::cli::{exit, load};

/// Runs `nnc check`.
pub fn check(spec: &Path) -> i32 {
    match load(spec) {
        Ok((program, _)) => {
            print!("{}", summary(&program));
            exit::OK
        }
        Err(code) => code,
    }
}

/// The summary table, like Keras' `model.summary()`.
fn summary(p: &Program) -> String {
    let t = &p.train;
    let mut out =
        format!("model {}: {}, loss {}, {}, {}\n\n", p.graph.name, p.graph.dtype, p.loss_name, t.optimizer, t.gradient);
    let rows: Vec<[String; 5]> = p
        .layers
        .iter()
        .map(|l| [l.name.clone(), l.kind.clone(), l.shape.to_string(), l.params.to_string(), l.notes.clone()])
        .collect();
    let header = ["layer", "kind", "output", "params", "notes"].map(String::from);
    let widths: Vec<usize> =
        (0..5).map(|c| rows.iter().chain([&header]).map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for r in [&header].into_iter().chain(&rows) {
        let line = format!(
            "  {:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out, "\n  total params: {}", p.graph.param_count());
    match &p.data {
        Some(d) => {
            let (examples, features, targets) =
                (count(d.len(), "example"), count(d.x.ncols(), "feature"), count(d.y.ncols(), "target"));
            let _ = writeln!(out, "  data: {examples}, {features} -> {targets}");
        }
        None => out.push_str("  data: none (add a `data` block to train)\n"),
    }
    let batch = t.batch_size.map_or("all".to_string(), |b| b.to_string());
    let _ = writeln!(out, "  train: {}, batch size {batch}, seed {}", count(t.epochs as usize, "epoch"), t.seed);
    out
}

/// `1 example`, `2 examples`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}
