//! Optimisers, with PyTorch's update rules, and their state (moment estimates, momentum
//! buffers, step count), which is part of what a run carries.
//!
//! For a parameter p with gradient g at step t (from 1), learning rate lr:
//! - `sgd(lr, momentum, nesterov, weight_decay)`: g += wd·p; b = g (t = 1) or μ·b + g;
//!   g = g + μ·b if nesterov else b (when μ > 0); p -= lr·g.
//! - `adam(lr, beta1, beta2, eps, weight_decay)`: g += wd·p; m = β1·m + (1−β1)·g;
//!   v = β2·v + (1−β2)·g²; p -= (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps).
//! - `adamw(...)`: as adam, but p *= 1 − lr·wd first instead of adding wd·p to g.
//! - `rmsprop(lr, rho, eps, momentum, weight_decay)`: g += wd·p; v = ρ·v + (1−ρ)·g²;
//!   a = sqrt(v) + eps; with μ > 0: b = μ·b + g/a, p -= lr·b; else p -= lr·g/a.
//! - `adagrad(lr, eps, weight_decay)`: g += wd·p; s += g²; p -= lr·g / (sqrt(s) + eps).

use ndarray::{ArrayD, IxDyn};

use crate::program::Optimizer;
use crate::runtime::Scalar;

/// An optimiser's state for every parameter: up to two buffers each, and the step count.
/// A buffer the optimiser does not use (plain SGD has none) is empty, so that it costs no
/// memory; checkpoints store it as zeros shaped like its parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T> {
    /// Steps taken so far.
    pub step: u64,
    /// First buffer per parameter (momentum, first moment, square average, sum of squares).
    pub first: Vec<ArrayD<T>>,
    /// Second buffer per parameter (second moment; momentum for rmsprop).
    pub second: Vec<ArrayD<T>>,
}

impl<T: Scalar> OptimizerState<T> {
    /// Zeroed state for parameters shaped like `params`: the buffers `opt` uses.
    pub fn new(opt: &Optimizer, params: &[ArrayD<T>]) -> Self {
        let (first, second) = match *opt {
            Optimizer::Sgd { momentum, .. } => (momentum != 0.0, false),
            Optimizer::Adam { .. } | Optimizer::AdamW { .. } => (true, true),
            Optimizer::RmsProp { momentum, .. } => (true, momentum > 0.0),
            Optimizer::Adagrad { .. } => (true, false),
        };
        let buffers = |used: bool| {
            params.iter().map(|p| if used { ArrayD::zeros(p.raw_dim()) } else { ArrayD::zeros(IxDyn(&[0])) }).collect()
        };
        OptimizerState { step: 0, first: buffers(first), second: buffers(second) }
    }

    /// The state in f64 with every buffer shaped like its parameter (unused ones zero),
    /// as checkpoints store it.
    pub fn to_f64(&self, params: &[ArrayD<T>]) -> OptimizerState<f64> {
        let full = |buffers: &[ArrayD<T>]| {
            buffers
                .iter()
                .zip(params)
                .map(|(b, p)| if b.shape() == p.shape() { b.mapv(|v| v.as_f64()) } else { ArrayD::zeros(p.raw_dim()) })
                .collect()
        };
        OptimizerState { step: self.step, first: full(&self.first), second: full(&self.second) }
    }
}

/// A buffer as a mutable slice (buffers are row-major).
fn flat<T>(a: &mut ArrayD<T>) -> &mut [T] {
    a.as_slice_mut().expect("parameters and optimiser buffers are stored row-major")
}

/// Applies one update to the parameters at `indices`, with learning rate `lr` (the
/// optimiser's own, after any schedule), reading parameter i's gradient from `grad(i)`
/// (where the backward pass left it: nothing is copied). Advances the step count once.
/// Each update is made in place, element by element.
pub fn update<'g, T: Scalar>(
    opt: &Optimizer,
    lr: f64,
    state: &mut OptimizerState<T>,
    params: &mut [ArrayD<T>],
    grad: impl Fn(usize) -> &'g [T],
    indices: &[usize],
) {
    state.step += 1;
    let t = state.step as i32;
    let c = T::of_f64;
    let lr_t = c(lr);
    // Adam's bias corrections, once per step (and never for the other optimisers).
    let (step_size, bc2_sqrt) = match *opt {
        Optimizer::Adam { beta1, beta2, .. } | Optimizer::AdamW { beta1, beta2, .. } => {
            (c(lr / (1.0 - beta1.powi(t))), c((1.0 - beta2.powi(t)).sqrt()))
        }
        _ => (T::zero(), T::one()),
    };
    for &i in indices {
        let p = flat(&mut params[i]);
        let g = grad(i);
        // Plain SGD has no state: its buffers are not touched.
        let (buf1, buf2) = (&mut state.first[i], &mut state.second[i]);
        match *opt {
            Optimizer::Sgd { momentum, nesterov, weight_decay, .. } => {
                let (mu, wd) = (c(momentum), c(weight_decay));
                if momentum != 0.0 {
                    let first = t == 1;
                    for ((p, &g), b) in p.iter_mut().zip(g).zip(flat(buf1)) {
                        let g = g + wd * *p;
                        *b = if first { g } else { mu * *b + g };
                        let g = if nesterov { g + mu * *b } else { *b };
                        *p = *p - lr_t * g;
                    }
                } else {
                    for (p, &g) in p.iter_mut().zip(g) {
                        let g = g + wd * *p;
                        *p = *p - lr_t * g;
                    }
                }
            }
            Optimizer::Adam { beta1, beta2, eps, weight_decay, .. }
            | Optimizer::AdamW { beta1, beta2, eps, weight_decay, .. } => {
                let decoupled = matches!(opt, Optimizer::AdamW { .. });
                let (b1, b2, e, wd) = (c(beta1), c(beta2), c(eps), c(weight_decay));
                let one = T::one();
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(flat(buf1)).zip(flat(buf2)) {
                    let g = if decoupled {
                        *p = *p * (one - lr_t * wd);
                        g
                    } else {
                        g + wd * *p
                    };
                    *m = b1 * *m + (one - b1) * g;
                    *v = b2 * *v + (one - b2) * g * g;
                    *p = *p - step_size * *m / ((*v).sqrt() / bc2_sqrt + e);
                }
            }
            Optimizer::RmsProp { rho, eps, momentum, weight_decay, .. } => {
                let (r, e, mu, wd) = (c(rho), c(eps), c(momentum), c(weight_decay));
                let one = T::one();
                let (s1, s2) = (flat(buf1), flat(buf2));
                for (k, (p, &g)) in p.iter_mut().zip(g).enumerate() {
                    let g = g + wd * *p;
                    let v = &mut s1[k];
                    *v = r * *v + (one - r) * g * g;
                    let avg = (*v).sqrt() + e;
                    if momentum > 0.0 {
                        let b = &mut s2[k];
                        *b = mu * *b + g / avg;
                        *p = *p - lr_t * *b;
                    } else {
                        *p = *p - lr_t * g / avg;
                    }
                }
            }
            Optimizer::Adagrad { eps, weight_decay, .. } => {
                let (e, wd) = (c(eps), c(weight_decay));
                for ((p, &g), s) in p.iter_mut().zip(g).zip(flat(buf1)) {
                    let g = g + wd * *p;
                    *s = *s + g * g;
                    *p = *p - lr_t * g / ((*s).sqrt() + e);
                }
            }
        }
    }
}
