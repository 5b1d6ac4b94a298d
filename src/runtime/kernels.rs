//! One kernel per op, written once for f32 and f64. Every kernel writes into an output
//! buffer it is given, so the interpreter can allocate buffers once per batch shape.
//! Reductions run in a fixed order, so results never depend on threads or timing.

use ndarray::{ArrayView2, ArrayViewMut2, linalg::general_mat_mul};

use crate::ir::op::CLIP_EPS;
use crate::ir::{Activation, Loss};
use crate::runtime::scalar::Scalar;
use crate::runtime::threads::{PIECE, threads, worth_cutting};

/// Products of at least this many multiply-adds go through `gemm` (AVX-512 or AVX2
/// kernels, whichever the CPU has, and threads); smaller ones stay on `matrixmultiply`,
/// whose summation order the tutorial's pinned numbers and the specs' snapshots were
/// computed with.
pub const GEMM_MIN_WORK: usize = 1 << 18;

/// Products of at most this many multiply-adds (and `TINY_K` terms per sum) are summed
/// directly: for the tutorial's networks the call overhead of a blocked kernel dominates.
const TINY_WORK: usize = 4096;
/// The longest sum the direct path takes.
const TINY_K: usize = 64;

/// The shortest sum for which `matmul` goes `through_scratch`: with shorter sums the
/// transpose costs more than the faster packing saves (neutral at 256, a loss at 128,
/// a gain from 512 on W3's and W4's shapes).
const SCRATCH_MIN_K: usize = 512;

/// A row-major matrix operand: its values, its stored (rows, columns), and whether the
/// product uses its transpose.
#[derive(Clone, Copy)]
pub struct Operand<'a, T> {
    /// The values, row-major.
    pub values: &'a [T],
    /// Rows and columns as stored.
    pub shape: (usize, usize),
    /// Whether the product reads it transposed.
    pub transposed: bool,
}

impl<'a, T> Operand<'a, T> {
    /// Rows and columns as the product sees them.
    fn dims(&self) -> (usize, usize) {
        if self.transposed { (self.shape.1, self.shape.0) } else { self.shape }
    }

    /// The distance in `values` between neighbours along a row and along a column of
    /// the matrix the product sees: (row stride, column stride).
    fn strides(&self) -> (usize, usize) {
        if self.transposed { (1, self.shape.1) } else { (self.shape.1, 1) }
    }

    /// The stored matrix as a view, transposed when the product reads it so.
    fn view(&self) -> ArrayView2<'a, T> {
        let v = ArrayView2::from_shape(self.shape, self.values).expect("an operand holds its shape");
        if self.transposed { v.reversed_axes() } else { v }
    }
}

/// Whether `matmul` writes the product of op(a) (m×k) and op(b) (k×n) column-major into
/// scratch and then transposes it into place: for `gemm`'s products whose right operand is
/// read transposed and left one is not (an input gradient, dy·Wᵀ). gemm works column-major,
/// so for a row-major output it swaps the operands, and such a right operand becomes a
/// left operand it can only pack element by element (a third slower on W4's shapes);
/// written column-major, the output keeps the operands where gemm packs them fast. The
/// sums are the same, in the same order: only the packing and the output's layout change.
fn through_scratch(m: usize, k: usize, n: usize, transpose_a: bool, transpose_b: bool) -> bool {
    transpose_b && !transpose_a && k >= SCRATCH_MIN_K && m.saturating_mul(n).saturating_mul(k) >= GEMM_MIN_WORK
}

/// The scratch, in elements, that `matmul` needs for the product of op(a) (m×k) and op(b)
/// (k×n): the output's size when it goes `through_scratch`, none otherwise.
pub fn matmul_scratch(m: usize, k: usize, n: usize, transpose_a: bool, transpose_b: bool) -> usize {
    if through_scratch(m, k, n, transpose_a, transpose_b) { m * n } else { 0 }
}

/// out = op(a) · op(b), written row-major into `out`; `scratch` holds at least
/// `matmul_scratch` elements for these operands.
pub fn matmul<T: Scalar>(a: Operand<T>, b: Operand<T>, out: &mut [T], scratch: &mut [T]) {
    let (m, k) = a.dims();
    let n = b.dims().1;
    if is_tiny(m, k, n) {
        return tiny_matmul(a, b, out);
    }
    let work = m.saturating_mul(n).saturating_mul(k);
    if work < GEMM_MIN_WORK {
        let mut out = ArrayViewMut2::from_shape((m, n), out).expect("the output holds the product's shape");
        general_mat_mul(T::one(), &a.view(), &b.view(), T::zero(), &mut out);
        return;
    }
    if through_scratch(m, k, n, a.transposed, b.transposed) {
        let scratch = &mut scratch[..m * n];
        // Column-major: element (i, j) at j·m + i.
        gemm_into(a, b, scratch, (1, m));
        transpose(scratch, n, m, &mut out[..m * n], threads());
    } else {
        gemm_into(a, b, out, (n, 1));
    }
}

