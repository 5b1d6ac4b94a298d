//! `nnc diff`: compares two traces number by number, with tolerances. Records are aligned
//! by kind, epoch, step and tensor name (not by line), so a trace with more detail can be
//! compared with one with less, and a run that stopped early with one that did not.

use std::collections::HashMap;
use std::fmt::Write;

use crate::trace::float::fmt_float;
use crate::trace::record::Record;

/// Tolerances: two numbers agree when |a − b| ≤ atol + rtol·|b|.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Default for Tolerance {
    /// rtol 1e-5 (well above the text format's 7 significant digits), atol 1e-8.
    fn default() -> Self {
        Tolerance { rtol: 1e-5, atol: 1e-8 }
    }
}

impl Tolerance {
    fn agree(&self, a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= self.atol + self.rtol * b.abs()
    }
}

/// One epoch's loss in each trace: epoch, A's loss, B's loss (when present).
pub type EpochLoss = (u64, Option<f64>, Option<f64>);

/// Where two traces part.
#[derive(Clone, Debug, PartialEq)]
pub struct Parting {
    /// The record, as a key such as `epoch 3` or `grad epoch 1 step 2 out.weight`.
    pub key: String,
    /// What differs there.
    pub detail: String,
}

/// The comparison of two traces.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Header keys whose values differ: key, A's value, B's value.
    pub headers: Vec<(String, String, String)>,
    /// The first record (in A's order, then B's) that differs beyond tolerance.
    pub first: Option<Parting>,
    /// How many aligned records differ.
    pub differing: usize,
    /// How many records were compared.
    pub compared: usize,
    /// Per epoch, A's and B's losses.
    pub losses: Vec<EpochLoss>,
    /// Final figures side by side: name, A, B.
    pub finals: Vec<(String, Option<f64>, Option<f64>)>,
}

impl Comparison {
    /// Whether the traces agree within tolerance.
    pub fn agrees(&self) -> bool {
        self.differing == 0
    }
}

/// The alignment key of a record and its numbers.
fn key_and_numbers(r: &Record) -> Option<(String, Vec<(String, f64)>)> {
    let tensor = |kind: &str, t: &crate::trace::record::Tensor| {
        let key = if kind == "param" {
            format!("param {}", t.name)
        } else {
            format!("{kind} epoch {} step {} {}", t.epoch, t.step, t.name)
        };
        let mut numbers: Vec<(String, f64)> =
            t.values.iter().enumerate().map(|(i, v)| (format!("element {i}"), *v)).collect();
        numbers.push(("size".into(), t.values.len() as f64));
        (key, numbers)
    };
    Some(match r {
        Record::Version { .. } | Record::Header { .. } => return None,
        Record::Forward(t) => tensor("forward", t),
        Record::Grad(t) => tensor("grad", t),
        Record::Update(t) => tensor("update", t),
        Record::Param(t) => tensor("param", t),
        Record::Step { epoch, step, loss } => (format!("step epoch {epoch} step {step}"), vec![("loss".into(), *loss)]),
        Record::Epoch { epoch, lr, figures } => (
            format!("epoch {epoch}"),
            std::iter::once(("lr".to_string(), *lr)).chain(figures.iter().cloned()).collect(),
        ),
        Record::Stopped { epoch, best_epoch, best, .. } => (
            "stopped".into(),
            vec![("epoch".into(), *epoch as f64), ("best_epoch".into(), *best_epoch as f64), ("best".into(), *best)],
        ),
        Record::Final { figures } => ("final".into(), figures.clone()),
        Record::Diverged { epoch, step, .. } => {
            ("diverged".into(), vec![("epoch".into(), *epoch as f64), ("step".into(), *step as f64)])
        }
    })
}

