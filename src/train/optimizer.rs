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
use crate::runtime::flat::values_mut;
use crate::runtime::kernels::all_finite;
use crate::runtime::threads::{PIECE, worth_cutting};

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
        let (first, second) = Rule::<T>::new(opt, 0.0, 1).buffers();
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

/// Parameters of at least this many elements are updated on every thread, in halves down
/// to `threads::PIECE` elements: each element's update reads only its own values, so the
/// result is the same bits however the work is cut. Updates are checked for NaN a piece
/// at a time, while it is in cache.
const PARALLEL_MIN: usize = 1 << 16;

/// One step's update rule with its constants in the run's float type.
#[derive(Clone, Copy)]
enum Rule<T> {
    Sgd { lr: T, mu: T, wd: T, momentum: bool, first: bool, nesterov: bool },
    Adam { decoupled: bool, lr: T, b1: T, b2: T, e: T, wd: T, step_size: T, bc2_sqrt: T },
    RmsProp { lr: T, r: T, e: T, mu: T, wd: T, momentum: bool },
    Adagrad { lr: T, e: T, wd: T },
}

impl<T: Scalar> Rule<T> {
    /// The rule of `opt` at step `t` (from 1) with learning rate `lr`.
    fn new(opt: &Optimizer, lr: f64, t: i32) -> Rule<T> {
        let c = T::of_f64;
        match *opt {
            Optimizer::Sgd { momentum, nesterov, weight_decay, .. } => Rule::Sgd {
                lr: c(lr),
                mu: c(momentum),
                wd: c(weight_decay),
                momentum: momentum != 0.0,
                first: t == 1,
                nesterov,
            },
            // Adam's bias corrections, once per step.
            Optimizer::Adam { beta1, beta2, eps, weight_decay, .. }
            | Optimizer::AdamW { beta1, beta2, eps, weight_decay, .. } => Rule::Adam {
                decoupled: matches!(opt, Optimizer::AdamW { .. }),
                lr: c(lr),
                b1: c(beta1),
                b2: c(beta2),
                e: c(eps),
                wd: c(weight_decay),
                step_size: c(lr / (1.0 - beta1.powi(t))),
                bc2_sqrt: c((1.0 - beta2.powi(t)).sqrt()),
            },
            Optimizer::RmsProp { rho, eps, momentum, weight_decay, .. } => Rule::RmsProp {
                lr: c(lr),
                r: c(rho),
                e: c(eps),
                mu: c(momentum),
                wd: c(weight_decay),
                momentum: momentum > 0.0,
            },
            Optimizer::Adagrad { eps, weight_decay, .. } => Rule::Adagrad { lr: c(lr), e: c(eps), wd: c(weight_decay) },
        }
    }

    /// Which of the two buffers the rule reads and writes.
    fn buffers(self) -> (bool, bool) {
        match self {
            Rule::Sgd { momentum, .. } => (momentum, false),
            Rule::Adam { .. } => (true, true),
            Rule::RmsProp { momentum, .. } => (true, momentum),
            Rule::Adagrad { .. } => (true, false),
        }
    }

    /// Updates the parameter values `p` with gradients `g` and the optimiser's buffers
    /// `s1`, `s2` (empty when the rule does not use them), element by element.
    fn apply(self, p: &mut [T], g: &[T], s1: &mut [T], s2: &mut [T]) {
        let one = T::one();
        match self {
            Rule::Sgd { lr, mu, wd, momentum, first, nesterov } => {
                if momentum {
                    for ((p, &g), b) in p.iter_mut().zip(g).zip(s1) {
                        let g = g + wd * *p;
                        *b = if first { g } else { mu * *b + g };
                        let g = if nesterov { g + mu * *b } else { *b };
                        *p = *p - lr * g;
                    }
                } else {
                    for (p, &g) in p.iter_mut().zip(g) {
                        let g = g + wd * *p;
                        *p = *p - lr * g;
                    }
                }
            }
            Rule::Adam { decoupled, lr, b1, b2, e, wd, step_size, bc2_sqrt } => {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(s1).zip(s2) {
                    let g = if decoupled {
                        *p = *p * (one - lr * wd);
                        g
                    } else {
                        g + wd * *p
                    };
                    *m = b1 * *m + (one - b1) * g;
                    *v = b2 * *v + (one - b2) * g * g;
                    *p = *p - step_size * *m / ((*v).sqrt() / bc2_sqrt + e);
                }
            }
            Rule::RmsProp { lr, r, e, mu, wd, momentum } => {
                for (k, (p, &g)) in p.iter_mut().zip(g).enumerate() {
                    let g = g + wd * *p;
                    let v = &mut s1[k];
                    *v = r * *v + (one - r) * g * g;
                    let avg = (*v).sqrt() + e;
                    if momentum {
                        let b = &mut s2[k];
                        *b = mu * *b + g / avg;
                        *p = *p - lr * *b;
                    } else {
                        *p = *p - lr * g / avg;
                    }
                }
            }
            Rule::Adagrad { lr, e, wd } => {
                for ((p, &g), s) in p.iter_mut().zip(g).zip(s1) {
                    let g = g + wd * *p;
                    *s = *s + g * g;
                    *p = *p - lr * g / ((*s).sqrt() + e);
                }
            }
        }
    }