/// out = op(a) · op(b) through `gemm`, on the configured threads; `out` is written with
/// the given (row, column) strides.
fn gemm_into<T: Scalar>(a: Operand<T>, b: Operand<T>, out: &mut [T], (out_rs, out_cs): (usize, usize)) {
    let ((m, k), n) = (a.dims(), b.dims().1);
    let holds = |o: &Operand<T>| o.values.len() >= o.shape.0 * o.shape.1;
    assert!(holds(&a) && holds(&b) && out.len() >= m * n, "the operands and the output hold their shapes");
    let product = Product {
        m,
        n,
        k,
        a: a.values.as_ptr(),
        a_strides: a.strides(),
        b: b.values.as_ptr(),
        b_strides: b.strides(),
        out: out.as_mut_ptr(),
        out_strides: (out_rs, out_cs),
    };
    // SAFETY: each operand's values hold its stored shape (asserted), so every (row,
    // column) of op(a) and op(b) at these strides is inside them; `out` holds m·n elements,
    // each at a distinct index below m·n at these strides; it is borrowed mutably and so
    // aliases neither input.
    unsafe { product.run_cut(threads()) };
}

/// A product for `gemm`: out (m×n) = op(a) (m×k) · op(b) (k×n), each matrix given by a
/// pointer to its first element and its (row, column) strides in elements.
#[derive(Clone, Copy)]
struct Product<T> {
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    a_strides: (usize, usize),
    b: *const T,
    b_strides: (usize, usize),
    out: *mut T,
    out_strides: (usize, usize),
}

// SAFETY: a `Product` goes to another thread only from `run_cut`, which gives each thread a
// part of `out` that no other part overlaps; `a` and `b` are only read.
unsafe impl<T: Send + Sync> Send for Product<T> {}

impl<T: Scalar> Product<T> {
    /// Runs the product on `threads` threads: cut in two along the output's longer side,
    /// the halves side by side (`rayon::join`), down to one part per thread, each part on
    /// `gemm` alone. Each output element is the same sum in the same order as on one
    /// thread: gemm cuts the sum's depth from k only, on its path for large products, and
    /// a cut keeps its parts on the whole product's path (`same_path`). gemm's own threads
    /// meet twice per block of the sum's depth (four times on W4's large products); one
    /// part per thread made W3 8.7% faster on an AVX2 machine and left W4 the same
    /// (benches/HISTORY.md).
    ///
    /// # Safety
    /// The operands hold every element the strides reach for (m, k) and (k, n), and `out`
    /// holds m·n distinct elements at its strides that nothing else reads or writes.
    unsafe fn run_cut(self, threads: usize) {
        let by_rows = self.m >= self.n;
        let long = if by_rows { self.m } else { self.n };
        // The first part's share of the long side, as its share of the threads.
        let first = long * (threads / 2) / threads.max(1);
        let shortest = first.min(long - first);
        let part = if by_rows { (shortest, self.n) } else { (self.m, shortest) };
        if !same_path(self.k, (self.m, self.n), part) {
            // One thread (no first part), or parts gemm would sum otherwise.
            // SAFETY: as the caller promises.
            return unsafe { self.run_whole() };
        }
        let (p1, p2) = self.split(by_rows, first);
        rayon::join(
            // SAFETY: the parts write disjoint rows (or columns) of `out` and read inside
            // the operands the caller vouches for.
            move || unsafe { p1.run_cut(threads / 2) },
            move || unsafe { p2.run_cut(threads - threads / 2) },
        );
    }

    /// The product cut after `at` rows (of out and op(a)) or columns (of out and op(b)):
    /// the first part and the rest.
    fn split(self, by_rows: bool, at: usize) -> (Self, Self) {
        let (mut first, mut rest) = (self, self);
        if by_rows {
            (first.m, rest.m) = (at, self.m - at);
            rest.a = self.a.wrapping_add(at * self.a_strides.0);
            rest.out = self.out.wrapping_add(at * self.out_strides.0);
        } else {
            (first.n, rest.n) = (at, self.n - at);
            rest.b = self.b.wrapping_add(at * self.b_strides.1);
            rest.out = self.out.wrapping_add(at * self.out_strides.1);
        }
        (first, rest)
    }

