//! Forward differences, the tutorial's way for a step to get its gradients (backprop
//! is the differentiated graph, which the training loop runs on the executor).

use ndarray::ArrayD;

use crate::runtime::{Executor, Scalar};

/// Forward differences, as the tutorial computes them: for each parameter element, add
/// `step`, recompute the loss, and take (loss_after - loss_before) / step. Parameters are
/// restored exactly after each probe. Frozen parameters are not probed. Expects the
/// forward pass to have run already, so that `exec` holds `loss_before`; leaves the
/// executor holding a probe's values. `probe(i, j, after)` hears of every probe.
pub fn finite_difference<T: Scalar>(
    exec: &mut Executor<T>,
    params: &mut [ArrayD<T>],
    step: f64,
    grads: &mut [ArrayD<T>],
    probe: &mut dyn FnMut(usize, usize, T),
) {
    let n = exec.graph().insts.len();
    let loss = exec.graph().loss;
    let before = exec.scalar(loss, params);
    let h = T::of_f64(step);
    let trainable: Vec<bool> = exec.graph().params.iter().map(|p| exec.graph().is_trainable(*p)).collect();
    for i in (0..params.len()).filter(|i| trainable[*i]) {
        for j in 0..params[i].len() {
            let original = params[i].as_slice_memory_order().map_or(T::zero(), |s| s[j]);
            set(&mut params[i], j, original + h);
            exec.run(params, 0..n);
            let after = exec.scalar(loss, params);
            probe(i, j, after);
            set(&mut grads[i], j, (after - before) / h);
            set(&mut params[i], j, original);
        }
    }
}

fn set<T: Scalar>(a: &mut ArrayD<T>, j: usize, v: T) {
    if let Some(s) = a.as_slice_memory_order_mut() {
        s[j] = v;
    }
}
