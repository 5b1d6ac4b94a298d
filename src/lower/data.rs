//! Lowering the `data` block: exactly one source (inline `x`/`y`, `csv`, or `generate`),
//! and the options `validation`, `shuffle`, `normalize` and `classes`. Loading and the
//! checks that need the data itself happen in `data::prepare`.

use ndarray::Array2;

use crate::data::spec::{ColumnRef, DataSource, DataSpans, DataSpec, Generator, GeneratorCall, Normalize};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::lower::values::{
    Attrs, MAX_TENSOR_ELEMENTS, boolean, call, call_args, integer, known, matrix, non_negative, npy_file, number,
    option,
};
use crate::syntax::ast::{AttrBlock, FilePath, Value, ValueKind};

const KEYS: &[&str] =
    &["x", "y", "csv", "features", "target", "generate", "validation", "shuffle", "normalize", "classes"];
const GENERATORS: &[&str] = &["xor", "circle", "gauss", "spiral", "moons", "linear", "blobs"];

/// Reads the `data` block; `None` when it is wrong (diagnostics say why).
pub fn lower_data(block: &AttrBlock, diags: &mut Diagnostics) -> Option<DataSpec> {
    let attrs = Attrs::new(&block.attrs, "the `data` block", KEYS);
    let before = diags.0.len();
    for d in attrs.check() {
        diags.push(d);
    }
    let shuffle = attrs.get("shuffle").map(|v| diags.take(boolean(v, "`shuffle`"))).unwrap_or(Some(true));
    let validation = attrs.get("validation").map(|v| diags.take(fraction(v))).unwrap_or(Some(0.0));
    let normalize = attrs.get("normalize").map(|v| diags.take(normalize(v).map(Some))).unwrap_or(Some(None));
    let classes = attrs.get("classes").map(|v| diags.take(class_names(v).map(Some))).unwrap_or(Some(None));

    let given: Vec<&str> = ["x", "csv", "generate"].into_iter().filter(|k| attrs.get(k).is_some()).collect();
    let mut spans = DataSpans { block: block.keyword.span, ..DataSpans::default() };
    spans.classes = attrs.get("classes").map_or(block.keyword.span, |v| v.span);
    let source = match given.as_slice() {
        ["x"] if attrs.get("x").and_then(npy_file).is_some() => arrays(&attrs, &mut spans, diags),
        ["x"] => inline(&attrs, &mut spans, diags),
        ["csv"] => csv(&attrs, &mut spans, diags),
        ["generate"] => attrs.get("generate").and_then(|v| {
            spans = DataSpans { source: v.span, target: v.span, features: v.span, ..spans.clone() };
            diags.take(generator(v)).map(DataSource::Generate)
        }),
        [] => {
            diags.push(
                Diagnostic::error(Code::Missing, "the `data` block names no examples", block.keyword.span, "where do the examples come from?")
                    .with_help("give `x = [[...]]` and `y = [[...]]`, or `csv = \"file.csv\"` with `target = \"column\"`, or `generate = spiral(n = 300)`"),
            );
            None
        }
        _ => {
            let (first, second) = (attrs.get(given[0]), attrs.get(given[1]));
            let mut d = Diagnostic::error(
                Code::Duplicate,
                format!("the `data` block has both `{}` and `{}`", given[0], given[1]),
                second.map_or(block.keyword.span, |v| v.span),
                "a second source",
            )
            .with_help("a data block has exactly one source: inline `x`/`y`, `csv`, or `generate`");
            if let Some(v) = first {
                d = d.with_label(v.span, "the first source");
            }
            diags.push(d);
            None
        }
    };
    if diags.0.len() > before {
        return None;
    }
    Some(DataSpec {
        source: source?,
        validation: validation?,
        shuffle: shuffle?,
        normalize: normalize?,
        classes: classes?,
        spans,
    })
}