/// Compares trace A with trace B.
pub fn compare(a: &[Record], b: &[Record], tol: Tolerance) -> Comparison {
    let headers_of = |t: &[Record]| -> Vec<(String, String)> {
        t.iter()
            .filter_map(|r| match r {
                Record::Header { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect()
    };
    let (ha, hb) = (headers_of(a), headers_of(b));
    let mut headers = Vec::new();
    for (k, va) in &ha {
        let vb = hb.iter().find(|(kb, _)| kb == k).map_or("(absent)".to_string(), |(_, v)| v.clone());
        if *va != vb {
            headers.push((k.clone(), va.clone(), vb));
        }
    }
    for (k, vb) in hb.iter().filter(|(k, _)| !ha.iter().any(|(ka, _)| ka == k)) {
        headers.push((k.clone(), "(absent)".into(), vb.clone()));
    }

    let keyed = |t: &[Record]| -> Vec<(String, Vec<(String, f64)>)> { t.iter().filter_map(key_and_numbers).collect() };
    let (ka, kb) = (keyed(a), keyed(b));
    let index_b: HashMap<&str, &Vec<(String, f64)>> = kb.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let index_a: HashMap<&str, &Vec<(String, f64)>> = ka.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let (mut first, mut differing, mut compared) = (None, 0, 0);
    for (key, na) in &ka {
        compared += 1;
        let detail = match index_b.get(key.as_str()) {
            None => Some("only in A".to_string()),
            Some(nb) => first_difference(na, nb, tol),
        };
        if let Some(detail) = detail {
            differing += 1;
            first.get_or_insert(Parting { key: key.clone(), detail });
        }
    }
    for (key, _) in kb.iter().filter(|(k, _)| !index_a.contains_key(k.as_str())) {
        compared += 1;
        differing += 1;
        first.get_or_insert(Parting { key: key.clone(), detail: "only in B".into() });
    }

    let epoch_losses = |t: &[Record]| -> HashMap<u64, f64> {
        t.iter()
            .filter_map(|r| match r {
                Record::Epoch { epoch, figures, .. } => {
                    figures.iter().find(|(k, _)| k == "loss").map(|(_, v)| (*epoch, *v))
                }
                _ => None,
            })
            .collect()
    };
    let (la, lb) = (epoch_losses(a), epoch_losses(b));
    let mut epochs: Vec<u64> = la.keys().chain(lb.keys()).copied().collect();
    epochs.sort_unstable();
    epochs.dedup();
    let losses = epochs.iter().map(|e| (*e, la.get(e).copied(), lb.get(e).copied())).collect();
    let finals_of = |t: &[Record]| -> Vec<(String, f64)> {
        t.iter()
            .find_map(|r| match r {
                Record::Final { figures } => Some(figures.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let (fa, fb) = (finals_of(a), finals_of(b));
    let mut names: Vec<String> = fa.iter().chain(&fb).map(|(k, _)| k.clone()).collect();
    names.dedup();
    let mut seen = Vec::new();
    names.retain(|n| {
        if seen.contains(n) {
            false
        } else {
            seen.push(n.clone());
            true
        }
    });
    let get = |f: &[(String, f64)], n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    let finals = names.iter().map(|n| (n.clone(), get(&fa, n), get(&fb, n))).collect();
    Comparison { headers, first, differing, compared, losses, finals }
}

fn first_difference(a: &[(String, f64)], b: &[(String, f64)], tol: Tolerance) -> Option<String> {
    for (name, va) in a {
        match b.iter().find(|(n, _)| n == name) {
            None => return Some(format!("{name} only in A")),
            Some((_, vb)) if !tol.agree(*va, *vb) => {
                return Some(format!(
                    "{name}: {} vs {} (difference {})",
                    fmt_float(*va),
                    fmt_float(*vb),
                    fmt_float(va - vb)
                ));
            }
            _ => {}
        }
    }
    b.iter().find(|(n, _)| !a.iter().any(|(m, _)| m == n)).map(|(n, _)| format!("{n} only in B"))
}

/// Epoch rows shown in the summary: the first three, the last three, and evenly spaced
/// ones between, at most `ROWS` in all.
const ROWS: usize = 12;

/// The comparison as a report for people.
pub fn render(c: &Comparison, a_name: &str, b_name: &str, tol: Tolerance) -> String {
    let mut out = format!("A: {a_name}\nB: {b_name}\n");
    if c.headers.is_empty() {
        out.push_str("\nheaders: identical\n");
    } else {
        out.push_str("\nheaders that differ:\n");
        for (k, va, vb) in &c.headers {
            let _ = writeln!(out, "  {k}\n    A: {va}\n    B: {vb}");
        }
    }
    let _ = writeln!(
        out,
        "\nrecords: {} compared, {} differ (rtol {}, atol {})",
        c.compared,
        c.differing,
        fmt_float(tol.rtol),
        fmt_float(tol.atol)
    );
    if let Some(p) = &c.first {
        let _ = writeln!(out, "first difference: {}\n  {}", p.key, p.detail);
    }
    if !c.losses.is_empty() {
        out.push_str("\nloss by epoch:\n");
        let _ = writeln!(out, "  {:>6}  {:>13}  {:>13}  {:>13}", "epoch", "A", "B", "B - A");
        let n = c.losses.len();
        let shown: Vec<usize> = if n <= ROWS {
            (0..n).collect()
        } else {
            let mut rows: Vec<usize> =
                (0..3).chain(n - 3..n).chain((1..ROWS - 5).map(|k| k * (n - 1) / (ROWS - 5))).collect();
            rows.sort_unstable();
            rows.dedup();
            rows
        };
        let show = |v: Option<f64>| v.map_or("-".to_string(), fmt_float);
        let mut last = None;
        for i in shown {
            if last.is_some_and(|l: usize| i > l + 1) {
                out.push_str("     ...\n");
            }
            let (e, a, b) = c.losses[i];
            let delta = a.zip(b).map(|(a, b)| b - a);
            let _ = writeln!(out, "  {e:>6}  {:>13}  {:>13}  {:>13}", show(a), show(b), show(delta));
            last = Some(i);
        }
        let best = |pick: fn(&EpochLoss) -> Option<f64>| {
            c.losses.iter().filter_map(|r| pick(r).map(|v| (r.0, v))).min_by(|x, y| x.1.total_cmp(&y.1))
        };
        let (ba, bb) = (best(|r| r.1), best(|r| r.2));
        let best_text =
            |b: Option<(u64, f64)>| b.map_or("-".to_string(), |(e, v)| format!("{} (epoch {e})", fmt_float(v)));
        let _ = writeln!(out, "  best    A {}   B {}", best_text(ba), best_text(bb));
    }
    if !c.finals.is_empty() {
        out.push_str("\nfinal:\n");
        for (k, a, b) in &c.finals {
            let show = |v: &Option<f64>| v.map_or("-".to_string(), fmt_float);
            let _ = writeln!(out, "  {k:<16} A {:>13}   B {:>13}", show(a), show(b));
        }
    }
    let _ = writeln!(out, "\n{}", if c.agrees() { "the traces agree within tolerance" } else { "the traces differ" });
    out
}