    /// The product on `gemm`, on this thread.
    ///
    /// # Safety
    /// As `run_cut`.
    unsafe fn run_whole(self) {
        let Product { m, n, k, a, a_strides: (ars, acs), b, b_strides: (brs, bcs), out, out_strides: (ors, ocs) } =
            self;
        // SAFETY: as the caller promises; `read_dst = false` means gemm only writes `out`
        // (out = 1 · a·b).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out,
                ocs as isize,
                ors as isize,
                false,
                a,
                acs as isize,
                ars as isize,
                b,
                bcs as isize,
                brs as isize,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// Whether `gemm` computes a part of shape `part` (rows, columns) of a product with sums of
/// `k` terms with the same sums, in the same order, as the whole product of shape `whole`:
/// it has paths of its own, each summing in its own order, for sums of at most two terms,
/// a single row or column, outputs of at most 16×16 elements and at most 64×64.
fn same_path(k: usize, whole: (usize, usize), part: (usize, usize)) -> bool {
    let path = |(m, n): (usize, usize)| (m * n <= 16 * 16, m <= 64 && n <= 64);
    k > 2 && part.0 > 1 && part.1 > 1 && path(whole) == path(part)
}

/// dst (cols×rows) = the transpose of src (rows×cols), both row-major, on `threads`
/// threads: dst's rows cut in two, each part on half the threads, side by side (W4's input
/// gradient transposes 1 MB, which took 250-450 µs on one thread).
fn transpose<T: Scalar>(src: &[T], rows: usize, cols: usize, dst: &mut [T], threads: usize) {
    transpose_part(src, rows, cols, 0, dst, threads);
}

/// Rows `first..` of `transpose`'s dst, which `dst` holds.
fn transpose_part<T: Scalar>(src: &[T], rows: usize, cols: usize, first: usize, dst: &mut [T], threads: usize) {
    let count = dst.len() / rows.max(1);
    if threads < 2 || count < 2 {
        return transpose_rows(src, rows, cols, first, dst);
    }
    let half = count * (threads / 2) / threads;
    let (d1, d2) = dst.split_at_mut(half * rows);
    rayon::join(
        || transpose_part(src, rows, cols, first, d1, threads / 2),
        || transpose_part(src, rows, cols, first + half, d2, threads - threads / 2),
    );
}

/// Rows `first..` of `transpose`'s dst, which `dst` holds, in blocks of 16×16 so that each
/// block's reads stay in cache while its writes run along rows.
fn transpose_rows<T: Copy>(src: &[T], rows: usize, cols: usize, first: usize, dst: &mut [T]) {
    const BLOCK: usize = 16;
    let last = first + dst.len() / rows.max(1);
    for j0 in (first..last).step_by(BLOCK) {
        for i0 in (0..rows).step_by(BLOCK) {
            let i_end = (i0 + BLOCK).min(rows);
            for j in j0..(j0 + BLOCK).min(last) {
                let row = (j - first) * rows;
                for (i, d) in (i0..i_end).zip(&mut dst[row + i0..row + i_end]) {
                    *d = src[i * cols + j];
                }
            }
        }
    }
}

/// out = a · b summed directly: the same sums as matrixmultiply's FMA kernel (one fused
/// multiply-add per term, in k order, from zero), without its packing buffers or views.
/// Rows are found by index, not `chunks_exact_mut(n)`, whose division costs more than
/// these sums.
#[inline(always)]
fn tiny_product<T: Scalar>(a: Operand<T>, b: Operand<T>, out: &mut [T], k: usize) {
    let ((ar, ac), (br, bc)) = (a.strides(), b.strides());
    let (m, n) = (a.dims().0, b.dims().1);
    if k == 1 {
        // An outer product (a weight's gradient from one example): one term per sum.
        for i in 0..m {
            let x = a.values[i * ar];
            for (j, o) in out[i * n..(i + 1) * n].iter_mut().enumerate() {
                *o = x.mul_add(b.values[j * bc], T::zero());
            }
        }
        return;
    }
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::zero();
            for p in 0..k {
                acc = a.values[i * ar + p * ac].mul_add(b.values[p * br + j * bc], acc);
            }
            out[i * n + j] = acc;
        }
    }
}

