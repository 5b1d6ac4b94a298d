//! The inference graph as an ONNX model (opset 17): the input normalisation fitted in
//! training (`Sub`, `Div`), then every IR instruction the prediction depends on, one or a
//! few ONNX nodes each, with the trained parameters as initialisers. Dropout is off, as
//! in `nnc predict`, so the model takes raw features and returns what `predict` computes.

use ndarray::ArrayD;
use prost::Message;

use crate::data::prepare::Normalizer;
use crate::export::proto::{
    ATTR_FLOAT, ATTR_INT, ATTR_INTS, AttributeProto, DOUBLE, Dimension, FLOAT, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};
use crate::ir::{Activation, DType, Def, Graph, Op, Role, ValueId};
use crate::program::Program;

/// The ONNX operator set the export targets.
pub const OPSET: i64 = 17;
/// The graph input's name: raw features, `[batch, inputs]`.
pub const INPUT: &str = "features";
/// The graph output's name: the model's prediction, `[batch, outputs]`.
pub const OUTPUT: &str = "prediction";

/// Builds the nodes and initialisers of a graph.
struct Builder {
    dtype: DType,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Builder {
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: format!("{output}.{}", op.to_lowercase()),
            op_type: op.to_string(),
            attribute,
        });
    }

    fn tensor(&mut self, name: &str, dims: &[usize], values: impl Iterator<Item = f64>) {
        let mut t = TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: elem_type(self.dtype),
            name: name.to_string(),
            ..Default::default()
        };
        match self.dtype {
            DType::F32 => t.float_data = values.map(|v| v as f32).collect(),
            DType::F64 => t.double_data = values.collect(),
        }
        self.initializers.push(t);
    }

    fn constant(&mut self, name: &str, value: f64) -> String {
        if !self.initializers.iter().any(|t| t.name == name) {
            self.tensor(name, &[], std::iter::once(value));
        }
        name.to_string()
    }
}

fn elem_type(dtype: DType) -> i32 {
    match dtype {
        DType::F32 => FLOAT,
        DType::F64 => DOUBLE,
    }
}

