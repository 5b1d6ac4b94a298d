//! Every op's vector-Jacobian rule checked against central finite differences in f64.
//!
//! Each case builds a small graph whose parameters feed the op under test, reduces the
//! result to a scalar with a loss against random targets (so the rule sees a non-trivial
//! upstream gradient), differentiates it with `autodiff`, and compares every parameter
//! element's gradient with (L(p + h) - L(p - h)) / 2h.

use ndarray::{Array2, ArrayD, IxDyn};
use nnc::autodiff::differentiate;
use nnc::ir::verify::verify;
use nnc::ir::{Activation, DType, Dim, Graph, Init, Loss, Op, Origin, Pass, Shape, ValueId};
use nnc::runtime::Executor;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const BATCH: usize = 3;
const STEP: f64 = 1e-6;
const TOLERANCE: f64 = 1e-6;

fn origin() -> Origin {
    Origin { layer: Some("test".into()), span: None, pass: Pass::Forward }
}

struct Case {
    graph: Graph,
    params: Vec<ArrayD<f64>>,
    x: Array2<f64>,
    y: Array2<f64>,
}

/// Draws values in [lo, hi).
fn draws(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| lo + (hi - lo) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)).collect()
}

/// A case with fixed-shape parameters; `body` applies the op under test to them (and to
/// `x`, `[N, x_cols]`) and returns a `[N, k]` value that `loss` reduces against `y`.
fn case(
    param_shapes: &[[usize; 2]],
    x_cols: usize,
    k: usize,
    loss: Loss,
    body: impl Fn(&mut Graph, &[ValueId]) -> ValueId,
) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let y_cols = if loss.takes_class_indices() { 1 } else { k };
    let mut g = Graph::new(
        "gradcheck",
        DType::F64,
        Shape::matrix(Dim::Batch, Dim::Fixed(x_cols)),
        Shape::matrix(Dim::Batch, Dim::Fixed(y_cols)),
    );
    let mut ids = Vec::new();
    let mut params = Vec::new();
    for (i, dims) in param_shapes.iter().enumerate() {
        let dims: Vec<usize> = dims.iter().copied().filter(|d| *d > 0).collect();
        let shape = Shape(dims.iter().map(|d| Dim::Fixed(*d)).collect());
        let values = draws(&mut rng, dims.iter().product(), -1.5, 1.5);
        ids.push(g.add_param(&format!("p{i}"), shape, Init::Explicit(values.clone().into()), true, origin()).unwrap());
        params.push(ArrayD::from_shape_vec(IxDyn(&dims), values).unwrap());
    }
    let out = body(&mut g, &ids);
    let y = match loss {
        // Soft targets on the simplex.
        Loss::CategoricalCrossentropy => {
            let mut y = Array2::from_shape_vec((BATCH, k), draws(&mut rng, BATCH * k, 0.0, 1.0)).unwrap();
            for mut row in y.rows_mut() {
                let s = row.sum();
                row.mapv_inplace(|v| v / s);
            }
            y
        }
        Loss::SparseCategoricalCrossentropy => Array2::from_shape_fn((BATCH, 1), |(i, _)| ((i * 7 + 3) % k) as f64),
        Loss::BinaryCrossentropy | Loss::BinaryCrossentropyLogits => {
            Array2::from_shape_vec((BATCH, k), draws(&mut rng, BATCH * k, 0.0, 1.0)).unwrap()
        }
        Loss::Mse | Loss::Mae | Loss::Huber(_) => {
            Array2::from_shape_vec((BATCH, k), draws(&mut rng, BATCH * k, -1.0, 1.0)).unwrap()
        }
    };
    let l = g.push(Op::Loss(loss), &[out, g.y()], "loss", origin()).unwrap();
    g.prediction = out;
    g.loss = l;
    let x = Array2::from_shape_vec((BATCH, x_cols), draws(&mut rng, BATCH * x_cols, -1.0, 1.0)).unwrap();
    Case { graph: g, params, x, y }
}

