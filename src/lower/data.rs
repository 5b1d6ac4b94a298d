//! Lowering the `data` block: inline examples, checked for shape and finiteness, and the
//! data options (`shuffle`).

use ndarray::Array2;

use crate::data::Dataset;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::lower::train::planned;
use crate::lower::values::{Attrs, MAX_TENSOR_ELEMENTS, boolean, matrix};
use crate::syntax::ast::{AttrBlock, Span};

const KEYS: &[&str] = &["x", "y", "shuffle"];
/// Keys the language defines that this version does not implement yet.
const PLANNED: &[&str] = &["csv", "features", "target", "generate", "validation", "normalize"];

/// The lowered data block: examples and where `x` and `y` were written.
pub struct LoweredData {
    /// The examples.
    pub dataset: Dataset,
    /// Where `x` was written.
    pub x_span: Span,
    /// Where `y` was written.
    pub y_span: Span,
    /// Whether to reshuffle every epoch.
    pub shuffle: bool,
}

/// Reads the `data` block; `None` when it is absent or wrong (diagnostics say why).
pub fn lower_data(block: &AttrBlock, diags: &mut Diagnostics) -> Option<LoweredData> {
    let attrs = Attrs::new(&block.attrs, "the `data` block", KEYS);
    for d in attrs.check() {
        diags.push(planned(d, &block.attrs, PLANNED));
    }
    let shuffle = match attrs.get("shuffle").map(|v| boolean(v, "`shuffle`")).transpose() {
        Ok(s) => s.unwrap_or(true),
        Err(d) => {
            diags.push(d);
            true
        }
    };
    let mut side = |key: &str| -> Option<(Array2<f64>, Span)> {
        let Some(v) = attrs.get(key) else {
            diags.push(
                Diagnostic::error(
                    Code::Missing,
                    format!("the `data` block has no `{key}`"),
                    block.keyword.span,
                    format!("`{key}` is missing"),
                )
                .with_help(
                    "give the examples inline: `x = [[0, 1], [1, 0]]` and `y = [[1], [1]]`, one row per example",
                ),
            );
            return None;
        };
        match matrix(v, &format!("`{key}`")).and_then(|(r, c, vals)| {
            let elements = (r as u64).saturating_mul(c as u64);
            if elements > MAX_TENSOR_ELEMENTS {
                return Err(Diagnostic::error(
                    Code::TooLarge,
                    format!("`{key}` has too many elements"),
                    v.span,
                    "too large",
                ));
            }
            Array2::from_shape_vec((r, c), vals)
                .map_err(|e| Diagnostic::error(Code::Ragged, e.to_string(), v.span, "here"))
        }) {
            Ok(m) if m.is_empty() => {
                diags.push(
                    Diagnostic::error(Code::Missing, format!("`{key}` has no examples"), v.span, "empty")
                        .with_help("give at least one row"),
                );
                None
            }
            Ok(m) => Some((m, v.span)),
            Err(d) => {
                diags.push(d);
                None
            }
        }
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
    Some(LoweredData { dataset: Dataset { x, y }, x_span, y_span, shuffle })
}