fn float_attr(name: &str, f: f64) -> AttributeProto {
    AttributeProto { name: name.into(), f: f as f32, r#type: ATTR_FLOAT, ..Default::default() }
}

fn value_info(name: &str, dtype: DType, width: usize) -> ValueInfoProto {
    let dim = vec![
        Dimension { dim_value: None, dim_param: Some("batch".into()) },
        Dimension { dim_value: Some(width as i64), dim_param: None },
    ];
    let tensor = TensorTypeProto { elem_type: elem_type(dtype), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto { name: name.into(), r#type: Some(TypeProto { tensor_type: Some(tensor) }) }
}

/// The instructions the prediction depends on, in order.
fn needed(graph: &Graph) -> Vec<usize> {
    let mut wanted = vec![false; graph.values.len()];
    wanted[graph.prediction.0] = true;
    let mut out = Vec::new();
    for (k, inst) in graph.insts.iter().enumerate().rev() {
        if wanted[inst.out.0] {
            out.push(k);
            for a in &inst.args {
                wanted[a.0] = true;
            }
        }
    }
    out.reverse();
    out
}

/// The ONNX model of `program` with `params` (graph order) and the training normalisation.
pub fn onnx(
    program: &Program,
    params: &[ArrayD<f64>],
    normalizer: Option<&Normalizer>,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>, String> {
    let graph = &program.graph;
    let mut b = Builder { dtype: graph.dtype, nodes: Vec::new(), initializers: Vec::new() };
    let width = |v: ValueId| graph.value(v).shape.resolve(0).last().copied().unwrap_or(1);
    let name = |v: ValueId| graph.value(v).name.clone();
    let x = name(graph.x());
    match normalizer {
        Some(n) => {
            b.tensor("normalize.shift", &[n.shift.len()], n.shift.iter().copied());
            b.tensor("normalize.scale", &[n.scale.len()], n.scale.iter().copied());
            b.node("Sub", &[INPUT, "normalize.shift"], "normalize.centered", Vec::new());
            b.node("Div", &["normalize.centered", "normalize.scale"], &x, Vec::new());
        }
        None => b.node("Identity", &[INPUT], &x, Vec::new()),
    }
    for (&id, p) in graph.params.iter().zip(params) {
        b.tensor(&name(id), p.shape(), p.iter().copied());
    }
    let is_mask = |v: ValueId| matches!(graph.value(v).def, Def::Input(Role::Mask { .. }));
    for k in needed(graph) {
        let inst = &graph.insts[k];
        let out = name(inst.out);
        let args: Vec<String> = inst.args.iter().map(|&a| name(a)).collect();
        let arg = |i: usize| args[i].as_str();
        match inst.op {
            Op::MatMul { transpose_a, transpose_b } => {
                let mut operand = |i: usize, transpose: bool| {
                    if !transpose {
                        return args[i].clone();
                    }
                    let t = format!("{out}.t{i}");
                    let perm = AttributeProto {
                        name: "perm".into(),
                        ints: vec![1, 0],
                        r#type: ATTR_INTS,
                        ..Default::default()
                    };
                    b.node("Transpose", &[&args[i]], &t, vec![perm]);
                    t
                };
                let (a, c) = (operand(0, transpose_a), operand(1, transpose_b));
                b.node("MatMul", &[&a, &c], &out, Vec::new());
            }
            Op::Add => b.node("Add", &[arg(0), arg(1)], &out, Vec::new()),
            // Dropout masks are ones outside training.
            Op::Mul if is_mask(inst.args[1]) => b.node("Identity", &[arg(0)], &out, Vec::new()),
            Op::Mul if is_mask(inst.args[0]) => b.node("Identity", &[arg(1)], &out, Vec::new()),
            Op::Mul => b.node("Mul", &[arg(0), arg(1)], &out, Vec::new()),
            // ONNX's Add broadcasts a bias over the batch by itself.
            Op::Broadcast => b.node("Identity", &[arg(0)], &out, Vec::new()),
            Op::Softmax => {
                let axis = AttributeProto { name: "axis".into(), i: -1, r#type: ATTR_INT, ..Default::default() };
                b.node("Softmax", &[arg(0)], &out, vec![axis]);
            }
            Op::Activate(a) => activation(&mut b, a, arg(0), &out),
            ref other => return Err(format!("`{}` has no ONNX form in an inference graph", other.name())),
        }
    }
    b.node("Identity", &[&name(graph.prediction)], OUTPUT, Vec::new());
    let onnx_graph = GraphProto {
        node: b.nodes,
        name: graph.name.clone(),
        initializer: b.initializers,
        input: vec![value_info(INPUT, graph.dtype, width(graph.x()))],
        output: vec![value_info(OUTPUT, graph.dtype, width(graph.prediction))],
    };
    let model = ModelProto {
        ir_version: 8,
        producer_name: "nnc".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("model {} exported by nnc", graph.name),
        graph: Some(onnx_graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        metadata_props: metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto { key: k.to_string(), value: v.clone() })
            .collect(),
    };
    Ok(model.encode_to_vec())
}

/// The nodes of one activation.
fn activation(b: &mut Builder, a: Activation, x: &str, out: &str) {
    match a {
        Activation::Sigmoid => b.node("Sigmoid", &[x], out, Vec::new()),
        Activation::Tanh => b.node("Tanh", &[x], out, Vec::new()),
        Activation::Relu => b.node("Relu", &[x], out, Vec::new()),
        Activation::Softplus => b.node("Softplus", &[x], out, Vec::new()),
        Activation::LeakyRelu(alpha) => b.node("LeakyRelu", &[x], out, vec![float_attr("alpha", alpha)]),
        Activation::Elu(alpha) => b.node("Elu", &[x], out, vec![float_attr("alpha", alpha)]),
        Activation::Swish => {
            let s = format!("{out}.sigmoid");
            b.node("Sigmoid", &[x], &s, Vec::new());
            b.node("Mul", &[x, &s], out, Vec::new());
        }
        // Opset 17 has no Gelu: x · ½ · (1 + erf(x / √2)).
        Activation::Gelu => {
            let (r, one, half) = (
                b.constant("const.rsqrt2", std::f64::consts::FRAC_1_SQRT_2),
                b.constant("const.one", 1.0),
                b.constant("const.half", 0.5),
            );
            let step = |k: &str| format!("{out}.{k}");
            b.node("Mul", &[x, &r], &step("scaled"), Vec::new());
            b.node("Erf", &[&step("scaled")], &step("erf"), Vec::new());
            b.node("Add", &[&step("erf"), &one], &step("plus1"), Vec::new());
            b.node("Mul", &[x, &step("plus1")], &step("times"), Vec::new());
            b.node("Mul", &[&step("times"), &half], out, Vec::new());
        }
    }
}
