//! One kernel per op, written once for f32 and f64. Every kernel writes into an output
//! buffer it is given, so the interpreter can allocate buffers once per batch shape.
//! Reductions run in a fixed order, so results never depend on threads or timing.

use ndarray::{
    ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut1, ArrayViewMut2, ArrayViewMutD, Zip, linalg::general_mat_mul,
};

use crate::ir::op::CLIP_EPS;
use crate::ir::{Activation, Loss};
use crate::runtime::scalar::Scalar;

/// out = op(a) · op(b).
pub fn matmul<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>, ta: bool, tb: bool, mut out: ArrayViewMut2<T>) {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    general_mat_mul(T::one(), &a, &b, T::zero(), &mut out);
}

/// out = a + b.
pub fn add<T: Scalar>(a: ArrayViewD<T>, b: ArrayViewD<T>, out: ArrayViewMutD<T>) {
    Zip::from(out).and(&a).and(&b).for_each(|o, &a, &b| *o = a + b);
}

/// Every row of out = v.
pub fn broadcast<T: Scalar>(v: ArrayView1<T>, mut out: ArrayViewMut2<T>) {
    for mut row in out.rows_mut() {
        row.assign(&v);
    }
}

/// out = the sum of m's rows, added in row order.
pub fn sum_rows<T: Scalar>(m: ArrayView2<T>, mut out: ArrayViewMut1<T>) {
    out.fill(T::zero());
    for row in m.rows() {
        Zip::from(&mut out).and(&row).for_each(|o, &r| *o = *o + r);
    }
}

fn sigmoid<T: Scalar>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// out = f(x).
pub fn activate<T: Scalar>(f: Activation, x: ArrayViewD<T>, out: ArrayViewMutD<T>) {
    let z = Zip::from(out).and(&x);
    match f {
        Activation::Sigmoid => z.for_each(|o, &x| *o = sigmoid(x)),
        Activation::Tanh => z.for_each(|o, &x| *o = x.tanh()),
        Activation::Relu => z.for_each(|o, &x| *o = if x > T::zero() { x } else { T::zero() }),
    }
}

/// out = f'(x) · dy, using y = f(x) where that is cheaper.
pub fn activate_grad<T: Scalar>(
    f: Activation,
    x: ArrayViewD<T>,
    y: ArrayViewD<T>,
    dy: ArrayViewD<T>,
    out: ArrayViewMutD<T>,
) {
    let z = Zip::from(out).and(&x).and(&y).and(&dy);
    match f {
        Activation::Sigmoid => z.for_each(|o, _, &y, &d| *o = d * y * (T::one() - y)),
        Activation::Tanh => z.for_each(|o, _, &y, &d| *o = d * (T::one() - y * y)),
        Activation::Relu => z.for_each(|o, &x, _, &d| *o = if x > T::zero() { d } else { T::zero() }),
    }
}

/// Row-wise softmax, shifted by the row maximum so that exp never overflows.
pub fn softmax<T: Scalar>(x: ArrayView2<T>, mut out: ArrayViewMut2<T>) {
    for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
        let max = xr.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let mut sum = T::zero();
        for (o, &v) in or.iter_mut().zip(xr.iter()) {
            *o = (v - max).exp();
            sum = sum + *o;
        }
        or.mapv_inplace(|v| v / sum);
    }
}

/// Softmax's vector-Jacobian product: out = y (dy - sum(dy y)) per row.
pub fn softmax_grad<T: Scalar>(y: ArrayView2<T>, dy: ArrayView2<T>, mut out: ArrayViewMut2<T>) {
    for ((yr, dr), mut or) in y.rows().into_iter().zip(dy.rows()).zip(out.rows_mut()) {
        let s = yr.iter().zip(dr.iter()).fold(T::zero(), |s, (&y, &d)| s + y * d);
        Zip::from(&mut or).and(&yr).and(&dr).for_each(|o, &y, &d| *o = y * (d - s));
    }
}

fn clip<T: Scalar>(p: T) -> T {
    let eps = T::of_f64(CLIP_EPS);
    p.max(eps).min(T::one() - eps)
}

fn inside_clip<T: Scalar>(p: T) -> bool {
    let eps = T::of_f64(CLIP_EPS);
    p >= eps && p <= T::one() - eps
}

