//! From a checked `data` block to training and validation sets: load the source (inline,
//! CSV through a loader the caller provides, or a generator), encode the targets for the
//! loss, check widths, split off the validation set, and normalise.

use std::sync::Arc;

use ndarray::{Array2, Axis};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::data::generate::generate;
use crate::data::npy::Elements;
use crate::data::spec::{ColumnRef, DataSource, DataSpec, Normalize};
use crate::data::table::{self, Table};
use crate::data::{Dataset, Features, FileBytes, below};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, SourceFile};
use crate::ir::{Def, Loss};
use crate::lower::values::MAX_TENSOR_ELEMENTS;
use crate::program::Program;
use crate::syntax::ast::{FilePath, Span};

/// The RNG stream that picks the validation examples.
const SPLIT_STREAM: u64 = 4;

/// Feature rescaling fitted on the training split: x' = (x − shift) / scale.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalizer {
    /// Which rescaling.
    pub kind: Normalize,
    /// Subtracted per feature (mean or minimum).
    pub shift: Vec<f64>,
    /// Divided by per feature (standard deviation or range).
    pub scale: Vec<f64>,
}

impl Normalizer {
    fn fit(kind: Normalize, x: &Array2<f64>) -> Normalizer {
        let (mut shift, mut scale) = (Vec::new(), Vec::new());
        for col in x.columns() {
            let (s, c) = match kind {
                Normalize::Standard => {
                    let mean = col.sum() / col.len() as f64;
                    let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / col.len() as f64;
                    (mean, var.sqrt())
                }
                Normalize::MinMax => {
                    let min = col.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    (min, max - min)
                }
            };
            shift.push(s);
            scale.push(if c > 0.0 && c.is_finite() { c } else { 1.0 });
        }
        Normalizer { kind, shift, scale }
    }

    /// Rescales every row of `x` in place.
    pub fn apply(&self, x: &mut Array2<f64>) {
        for mut row in x.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - self.shift[j]) / self.scale[j];
            }
        }
    }
}

/// The examples a run trains and validates on.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    /// The training examples.
    pub train: Dataset,
    /// The validation examples, when the spec holds some out.
    pub validation: Option<Dataset>,
    /// Class names in index order, for classification data.
    pub classes: Option<Vec<String>>,
    /// The feature rescaling, when the spec asks for one.
    pub normalizer: Option<Normalizer>,
}

/// Reads a data file named in a spec: given the path as written, returns its bytes, or a
/// message saying why not (naming the resolved path).
pub type Loader<'a> = dyn FnMut(&str) -> Result<FileBytes, String> + 'a;

/// What the model needs of its data.
struct Needs {
    inputs: usize,
    outputs: usize,
    loss: Loss,
    input_span: Span,
    output_span: Span,
}

fn needs(program: &Program) -> Needs {
    let g = &program.graph;
    let width = |v| g.value(v).shape.0.last().map_or(0, |d| d.resolve(0));
    let loss = g.loss_kind();
    let span_of = |v| g.value(v).origin.span.unwrap_or_default();
    let input_span = program.layers.first().map_or_else(Span::default, |l| l.span);
    let output_span = match g.value(g.prediction).def {
        Def::Inst(_) => span_of(g.prediction),
        _ => input_span,
    };
    Needs { inputs: width(g.x()), outputs: width(g.prediction), loss, input_span, output_span }
}

/// Class labels: an index per example and the class names.
struct Classes {
    index: Vec<usize>,
    names: Vec<String>,
}

/// Targets before encoding.
enum Targets {
    Values(Array2<f64>),
    Labels(Classes),
}

