//! Graphviz DOT for the IR graph (`nnc ir --format dot`) and the layer diagram
//! (`nnc graph --format dot`).

use std::fmt::Write;

use crate::ir::{Def, Graph, Pass};
use crate::program::Program;

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "'"))
}

/// The IR graph: a box per input and parameter, an ellipse per instruction (backward ones
/// dashed), an edge from each argument to its use.
pub fn ir(g: &Graph) -> String {
    let mut out =
        format!("digraph {} {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n", quote(&g.name));
    for (i, v) in g.values.iter().enumerate() {
        let (shape, style) = match &v.def {
            Def::Input(_) => ("box", "filled\", fillcolor=\"#e8f0fe"),
            Def::Param { .. } => ("box", "filled\", fillcolor=\"#fef3e0"),
            Def::Inst(k) => {
                let backward = v.origin.pass == Pass::Backward;
                let label = format!("{}\\n{} {}", v.name, g.insts[*k].op, v.shape);
                let _ = writeln!(
                    out,
                    "  v{i} [label={}, shape=ellipse{}];",
                    quote(&label),
                    if backward { ", style=dashed" } else { "" }
                );
                continue;
            }
        };
        let _ = writeln!(
            out,
            "  v{i} [label={}, shape={shape}, style=\"{style}\"];",
            quote(&format!("{}\\n{}", v.name, v.shape))
        );
    }
    for inst in &g.insts {
        for a in &inst.args {
            let _ = writeln!(out, "  v{} -> v{};", a.0, inst.out.0);
        }
    }
    out.push_str("}\n");
    out
}

/// The layers, top to bottom, each with its kind, output shape and parameters.
pub fn network(p: &Program) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f5f5f5\", fontname=\"Helvetica\"];\n",
        quote(&p.graph.name)
    );
    for (i, l) in p.layers.iter().enumerate() {
        let notes = if l.notes.is_empty() { String::new() } else { format!("\\n{}", l.notes) };
        let label = format!("{} ({})\\n{}  {} params{notes}", l.name, l.kind, l.shape, l.params);
        let _ = writeln!(out, "  l{i} [label={}];", quote(&label));
        if i > 0 {
            let _ = writeln!(out, "  l{} -> l{i};", i - 1);
        }
    }
    let _ = writeln!(
        out,
        "  loss [label={}, shape=ellipse, fillcolor=\"#fde8e8\"];\n  l{} -> loss;",
        quote(&format!("loss: {}", p.loss_name)),
        p.layers.len().saturating_sub(1)
    );
    out.push_str("}\n");
    out
}
