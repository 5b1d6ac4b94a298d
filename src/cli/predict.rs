//! `nnc predict` and `nnc eval`: trained weights on new data. The input normalisation and
//! the class names come from the weights file (written there by `nnc run --save`), or are
//! fitted again from the spec's data when the file does not carry them.

use std::path::Path;
use std::sync::Arc;

use ndarray::Array2;
use nnc::data::prepare::{Normalizer, features};
use nnc::data::spec::{ColumnRef, DataSource};
use nnc::data::table::{self, MAX_DATA_BYTES};
use nnc::diagnostics::{Code, Diagnostics};
use nnc::infer::{evaluate, predict as forward};
use nnc::ir::Loss;
use nnc::persist::weights;
use nnc::trace::float::fmt_float;
use nnc::train::events::Scores;
use nnc::{Program, SourceFile};

use crate::cli::output::Output;
use crate::cli::saved::{Blame, Loaded, load_params};
use crate::cli::{exit, load, load_data, report};

/// A compiled spec with trained weights and what inference needs besides them.
pub struct Trained {
    /// The compiled spec.
    pub program: Program,
    /// Its text.
    pub source: SourceFile,
    /// The weights.
    pub loaded: Loaded,
    /// The input normalisation fitted in training.
    pub normalizer: Option<Normalizer>,
    /// The class names.
    pub classes: Option<Vec<String>>,
}

/// Compiles the spec and reads the weights; fits normalisation and classes from the spec's
/// data only when the file lacks them.
pub fn trained(spec: &Path, weights_path: &Path) -> Result<Trained, i32> {
    let (program, source) = load(spec)?;
    let loaded = load_params(&program, weights_path, Blame::Flag)?;
    let inputs = program.graph.value(program.graph.x()).shape.resolve(0).last().copied().unwrap_or(0);
    let bad = |why: String| {
        Blame::Flag.report(
            Code::BadWeightsFile,
            &format!("{}: {why}", weights_path.display()),
            "write it again with `nnc run SPEC --save FILE`",
            exit::INVALID,
        )
    };
    let mut normalizer = weights::normalizer(&loaded.file, inputs).map_err(bad)?;
    let mut classes = weights::classes(&loaded.file).map_err(bad)?;
    let wants_normalizer = program.data.as_ref().is_some_and(|d| d.normalize.is_some()) && normalizer.is_none();
    let wants_classes = classifier(&program) && classes.is_none();
    if wants_normalizer || wants_classes {
        let data = load_data(&program, spec, &source)?;
        normalizer = normalizer.or(data.normalizer);
        classes = classes.or(data.classes);
    }
    Ok(Trained { program, source, loaded, normalizer, classes })
}

fn classifier(program: &Program) -> bool {
    matches!(
        program.graph.loss_kind(),
        Loss::CategoricalCrossentropy
            | Loss::SparseCategoricalCrossentropy
            | Loss::BinaryCrossentropy
            | Loss::BinaryCrossentropyLogits
    )
}

/// Reads a CSV file named on the command line, with diagnostics.
fn read_csv(path: &Path) -> Result<(table::Table, Arc<SourceFile>), i32> {
    let shown = path.display().to_string();
    let fail =
        |e: String| Blame::Flag.report(Code::Io, &format!("cannot read {shown}: {e}"), "check the path", exit::IO);
    let size = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
    if size > MAX_DATA_BYTES as u64 {
        return Err(fail(format!("it is {size} bytes; nnc reads data files of at most {MAX_DATA_BYTES}")));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Blame::Flag.report(
            Code::Syntax,
            &format!("{shown} is not UTF-8 text (invalid byte at offset {at})"),
            "save it as UTF-8",
            exit::INVALID,
        )
    })?;
    let file = Arc::new(SourceFile { name: shown, text });
    match table::parse(&file.text) {
        Ok(t) => Ok((t, file)),
        Err(d) => {
            report(&Diagnostics(vec![d]), &file);
            Err(exit::INVALID)
        }
    }
}