/// Loads, encodes, checks, splits and normalises the program's data.
pub fn prepare(program: &Program, loader: &mut Loader) -> Result<Splits, Diagnostics> {
    let Some(spec) = &program.data else {
        let mut d = Diagnostics::default();
        let span = program.layers.first().map_or_else(Span::default, |l| l.span);
        d.push(
            Diagnostic::error(Code::Missing, "the spec has no `data` block, so there is nothing to train on", span, "the model starts here")
                .with_help("add `data { x = [[...]], y = [[...]] }`, `data { csv = \"file.csv\", target = \"column\" }` or `data { generate = spiral(n = 300) }`"),
        );
        return Err(d);
    };
    let need = needs(program);
    let one = |d: Diagnostic| Diagnostics(vec![d]);
    let (x, targets) = load(spec, &need, program.train.seed, loader).map_err(one)?;
    let (y, classes) = encode(targets, spec, &need).map_err(one)?;
    check_widths(&x, &y, spec, &need)?;
    let (mut train, mut validation) = split(x, y, spec.validation, program.train.seed);
    let normalizer = spec.normalize.map(|kind| Normalizer::fit(kind, train.x.f64_mut()));
    if let Some(n) = &normalizer {
        n.apply(train.x.f64_mut());
        if let Some(v) = &mut validation {
            n.apply(v.x.f64_mut());
        }
    }
    Ok(Splits { train, validation, classes, normalizer })
}