fn inline(attrs: &Attrs, spans: &mut DataSpans, diags: &mut Diagnostics) -> Option<DataSource> {
    for key in ["features", "target"] {
        if let Some(v) = attrs.get(key) {
            diags.push(
                Diagnostic::error(
                    Code::Misplaced,
                    format!("`{key}` goes with `csv`"),
                    v.span,
                    "not used by inline data",
                )
                .with_help("inline data takes `x` and `y`"),
            );
        }
    }
    let mut side = |key: &str| -> Option<(Array2<f64>, crate::syntax::ast::Span)> {
        let Some(v) = attrs.get(key) else {
            diags.push(missing_side(
                key,
                spans.block,
                "give the examples inline: `x = [[0, 1], [1, 0]]` and `y = [[1], [1]]`, one row per example",
            ));
            return None;
        };
        let m = matrix(v, &format!("`{key}`")).and_then(|(r, c, vals)| {
            if (r as u64).saturating_mul(c as u64) > MAX_TENSOR_ELEMENTS {
                return Err(Diagnostic::error(
                    Code::TooLarge,
                    format!("`{key}` has too many elements"),
                    v.span,
                    "too large",
                ));
            }
            if r == 0 || c == 0 {
                return Err(Diagnostic::error(Code::Missing, format!("`{key}` has no examples"), v.span, "empty")
                    .with_help("give at least one row"));
            }
            Array2::from_shape_vec((r, c), vals)
                .map_err(|e| Diagnostic::error(Code::Ragged, e.to_string(), v.span, "here"))
        });
        diags.take(m).map(|m| (m, v.span))
    };
    let x = side("x");
    let y = side("y");
    let ((x, x_span), (y, y_span)) = (x?, y?);
    if x.nrows() != y.nrows() {
        diags.push(
            Diagnostic::error(
                Code::RowCount,
                format!("`x` has {} examples but `y` has {}", x.nrows(), y.nrows()),
                y_span,
                format!("{} rows", y.nrows()),
            )
            .with_label(x_span, format!("{} rows", x.nrows()))
            .with_help("give one target row for every example"),
        );
        return None;
    }
    spans.source = x_span;
    spans.features = x_span;
    spans.target = y_span;
    Some(DataSource::Inline { x, y })
}

/// The `data` block gives `x` but not `key`.
fn missing_side(key: &str, block: crate::syntax::ast::Span, help: &str) -> Diagnostic {
    Diagnostic::error(
        Code::Missing,
        format!("the `data` block has `x` but no `{key}`"),
        block,
        format!("`{key}` is missing"),
    )
    .with_help(help)
}

/// `x = npy("x.npy")` and `y = npy("y.npy")`: arrays read when the data is prepared.
fn arrays(attrs: &Attrs, spans: &mut DataSpans, diags: &mut Diagnostics) -> Option<DataSource> {
    let mut side = |key: &str| -> Option<FilePath> {
        let Some(v) = attrs.get(key) else {
            diags.push(missing_side(key, spans.block, "give the targets too: `y = npy(\"y.npy\")`"));
            return None;
        };
        match npy_file(v) {
            Some(r) => diags.take(r),
            None => {
                diags.push(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("`{key}` must come from a file as `x` does"),
                        v.span,
                        "inline",
                    )
                    .with_help(format!("write `{key} = npy(\"{key}.npy\")`")),
                );
                None
            }
        }
    };
    let (x, y) = (side("x"), side("y"));
    let (x, y) = (x?, y?);
    spans.source = x.span;
    spans.features = x.span;
    spans.target = y.span;
    Some(DataSource::Npy { x, y })
}

fn column(v: &Value) -> Result<ColumnRef, Diagnostic> {
    match &v.kind {
        ValueKind::Str(s) | ValueKind::Name(s) => Ok(ColumnRef::Name(s.clone())),
        ValueKind::Number { .. } => Ok(ColumnRef::Index(integer(v, "a column index", 0)? as usize)),
        _ => Err(Diagnostic::error(
            Code::WrongType,
            "a column is named by a string or a 0-based index",
            v.span,
            "expected \"name\" or a number",
        )),
    }
}

fn csv(attrs: &Attrs, spans: &mut DataSpans, diags: &mut Diagnostics) -> Option<DataSource> {
    let v = attrs.get("csv")?;
    spans.source = v.span;
    spans.features = v.span;
    let path = match &v.kind {
        ValueKind::Str(p) if !p.is_empty() => Some(p.clone()),
        _ => {
            diags.push(Diagnostic::error(
                Code::WrongType,
                "`csv` must be a file path in quotes",
                v.span,
                "expected \"file.csv\"",
            ));
            None
        }
    };
    for key in ["x", "y"] {
        if let Some(v) = attrs.get(key) {
            diags.push(
                Diagnostic::error(
                    Code::Misplaced,
                    format!("`{key}` goes with inline data, not `csv`"),
                    v.span,
                    "not used with `csv`",
                )
                .with_help("choose the columns with `features` and `target`"),
            );
        }
    }
    let target = match attrs.get("target") {
        Some(t) => {
            spans.target = t.span;
            diags.take(column(t))
        }
        None => {
            diags.push(
                Diagnostic::error(
                    Code::Missing,
                    "a `csv` source needs a `target` column",
                    v.span,
                    "which column is the target?",
                )
                .with_help("add `target = \"column name\"`"),
            );
            None
        }
    };
    let features = match attrs.get("features") {
        Some(f) => {
            spans.features = f.span;
            match &f.kind {
                ValueKind::Array(items) if !items.is_empty() => {
                    diags.take(items.iter().map(column).collect::<Result<Vec<_>, _>>()).map(Some)
                }
                _ => {
                    diags.push(Diagnostic::error(
                        Code::WrongType,
                        "`features` must be a non-empty array of column names or indices",
                        f.span,
                        "expected e.g. [\"a\", \"b\"]",
                    ));
                    None
                }
            }
        }
        None => Some(None),
    };
    Some(DataSource::Csv { path: path?, features: features?, target: target? })
}

