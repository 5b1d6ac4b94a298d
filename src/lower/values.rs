//! Reading typed values out of AST values, with a diagnostic for each way they can be
//! wrong: wrong type, non-finite, out of range, ragged arrays.

use crate::diagnostics::{Code, Diagnostic, unknown_name_help};
use crate::syntax::ast::{Attr, FILE_ARG, FilePath, Ident, Span, Value, ValueKind};

/// The most elements one tensor in a spec may have (checked before anything is allocated).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 27;

fn wrong_type(v: &Value, what: &str, expected: &str) -> Diagnostic {
    Diagnostic::error(
        Code::WrongType,
        format!("{what} must be {expected}, not {}", v.kind.describe()),
        v.span,
        format!("expected {expected}"),
    )
}

/// A finite number.
pub fn number(v: &Value, what: &str) -> Result<f64, Diagnostic> {
    match v.kind {
        ValueKind::Number { value, .. } if value.is_finite() => Ok(value),
        ValueKind::Number { .. } => Err(Diagnostic::error(
            Code::NonFinite,
            format!("{what} is not a finite number"),
            v.span,
            "too large to represent",
        )
        .with_help("numbers must be finite 64-bit floats (magnitude below about 1.8e308)")),
        _ => Err(wrong_type(v, what, "a number")),
    }
}

/// A number that must be greater than zero.
pub fn positive(v: &Value, what: &str) -> Result<f64, Diagnostic> {
    let x = number(v, what)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(Diagnostic::error(
            Code::OutOfRange,
            format!("{what} must be greater than 0"),
            v.span,
            format!("{x} is not positive"),
        ))
    }
}

/// The largest whole number a spec may write (2^53: every integer up to it is exact in f64).
pub const MAX_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A number that must not be negative.
pub fn non_negative(v: &Value, what: &str) -> Result<f64, Diagnostic> {
    let x = number(v, what)?;
    if x >= 0.0 {
        Ok(x)
    } else {
        Err(Diagnostic::error(
            Code::OutOfRange,
            format!("{what} must not be negative"),
            v.span,
            format!("{x} is negative"),
        ))
    }
}

/// A call's arguments, checked against the keys `owner` takes; the first unknown or
/// repeated key is the error.
pub fn call_args<'a>(args: &'a [Attr], owner: &str, keys: &'static [&'static str]) -> Result<Attrs<'a>, Diagnostic> {
    let a = Attrs::new(args, format!("`{owner}`"), keys);
    match a.check().into_iter().next() {
        Some(d) => Err(d),
        None => Ok(a),
    }
}

/// A whole number at least `min`.
pub fn integer(v: &Value, what: &str, min: u64) -> Result<u64, Diagnostic> {
    match v.kind {
        ValueKind::Number { value, integer: true } if value > MAX_INTEGER => {
            Err(Diagnostic::error(Code::TooLarge, format!("{what} is too large"), v.span, "more than nnc can count")
                .with_help(format!("whole numbers in a spec are at most {MAX_INTEGER}")))
        }
        ValueKind::Number { value, integer: true } if value >= min as f64 => Ok(value as u64),
        ValueKind::Number { value, integer: true } => Err(Diagnostic::error(
            Code::OutOfRange,
            format!("{what} must be at least {min}"),
            v.span,
            format!("{value} is out of range"),
        )),
        _ => Err(wrong_type(v, what, "a whole number")),
    }
}

/// `true` or `false`.
pub fn boolean(v: &Value, what: &str) -> Result<bool, Diagnostic> {
    match v.kind {
        ValueKind::Bool(b) => Ok(b),
        _ => Err(wrong_type(v, what, "`true` or `false`")),
    }
}

/// A bare name (or, as TOML writes names, a string).
pub fn name<'a>(v: &'a Value, what: &str) -> Result<&'a str, Diagnostic> {
    match &v.kind {
        ValueKind::Name(n) | ValueKind::Str(n) => Ok(n),
        _ => Err(wrong_type(v, what, "a name")),
    }
}

/// A call or a bare name (a call with every argument defaulted): its name and arguments.
pub fn call<'a>(v: &'a Value, what: &str) -> Result<(Ident, &'a [Attr]), Diagnostic> {
    match &v.kind {
        ValueKind::Call { name, args } => Ok((name.clone(), args)),
        ValueKind::Name(n) | ValueKind::Str(n) => Ok((Ident { name: n.clone(), span: v.span }, &[])),
        _ => Err(wrong_type(v, what, "a name or a call such as `name(key = value)`")),
    }
}

/// A checked name from a list of known ones.
pub fn known<'a>(id: &Ident, code: Code, what: &str, plural: &str, list: &[&'a str]) -> Result<&'a str, Diagnostic> {
    list.iter().find(|k| **k == id.name).copied().ok_or_else(|| {
        Diagnostic::error(code, format!("unknown {what} `{}`", id.name), id.span, format!("not a known {what}"))
            .with_help(unknown_name_help(&id.name, plural, list))
    })
}

