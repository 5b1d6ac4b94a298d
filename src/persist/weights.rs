//! Weights files: every parameter under its IR name (`hidden.weight`, ...) in the run's
//! dtype, and metadata saying which model they belong to: its name, the sha256 of its
//! lowered IR, the nnc version, the spec's full text, and what inference needs besides
//! the parameters (the fitted input normalisation and the class names).

use ndarray::{ArrayD, IxDyn};

use crate::data::prepare::Normalizer;
use crate::ir::{DType, Graph};
use crate::persist::tensors::{Container, Stored, Values};
use crate::program::Program;
use crate::train::Params;

/// Metadata key: what the file holds (`weights` or `checkpoint`).
pub const KIND: &str = "nnc.kind";
/// Metadata key: the model's name.
pub const MODEL: &str = "nnc.model";
/// Metadata key: the sha256 of the lowered IR.
pub const IR_SHA256: &str = "nnc.ir_sha256";
/// Metadata key: the sha256 of the run (program, settings and data), as in the trace
/// header `ir_sha256`.
pub const RUN_SHA256: &str = "nnc.run_sha256";
/// Metadata key: the nnc version that wrote the file.
pub const VERSION: &str = "nnc.version";
/// Metadata key: the spec's file name.
pub const SPEC_FILE: &str = "nnc.spec_file";
/// Metadata key: the spec's full text.
pub const SPEC: &str = "nnc.spec";
/// Metadata key: the fitted input normalisation, as JSON.
pub const NORMALIZER: &str = "nnc.normalizer";
/// Metadata key: the class names in output order, as JSON.
pub const CLASSES: &str = "nnc.classes";

/// What binds a file to its spec.
pub struct Provenance<'a> {
    /// The compiled spec.
    pub program: &'a Program,
    /// The run's fingerprint (`Program::fingerprint`).
    pub run_sha256: String,
    /// The spec's file name.
    pub spec_file: &'a str,
    /// The spec's text.
    pub spec_text: &'a str,
    /// The input normalisation fitted in training.
    pub normalizer: Option<&'a Normalizer>,
    /// The class names.
    pub classes: Option<&'a [String]>,
}

impl Provenance<'_> {
    /// The metadata every nnc file carries, with `kind`.
    pub fn metadata(&self, kind: &str) -> Container {
        let mut c = Container::default();
        let m = &mut c.metadata;
        m.insert(KIND.into(), kind.into());
        m.insert(MODEL.into(), self.program.graph.name.clone());
        m.insert(IR_SHA256.into(), self.program.model_fingerprint());
        m.insert(RUN_SHA256.into(), self.run_sha256.clone());
        m.insert(VERSION.into(), env!("CARGO_PKG_VERSION").into());
        m.insert(SPEC_FILE.into(), self.spec_file.into());
        m.insert(SPEC.into(), self.spec_text.into());
        if let Some(n) = self.normalizer {
            m.insert(NORMALIZER.into(), serde_json::to_string(n).unwrap_or_default());
        }
        if let Some(c) = self.classes {
            m.insert(CLASSES.into(), serde_json::to_string(c).unwrap_or_default());
        }
        c
    }
}

/// A tensor in `dtype`.
pub fn stored(name: String, a: &ArrayD<f64>, dtype: DType) -> Stored {
    let values = match dtype {
        DType::F32 => Values::F32(a.iter().map(|&v| v as f32).collect()),
        DType::F64 => Values::F64(a.iter().copied().collect()),
    };
    Stored { name, dims: a.shape().to_vec(), values }
}

/// A weights file for a run's trained `params`, each stored in the run's dtype.
pub fn weights_file(prov: &Provenance, params: &Params) -> Container {
    let mut c = prov.metadata("weights");
    c.tensors = match params {
        Params::F32(p) => tensors(p, Values::F32),
        Params::F64(p) => tensors(p, Values::F64),
    };
    c
}

/// Named parameters as stored tensors, their values wrapped by `values`.
fn tensors<T: Copy>(params: &[(String, ArrayD<T>)], values: fn(Vec<T>) -> Values) -> Vec<Stored> {
    let tensor = |(name, a): &(String, ArrayD<T>)| Stored {
        name: name.clone(),
        dims: a.shape().to_vec(),
        values: values(a.iter().copied().collect()),
    };
    params.iter().map(tensor).collect()
}

/// The tensors named `prefix` + each parameter's IR name, in graph order, checked against
/// the graph's shapes. The error lists every missing, unexpected and mis-shaped tensor,
/// one a line.
pub fn params_named(graph: &Graph, c: &Container, prefix: &str) -> Result<Vec<ArrayD<f64>>, String> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(graph.params.len());
    for &id in &graph.params {
        let v = graph.value(id);
        let want = v.shape.resolve(0);
        let key = format!("{prefix}{}", v.name);
        match c.tensor(&key) {
            None => problems.push(format!("`{key}` {want:?} is missing")),
            Some(t) if t.dims != want => {
                problems.push(format!("`{key}` is {:?} in the file but {want:?} in the model", t.dims));
            }
            Some(t) => {
                out.push(ArrayD::from_shape_vec(IxDyn(&t.dims), t.values.to_f64()).map_err(|e| e.to_string())?);
            }
        }
    }
    let known: Vec<String> = graph.params.iter().map(|&id| format!("{prefix}{}", graph.value(id).name)).collect();
    for t in &c.tensors {
        if t.name.starts_with(prefix) && !known.contains(&t.name) {
            problems.push(format!("`{}` is not a parameter of the model", t.name));
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems.iter().map(|p| format!("\n- {p}")).collect()) }
}

/// The normalisation stored in the file, checked against the model's `inputs`.
pub fn normalizer(c: &Container, inputs: usize) -> Result<Option<Normalizer>, String> {
    let Some(text) = c.meta(NORMALIZER) else { return Ok(None) };
    let n: Normalizer = serde_json::from_str(text).map_err(|e| format!("its `{NORMALIZER}` is malformed: {e}"))?;
    let fine = n.shift.len() == inputs
        && n.scale.len() == inputs
        && n.shift.iter().all(|v| v.is_finite())
        && n.scale.iter().all(|v| v.is_finite() && *v > 0.0);
    if !fine {
        return Err(format!("its `{NORMALIZER}` does not hold {inputs} finite shifts and positive scales"));
    }
    Ok(Some(n))
}

/// The class names stored in the file.
pub fn classes(c: &Container) -> Result<Option<Vec<String>>, String> {
    c.meta(CLASSES)
        .map(|text| serde_json::from_str(text).map_err(|e| format!("its `{CLASSES}` is malformed: {e}")))
        .transpose()
}