/// The loss of predictions `p` against targets `t`, as a mean over the batch.
pub fn loss<T: Scalar>(kind: Loss, p: ArrayView2<T>, t: ArrayView2<T>) -> T {
    let rows = T::of_f64(p.nrows() as f64);
    let elems = T::of_f64(p.len() as f64);
    let mut sum = T::zero();
    match kind {
        Loss::Mse => Zip::from(&p).and(&t).for_each(|&p, &t| sum = sum + (p - t) * (p - t)),
        Loss::BinaryCrossentropy => Zip::from(&p).and(&t).for_each(|&p, &t| {
            let p = clip(p);
            sum = sum - (t * p.ln() + (T::one() - t) * (T::one() - p).ln());
        }),
        Loss::CategoricalCrossentropy => Zip::from(&p).and(&t).for_each(|&p, &t| sum = sum - t * clip(p).ln()),
    }
    match kind {
        Loss::CategoricalCrossentropy => sum / rows,
        Loss::Mse | Loss::BinaryCrossentropy => sum / elems,
    }
}

/// The loss's gradient with respect to `p`, times `dl`. Zero where `p` was clipped.
pub fn loss_grad<T: Scalar>(kind: Loss, p: ArrayView2<T>, t: ArrayView2<T>, dl: T, out: ArrayViewMut2<T>) {
    let rows = T::of_f64(p.nrows() as f64);
    let elems = T::of_f64(p.len() as f64);
    let two = T::of_f64(2.0);
    let z = Zip::from(out).and(&p).and(&t);
    match kind {
        Loss::Mse => z.for_each(|o, &p, &t| *o = dl * two * (p - t) / elems),
        Loss::BinaryCrossentropy => z.for_each(|o, &p, &t| {
            *o = if inside_clip(p) { dl * (p - t) / (p * (T::one() - p)) / elems } else { T::zero() }
        }),
        Loss::CategoricalCrossentropy => {
            z.for_each(|o, &p, &t| *o = if inside_clip(p) { -dl * t / p / rows } else { T::zero() })
        }
    }
}

/// The gradient with respect to the logits of softmax + categorical cross-entropy
/// (`dl (p sum(t) - t) / rows` per row) or sigmoid + binary cross-entropy
/// (`dl (p - t) / elements`), given the probabilities `p`.
pub fn logits_loss_grad<T: Scalar>(kind: Loss, p: ArrayView2<T>, t: ArrayView2<T>, dl: T, mut out: ArrayViewMut2<T>) {
    let rows = T::of_f64(p.nrows() as f64);
    let elems = T::of_f64(p.len() as f64);
    match kind {
        Loss::CategoricalCrossentropy => {
            for ((pr, tr), mut or) in p.rows().into_iter().zip(t.rows()).zip(out.rows_mut()) {
                let total = tr.iter().fold(T::zero(), |s, &v| s + v);
                Zip::from(&mut or).and(&pr).and(&tr).for_each(|o, &p, &t| *o = dl * (p * total - t) / rows);
            }
        }
        Loss::BinaryCrossentropy | Loss::Mse => {
            Zip::from(out).and(&p).and(&t).for_each(|o, &p, &t| *o = dl * (p - t) / elems);
        }
    }
}

/// Views a value as a matrix; the IR's shape rules guarantee the rank.
pub fn as2<T>(v: ArrayViewD<'_, T>) -> ArrayView2<'_, T> {
    v.into_dimensionality().expect("the shape rule makes this value a matrix")
}

/// Views a value as a vector; the IR's shape rules guarantee the rank.
pub fn as1<T>(v: ArrayViewD<'_, T>) -> ArrayView1<'_, T> {
    v.into_dimensionality().expect("the shape rule makes this value a vector")
}

/// Views an output buffer as a matrix.
pub fn as2_mut<T>(v: ArrayViewMutD<'_, T>) -> ArrayViewMut2<'_, T> {
    v.into_dimensionality().expect("the shape rule makes this value a matrix")
}

/// Views an output buffer as a vector.
pub fn as1_mut<T>(v: ArrayViewMutD<'_, T>) -> ArrayViewMut1<'_, T> {
    v.into_dimensionality().expect("the shape rule makes this value a vector")
}

/// Sums along no axis: the single element of a scalar value.
pub fn scalar<T: Scalar>(v: ArrayViewD<T>) -> T {
    v.iter().next().copied().unwrap_or_else(T::nan)
}