/// A bare name (or string) that must be one of `list`: an option value such as a dtype.
pub fn option<'a>(v: &Value, key: &str, what: &str, plural: &str, list: &[&'a str]) -> Result<&'a str, Diagnostic> {
    let n = name(v, &format!("`{key}`"))?;
    known(&Ident { name: n.to_string(), span: v.span }, Code::UnknownOption, what, plural, list)
}

/// A flat array of numbers.
pub fn vector(v: &Value, what: &str) -> Result<Vec<f64>, Diagnostic> {
    match &v.kind {
        ValueKind::Array(items) => items.iter().map(|i| number(i, &format!("each element of {what}"))).collect(),
        _ => Err(wrong_type(v, what, "an array of numbers")),
    }
}

/// A matrix written as an array of equally long rows: (rows, columns, row-major values).
pub fn matrix(v: &Value, what: &str) -> Result<(usize, usize, Vec<f64>), Diagnostic> {
    let ValueKind::Array(rows) = &v.kind else {
        return Err(wrong_type(v, what, "an array of rows such as `[[1, 2], [3, 4]]`"));
    };
    let mut values = Vec::new();
    let mut width: Option<(usize, Span)> = None;
    for row in rows {
        let ValueKind::Array(_) = row.kind else {
            return Err(wrong_type(row, &format!("each row of {what}"), "an array")
                .with_help(format!("write {what} as one array per row, e.g. `[[1, 2], [3, 4]]`")));
        };
        let r = vector(row, what)?;
        match width {
            Some((w, first)) if w != r.len() => {
                return Err(Diagnostic::error(
                    Code::Ragged,
                    format!("the rows of {what} have different lengths"),
                    row.span,
                    format!(
                        "this row has {}",
                        if r.len() == 1 { "1 element".to_string() } else { format!("{} elements", r.len()) }
                    ),
                )
                .with_label(first, format!("the first row has {w}"))
                .with_help("every row of a matrix must have the same number of elements"));
            }
            None => width = Some((r.len(), row.span)),
            _ => {}
        }
        values.extend(r);
    }
    Ok((rows.len(), width.map_or(0, |(w, _)| w), values))
}

/// Reads the keyword arguments of a call or the attributes of a block, reporting
/// unknown and repeated keys.
pub struct Attrs<'a> {
    attrs: &'a [Attr],
    owner: String,
    known: &'static [&'static str],
}

impl<'a> Attrs<'a> {
    /// Wraps `attrs` belonging to `owner` (e.g. "`sgd`", "the `train` block"), whose
    /// allowed keys are `known`.
    pub fn new(attrs: &'a [Attr], owner: impl Into<String>, known: &'static [&'static str]) -> Attrs<'a> {
        Attrs { attrs, owner: owner.into(), known }
    }

    /// The value given for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.attrs.iter().find(|a| a.key.name == key).map(|a| &a.value)
    }

    /// Diagnostics for unknown and repeated keys.
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for (i, a) in self.attrs.iter().enumerate() {
            if !self.known.contains(&a.key.name.as_str()) {
                let help = if self.known.is_empty() {
                    format!("{} takes no arguments", self.owner)
                } else {
                    unknown_name_help(&a.key.name, "keys", self.known)
                };
                out.push(
                    Diagnostic::error(
                        Code::UnknownAttribute,
                        format!("{} has no `{}`", self.owner, a.key.name),
                        a.key.span,
                        "unknown key",
                    )
                    .with_help(help),
                );
            } else if let Some(first) = self.attrs[..i].iter().find(|b| b.key.name == a.key.name) {
                out.push(
                    Diagnostic::error(
                        Code::Duplicate,
                        format!("`{}` is given twice", a.key.name),
                        a.key.span,
                        "given again here",
                    )
                    .with_label(first.key.span, "first given here")
                    .with_help("remove one of them"),
                );
            }
        }
        out
    }
}

/// A file named by `npy("file.npy")`, when `v` is that call; an error when the call is
/// malformed.
pub fn npy_file(v: &Value) -> Option<Result<FilePath, Diagnostic>> {
    let ValueKind::Call { name, args } = &v.kind else { return None };
    if name.name != "npy" {
        return None;
    }
    Some(match args.as_slice() {
        [a] if a.key.name == FILE_ARG && matches!(&a.value.kind, ValueKind::Str(p) if !p.is_empty()) => {
            let ValueKind::Str(path) = &a.value.kind else { unreachable!("matched a string") };
            Ok(FilePath { path: path.clone(), span: a.value.span })
        }
        _ => Err(Diagnostic::error(Code::WrongType, "`npy` takes one file path", v.span, "expected npy(\"file.npy\")")
            .with_help("write `npy(\"file.npy\")`, with the path relative to the spec's folder")),
    })
}