/// Runs `nnc predict`.
pub fn predict(spec: &Path, weights_path: &Path, input: &Path, output: Option<&Path>) -> i32 {
    let t = match trained(spec, weights_path) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let (table, file) = match read_csv(input) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut x = match features(&t.program, &table, &file) {
        Ok(x) => x,
        Err(d) => {
            report(&Diagnostics(vec![d]), &t.source);
            return exit::INVALID;
        }
    };
    if let Some(n) = &t.normalizer {
        n.apply(&mut x);
    }
    let pred = forward(&t.program.graph, &t.loaded.params, x.view());
    let text = predictions_csv(&t.program, &pred, t.classes.as_deref());
    match Output::write_whole(output, text.as_bytes()) {
        Ok(()) => exit::OK,
        Err(e) => {
            let what = output.map_or("standard output".into(), |p| p.display().to_string());
            Blame::Flag.report(Code::Io, &format!("cannot write {what}: {e}"), "check that the folder exists", exit::IO)
        }
    }
}

/// One line per example: the class and each class's probability for classifiers, the
/// outputs for regression.
fn predictions_csv(program: &Program, pred: &Array2<f64>, classes: Option<&[String]>) -> String {
    let name = |k: usize| classes.and_then(|c| c.get(k).cloned()).unwrap_or_else(|| k.to_string());
    let loss = program.graph.loss_kind();
    let mut out = String::new();
    if !classifier(program) {
        let header: Vec<String> = (0..pred.ncols()).map(|k| format!("output_{k}")).collect();
        out.push_str(&format!("{}\n", header.join(",")));
        for row in pred.rows() {
            out.push_str(&format!("{}\n", row.iter().map(|v| fmt_float(*v)).collect::<Vec<_>>().join(",")));
        }
    } else if pred.ncols() == 1 {
        out.push_str("class,probability\n");
        for row in pred.rows() {
            let p = if loss == Loss::BinaryCrossentropyLogits { 1.0 / (1.0 + (-row[0]).exp()) } else { row[0] };
            out.push_str(&format!("{},{}\n", name(usize::from(p > 0.5)), fmt_float(p)));
        }
    } else {
        let header: Vec<String> = (0..pred.ncols()).map(|k| format!("p_{}", name(k))).collect();
        out.push_str(&format!("class,{}\n", header.join(",")));
        for row in pred.rows() {
            let best =
                row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            let probs: Vec<String> = row.iter().map(|v| fmt_float(*v)).collect();
            out.push_str(&format!("{},{}\n", name(best.0), probs.join(",")));
        }
    }
    out
}

/// Runs `nnc eval`.
pub fn eval(spec: &Path, weights_path: &Path, input: Option<&Path>) -> i32 {
    let mut t = match trained(spec, weights_path) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let sets = match input {
        None => {
            // The spec's own data, split and normalised exactly as in training.
            let data = match load_data(&t.program, spec, &t.source) {
                Ok(d) => d,
                Err(code) => return code,
            };
            let mut sets = vec![("train", data.train)];
            sets.extend(data.validation.map(|v| ("validation", v)));
            sets
        }
        Some(csv) => {
            let Some(data) = t.program.data.as_mut() else {
                return Blame::Flag.report(Code::Missing, "the spec has no `data` block", "add one", exit::INVALID);
            };
            let inputs = t.program.graph.value(t.program.graph.x()).shape.resolve(0).last().copied().unwrap_or(0);
            let path = std::path::absolute(csv).unwrap_or_else(|_| csv.to_path_buf()).display().to_string();
            data.source = match &data.source {
                DataSource::Csv { features, target, .. } => {
                    DataSource::Csv { path, features: features.clone(), target: target.clone() }
                }
                _ => DataSource::Csv { path, features: None, target: ColumnRef::Index(inputs) },
            };
            data.validation = 0.0;
            data.normalize = None;
            data.classes.clone_from(&t.classes);
            let mut set = match load_data(&t.program, Path::new(""), &t.source) {
                Ok(d) => d.train,
                Err(code) => return code,
            };
            if let Some(n) = &t.normalizer {
                n.apply(set.x.f64_mut());
            }
            vec![(csv.to_str().unwrap_or("input"), set)]
        }
    };
    for (name, set) in sets {
        let scores = evaluate(&t.program, &t.loaded.params, &set);
        println!("{name} examples {}{}", set.len(), figures(&scores));
    }
    exit::OK
}

fn figures(s: &Scores) -> String {
    let mut out = format!(" loss {}", fmt_float(s.loss));
    for (m, v) in &s.metrics {
        out.push_str(&format!(" {} {}", m.name(), fmt_float(*v)));
    }
    out
}
