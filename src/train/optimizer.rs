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

use ndarray::{ArrayD, Zip};

use crate::program::Optimizer;
use crate::runtime::Scalar;

/// An optimiser's state for every parameter: up to two buffers each, and the step count.
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
    /// Zeroed state for parameters shaped like `params`.
    pub fn new(params: &[ArrayD<T>]) -> Self {
        let zeros = || params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
        OptimizerState { step: 0, first: zeros(), second: zeros() }
    }
}

/// Applies one update to the parameters at `indices`, with learning rate `lr` (the
/// optimiser's own, after any schedule). Advances the step count once.
pub fn update<T: Scalar>(
    opt: &Optimizer,
    lr: f64,
    state: &mut OptimizerState<T>,
    params: &mut [ArrayD<T>],
    grads: &[ArrayD<T>],
    indices: &[usize],
) {
    state.step += 1;
    let t = state.step as i32;
    let c = T::of_f64;
    let lr_t = c(lr);
    for &i in indices {
        let (p, g) = (&mut params[i], &grads[i]);
        let (s1, s2) = (&mut state.first[i], &mut state.second[i]);
        match *opt {
            Optimizer::Sgd { momentum, nesterov, weight_decay, .. } => {
                let (mu, wd) = (c(momentum), c(weight_decay));
                let first = t == 1;
                Zip::from(p).and(g).and(s1).for_each(|p, &g, b| {
                    let mut g = g + wd * *p;
                    if momentum != 0.0 {
                        *b = if first { g } else { mu * *b + g };
                        g = if nesterov { g + mu * *b } else { *b };
                    }
                    *p = *p - lr_t * g;
                });
            }
            Optimizer::Adam { beta1, beta2, eps, weight_decay, .. }
            | Optimizer::AdamW { beta1, beta2, eps, weight_decay, .. } => {
                let decoupled = matches!(opt, Optimizer::AdamW { .. });
                let (b1, b2, e, wd) = (c(beta1), c(beta2), c(eps), c(weight_decay));
                let step_size = c(lr / (1.0 - beta1.powi(t)));
                let bc2_sqrt = c((1.0 - beta2.powi(t)).sqrt());
                let one = T::one();
                Zip::from(p).and(g).and(s1).and(s2).for_each(|p, &g, m, v| {
                    let g = if decoupled {
                        *p = *p * (one - lr_t * wd);
                        g
                    } else {
                        g + wd * *p
                    };
                    *m = b1 * *m + (one - b1) * g;
                    *v = b2 * *v + (one - b2) * g * g;
                    *p = *p - step_size * *m / ((*v).sqrt() / bc2_sqrt + e);
                });
            }
            Optimizer::RmsProp { rho, eps, momentum, weight_decay, .. } => {
                let (r, e, mu, wd) = (c(rho), c(eps), c(momentum), c(weight_decay));
                let one = T::one();
                Zip::from(p).and(g).and(s1).and(s2).for_each(|p, &g, v, b| {
                    let g = g + wd * *p;
                    *v = r * *v + (one - r) * g * g;
                    let avg = (*v).sqrt() + e;
                    if momentum > 0.0 {
                        *b = mu * *b + g / avg;
                        *p = *p - lr_t * *b;
                    } else {
                        *p = *p - lr_t * g / avg;
                    }
                });
            }
            Optimizer::Adagrad { eps, weight_decay, .. } => {
                let (e, wd) = (c(eps), c(weight_decay));
                Zip::from(p).and(g).and(s1).for_each(|p, &g, s| {
                    let g = g + wd * *p;
                    *s = *s + g * g;
                    *p = *p - lr_t * g / ((*s).sqrt() + e);
                });
            }
        }
    }
}