/// Whether `matmul` sums the product of op(a) (m×k) and op(b) (k×n) directly
/// (`tiny_matmul`).
pub fn is_tiny(m: usize, k: usize, n: usize) -> bool {
    m.saturating_mul(n).saturating_mul(k) <= TINY_WORK && k <= TINY_K
}

/// `matmul` for a product that `is_tiny`: for callers that decided so once.
#[inline(always)]
pub fn tiny_matmul<T: Scalar>(a: Operand<T>, b: Operand<T>, out: &mut [T]) {
    let k = a.dims().1;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the one feature `tiny_product_fma` is compiled for.
        unsafe { tiny_product_fma(a, b, out, k) };
        return;
    }
    tiny_product(a, b, out, k);
}

/// `tiny_product` with the CPU's FMA instruction instead of a call per multiply-add
/// (the results are the same: a fused multiply-add is exact either way).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn tiny_product_fma<T: Scalar>(a: Operand<T>, b: Operand<T>, out: &mut [T], k: usize) {
    tiny_product(a, b, out, k);
}

/// Whether every element is finite: x·0 is 0 for finite x and NaN otherwise, summed in
/// eight independent lanes so that the scan runs at memory speed (a short slice is
/// looked at element by element).
pub fn all_finite<T: Scalar>(s: &[T]) -> bool {
    if s.len() < 16 {
        return s.iter().all(|x| x.is_finite());
    }
    let mut lanes = [T::zero(); 8];
    let chunks = s.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = *l + x * T::zero();
        }
    }
    lanes.iter().chain(rest).fold(T::zero(), |acc, &x| acc + x * T::zero()) == T::zero()
}

/// out = a + b.
pub fn add<T: Scalar>(a: &[T], b: &[T], out: &mut [T]) {
    each_pair(a, b, out, |a, b| a + b);
}

/// Every row of out = v.
pub fn broadcast<T: Scalar>(v: &[T], out: &mut [T]) {
    if v.is_empty() {
        return;
    }
    for row in out.chunks_exact_mut(v.len()) {
        row.copy_from_slice(v);
    }
}

