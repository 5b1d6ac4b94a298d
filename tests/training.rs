//! Training features beyond plain SGD: dropout, gradient clipping, early stopping,
//! minibatches with a short last batch, normalisation fitted on the training split,
//! generators, and initialisers.

mod common;

use nnc::train::events::{Event, Level, Stage};

fn compile(text: &str) -> (nnc::Program, nnc::data::Splits) {
    let (program, _) = nnc::compile(text, nnc::Syntax::Nn).unwrap_or_else(|d| panic!("{d:?}"));
    let data = common::data_in(&program, &common::root().join("specs"));
    (program, data)
}

/// Every tensor event of a run, as (step, stage, name, values).
fn tensors(program: &nnc::Program, data: &nnc::data::Splits) -> Vec<(u64, Stage, String, Vec<f64>)> {
    let mut out = Vec::new();
    nnc::train::train(program, data, Level::Full, &mut |e| {
        if let Event::Tensor { step, stage, tensor, .. } = e {
            out.push((*step, *stage, tensor.name.to_string(), tensor.values.clone()));
        }
    })
    .unwrap();
    out
}

const DROPOUT: &str = "model d {
    input 4
    dense 64 as hidden { activation = relu }
    dropout 0.25 as drop
    dense 1
    loss mse
}
data { generate = linear(n = 50, features = 4) }
train { epochs = 2, batch_size = 10, seed = 4 }";

#[test]
fn dropout_masks_drop_about_the_rate_scale_the_rest_and_are_reproducible() {
    let (p, d) = compile(DROPOUT);
    let seen = tensors(&p, &d);
    let masks: Vec<&Vec<f64>> = seen.iter().filter(|(_, _, n, _)| n == "drop.mask").map(|(_, _, _, v)| v).collect();
    assert_eq!(masks.len(), 10, "one mask per step");
    let all: Vec<f64> = masks.iter().flat_map(|m| m.iter().copied()).collect();
    assert!(all.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6), "inverted scaling");
    let dropped = all.iter().filter(|&&v| v == 0.0).count() as f64 / all.len() as f64;
    assert!((dropped - 0.25).abs() < 0.03, "dropped {dropped}");
    assert_ne!(masks[0], masks[1], "a new mask every step");
    assert_eq!(nnc::trace::record(&p, &d, Level::Full).0, nnc::trace::record(&p, &d, Level::Full).0);
}

#[test]
fn dropout_is_off_outside_training() {
    // Frozen layers do not change in training, so the final evaluation (dropout off) of a
    // model with dropout must equal that of the same model without it.
    let spec = |dropout: &str| {
        format!(
            "model f {{ input 2 \n dense 8 {{ activation = tanh, trainable = false }} \n {dropout} \n dense 1 {{ trainable = false }} \n loss mse }}
data {{ generate = linear(n = 20, features = 2) }}
train {{ epochs = 3, batch_size = 5, seed = 9 }}"
        )
    };
    let final_loss = |text: &str| {
        let (p, d) = compile(text);
        nnc::train::train(&p, &d, Level::Epoch, &mut |_| {}).unwrap().train.loss
    };
    assert_eq!(final_loss(&spec("dropout 0.5")), final_loss(&spec("")));
}

#[test]
fn clipping_bounds_the_global_gradient_norm() {
    let spec = "model c { input 1 \n dense 1 { weights = [[10]], bias_values = [10] } \n loss mse }
data { x = [[1], [2]] \n y = [[0], [0]] }
train { epochs = 1, clip_norm = 0.5, optimizer = sgd(lr = 1) }";
    let (p, d) = compile(spec);
    let seen = tensors(&p, &d);
    let norm: f64 = seen
        .iter()
        .filter(|(_, s, _, _)| *s == Stage::Gradient)
        .flat_map(|(_, _, _, v)| v.iter())
        .map(|g| g * g)
        .sum::<f64>()
        .sqrt();
    assert!((norm - 0.5).abs() < 1e-6, "{norm}");
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let (p, d) = common::spec("breast_cancer.nn");
    let mut stopped = None;
    let mut val_losses = Vec::new();
    let outcome = nnc::train::train(&p, &d, Level::Epoch, &mut |e| match e {
        Event::Stopped { best_epoch, best, .. } => stopped = Some((*best_epoch, *best)),
        Event::Epoch { validation: Some(v), .. } => val_losses.push(v.loss),
        _ => {}
    })
    .unwrap();
    let (best_epoch, best) = stopped.expect("stops early");
    let min = val_losses.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(best, min);
    assert_eq!(val_losses[best_epoch as usize - 1], min);
    assert!((outcome.validation.unwrap().loss - best).abs() < 1e-6, "the best parameters were restored");
}