    /// `apply` a piece of `PIECE` elements at a time, checking each piece's new
    /// values while they are still in cache; returns whether all are finite.
    fn apply_checked(self, mut p: &mut [T], mut g: &[T], mut s1: &mut [T], mut s2: &mut [T]) -> bool {
        let mut finite = true;
        while !p.is_empty() {
            let k = p.len().min(PIECE);
            // Buffers the rule does not use are empty and stay so.
            let (k1, k2) = (k.min(s1.len()), k.min(s2.len()));
            let (ph, pt) = std::mem::take(&mut p).split_at_mut(k);
            let (gh, gt) = g.split_at(k.min(g.len()));
            let (ah, at) = std::mem::take(&mut s1).split_at_mut(k1);
            let (bh, bt) = std::mem::take(&mut s2).split_at_mut(k2);
            self.apply(ph, gh, ah, bh);
            finite &= all_finite(ph);
            (p, g, s1, s2) = (pt, gt, at, bt);
        }
        finite
    }

    /// `apply_checked`, on every thread when the parameter is large: halves are updated
    /// side by side (`rayon::join`, no allocation) down to pieces of `PIECE`.
    fn apply_split(self, p: &mut [T], g: &[T], s1: &mut [T], s2: &mut [T]) -> bool {
        if p.len() < 2 * PIECE {
            return self.apply_checked(p, g, s1, s2);
        }
        let mid = p.len() / 2;
        let (p1, p2) = p.split_at_mut(mid);
        let (g1, g2) = g.split_at(mid.min(g.len()));
        let (a1, a2) = s1.split_at_mut(mid.min(s1.len()));
        let (b1, b2) = s2.split_at_mut(mid.min(s2.len()));
        let (x, y) = rayon::join(|| self.apply_split(p1, g1, a1, b1), || self.apply_split(p2, g2, a2, b2));
        x && y
    }
}

/// One step's update, its constants fixed when the step begins (`StepUpdate::begin`),
/// applied to one parameter at a time: a run can update each parameter as soon as its
/// gradient is final, in any order, with the same result.
#[derive(Clone, Copy)]
pub struct StepUpdate<T>(Rule<T>);

impl<T: Scalar> StepUpdate<T> {
    /// Begins a step of `opt` with learning rate `lr` (the optimiser's own, after any
    /// schedule): advances the step count once.
    pub fn begin(opt: &Optimizer, lr: f64, state: &mut OptimizerState<T>) -> Self {
        state.step += 1;
        StepUpdate(Rule::new(opt, lr, state.step as i32))
    }

    /// Updates parameter `i`, whose values are `param`, with `grad` (read where the
    /// backward pass left it: nothing is copied) and its buffers in `state`, in place,
    /// element by element; a large parameter on every thread. Returns whether every new
    /// value is finite.
    pub fn apply(self, state: &mut OptimizerState<T>, i: usize, param: &mut ArrayD<T>, grad: &[T]) -> bool {
        let rule = self.0;
        let p = values_mut(param);
        // Plain SGD has no state: its buffers are empty and never touched.
        let (first, second) = rule.buffers();
        let s1: &mut [T] = if first { values_mut(&mut state.first[i]) } else { &mut [] };
        let s2: &mut [T] = if second { values_mut(&mut state.second[i]) } else { &mut [] };
        if p.len() <= PIECE {
            // One piece (the tutorial's parameters): no pieces to cut.
            rule.apply(p, grad, s1, s2);
            all_finite(p)
        } else if worth_cutting(p.len(), PARALLEL_MIN) {
            rule.apply_split(p, grad, s1, s2)
        } else {
            rule.apply_checked(p, grad, s1, s2)
        }
    }
}

