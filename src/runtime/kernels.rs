//! One kernel per op, written once for f32 and f64. Every kernel writes into an output
//! buffer it is given, so the interpreter can allocate buffers once per batch shape.
//! Reductions run in a fixed order, so results never depend on threads or timing.

use ndarray::{
    ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut1, ArrayViewMut2, ArrayViewMutD, Zip, linalg::general_mat_mul,
};

use crate::ir::op::CLIP_EPS;
use crate::ir::{Activation, Loss};
use crate::runtime::scalar::Scalar;
use crate::runtime::threads::threads;

/// Products of at least this many multiply-adds go through `gemm` (AVX-512 kernels, and
/// threads); smaller ones stay on `matrixmultiply`, whose summation order the tutorial's
/// pinned numbers and the specs' snapshots were computed with.
pub const GEMM_MIN_WORK: usize = 1 << 18;

/// Products of at most this many multiply-adds (and `TINY_K` terms per sum) are summed
/// directly: for the tutorial's networks the call overhead of a blocked kernel dominates.
const TINY_WORK: usize = 4096;
/// The longest sum the direct path takes.
const TINY_K: usize = 64;

/// out = op(a) · op(b).
pub fn matmul<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>, ta: bool, tb: bool, mut out: ArrayViewMut2<T>) {
    let a = if ta { a.reversed_axes() } else { a };
    let b = if tb { b.reversed_axes() } else { b };
    let (m, k) = a.dim();
    let n = b.ncols();
    let work = m.saturating_mul(n).saturating_mul(k);
    if work <= TINY_WORK && k <= TINY_K {
        // The same sums as matrixmultiply's FMA kernel (one fused multiply-add per term,
        // in k order, from zero), without its packing buffers.
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::zero();
                for p in 0..k {
                    acc = a[[i, p]].mul_add(b[[p, j]], acc);
                }
                out[[i, j]] = acc;
            }
        }
        return;
    }
    if work < GEMM_MIN_WORK {
        general_mat_mul(T::one(), &a, &b, T::zero(), &mut out);
        return;
    }
    let parallelism = match threads() {
        1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    };
    let (os, as_, bs) = (out.strides().to_vec(), a.strides(), b.strides());
    // SAFETY: the three views are valid for their shapes and strides, `out` is borrowed
    // mutably and so aliases neither input, and `read_dst = false` means gemm only writes
    // `out` (out = 1 · a·b).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            os[1],
            os[0],
            false,
            a.as_ptr(),
            as_[1],
            as_[0],
            b.as_ptr(),
            bs[1],
            bs[0],
            T::zero(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
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

/// The standard normal CDF Φ(x), through f64's erf.
fn normal_cdf<T: Scalar>(x: T) -> T {
    T::of_f64(0.5 * (1.0 + libm::erf(x.as_f64() / std::f64::consts::SQRT_2)))
}

/// f(x) for one element.
pub fn activation<T: Scalar>(f: Activation, x: T) -> T {
    let zero = T::zero();
    match f {
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Relu => {
            if x > zero {
                x
            } else {
                zero
            }
        }
        Activation::LeakyRelu(a) => {
            if x > zero {
                x
            } else {
                T::of_f64(a) * x
            }
        }
        Activation::Elu(a) => {
            if x > zero {
                x
            } else {
                T::of_f64(a) * x.exp_m1()
            }
        }
        Activation::Gelu => x * normal_cdf(x),
        Activation::Softplus => x.max(zero) + (-x.abs()).exp().ln_1p(),
        Activation::Swish => x * sigmoid(x),
    }
}

/// f'(x) for one element, given y = f(x) where that is cheaper.
pub fn activation_grad<T: Scalar>(f: Activation, x: T, y: T) -> T {
    let (zero, one) = (T::zero(), T::one());
    match f {
        Activation::Sigmoid => y * (one - y),
        Activation::Tanh => one - y * y,
        Activation::Relu => {
            if x > zero {
                one
            } else {
                zero
            }
        }
        Activation::LeakyRelu(a) => {
            if x > zero {
                one
            } else {
                T::of_f64(a)
            }
        }
        Activation::Elu(a) => {
            if x > zero {
                one
            } else {
                y + T::of_f64(a)
            }
        }
        Activation::Gelu => {
            let density = (-(x * x) / T::of_f64(2.0)).exp() / T::of_f64((2.0 * std::f64::consts::PI).sqrt());
            normal_cdf(x) + x * density
        }
        Activation::Softplus => sigmoid(x),
        Activation::Swish => {
            let s = sigmoid(x);
            s + x * s * (one - s)
        }
    }
}

/// out = f(x).
pub fn activate<T: Scalar>(f: Activation, x: ArrayViewD<T>, out: ArrayViewMutD<T>) {
    Zip::from(out).and(&x).for_each(|o, &x| *o = activation(f, x));
}

/// out = f'(x) · dy.
pub fn activate_grad<T: Scalar>(
    f: Activation,
    x: ArrayViewD<T>,
    y: ArrayViewD<T>,
    dy: ArrayViewD<T>,
    out: ArrayViewMutD<T>,
) {
    Zip::from(out).and(&x).and(&y).and(&dy).for_each(|o, &x, &y, &d| *o = d * activation_grad(f, x, y));
}

/// out = a · b, elementwise.
pub fn mul<T: Scalar>(a: ArrayViewD<T>, b: ArrayViewD<T>, out: ArrayViewMutD<T>) {
    Zip::from(out).and(&a).and(&b).for_each(|o, &a, &b| *o = a * b);
}

/// l1·Σ|w| + l2·Σw², summed in memory order.
pub fn penalty<T: Scalar>(l1: f64, l2: f64, w: ArrayViewD<T>) -> T {
    let (l1, l2) = (T::of_f64(l1), T::of_f64(l2));
    w.iter().fold(T::zero(), |s, &w| s + l1 * w.abs() + l2 * w * w)
}

/// out = dl·(l1·sign(w) + 2·l2·w), with sign(0) = 0.
pub fn penalty_grad<T: Scalar>(l1: f64, l2: f64, w: ArrayViewD<T>, dl: T, out: ArrayViewMutD<T>) {
    let (l1, l2, two) = (T::of_f64(l1), T::of_f64(l2), T::of_f64(2.0));
    Zip::from(out).and(&w).for_each(|o, &w| {
        let sign = if w > T::zero() {
            T::one()
        } else if w < T::zero() {
            -T::one()
        } else {
            T::zero()
        };
        *o = dl * (l1 * sign + two * l2 * w);
    });
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

/// The class index a sparse target row holds, if it is a valid one for `k` classes.
fn class_index<T: Scalar>(t: T, k: usize) -> Option<usize> {
    let v = t.as_f64();
    (v >= 0.0 && v.fract() == 0.0 && v < k as f64).then_some(v as usize)
}

/// The loss of predictions `p` against targets `t`, as a mean over the batch.
pub fn loss<T: Scalar>(kind: Loss, p: ArrayView2<T>, t: ArrayView2<T>) -> T {
    let rows = T::of_f64(p.nrows() as f64);
    let elems = T::of_f64(p.len() as f64);
    let (zero, one, half) = (T::zero(), T::one(), T::of_f64(0.5));
    let mut sum = zero;
    match kind {
        Loss::Mse => Zip::from(&p).and(&t).for_each(|&p, &t| sum = sum + (p - t) * (p - t)),
        Loss::Mae => Zip::from(&p).and(&t).for_each(|&p, &t| sum = sum + (p - t).abs()),
        Loss::Huber(delta) => {
            let d = T::of_f64(delta);
            Zip::from(&p).and(&t).for_each(|&p, &t| {
                let e = (p - t).abs();
                sum = sum + if e <= d { half * e * e } else { d * (e - half * d) };
            })
        }
        Loss::BinaryCrossentropy => Zip::from(&p).and(&t).for_each(|&p, &t| {
            let p = clip(p);
            sum = sum - (t * p.ln() + (one - t) * (one - p).ln());
        }),
        Loss::BinaryCrossentropyLogits => Zip::from(&p).and(&t).for_each(|&z, &t| {
            sum = sum + z.max(zero) - z * t + (-z.abs()).exp().ln_1p();
        }),
        Loss::CategoricalCrossentropy => Zip::from(&p).and(&t).for_each(|&p, &t| sum = sum - t * clip(p).ln()),
        Loss::SparseCategoricalCrossentropy => {
            for (pr, tr) in p.rows().into_iter().zip(t.rows()) {
                sum = sum - class_index(tr[0], pr.len()).map_or(T::nan(), |c| clip(pr[c]).ln());
            }
        }
    }
    match kind {
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => sum / rows,
        _ => sum / elems,
    }
}

/// The loss's gradient with respect to `p`, times `dl`. Zero where `p` was clipped.
pub fn loss_grad<T: Scalar>(kind: Loss, p: ArrayView2<T>, t: ArrayView2<T>, dl: T, mut out: ArrayViewMut2<T>) {
    let rows = T::of_f64(p.nrows() as f64);
    let elems = T::of_f64(p.len() as f64);
    let (zero, one, two) = (T::zero(), T::one(), T::of_f64(2.0));
    let sign = |e: T| {
        if e > zero {
            one
        } else if e < zero {
            -one
        } else {
            zero
        }
    };
    if kind == Loss::SparseCategoricalCrossentropy {
        for ((pr, tr), mut or) in p.rows().into_iter().zip(t.rows()).zip(out.rows_mut()) {
            or.fill(zero);
            match class_index(tr[0], pr.len()) {
                Some(c) if inside_clip(pr[c]) => or[c] = -dl / pr[c] / rows,
                Some(_) => {}
                None => or.fill(T::nan()),
            }
        }
        return;
    }
    let z = Zip::from(out).and(&p).and(&t);
    match kind {
        Loss::Mse => z.for_each(|o, &p, &t| *o = dl * two * (p - t) / elems),
        Loss::Mae => z.for_each(|o, &p, &t| *o = dl * sign(p - t) / elems),
        Loss::Huber(delta) => {
            let d = T::of_f64(delta);
            z.for_each(|o, &p, &t| {
                let e = p - t;
                *o = dl * if e.abs() <= d { e } else { d * sign(e) } / elems;
            })
        }
        Loss::BinaryCrossentropy => {
            z.for_each(|o, &p, &t| *o = if inside_clip(p) { dl * (p - t) / (p * (one - p)) / elems } else { zero })
        }
        Loss::BinaryCrossentropyLogits => z.for_each(|o, &z, &t| *o = dl * (sigmoid(z) - t) / elems),
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
            z.for_each(|o, &p, &t| *o = if inside_clip(p) { -dl * t / p / rows } else { zero })
        }
    }
}

/// The gradient with respect to the logits of softmax + (sparse) categorical
/// cross-entropy (`dl (p sum(t) - t) / rows` per row, t one-hot for sparse targets) or
/// sigmoid + binary cross-entropy (`dl (p - t) / elements`), given the probabilities `p`.
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
        Loss::SparseCategoricalCrossentropy => {
            for ((pr, tr), mut or) in p.rows().into_iter().zip(t.rows()).zip(out.rows_mut()) {
                Zip::from(&mut or).and(&pr).for_each(|o, &p| *o = dl * p / rows);
                match class_index(tr[0], pr.len()) {
                    Some(c) => or[c] = or[c] - dl / rows,
                    None => or.fill(T::nan()),
                }
            }
        }
        _ => Zip::from(out).and(&p).and(&t).for_each(|o, &p, &t| *o = dl * (p - t) / elems),
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