fn generator(v: &Value) -> Result<GeneratorCall, Diagnostic> {
    let (id, args) = call(v, "`generate`")?;
    let kind = match known(&id, Code::UnknownOption, "generator", "generators", GENERATORS)? {
        "xor" => Generator::Xor,
        "circle" => Generator::Circle,
        "gauss" => Generator::Gauss,
        "spiral" => Generator::Spiral,
        "moons" => Generator::Moons,
        "linear" => Generator::Linear,
        _ => Generator::Blobs,
    };
    let keys: &'static [&'static str] = match kind {
        Generator::Spiral => &["n", "noise", "classes", "seed"],
        Generator::Linear => &["n", "noise", "features", "seed"],
        Generator::Blobs => &["n", "features", "classes", "spread", "seed"],
        _ => &["n", "noise", "seed"],
    };
    let a = call_args(args, kind.name(), keys)?;
    let int = |key: &str, default: u64, min: u64| {
        a.get(key).map(|v| integer(v, &format!("`{key}`"), min)).transpose().map(|x| x.unwrap_or(default))
    };
    let amount = |key: &str, default: f64| {
        a.get(key).map(|v| non_negative(v, &format!("`{key}`"))).transpose().map(|x| x.unwrap_or(default))
    };
    let n = int("n", 200, 2)?;
    let features = int("features", if kind == Generator::Blobs { 2 } else { 1 }, 1)?;
    if n.saturating_mul(features) > MAX_TENSOR_ELEMENTS {
        return Err(Diagnostic::error(
            Code::TooLarge,
            "the generated data set would be too large",
            v.span,
            "too many examples",
        )
        .with_help(format!("at most {MAX_TENSOR_ELEMENTS} values")));
    }
    Ok(GeneratorCall {
        kind,
        n: n as usize,
        noise: amount("noise", if kind == Generator::Spiral { 0.2 } else { 0.0 })?,
        classes: int("classes", 3, 2)? as usize,
        features: features as usize,
        spread: amount("spread", 1.0)?,
        seed: a.get("seed").map(|v| integer(v, "`seed`", 0)).transpose()?,
    })
}

fn fraction(v: &Value) -> Result<f64, Diagnostic> {
    let f = number(v, "`validation`")?;
    if (0.0..1.0).contains(&f) {
        Ok(f)
    } else {
        Err(Diagnostic::error(
            Code::OutOfRange,
            "`validation` must be a fraction in [0, 1)",
            v.span,
            format!("{f} is out of range"),
        )
        .with_help("e.g. `validation = 0.2` holds out a fifth of the examples"))
    }
}

fn normalize(v: &Value) -> Result<Normalize, Diagnostic> {
    Ok(match option(v, "normalize", "normalisation", "normalisations", &["standard", "minmax"])? {
        "standard" => Normalize::Standard,
        _ => Normalize::MinMax,
    })
}

fn class_names(v: &Value) -> Result<Vec<String>, Diagnostic> {
    let ValueKind::Array(items) = &v.kind else {
        return Err(Diagnostic::error(
            Code::WrongType,
            "`classes` must be an array of class names",
            v.span,
            "expected e.g. [\"cat\", \"dog\"]",
        ));
    };
    items
        .iter()
        .map(|i| match &i.kind {
            ValueKind::Str(s) | ValueKind::Name(s) => Ok(s.clone()),
            ValueKind::Number { value, .. } => Ok(value.to_string()),
            _ => Err(Diagnostic::error(Code::WrongType, "each class is a name", i.span, "expected a string")),
        })
        .collect()
}