/// One whole step: `StepUpdate` begun and applied to the parameters at `indices`, reading
/// parameter i's gradient from `grad(i)`. Returns whether every updated value is finite.
pub fn update<'g, T: Scalar>(
    opt: &Optimizer,
    lr: f64,
    state: &mut OptimizerState<T>,
    params: &mut [ArrayD<T>],
    grad: impl Fn(usize) -> &'g [T],
    indices: &[usize],
) -> bool {
    let step = StepUpdate::begin(opt, lr, state);
    let mut finite = true;
    for &i in indices {
        finite &= step.apply(state, i, &mut params[i], grad(i));
    }
    finite
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::threads::set_threads;

    /// Every optimiser's update of a parameter cut into several pieces (one thread) or
    /// halves (two threads) is, bit for bit, the rule applied to the whole parameter at
    /// once, buffers included, and every update reports non-finite values.
    #[test]
    fn piecewise_and_threaded_updates_equal_the_whole_update() {
        let opts = [
            Optimizer::Sgd { lr: 0.1, momentum: 0.0, nesterov: false, weight_decay: 0.01 },
            Optimizer::Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0 },
            Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
            Optimizer::AdamW { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 },
            Optimizer::RmsProp { lr: 0.01, rho: 0.9, eps: 1e-8, momentum: 0.5, weight_decay: 0.0 },
            Optimizer::RmsProp { lr: 0.01, rho: 0.9, eps: 1e-8, momentum: 0.0, weight_decay: 0.0 },
            Optimizer::Adagrad { lr: 0.1, eps: 1e-10, weight_decay: 0.0 },
        ];
        let n = PARALLEL_MIN + 3 * PIECE + 7;
        let values =
            |seed: u32| -> Vec<f32> { (0..n as u32).map(|i| ((i * 7 + seed) % 101) as f32 / 50.0 - 1.0).collect() };
        let grad = values(3);
        for opt in &opts {
            let mut results = Vec::new();
            for threads in [1, 2] {
                set_threads(threads);
                let mut params = vec![ArrayD::from_shape_vec(IxDyn(&[n]), values(1)).unwrap()];
                let mut state = OptimizerState::new(opt, &params);
                for _ in 0..2 {
                    assert!(update(opt, opt.lr(), &mut state, &mut params, |_| &grad[..], &[0]));
                }
                results.push((params, state));
            }
            set_threads(1);
            // The rule on the whole slice, twice.
            let mut p = values(1);
            let (first, second) = Rule::<f32>::new(opt, 0.0, 1).buffers();
            let (mut s1, mut s2) = (vec![0.0; if first { n } else { 0 }], vec![0.0; if second { n } else { 0 }]);
            for t in 1..=2 {
                Rule::<f32>::new(opt, opt.lr(), t).apply(&mut p, &grad, &mut s1, &mut s2);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for (params, state) in &results {
                assert_eq!(bits(params[0].as_slice().unwrap()), bits(&p), "{opt}");
                if first {
                    assert_eq!(bits(state.first[0].as_slice().unwrap()), bits(&s1), "{opt}");
                }
                if second {
                    assert_eq!(bits(state.second[0].as_slice().unwrap()), bits(&s2), "{opt}");
                }
            }
            assert_ne!(bits(&p), bits(&values(1)), "{opt} changed nothing");
            // A non-finite gradient in the last piece is reported.
            let mut params = vec![ArrayD::from_shape_vec(IxDyn(&[n]), values(1)).unwrap()];
            let mut state = OptimizerState::new(opt, &params);
            let mut bad = grad.clone();
            bad[n - 1] = f32::INFINITY;
            assert!(!update(opt, opt.lr(), &mut state, &mut params, |_| &bad[..], &[0]), "{opt}");
        }
    }
}
