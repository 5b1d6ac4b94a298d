//! Each optimiser's first three updates on a fixed two-layer network, checked in f64 to
//! 1e-12 against PyTorch's update rules written out independently here, scalar by scalar,
//! from the gradients the run reports.

use nnc::train::events::{Event, Level, Stage};

/// A fixed 2-2-1 network, 3 examples, full batch.
fn spec(optimizer: &str) -> String {
    format!(
        "model fixed {{
            input 2
            dense 2 as hidden {{ activation = tanh, weights = [[0.5, -0.3], [0.2, 0.8]], bias_values = [0.1, -0.1] }}
            dense 1 as out {{ weights = [[0.7], [-0.4]], bias_values = [0.05] }}
            loss mse
        }}
        data {{
            x = [[1, 2], [0.5, -1], [-1.5, 0.3]]
            y = [[1], [0], [-0.5]]
        }}
        train {{
            optimizer = {optimizer}
            epochs = 3
            dtype = f64
        }}"
    )
}

/// Per step: the gradients and the updated parameters, each flattened in parameter order.
fn steps(optimizer: &str) -> (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (program, _) = nnc::compile(&spec(optimizer), nnc::Syntax::Nn).unwrap();
    let data = nnc::data::prepare(&program, &mut |_: &str| Err(String::new())).unwrap();
    let initial: Vec<f64> =
        nnc::train::init::initial_params::<f64>(&program.graph, 0).iter().flat_map(|p| p.iter().copied()).collect();
    let (mut grads, mut updates) = (vec![Vec::new(); 3], vec![Vec::new(); 3]);
    nnc::train::train(&program, &data, Level::Full, &mut |e| {
        if let Event::Tensor { step, stage, tensor, .. } = e {
            let k = (*step - 1) as usize;
            match stage {
                Stage::Gradient => grads[k].extend(&tensor.values),
                Stage::Update => updates[k].extend(&tensor.values),
                Stage::Forward => {}
            }
        }
    })
    .unwrap();
    (initial, grads, updates)
}

/// Runs `rule` (which updates one parameter element given its gradient, step number and
/// state) on every element and compares with nnc's updates.
fn check(optimizer: &str, mut rule: impl FnMut(f64, f64, i32, &mut [f64; 2]) -> f64) {
    let (mut p, grads, updates) = steps(optimizer);
    let mut state = vec![[0.0; 2]; p.len()];
    for t in 0..3 {
        for j in 0..p.len() {
            p[j] = rule(p[j], grads[t][j], t as i32 + 1, &mut state[j]);
            assert!(
                (p[j] - updates[t][j]).abs() <= 1e-12,
                "{optimizer}: step {} element {j}: {} vs {}",
                t + 1,
                updates[t][j],
                p[j]
            );
        }
    }
}

#[test]
fn sgd_plain_momentum_nesterov_and_weight_decay() {
    check("sgd(lr = 0.1)", |p, g, _, _| p - 0.1 * g);
    check("sgd(lr = 0.1, momentum = 0.9, weight_decay = 0.01)", |p, g, t, s| {
        let g = g + 0.01 * p;
        s[0] = if t == 1 { g } else { 0.9 * s[0] + g };
        p - 0.1 * s[0]
    });
    check("sgd(lr = 0.1, momentum = 0.9, nesterov = true)", |p, g, t, s| {
        s[0] = if t == 1 { g } else { 0.9 * s[0] + g };
        p - 0.1 * (g + 0.9 * s[0])
    });
}

#[test]
fn adam_and_adamw() {
    let adam = |wd: f64, decoupled: bool| {
        move |p: f64, g: f64, t: i32, s: &mut [f64; 2]| {
            let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-8);
            let p = if decoupled { p * (1.0 - lr * wd) } else { p };
            let g = if decoupled { g } else { g + wd * p };
            s[0] = b1 * s[0] + (1.0 - b1) * g;
            s[1] = b2 * s[1] + (1.0 - b2) * g * g;
            let m_hat = s[0] / (1.0 - b1.powi(t));
            let v_hat = s[1] / (1.0 - b2.powi(t));
            p - lr * m_hat / (v_hat.sqrt() + eps)
        }
    };
    check("adam(lr = 0.01)", adam(0.0, false));
    check("adam(lr = 0.01, weight_decay = 0.1)", adam(0.1, false));
    check("adamw(lr = 0.01, weight_decay = 0.1)", adam(0.1, true));
}

#[test]
fn rmsprop_with_and_without_momentum() {
    check("rmsprop(lr = 0.01)", |p, g, _, s| {
        s[0] = 0.99 * s[0] + 0.01 * g * g;
        p - 0.01 * g / (s[0].sqrt() + 1e-8)
    });
    check("rmsprop(lr = 0.01, rho = 0.9, momentum = 0.5)", |p, g, _, s| {
        s[0] = 0.9 * s[0] + 0.1 * g * g;
        s[1] = 0.5 * s[1] + g / (s[0].sqrt() + 1e-8);
        p - 0.01 * s[1]
    });
}

#[test]
fn adagrad() {
    check("adagrad(lr = 0.1)", |p, g, _, s| {
        s[0] += g * g;
        p - 0.1 * g / (s[0].sqrt() + 1e-10)
    });
}

#[test]
fn schedules_and_warmup_follow_their_formulas() {
    use nnc::program::Schedule;
    let lr = 0.1;
    assert_eq!(Schedule::Constant.lr(lr, 0, 7), 0.1);
    assert_eq!(Schedule::Step { every: 2, gamma: 0.5 }.lr(lr, 0, 1), 0.1);
    assert_eq!(Schedule::Step { every: 2, gamma: 0.5 }.lr(lr, 0, 3), 0.05);
    assert!((Schedule::Exponential { gamma: 0.9 }.lr(lr, 0, 3) - 0.1 * 0.81).abs() < 1e-15);
    let cosine = Schedule::Cosine { epochs: 10, min_lr: 0.01 };
    assert_eq!(cosine.lr(lr, 0, 1), 0.1);
    assert!((cosine.lr(lr, 0, 6) - 0.055).abs() < 1e-12);
    assert!((cosine.lr(lr, 0, 50) - 0.01).abs() < 1e-15);
    // Linear warmup over 4 epochs, then the schedule starts from its first epoch.
    assert_eq!(cosine.lr(lr, 4, 2), 0.05);
    assert_eq!(cosine.lr(lr, 4, 5), 0.1);
}