/// The worst relative error between backprop and central differences over every
/// parameter element.
fn worst_error(c: &Case) -> f64 {
    let g = differentiate(&c.graph).expect("differentiates");
    verify(&g).expect("the differentiated graph verifies");
    let mut exec = Executor::<f64>::new(&g);
    let mut loss_at = |params: &[ArrayD<f64>], upto: usize| {
        exec.prepare(c.x.nrows());
        exec.input_mut(g.x()).assign(&c.x);
        exec.input_mut(g.y()).assign(&c.y);
        exec.run(params, 0..upto);
        let grads: Vec<ArrayD<f64>> = g
            .grads
            .iter()
            .flatten()
            .filter(|_| upto == g.insts.len())
            .map(|d| exec.value(*d, params).to_owned())
            .collect();
        (exec.scalar(c.graph.loss, params), grads)
    };
    let (_, analytic) = loss_at(&c.params, g.insts.len());
    let forward_len = c.graph.insts.len();
    let mut worst: f64 = 0.0;
    for (i, grad) in analytic.iter().enumerate() {
        for j in 0..c.params[i].len() {
            let nudged = |delta: f64| {
                let mut p = c.params.clone();
                p[i].as_slice_mut().unwrap()[j] += delta;
                p
            };
            let numeric =
                (loss_at(&nudged(STEP), forward_len).0 - loss_at(&nudged(-STEP), forward_len).0) / (2.0 * STEP);
            let a = grad.as_slice().unwrap()[j];
            worst = worst.max((a - numeric).abs() / a.abs().max(numeric.abs()).max(1.0));
        }
    }
    worst
}

fn assert_gradients(name: &str, c: Case) {
    let err = worst_error(&c);
    assert!(err < TOLERANCE, "{name}: worst relative error {err:e}");
}

fn push(g: &mut Graph, op: Op, args: &[ValueId], name: &str) -> ValueId {
    g.push(op, args, name, origin()).unwrap()
}

/// x · p: a batch-shaped value that depends on the parameter p.
fn xw(g: &mut Graph, p: ValueId, name: &str) -> ValueId {
    push(g, Op::MatMul { transpose_a: false, transpose_b: false }, &[g.x(), p], name)
}

#[test]
fn matmul_in_every_transpose_combination() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { [4, 3] } else { [3, 4] };
        let b = if tb { [2, 4] } else { [4, 2] };
        assert_gradients(
            &format!("matmul transpose_a={ta} transpose_b={tb}"),
            case(&[a, b], 3, 2, Loss::Mse, |g, p| {
                let c = push(g, Op::MatMul { transpose_a: ta, transpose_b: tb }, &[p[0], p[1]], "c");
                xw(g, c, "out")
            }),
        );
    }
}

#[test]
fn add_and_broadcast() {
    assert_gradients(
        "add",
        case(&[[2, 3], [2, 3]], 2, 3, Loss::Mse, |g, p| {
            let (a, b) = (xw(g, p[0], "a"), xw(g, p[1], "b"));
            push(g, Op::Add, &[a, b], "out")
        }),
    );
    assert_gradients(
        "broadcast",
        case(&[[2, 3], [3, 0]], 2, 3, Loss::Mse, |g, p| {
            let (a, b) = (xw(g, p[0], "a"), push(g, Op::Broadcast, &[p[1]], "b"));
            push(g, Op::Add, &[a, b], "out")
        }),
    );
}

#[test]
fn sum_rows() {
    assert_gradients(
        "sum_rows",
        case(&[[2, 3]], 2, 3, Loss::Mse, |g, p| {
            let m = xw(g, p[0], "m");
            let s = push(g, Op::SumRows, &[m], "s");
            push(g, Op::Broadcast, &[s], "out")
        }),
    );
}

#[test]
fn a_value_used_twice_accumulates_its_gradient() {
    assert_gradients(
        "p used by two matmuls",
        case(&[[2, 2]], 2, 2, Loss::Mse, |g, p| {
            let a = xw(g, p[0], "a");
            let b = push(g, Op::MatMul { transpose_a: false, transpose_b: false }, &[a, p[0]], "b");
            push(g, Op::Add, &[a, b], "out")
        }),
    );
}

#[test]
fn every_activation() {
    for f in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Elu(0.7),
        Activation::Gelu,
        Activation::Softplus,
        Activation::Swish,
    ] {
        assert_gradients(
            f.name(),
            case(&[[2, 4]], 2, 4, Loss::Mse, |g, p| {
                let m = xw(g, p[0], "m");
                push(g, Op::Activate(f), &[m], "out")
            }),
        );
    }
}

#[test]
fn softmax() {
    assert_gradients(
        "softmax",
        case(&[[2, 4]], 2, 4, Loss::Mse, |g, p| {
            let m = xw(g, p[0], "m");
            push(g, Op::Softmax, &[m], "out")
        }),
    );
}