fn load(spec: &DataSpec, need: &Needs, seed: u64, loader: &mut Loader) -> Result<(Features, Targets), Diagnostic> {
    match &spec.source {
        DataSource::Inline { x, y } => Ok((Features::F64(x.clone()), inline_targets(y, spec, need)?)),
        DataSource::Generate(call) => {
            let g = generate(call, seed);
            let targets = match (g.classes, g.values) {
                (Some((index, k)), _) => {
                    Targets::Labels(Classes { index, names: (0..k).map(|c| c.to_string()).collect() })
                }
                (None, Some(v)) => Targets::Values(v),
                (None, None) => Targets::Values(Array2::zeros((g.x.nrows(), 1))),
            };
            Ok((Features::F64(g.x), targets))
        }
        DataSource::Npy { x, y } => {
            let x = read_array(x, loader, "`x`")?;
            let y = read_array(y, loader, "`y`")?.to_f64();
            if x.nrows() != y.nrows() {
                return Err(Diagnostic::error(
                    Code::RowCount,
                    format!("`x` has {} examples but `y` has {}", x.nrows(), y.nrows()),
                    spec.spans.target,
                    format!("{} rows", y.nrows()),
                )
                .with_label(spec.spans.source, format!("{} rows", x.nrows())));
            }
            let targets = inline_targets(&y, spec, need)?;
            Ok((x, targets))
        }
        DataSource::Csv { path, features, target } => {
            let bytes = loader(path).map_err(|why| {
                Diagnostic::error(Code::Io, format!("cannot read the data file `{path}`"), spec.spans.source, why)
                    .with_help("paths are relative to the spec's folder")
            })?;
            let text = bytes.into_text().map_err(|e| {
                Diagnostic::error(
                    Code::Syntax,
                    format!("`{path}` is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
                    spec.spans.source,
                    "this file",
                )
            })?;
            let file = Arc::new(SourceFile { name: path.clone(), text });
            let table = table::parse(&file.text).map_err(|d| d.in_file(file.clone()))?;
            let (x, targets) = from_table(&table, &file, features.as_deref(), target, spec, need)?;
            Ok((Features::F64(x), targets))
        }
    }
}

/// A 2-D array (a vector becomes one column) from an `.npy` file named in the spec, in the
/// file's precision (see `Features`).
fn read_array(file: &FilePath, loader: &mut Loader, what: &str) -> Result<Features, Diagnostic> {
    let bad = |why: String, code: Code| {
        Diagnostic::error(code, format!("cannot use `{}` for {what}: {why}", file.path), file.span, "this file")
            .with_help("paths are relative to the spec's folder; write arrays with numpy.save")
    };
    let bytes = loader(&file.path).map_err(|why| bad(why, Code::Io))?;
    let a = crate::data::npy::parse(bytes).map_err(|why| bad(why, Code::WrongType))?;
    let (rows, cols) = match a.dims.as_slice() {
        [n] => (*n, 1),
        [n, k] => (*n, *k),
        dims => return Err(bad(format!("it has shape {dims:?}; examples need a vector or a matrix"), Code::WrongType)),
    };
    if rows == 0 || cols == 0 {
        return Err(bad("it holds no examples".into(), Code::Missing));
    }
    if let Some(v) = a.values.first_non_finite() {
        return Err(bad(format!("it holds {v}"), Code::NonFinite));
    }
    let ragged = |e: ndarray::ShapeError| bad(e.to_string(), Code::Ragged);
    match a.values {
        Elements::F32(v) => Array2::from_shape_vec((rows, cols), v).map(Features::F32).map_err(ragged),
        other => Array2::from_shape_vec((rows, cols), other.into_f64()).map(Features::F64).map_err(ragged),
    }
}

/// Inline targets: class indices when the loss needs classes and `y` has one column for
/// several outputs (or the loss takes indices); otherwise values as written.
fn inline_targets(y: &Array2<f64>, spec: &DataSpec, need: &Needs) -> Result<Targets, Diagnostic> {
    let as_classes = y.ncols() == 1
        && (need.loss.takes_class_indices() || (need.loss == Loss::CategoricalCrossentropy && need.outputs > 1));
    if !as_classes {
        return Ok(Targets::Values(y.clone()));
    }
    let mut index = Vec::with_capacity(y.nrows());
    for &v in y.column(0) {
        if v < 0.0 || v.fract() != 0.0 || v >= need.outputs as f64 {
            return Err(Diagnostic::error(
                Code::OutOfRange,
                format!("`{v}` is not a class index from 0 to {}", need.outputs - 1),
                spec.spans.target,
                "in these targets",
            )
            .with_help(format!(
                "with one target column, each value is a class index below the {} outputs",
                need.outputs
            )));
        }
        index.push(v as usize);
    }
    Ok(Targets::Labels(Classes { index, names: (0..need.outputs).map(|c| c.to_string()).collect() }))
}

fn column_index(table: &Table, c: &ColumnRef, span: Span) -> Result<usize, Diagnostic> {
    let found = match c {
        ColumnRef::Name(n) => table.headers.iter().position(|h| h == n),
        ColumnRef::Index(i) => (*i < table.headers.len()).then_some(*i),
    };
    found.ok_or_else(|| {
        let known = table.headers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ");
        Diagnostic::error(Code::Missing, format!("the data file has no column {c}"), span, "not in the file")
            .with_help(format!("its columns are {known}"))
    })
}

fn from_table(
    table: &Table,
    file: &Arc<SourceFile>,
    features: Option<&[ColumnRef]>,
    target: &ColumnRef,
    spec: &DataSpec,
    need: &Needs,
) -> Result<(Array2<f64>, Targets), Diagnostic> {
    let t = column_index(table, target, spec.spans.target)?;
    let cols: Vec<usize> = match features {
        Some(f) => f.iter().map(|c| column_index(table, c, spec.spans.features)).collect::<Result<_, _>>()?,
        None => (0..table.headers.len()).filter(|c| *c != t).collect(),
    };
    let rows = table.rows.len();
    let x = matrix(table, file, &cols, spec.spans.source)?;
    let numeric = |r: usize, c: usize| cell(table, file, r, c);
    let classification = matches!(
        need.loss,
        Loss::CategoricalCrossentropy
            | Loss::SparseCategoricalCrossentropy
            | Loss::BinaryCrossentropy
            | Loss::BinaryCrossentropyLogits
    );
    if !classification {
        let y = Array2::from_shape_fn((rows, 1), |(r, _)| numeric(r, t).unwrap_or(f64::NAN));
        if let Some(r) = (0..rows).find(|r| !y[[*r, 0]].is_finite()) {
            return Err(numeric(r, t)
                .err()
                .unwrap_or_else(|| Diagnostic::error(Code::WrongType, "not a number", spec.spans.target, "here")));
        }
        return Ok((x, Targets::Values(y)));
    }
    let labels: Vec<&str> = table.rows.iter().map(|row| row[t].0.as_str()).collect();
    let names = match &spec.classes {
        Some(given) => given.clone(),
        None => {
            let mut names: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
            names.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            });
            names.dedup();
            names
        }
    };
    let mut index = Vec::with_capacity(rows);
    for (r, label) in labels.iter().enumerate() {
        match names.iter().position(|n| n == label) {
            Some(i) => index.push(i),
            None => {
                return Err(Diagnostic::error(
                    Code::UnknownOption,
                    format!("row {}: `{label}` is not one of the classes", r + 2),
                    table.rows[r][t].1,
                    "unknown class",
                )
                .with_help(format!("the classes are {}", names.join(", ")))
                .in_file(file.clone()));
            }
        }
    }
    Ok((x, Targets::Labels(Classes { index, names })))
}

