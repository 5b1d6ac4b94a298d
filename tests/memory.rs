//! Buffer sharing and streamed updates change where values live and when parameters are
//! updated, never a number: below a full trace the executor lets values share buffers
//! once nothing reads them and the loop updates each parameter as soon as its gradient is
//! final; a full trace keeps every value in its own buffer and updates after the whole
//! backward pass. Both must give the same bits, and a divergence must name the same value.

mod common;

use nnc::train::events::Level;
use nnc::train::{TrainError, train};

fn compile(text: &str) -> (nnc::Program, nnc::data::Splits) {
    let (program, _) = nnc::compile(text, nnc::Syntax::Nn).unwrap_or_else(|d| panic!("{d:?}"));
    let data = common::data_in(&program, &common::root().join("specs"));
    (program, data)
}

/// A deep model with what moves values and updates around: a penalty that reads a weight
/// in the forward pass, dropout masks read in the backward pass, a frozen layer, a short
/// last batch, validation and metrics, and an optimiser with state.
fn deep(optimizer: &str, extra: &str) -> String {
    format!(
        "model deep {{
            input 6
            dense 32 as a {{ activation = tanh, l2 = 0.01 }}
            dropout 0.2
            dense 24 as b {{ activation = relu, trainable = false }}
            dense 16 as c {{ activation = gelu, l1 = 0.001 }}
            dense 3 {{ activation = softmax }}
            loss categorical_crossentropy
        }}
        data {{
            generate = blobs(n = 90, features = 6, classes = 3, spread = 1.5)
            validation = 0.2
        }}
        train {{
            optimizer = {optimizer}
            epochs = 4
            batch_size = 16
            metrics = [accuracy]
            seed = 11
            {extra}
        }}"
    )
}

/// The final parameters' bits and every record but the tensors of a run at `level`.
fn run(text: &str, level: Level) -> (Vec<u64>, Vec<String>) {
    let (p, d) = compile(text);
    let outcome = train(&p, &d, level, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let bits = outcome.params.to_f64().iter().flat_map(|(_, v)| v.iter().map(|x| x.to_bits())).collect();
    let trace = nnc::trace::record(&p, &d, level).0;
    let records = trace.lines().filter(|l| ["step ", "epoch ", "final"].iter().any(|k| l.starts_with(k)));
    (bits, records.map(String::from).collect())
}

#[test]
fn shared_buffers_and_streamed_updates_give_the_same_bits_as_a_full_trace() {
    for optimizer in ["sgd(lr = 0.1, momentum = 0.9)", "adam(lr = 0.01, weight_decay = 0.01)", "rmsprop(lr = 0.01)"] {
        // Streamed updates; and clipping, which needs every gradient at once, so only shares.
        for extra in ["", "clip_norm = 0.5"] {
            let text = deep(optimizer, extra);
            let (shared, shared_records) = run(&text, Level::Step);
            let (full, full_records) = run(&text, Level::Full);
            assert_eq!(shared, full, "{optimizer} {extra}");
            assert_eq!(shared_records, full_records, "{optimizer} {extra}");
            assert!(shared_records.len() > 20);
        }
    }
}

/// The value a run at `level` names when it diverges.
fn diverged_value(text: &str, level: Level) -> String {
    let (p, d) = compile(text);
    match train(&p, &d, level, &mut |_| {}) {
        Err(TrainError::Diverged(d)) => format!("{} at epoch {} step {}", d.value, d.epoch, d.step),
        other => panic!("expected a divergence, got {other:?}"),
    }
}

#[test]
fn a_divergence_names_the_same_value_whether_buffers_are_shared_or_not() {
    // The first layer's product overflows float32 in the forward pass: its buffer is
    // reused later in the pass, so only a replay of the step can still see it.
    let forward = "model f {
        input 1
        dense 4 as a { activation = relu, weights = [[1e20, 1e20, 1e20, 1e20]] }
        dense 4 as b { activation = relu }
        dense 1 as out
        loss mse
    }
    data { x = [[1e20], [1]] \n y = [[0], [1]] }
    train { epochs = 1, seed = 2 }";
    assert_eq!(diverged_value(forward, Level::Full), "a.matmul at epoch 1 step 1");
    assert_eq!(diverged_value(forward, Level::Epoch), "a.matmul at epoch 1 step 1");
    // A finite loss (the sigmoid saturates) whose first layer's weight gradient overflows
    // (1e10 · 1e30): with streamed updates the output layer's parameters are already
    // updated when the first layer's update finds its gradient non-finite.
    let backward = "model g {
        input 1
        dense 2 as a { activation = relu, weights = [[1e-10, 1e-10]], bias_values = [0, 0] }
        dense 1 as out { activation = sigmoid, weights = [[1e30], [1e30]], bias_values = [0] }
        loss binary_crossentropy
    }
    data { x = [[1e10]] \n y = [[0]] }
    train { epochs = 1, optimizer = sgd(lr = 0.1) }";
    assert_eq!(diverged_value(backward, Level::Full), "grad(a.weight) at epoch 1 step 1");
    assert_eq!(diverged_value(backward, Level::Epoch), "grad(a.weight) at epoch 1 step 1");
}
