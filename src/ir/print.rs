//! The IR's text form: what `nnc ir` prints, what snapshot tests pin, and (without
//! origins) what the spec hash is computed from.

use std::fmt::Write;

use crate::ir::graph::{Def, Graph, Init, Pass};

/// What to include when printing.
#[derive(Clone, Copy, Debug)]
pub struct PrintOptions {
    /// End each instruction with `# layer`, the layer that made it.
    pub origins: bool,
    /// Print every explicit initial value, however many (otherwise large ones are elided).
    pub all_values: bool,
}

/// Explicit initial values with more elements than this are printed as a count.
const MAX_SHOWN_VALUES: usize = 32;

/// Prints a graph as text.
pub fn print(g: &Graph, opts: PrintOptions) -> String {
    let name_w = g.values.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let shape_w = g.values.iter().map(|v| v.shape.to_string().len()).max().unwrap_or(0);
    let mut out = format!("graph {} ({}, N = batch size)\n\ninputs\n", g.name, g.dtype);
    let head = |name: &str, shape: &str| format!("  {name:<name_w$} : {shape:<shape_w$}");
    for v in g.values.iter().filter(|v| matches!(v.def, Def::Input(_))) {
        let _ = writeln!(out, "{}", head(&v.name, &v.shape.to_string()).trim_end());
    }
    out.push_str("\nparams\n");
    for p in &g.params {
        let v = g.value(*p);
        if let Def::Param { init, trainable } = &v.def {
            let dims = v.shape.resolve(0);
            let frozen = if *trainable { "" } else { "  (frozen)" };
            let init = init_text(init, &dims, opts.all_values);
            let _ = writeln!(out, "{} = {init}{frozen}", head(&v.name, &v.shape.to_string()));
        }
    }
    let mut lines: Vec<(Option<Pass>, String, Option<&str>)> = Vec::new();
    for inst in &g.insts {
        let v = g.value(inst.out);
        let args: Vec<&str> = inst.args.iter().map(|a| g.value(*a).name.as_str()).collect();
        let mut line = format!("{} = {}", head(&v.name, &v.shape.to_string()), inst.op);
        if !args.is_empty() {
            line.push(' ');
            line.push_str(&args.join(", "));
        }
        let origin = v.origin.layer.as_deref().filter(|_| opts.origins);
        lines.push((Some(v.origin.pass), line, origin));
    }
    let comment_at = lines.iter().map(|(_, l, _)| l.len()).max().unwrap_or(0) + 2;
    let mut pass = None;
    for (p, line, origin) in lines {
        if pass != p {
            pass = p;
            out.push_str(match p {
                Some(Pass::Backward) => "\nbackward\n",
                _ => "\nforward\n",
            });
        }
        match origin {
            Some(layer) => {
                let _ = writeln!(out, "{line:<comment_at$}# {layer}");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let _ =
        writeln!(out, "\noutputs\n  prediction = {}\n  loss = {}", g.value(g.prediction).name, g.value(g.loss).name);
    if !g.grads.is_empty() {
        out.push_str("\ngradients\n");
        for (p, d) in g.params.iter().zip(&g.grads).filter_map(|(p, d)| Some((p, d.as_ref()?))) {
            let _ = writeln!(out, "  {:<name_w$} <- {}", g.value(*p).name, g.value(*d).name);
        }
    }
    out
}

fn init_text(init: &Init, dims: &[usize], all_values: bool) -> String {
    match init {
        Init::Explicit(values) if all_values || values.len() <= MAX_SHOWN_VALUES => nested(&values.to_f64(), dims),
        Init::Explicit(values) => format!("explicit ({} values)", values.len()),
        Init::File(f) => format!("npy({:?})", f.path),
        Init::Released { count } => format!("explicit ({count} values, released)"),
        Init::Zeros => "zeros".into(),
        Init::Constant { value } => format!("constant(value = {value})"),
        Init::GlorotNormal => "glorot_normal".into(),
        Init::HeUniform => "he_uniform".into(),
        Init::LecunNormal => "lecun_normal".into(),
        Init::Normal { std } => format!("normal(std = {std})"),
        Init::Uniform { limit } => format!("uniform(limit = {limit})"),
        Init::GlorotUniform => "glorot_uniform".into(),
        Init::HeNormal => "he_normal".into(),
    }
}

/// Row-major values as a nested array literal, in shortest round-trip notation.
pub fn nested(values: &[f64], dims: &[usize]) -> String {
    match dims {
        [] | [_] => format!("[{}]", values.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(", ")),
        [_, rest @ ..] => {
            let stride: usize = rest.iter().product();
            let rows: Vec<String> = values.chunks(stride.max(1)).map(|c| nested(c, rest)).collect();
            format!("[{}]", rows.join(", "))
        }
    }
}