/// Turns targets into the `y` matrix the loss expects.
fn encode(targets: Targets, spec: &DataSpec, need: &Needs) -> Result<(Array2<f64>, Option<Vec<String>>), Diagnostic> {
    let c = match targets {
        Targets::Values(y) => return Ok((y, None)),
        Targets::Labels(c) => c,
    };
    let k = c.names.len();
    let too_many = |wanted: usize, how: &str| {
        Diagnostic::error(
            Code::TargetWidth,
            format!("the targets have {k} classes but {how}"),
            spec.spans.target,
            format!("{k} classes: {}", c.names.join(", ")),
        )
        .with_label(need.output_span, format!("{} outputs", need.outputs))
        .with_help(format!("make the last layer `dense {wanted}`"))
    };
    let y = match need.loss {
        Loss::CategoricalCrossentropy => {
            if k > need.outputs {
                return Err(too_many(k, &format!("the model outputs {}", need.outputs)));
            }
            let mut y = Array2::zeros((c.index.len(), need.outputs));
            for (r, &i) in c.index.iter().enumerate() {
                y[[r, i]] = 1.0;
            }
            y
        }
        Loss::SparseCategoricalCrossentropy => {
            if k > need.outputs {
                return Err(too_many(k, &format!("the model outputs {}", need.outputs)));
            }
            Array2::from_shape_fn((c.index.len(), 1), |(r, _)| c.index[r] as f64)
        }
        _ => {
            if k > 2 || need.outputs != 1 {
                let outputs =
                    if need.outputs == 1 { "one output".to_string() } else { format!("{} outputs", need.outputs) };
                return Err(too_many(
                    if k > 2 { k } else { 1 },
                    &format!("`{}` with {outputs} takes 2", need.loss.name()),
                )
                .with_help(format!(
                    "for {k} classes use `loss categorical_crossentropy` and `dense {k} {{ activation = softmax }}`"
                )));
            }
            Array2::from_shape_fn((c.index.len(), 1), |(r, _)| c.index[r] as f64)
        }
    };
    Ok((y, Some(c.names)))
}

fn check_widths(x: &Features, y: &Array2<f64>, spec: &DataSpec, need: &Needs) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    if x.ncols() != need.inputs {
        diags.push(
            Diagnostic::error(
                Code::InputWidth,
                format!("the examples have {} features but the model's input is {}", x.ncols(), need.inputs),
                spec.spans.features,
                format!("{} features per example", x.ncols()),
            )
            .with_label(need.input_span, format!("the model takes {}", need.inputs))
            .with_help("make every example as wide as the input, or change `input`"),
        );
    }
    let expected = if need.loss.takes_class_indices() { 1 } else { need.outputs };
    if y.ncols() != expected {
        diags.push(
            Diagnostic::error(
                Code::TargetWidth,
                format!("the targets have {} columns but the model needs {expected}", y.ncols()),
                spec.spans.target,
                format!("{} values per example", y.ncols()),
            )
            .with_label(need.output_span, format!("the last layer has {} units", need.outputs))
            .with_help("make every target row as long as the last layer's units"),
        );
    }
    if x.nrows() != y.nrows() {
        diags.push(
            Diagnostic::error(
                Code::RowCount,
                format!("there are {} examples but {} targets", x.nrows(), y.nrows()),
                spec.spans.target,
                format!("{} rows", y.nrows()),
            )
            .with_label(spec.spans.source, format!("{} rows", x.nrows()))
            .with_help("give one target row for every example"),
        );
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}