#[test]
fn a_short_last_batch_is_trained_on() {
    let spec = "model s { input 1 \n dense 1 \n loss mse }
data { x = [[1], [2], [3], [4], [5]] \n y = [[1], [2], [3], [4], [5]] \n shuffle = false }
train { epochs = 1, batch_size = 2 }";
    let (p, d) = compile(spec);
    let mut sizes = Vec::new();
    nnc::train::train(&p, &d, Level::Full, &mut |e| {
        if let Event::Tensor { stage: Stage::Forward, tensor, .. } = e
            && tensor.name == "x"
        {
            sizes.push(tensor.dims[0]);
        }
    })
    .unwrap();
    assert_eq!(sizes, [2, 2, 1]);
}

#[test]
fn normalisation_is_fitted_on_the_training_split_only() {
    let (_, d) = common::spec("iris.nn");
    let n = d.normalizer.as_ref().unwrap();
    for (j, col) in d.train.x.to_f64().columns().into_iter().enumerate() {
        let mean = col.sum() / col.len() as f64;
        assert!(mean.abs() < 1e-9, "feature {j} has mean {mean} on the training split");
    }
    let val = d.validation.as_ref().unwrap();
    assert_eq!(d.train.len() + val.len(), 150);
    assert_eq!(val.len(), 30);
    assert!(n.scale.iter().all(|s| *s > 0.0));
}

#[test]
fn generators_are_seeded_and_shaped() {
    for g in [
        "xor",
        "circle",
        "gauss",
        "moons",
        "spiral(n = 90, classes = 3, noise = 0.1)",
        "blobs(n = 80, features = 5, classes = 4, spread = 1.0)",
    ] {
        let call = if g.contains('(') { g.to_string() } else { format!("{g}(n = 40, noise = 0.05)") };
        let classes = if g.starts_with("spiral") {
            3
        } else if g.starts_with("blobs") {
            4
        } else {
            2
        };
        let inputs = if g.starts_with("blobs") { 5 } else { 2 };
        let spec = format!(
            "model g {{ input {inputs} \n dense {classes} {{ activation = softmax }} \n loss categorical_crossentropy }}\ndata {{ generate = {call} }}"
        );
        let (_, a) = compile(&spec);
        let (_, b) = compile(&spec);
        assert_eq!(a, b, "{g}: same seed, same data");
        assert_eq!(a.train.y.ncols(), classes, "{g}");
        let per_class: Vec<f64> = (0..classes).map(|k| a.train.y.column(k).sum()).collect();
        assert!(per_class.iter().all(|c| *c > 0.0), "{g}: {per_class:?}");
        let (_, c) = compile(&spec.replace("generate = ", "validation = 0\n generate = ").replace(")", ", seed = 99)"));
        assert_ne!(a.train.x, c.train.x, "{g}: another seed, other data");
    }
}

#[test]
fn initialisers_have_their_documented_scale() {
    let spec = |init: &str| format!("model i {{ input 400 \n dense 300 {{ init = {init} }} \n loss mse }}");
    let stats = |init: &str| {
        let (p, _) = nnc::compile(&spec(init), nnc::Syntax::Nn).unwrap();
        let w = nnc::train::init::initial_params::<f64>(&p.graph, 0).remove(0);
        let n = w.len() as f64;
        let mean = w.sum() / n;
        let std = (w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        (mean, std, max)
    };
    let close = |a: f64, b: f64| (a - b).abs() < 0.03 * b;
    let (_, s, m) = stats("glorot_uniform");
    assert!(close(s, (6.0f64 / 700.0).sqrt() / 3f64.sqrt()) && m <= (6.0f64 / 700.0).sqrt());
    let (_, s, _) = stats("glorot_normal");
    assert!(close(s, (2.0f64 / 700.0).sqrt()));
    let (_, s, _) = stats("he_normal");
    assert!(close(s, (2.0f64 / 400.0).sqrt()));
    let (_, s, m) = stats("he_uniform");
    assert!(close(s, (6.0f64 / 400.0).sqrt() / 3f64.sqrt()) && m <= (6.0f64 / 400.0).sqrt());
    let (_, s, _) = stats("lecun_normal");
    assert!(close(s, (1.0f64 / 400.0).sqrt()));
    let (mean, s, _) = stats("constant(value = 0.25)");
    assert!(mean == 0.25 && s == 0.0);
    assert_eq!(stats("ones").0, 1.0);
}

#[test]
fn a_standalone_activation_layer_lowers_to_its_op() {
    let spec = "model a { input 2 \n dense 3 \n activation leaky_relu(alpha = 0.2) \n dense 1 \n loss mse }";
    let (p, _) = nnc::compile(spec, nnc::Syntax::Nn).unwrap();
    let ir = nnc::ir::print::print(&p.graph, nnc::ir::print::PrintOptions { origins: true, all_values: false });
    assert!(
        ir.lines()
            .any(|l| l.trim_start().starts_with("activation1 ")
                && l.contains(": [N, 3] = leaky_relu(alpha = 0.2) dense1")),
        "{ir}"
    );
    assert_eq!(p.layers[2].kind, "activation");
}