#[test]
fn every_loss_by_its_own_rule() {
    // The probabilities also feed another instruction, so autodiff cannot fuse the loss
    // with the activation and must use the loss's own vector-Jacobian rule.
    for loss in [
        Loss::Mse,
        Loss::Mae,
        Loss::Huber(0.3),
        Loss::BinaryCrossentropy,
        Loss::CategoricalCrossentropy,
        Loss::SparseCategoricalCrossentropy,
    ] {
        let c = case(&[[2, 3]], 2, 3, loss, |g, p| {
            let m = xw(g, p[0], "m");
            let s = push(g, Op::Activate(Activation::Sigmoid), &[m], "s");
            push(g, Op::Activate(Activation::Tanh), &[s], "another_user");
            s
        });
        let g = differentiate(&c.graph).unwrap();
        assert!(g.insts.iter().any(|i| i.op == Op::LossGrad(loss)), "{}", loss.name());
        assert_gradients(loss.name(), c);
    }
}

#[test]
fn fused_softmax_categorical_crossentropy_and_sigmoid_binary_crossentropy() {
    let fused = [
        (Loss::CategoricalCrossentropy, Op::Softmax, 4),
        (Loss::SparseCategoricalCrossentropy, Op::Softmax, 4),
        (Loss::BinaryCrossentropy, Op::Activate(Activation::Sigmoid), 1),
    ];
    for (loss, activation, k) in fused {
        let c = case(&[[2, k]], 2, k, loss, |g, p| {
            let m = xw(g, p[0], "m");
            push(g, activation.clone(), &[m], "out")
        });
        let g = differentiate(&c.graph).unwrap();
        assert!(g.insts.iter().any(|i| i.op == Op::LogitsLossGrad(loss)), "{}", loss.name());
        assert_gradients(&format!("{activation} + {}", loss.name()), c);
    }
}

#[test]
fn backward_only_ops_are_refused_by_autodiff() {
    let c = case(&[[2, 2]], 2, 2, Loss::Mse, |g, p| {
        let m = xw(g, p[0], "m");
        push(g, Op::SoftmaxGrad, &[m, m], "out")
    });
    assert!(matches!(differentiate(&c.graph), Err(nnc::autodiff::AutodiffError::NotDifferentiable(_))));
}

#[test]
fn binary_crossentropy_from_logits() {
    assert_gradients(
        "binary_crossentropy_from_logits",
        case(&[[2, 2]], 2, 2, Loss::BinaryCrossentropyLogits, |g, p| xw(g, p[0], "out")),
    );
}

#[test]
fn mul_and_penalty() {
    assert_gradients(
        "mul",
        case(&[[2, 3], [2, 3]], 2, 3, Loss::Mse, |g, p| {
            let (a, b) = (xw(g, p[0], "a"), xw(g, p[1], "b"));
            push(g, Op::Mul, &[a, b], "out")
        }),
    );
    let c = case(&[[2, 3]], 2, 3, Loss::Mse, |g, p| xw(g, p[0], "out"));
    let mut graph = c.graph.clone();
    let data_loss = graph.loss;
    let w = graph.params[0];
    let penalty = push(&mut graph, Op::Penalty { l1: 0.3, l2: 0.7 }, &[w], "penalty");
    graph.loss = push(&mut graph, Op::Add, &[data_loss, penalty], "total");
    assert_gradients("penalty", Case { graph, ..c });
}

#[path = "common/mod.rs"]
mod common;

#[test]
fn every_bundled_spec_passes_gradcheck_in_f64() {
    let mut checked = 0;
    for entry in std::fs::read_dir(common::root().join("specs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nn") {
            continue;
        }
        let (program, data) = common::load_file(&path);
        let report = nnc::gradcheck::gradcheck(&program, &data).unwrap();
        for p in &report.params {
            assert!(p.passes(), "{}: {} worst error {:e}", path.display(), p.name, p.worst);
        }
        checked += 1;
    }
    assert!(checked >= 4);
}

#[test]
fn a_corrupted_vjp_rule_fails_gradcheck() {
    let (program, data) = common::spec("xor.nn");
    let mut forward = program.graph.clone();
    forward.dtype = DType::F64;
    let mut g = differentiate(&forward).unwrap();
    assert!(nnc::gradcheck::check_graph(&program, &data, &g).passes());
    // Replace tanh's derivative with sigmoid's: a wrong vector-Jacobian rule.
    let inst = g.insts.iter_mut().find(|i| i.op == Op::ActivateGrad(Activation::Tanh)).unwrap();
    inst.op = Op::ActivateGrad(Activation::Sigmoid);
    let report = nnc::gradcheck::check_graph(&program, &data, &g);
    assert!(!report.passes());
    let failed: Vec<&str> = report.params.iter().filter(|p| !p.passes()).map(|p| p.name.as_str()).collect();
    assert_eq!(failed, ["hidden.weight", "hidden.bias"]);
}
