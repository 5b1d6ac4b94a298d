//! Re-checks a graph's invariants: every argument defined before use, every recorded
//! shape equal to what the op's shape rule gives, unique names, gradients shaped like
//! their parameters. Run after lowering and after every transform in tests.

use crate::ir::graph::{Def, Graph};

/// Checks the graph; returns every violated invariant.
pub fn verify(g: &Graph) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut defined: Vec<bool> = g.values.iter().map(|v| !matches!(v.def, Def::Inst(_))).collect();
    for (i, inst) in g.insts.iter().enumerate() {
        for a in &inst.args {
            if !defined.get(a.0).copied().unwrap_or(false) {
                errors.push(format!("instruction {i} uses value {} before it is defined", a.0));
            }
        }
        let shapes: Vec<_> = inst.args.iter().filter_map(|a| g.values.get(a.0).map(|v| &v.shape)).collect();
        match inst.op.output_shape(&shapes) {
            Ok(s) if s == g.value(inst.out).shape => {}
            Ok(s) => errors.push(format!(
                "`{}` is recorded as {} but its op gives {s}",
                g.value(inst.out).name,
                g.value(inst.out).shape
            )),
            Err(e) => errors.push(format!("`{}`: {e}", g.value(inst.out).name)),
        }
        if g.value(inst.out).def != Def::Inst(i) {
            errors.push(format!("`{}` does not point back at instruction {i}", g.value(inst.out).name));
        }
        defined[inst.out.0] = true;
    }
    let mut names: Vec<&str> = g.values.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    for w in names.windows(2).filter(|w| w[0] == w[1]) {
        errors.push(format!("the name `{}` is used twice", w[0]));
    }
    for (p, d) in g.params.iter().zip(&g.grads) {
        let Some(d) = d else { continue };
        if g.value(*p).shape != g.value(*d).shape {
            errors.push(format!("the gradient of `{}` is not shaped like it", g.value(*p).name));
        }
    }
    if !g.grads.is_empty() && g.grads.len() != g.params.len() {
        errors.push("there is not one gradient per parameter".into());
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}