/// out = the sum of m's rows, added in row order.
pub fn sum_rows<T: Scalar>(m: &[T], cols: usize, out: &mut [T]) {
    out.fill(T::zero());
    for row in rows(m, cols) {
        for (o, &r) in out.iter_mut().zip(row) {
            *o = *o + r;
        }
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
        Activation::Relu => relu(x),
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

/// f'(x) for one element, given y = f(x) where that is cheaper. Sigmoid's, tanh's and
/// ReLU's read y only (`Activation::grad_reads_input`): callers without x pass y for it.
pub fn activation_grad<T: Scalar>(f: Activation, x: T, y: T) -> T {
    let (zero, one) = (T::zero(), T::one());
    match f {
        Activation::Sigmoid => y * (one - y),
        Activation::Tanh => one - y * y,
        Activation::Relu => relu_grad(x, y),
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

/// Runs `$body` with `$g` bound to `$relu` when activation `$f` is ReLU and to
/// `$general(f)` otherwise: ReLU's loop gets its own copy, branch-free and vectorised,
/// while every other activation goes through one `match` per element (their exponentials
/// cost far more than the match).
macro_rules! with_activation {
    ($f:expr, $relu:expr, $general:expr, |$g:ident| $body:expr) => {
        match $f {
            Activation::Relu => {
                let $g = $relu;
                $body
            }
            f => {
                let $g = $general(f);
                $body
            }
        }
    };
}

/// max(x, 0), as `activation` computes it.
#[inline(always)]
fn relu<T: Scalar>(x: T) -> T {
    if x > T::zero() { x } else { T::zero() }
}

/// ReLU's derivative where it gave y, as `activation_grad` computes it: y > 0 exactly
/// where x > 0.
#[inline(always)]
fn relu_grad<T: Scalar>(_x: T, y: T) -> T {
    if y > T::zero() { T::one() } else { T::zero() }
}

/// out = f(x).
pub fn activate<T: Scalar>(f: Activation, x: &[T], out: &mut [T]) {
    with_activation!(f, relu, |f| move |x| activation(f, x), |g| {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = g(x);
        }
    })
}

/// out = f'(x) · dy (x as `activation_grad` reads it).
pub fn activate_grad<T: Scalar>(f: Activation, x: &[T], y: &[T], dy: &[T], out: &mut [T]) {
    with_activation!(f, relu_grad, |f| move |x, y| activation_grad(f, x, y), |g| {
        for (((o, &x), &y), &d) in out.iter_mut().zip(x).zip(y).zip(dy) {
            *o = d * g(x, y);
        }
    })
}

/// A bias + activation pass over at least this many elements runs on every thread, cut
/// into halves down to pieces of `threads::PIECE`. Each element of a fused pass is
/// computed alone, and each column's sum (a bias gradient) is added in row order, however
/// the work is cut: the bits are the same on any thread count.
const PARALLEL_MIN: usize = 1 << 15;
/// The same for an activation-gradient + bias-gradient pass, which on threads takes two
/// sweeps instead of one: at W3's 2^15 elements it was slower, at W4's 2^18 faster.
const PARALLEL_MIN_TWO_SWEEPS: usize = 1 << 17;

/// pre = m + bias (the bias added to every row of `m`), and out = f(pre) when `f` is
/// given: the add and the activation in one pass; a large pass in halves of whole rows
/// side by side.
pub fn bias_activate<T: Scalar>(m: &[T], bias: &[T], f: Option<Activation>, pre: &mut [T], out: &mut [T]) {
    let cols = bias.len();
    if cols > 0 && m.len() >= 2 * cols && worth_cutting(m.len(), PARALLEL_MIN) {
        let half = m.len() / cols / 2 * cols;
        let (m1, m2) = m.split_at(half);
        let (p1, p2) = pre.split_at_mut(half);
        // Without an activation `out` is empty.
        let (o1, o2) = out.split_at_mut(half.min(out.len()));
        rayon::join(|| bias_activate(m1, bias, f, p1, o1), || bias_activate(m2, bias, f, p2, o2));
        return;
    }
    let Some(f) = f else {
        for (mr, pr) in rows(m, cols).zip(rows_mut(pre, cols)) {
            add(mr, bias, pr);
        }
        return;
    };
    with_activation!(f, relu, |f| move |x| activation(f, x), |g| {
        for ((mr, pr), or) in rows(m, cols).zip(rows_mut(pre, cols)).zip(rows_mut(out, cols)) {
            for (((p, o), &m), &b) in pr.iter_mut().zip(or.iter_mut()).zip(mr).zip(bias) {
                *p = m + b;
                *o = g(*p);
            }
        }
    })
}

/// out = f'(x) · dy, and sums = the sum of out's rows (added in row order): the
/// activation gradient and the bias gradient in one pass. A large pass runs on every
/// thread in two: the gradient in halves of the elements, then the sums in halves of the
/// columns, each column still added in row order.
pub fn activate_grad_sum_rows<T: Scalar>(f: Activation, x: &[T], y: &[T], dy: &[T], out: &mut [T], sums: &mut [T]) {
    let cols = sums.len();
    if cols > 0 && worth_cutting(out.len(), PARALLEL_MIN_TWO_SWEEPS) {
        activate_grad_cut(f, x, y, dy, out);
        sum_columns_cut(out, cols, 0, sums);
        return;
    }
    sums.fill(T::zero());
    let inputs = rows(x, cols).zip(rows(y, cols)).zip(rows(dy, cols));
    with_activation!(f, relu_grad, |f| move |x, y| activation_grad(f, x, y), |g| {
        for (((xr, yr), dr), or) in inputs.zip(rows_mut(out, cols)) {
            for ((((o, s), &x), &y), &d) in or.iter_mut().zip(sums.iter_mut()).zip(xr).zip(yr).zip(dr) {
                *o = d * g(x, y);
                *s = *s + *o;
            }
        }
    })
}

/// `activate_grad` in halves side by side, down to pieces of `PIECE` elements.
fn activate_grad_cut<T: Scalar>(f: Activation, x: &[T], y: &[T], dy: &[T], out: &mut [T]) {
    if out.len() < 2 * PIECE {
        return activate_grad(f, x, y, dy, out);
    }
    let half = out.len() / 2;
    let (o1, o2) = out.split_at_mut(half);
    let ((x1, x2), (y1, y2), (d1, d2)) = (x.split_at(half), y.split_at(half), dy.split_at(half));
    rayon::join(|| activate_grad_cut(f, x1, y1, d1, o1), || activate_grad_cut(f, x2, y2, d2, o2));
}

/// sums[j] = the sum of column `first + j` of `m` (rows of `cols`), added in row order;
/// halves of the columns side by side while each half covers `PIECE` elements.
fn sum_columns_cut<T: Scalar>(m: &[T], cols: usize, first: usize, sums: &mut [T]) {
    let rows_n = m.len() / cols;
    if sums.len() >= 2 && rows_n * sums.len() >= 2 * PIECE {
        let half = sums.len() / 2;
        let (s1, s2) = sums.split_at_mut(half);
        rayon::join(|| sum_columns_cut(m, cols, first, s1), || sum_columns_cut(m, cols, first + half, s2));
        return;
    }
    sums.fill(T::zero());
    for row in rows(m, cols) {
        for (s, &v) in sums.iter_mut().zip(&row[first..]) {
            *s = *s + v;
        }
    }
}

/// out = a · b, elementwise.
pub fn mul<T: Scalar>(a: &[T], b: &[T], out: &mut [T]) {
    each_pair(a, b, out, |a, b| a * b);
}

/// l1·Σ|w| + l2·Σw², summed in memory order.
pub fn penalty<T: Scalar>(l1: f64, l2: f64, w: &[T]) -> T {
    let (l1, l2) = (T::of_f64(l1), T::of_f64(l2));
    w.iter().fold(T::zero(), |s, &w| s + l1 * w.abs() + l2 * w * w)
}

/// out = dl·(l1·sign(w) + 2·l2·w), with sign(0) = 0.
pub fn penalty_grad<T: Scalar>(l1: f64, l2: f64, w: &[T], dl: T, out: &mut [T]) {
    let (l1, l2, two) = (T::of_f64(l1), T::of_f64(l2), T::of_f64(2.0));
    for (o, &w) in out.iter_mut().zip(w) {
        let sign = if w > T::zero() {
            T::one()
        } else if w < T::zero() {
            -T::one()
        } else {
            T::zero()
        };
        *o = dl * (l1 * sign + two * l2 * w);
    }
}

/// Row-wise softmax of rows of `cols` values, shifted by the row maximum so that exp
/// never overflows.
pub fn softmax<T: Scalar>(x: &[T], cols: usize, out: &mut [T]) {
    for (xr, or) in rows(x, cols).zip(rows_mut(out, cols)) {
        let max = xr.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let mut sum = T::zero();
        for (o, &v) in or.iter_mut().zip(xr) {
            *o = (v - max).exp();
            sum = sum + *o;
        }
        for o in or.iter_mut() {
            *o = *o / sum;
        }
    }
}

/// Softmax's vector-Jacobian product: out = y (dy - sum(dy y)) per row.
pub fn softmax_grad<T: Scalar>(y: &[T], dy: &[T], cols: usize, out: &mut [T]) {
    for ((yr, dr), or) in rows(y, cols).zip(rows(dy, cols)).zip(rows_mut(out, cols)) {
        let s = yr.iter().zip(dr).fold(T::zero(), |s, (&y, &d)| s + y * d);
        for ((o, &y), &d) in or.iter_mut().zip(yr).zip(dr) {
            *o = y * (d - s);
        }
    }
}

/// The rows of a row-major matrix with `cols` columns.
fn rows<T>(m: &[T], cols: usize) -> std::slice::ChunksExact<'_, T> {
    m.chunks_exact(cols.max(1))
}

/// The rows of a row-major matrix with `cols` columns, to write.
fn rows_mut<T>(m: &mut [T], cols: usize) -> std::slice::ChunksExactMut<'_, T> {
    m.chunks_exact_mut(cols.max(1))
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

/// The loss of predictions `p` against targets `t` (rows of `p_cols` and `t_cols`
/// values), as a mean over the batch.
pub fn loss<T: Scalar>(kind: Loss, p: &[T], p_cols: usize, t: &[T], t_cols: usize) -> T {
    let elems = T::of_f64(p.len() as f64);
    let (zero, one, half) = (T::zero(), T::one(), T::of_f64(0.5));
    let pairs = p.iter().copied().zip(t.iter().copied());
    let sum = match kind {
        Loss::Mse => pairs.fold(zero, |sum, (p, t)| sum + (p - t) * (p - t)),
        Loss::Mae => pairs.fold(zero, |sum, (p, t)| sum + (p - t).abs()),
        Loss::Huber(delta) => {
            let d = T::of_f64(delta);
            pairs.fold(zero, |sum, (p, t)| {
                let e = (p - t).abs();
                sum + if e <= d { half * e * e } else { d * (e - half * d) }
            })
        }
        Loss::BinaryCrossentropy => pairs.fold(zero, |sum, (p, t)| {
            let p = clip(p);
            sum - (t * p.ln() + (one - t) * (one - p).ln())
        }),
        Loss::BinaryCrossentropyLogits => {
            pairs.fold(zero, |sum, (z, t)| sum + z.max(zero) - z * t + (-z.abs()).exp().ln_1p())
        }
        Loss::CategoricalCrossentropy => pairs.fold(zero, |sum, (p, t)| sum - t * clip(p).ln()),
        Loss::SparseCategoricalCrossentropy => rows(p, p_cols)
            .zip(rows(t, t_cols))
            .fold(zero, |sum, (pr, tr)| sum - class_index(tr[0], pr.len()).map_or(T::nan(), |c| clip(pr[c]).ln())),
    };
    match kind {
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => sum / row_count(p, p_cols),
        _ => sum / elems,
    }
}

/// The loss's gradient with respect to `p`, times `dl`. Zero where `p` was clipped.
pub fn loss_grad<T: Scalar>(kind: Loss, p: &[T], p_cols: usize, t: &[T], t_cols: usize, dl: T, out: &mut [T]) {
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
        let rows_n = row_count(p, p_cols);
        for ((pr, tr), or) in rows(p, p_cols).zip(rows(t, t_cols)).zip(rows_mut(out, p_cols)) {
            or.fill(zero);
            match class_index(tr[0], pr.len()) {
                Some(c) if inside_clip(pr[c]) => or[c] = -dl / pr[c] / rows_n,
                Some(_) => {}
                None => or.fill(T::nan()),
            }
        }
        return;
    }
    match kind {
        Loss::Mse => each_pair(p, t, out, |p, t| dl * two * (p - t) / elems),
        Loss::Mae => each_pair(p, t, out, |p, t| dl * sign(p - t) / elems),
        Loss::Huber(delta) => {
            let d = T::of_f64(delta);
            each_pair(p, t, out, |p, t| {
                let e = p - t;
                dl * if e.abs() <= d { e } else { d * sign(e) } / elems
            })
        }
        Loss::BinaryCrossentropy => {
            each_pair(p, t, out, |p, t| if inside_clip(p) { dl * (p - t) / (p * (one - p)) / elems } else { zero })
        }
        Loss::BinaryCrossentropyLogits => each_pair(p, t, out, |z, t| dl * (sigmoid(z) - t) / elems),
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
            let rows_n = row_count(p, p_cols);
            each_pair(p, t, out, |p, t| if inside_clip(p) { -dl * t / p / rows_n } else { zero })
        }
    }
}

