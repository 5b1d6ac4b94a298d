//! `nnc check`: compile and print a summary table of layers, shapes and parameters.

use std::fmt::Write;
use std::path::Path;

use nnc::Program;
use nnc::data::Splits;

use crate::cli::{exit, load, load_data};

/// Runs `nnc check`.
pub fn check(spec: &Path) -> i32 {
    let (program, source) = match load(spec) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let data = match program.data {
        Some(_) => match load_data(&program, spec, &source) {
            Ok(d) => Some(d),
            Err(code) => return code,
        },
        None => None,
    };
    print!("{}", summary(&program, data.as_ref()));
    exit::OK
}

/// The summary table, like Keras' `model.summary()`.
fn summary(p: &Program, data: Option<&Splits>) -> String {
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
    match data {
        Some(d) => {
            let t = &d.train;
            let (examples, features, targets) =
                (count(t.len(), "example"), count(t.x.ncols(), "feature"), count(t.y.ncols(), "target"));
            let _ = write!(out, "  data: {examples}, {features} -> {targets}");
            if let Some(v) = &d.validation {
                let _ = write!(out, "; {} held out for validation", v.len());
            }
            if let Some(c) = &d.classes {
                let _ = write!(out, "; classes {}", c.join(", "));
            }
            out.push('\n');
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