/// Holds out round(fraction · n) examples (at least 1, leaving at least 1), chosen by a
/// seeded shuffle; both parts keep file order.
fn split(x: Features, y: Array2<f64>, fraction: f64, seed: u64) -> (Dataset, Option<Dataset>) {
    let n = x.nrows();
    if fraction <= 0.0 || n < 2 {
        return (Dataset { x, y }, None);
    }
    let held = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SPLIT_STREAM);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = below(&mut rng, i + 1);
        order.swap(i, j);
    }
    let mut val: Vec<usize> = order[..held].to_vec();
    let mut train: Vec<usize> = order[held..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    let take = |rows: &[usize]| Dataset { x: x.select(rows), y: y.select(Axis(0), rows) };
    (take(&train), Some(take(&val)))
}

/// A number from the cell at row `r`, column `c` (errors point into the file).
fn cell(table: &Table, file: &Arc<SourceFile>, r: usize, c: usize) -> Result<f64, Diagnostic> {
    let (text, span) = &table.rows[r][c];
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Diagnostic::error(
            Code::WrongType,
            format!("row {}, column `{}`: `{text}` is not a number", r + 2, table.headers[c]),
            *span,
            "not a number",
        )
        .with_help("feature columns must hold numbers; choose the columns with `features = [...]`")
        .in_file(file.clone())),
    }
}

/// The columns `cols` of every row as numbers; `span` is blamed when the table is empty or
/// too large.
fn matrix(table: &Table, file: &Arc<SourceFile>, cols: &[usize], span: Span) -> Result<Array2<f64>, Diagnostic> {
    let (rows, width) = (table.rows.len(), cols.len());
    if (rows as u64).saturating_mul(width as u64) > MAX_TENSOR_ELEMENTS {
        return Err(Diagnostic::error(Code::TooLarge, "the data file holds too many values", span, "too large"));
    }
    if rows == 0 {
        return Err(Diagnostic::error(Code::Missing, "the data file has no rows after its header", span, "empty"));
    }
    let mut x = Array2::zeros((rows, width));
    for r in 0..rows {
        for (j, &c) in cols.iter().enumerate() {
            x[[r, j]] = cell(table, file, r, c)?;
        }
    }
    Ok(x)
}

/// The model's features in a CSV table, for prediction: the spec's feature columns when
/// its data file names them, all columns but its target column when it reads a file
/// without naming them, and otherwise every column (as many as the model has inputs).
/// Not normalised.
pub fn features(program: &Program, table: &Table, file: &Arc<SourceFile>) -> Result<Array2<f64>, Diagnostic> {
    let inputs = needs(program).inputs;
    let cols: Vec<usize> = match program.data.as_ref().map(|d| (&d.source, &d.spans)) {
        Some((DataSource::Csv { features: Some(f), .. }, spans)) => {
            f.iter().map(|c| column_index(table, c, spans.features)).collect::<Result<_, _>>()?
        }
        Some((DataSource::Csv { features: None, target, .. }, _)) => {
            let t = match target {
                ColumnRef::Name(n) => table.headers.iter().position(|h| h == n),
                ColumnRef::Index(i) => Some(*i),
            };
            (0..table.headers.len()).filter(|c| Some(*c) != t).collect()
        }
        _ => (0..table.headers.len()).collect(),
    };
    if cols.len() != inputs {
        return Err(Diagnostic::error(
            Code::InputWidth,
            format!("the file gives {} feature columns, but the model takes {inputs} inputs", cols.len()),
            Span::new(0, 0),
            "the header",
        )
        .with_help("give one column per input, in the order the model was trained on")
        .in_file(file.clone()));
    }
    matrix(table, file, &cols, Span::new(0, 0)).map_err(|d| if d.file.is_none() { d.in_file(file.clone()) } else { d })
}