/// The number of rows of a row-major matrix with `cols` columns, as a float: computed only
/// where a loss averages over rows (an integer division costs more than a tiny loss).
fn row_count<T: Scalar>(m: &[T], cols: usize) -> T {
    T::of_f64((m.len() / cols.max(1)) as f64)
}

/// out[i] = f(a[i], b[i]).
fn each_pair<T: Copy>(a: &[T], b: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = f(a, b);
    }
}

/// The gradient with respect to the logits of softmax + (sparse) categorical
/// cross-entropy (`dl (p sum(t) - t) / rows` per row, t one-hot for sparse targets) or
/// sigmoid + binary cross-entropy (`dl (p - t) / elements`), given the probabilities `p`.
pub fn logits_loss_grad<T: Scalar>(kind: Loss, p: &[T], p_cols: usize, t: &[T], t_cols: usize, dl: T, out: &mut [T]) {
    let rows_n = row_count(p, p_cols);
    let elems = T::of_f64(p.len() as f64);
    match kind {
        Loss::CategoricalCrossentropy => {
            for ((pr, tr), or) in rows(p, p_cols).zip(rows(t, t_cols)).zip(rows_mut(out, p_cols)) {
                let total = tr.iter().fold(T::zero(), |s, &v| s + v);
                for ((o, &p), &t) in or.iter_mut().zip(pr).zip(tr) {
                    *o = dl * (p * total - t) / rows_n;
                }
            }
        }
        Loss::SparseCategoricalCrossentropy => {
            for ((pr, tr), or) in rows(p, p_cols).zip(rows(t, t_cols)).zip(rows_mut(out, p_cols)) {
                for (o, &p) in or.iter_mut().zip(pr) {
                    *o = dl * p / rows_n;
                }
                match class_index(tr[0], pr.len()) {
                    Some(c) => or[c] = or[c] - dl / rows_n,
                    None => or.fill(T::nan()),
                }
            }
        }
        _ => each_pair(p, t, out, |p, t| dl * (p - t) / elems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::threads::set_threads;

    /// The fused bias + activation and activation-gradient + bias-gradient passes give the
    /// same bits on one thread and on two, where a large pass is cut (rows and columns
    /// of odd counts, so that no cut is even), and the bias gradient is each column's sum.
    #[test]
    fn fused_passes_cut_for_threads_have_the_same_bits() {
        let (rows, cols) = (521, 257);
        let value = |i: usize, seed: usize| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0;
        let values = |n: usize, seed: usize| (0..n).map(|i| value(i, seed)).collect::<Vec<f32>>();
        let (m, bias, y, dy) =
            (values(rows * cols, 1), values(cols, 2), values(rows * cols, 3), values(rows * cols, 4));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let run = |threads: usize, f: Option<Activation>| {
            set_threads(threads);
            let (mut pre, mut out) = (vec![0.0; rows * cols], vec![0.0; if f.is_some() { rows * cols } else { 0 }]);
            bias_activate(&m, &bias, f, &mut pre, &mut out);
            let (mut grad, mut sums) = (vec![0.0; rows * cols], vec![0.0; cols]);
            activate_grad_sum_rows(f.unwrap_or(Activation::Tanh), &m, &y, &dy, &mut grad, &mut sums);
            set_threads(1);
            (bits(&pre), bits(&out), bits(&grad), sums)
        };
        assert!(rows * cols >= PARALLEL_MIN_TWO_SWEEPS, "the passes are large enough to be cut");
        for f in [Some(Activation::Relu), Some(Activation::Sigmoid), None] {
            let (one, two) = (run(1, f), run(2, f));
            assert!(one == two, "{f:?}");
            let column: f32 = (0..rows).map(|r| f32::from_bits(one.2[r * cols + 5])).fold(0.0, |s, v| s + v);
            assert_eq!(one.3[5].to_bits(), column.to_bits(), "{f:?}");
        }
    }

    /// The direct product with and without the FMA instruction, on every transposition
    /// and a few shapes: the same bits (and the FMA path is the one this machine takes).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn tiny_products_agree_with_and_without_the_fma_instruction() {
        if !std::arch::is_x86_feature_detected!("fma") {
            return;
        }
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for (m, k, n) in [(1, 2, 3), (3, 1, 1), (2, 1, 3), (2, 5, 4), (7, 3, 2)] {
            let a: Vec<f64> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f64> = (0..k * n).map(|_| next()).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let shape = |rows: usize, cols: usize, t: bool| if t { (cols, rows) } else { (rows, cols) };
                let a = Operand { values: &a, shape: shape(m, k, ta), transposed: ta };
                let b = Operand { values: &b, shape: shape(k, n, tb), transposed: tb };
                let (mut plain, mut fused) = (vec![0.0; m * n], vec![0.0; m * n]);
                tiny_product(a, b, &mut plain, k);
                // SAFETY: checked above that the CPU has FMA.
                unsafe { tiny_product_fma(a, b, &mut fused, k) };
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&plain), bits(&fused), "{m}x{k}x{n} {ta} {tb}");
                // And both are the product: row i of op(a) times column j of op(b).
                let at = |o: &Operand<f64>, i: usize, j: usize| {
                    let (r, c) = o.strides();
                    o.values[i * r + j * c]
                };
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
                        assert!((plain[i * n + j] - want).abs() < 1e-12);
                    }
                }
            }
        }
    }

    /// A product that goes through scratch (right operand transposed, shapes that are not
    /// multiples of the transpose's blocks) is, bit for bit, gemm's row-major product of
    /// the same operands, and every element is the plain sum.
    #[test]
    fn products_through_scratch_equal_the_row_major_product() {
        let (m, k, n) = (37, 1000, 29);
        assert!(through_scratch(m, k, n, false, true));
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 37) % 101) as f64 / 101.0 - 0.5).collect();
        let b: Vec<f64> = (0..n * k).map(|i| ((i * 53) % 97) as f64 / 97.0 - 0.5).collect();
        let a = Operand { values: &a, shape: (m, k), transposed: false };
        let b = Operand { values: &b, shape: (n, k), transposed: true };
        let mut scratch = vec![0.0; matmul_scratch(m, k, n, false, true)];
        let (mut via, mut direct) = (vec![0.0; m * n], vec![0.0; m * n]);
        matmul(a, b, &mut via, &mut scratch);
        gemm_into(a, b, &mut direct, (n, 1));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&via), bits(&direct));
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| a.values[i * k + p] * b.values[j * k + p]).sum();
                assert!((via[i * n + j] - want).abs() < 1e-9, "({i}, {j}): {} vs {want}", via[i * n + j]);
            }
        }
    }
}
