//! The matrix-product kernels nnc could use, on the benchmark workloads' shapes (f32):
//! ndarray's default (`matrixmultiply`) and `gemm` (AVX-512, 1 and 2 threads, through nnc's
//! `runtime::kernels::matmul` as training calls it), against OpenBLAS: the one numpy ships
//! (`numpy.libs/libscipy_openblas64_*.so`), loaded at run time, since this machine has no
//! system BLAS. `cargo bench --bench matmul`; prints GFLOP/s per kernel and shape.

use std::ffi::{CString, c_void};
use std::time::{Duration, Instant};

use ndarray::Array2;
use nnc::runtime::kernels::{Operand, matmul, matmul_scratch};
use nnc::runtime::threads::set_threads;

/// (name, m, k, n, b transposed): W4's forward and input-gradient products, W3's first layer.
const SHAPES: [(&str, usize, usize, usize, bool); 3] = [
    ("W4 forward 256x1024x1024", 256, 1024, 1024, false),
    ("W4 input gradient 256x1024x1024, b transposed", 256, 1024, 1024, true),
    ("W3 forward 128x784x256", 128, 784, 256, false),
];

/// OpenBLAS's `cblas_sgemm` with 64-bit integers, as numpy's build names it.
type Sgemm =
    unsafe extern "C" fn(i32, i32, i32, i64, i64, i64, f32, *const f32, i64, *const f32, i64, f32, *mut f32, i64);
/// `openblas_set_num_threads`, numpy's build.
type SetThreads = unsafe extern "C" fn(i32);

/// numpy's OpenBLAS, if python3 and numpy are installed.
fn openblas() -> Option<(Sgemm, SetThreads)> {
    let code = "import glob, os, numpy; d = os.path.join(os.path.dirname(numpy.__file__), '..', 'numpy.libs'); \
                print(glob.glob(os.path.join(d, 'libscipy_openblas*'))[0])";
    let out = std::process::Command::new("python3").args(["-c", code]).output().ok()?;
    let path = CString::new(String::from_utf8(out.stdout).ok()?.trim()).ok()?;
    // SAFETY: dlopen and dlsym on a library path and symbol names; the symbols are cast to
    // the signatures OpenBLAS documents for its 64-bit-integer build.
    unsafe {
        let lib = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        if lib.is_null() {
            return None;
        }
        let sym = |name: &str| -> Option<*mut c_void> {
            let name = CString::new(name).ok()?;
            let p = libc::dlsym(lib, name.as_ptr());
            (!p.is_null()).then_some(p)
        };
        let sgemm = sym("scipy_cblas_sgemm64_")?;
        let threads = sym("scipy_openblas_set_num_threads64_")?;
        Some((
            std::mem::transmute::<*mut c_void, Sgemm>(sgemm),
            std::mem::transmute::<*mut c_void, SetThreads>(threads),
        ))
    }
}

/// The best rate of `f` (one product of `flops`) over about half a second, in GFLOP/s.
fn rate(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let (start, mut best) = (Instant::now(), Duration::MAX);
    while start.elapsed() < Duration::from_millis(500) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    flops / best.as_secs_f64() / 1e9
}

/// A matrix as a product operand.
fn operand(x: &Array2<f32>, transposed: bool) -> Operand<'_, f32> {
    Operand { values: x.as_slice().expect("row-major"), shape: x.dim(), transposed }
}

/// A deterministic matrix of values in [-0.5, 0.5).
fn filled(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5)
}

fn main() {
    let blas = openblas();
    if blas.is_none() {
        println!("OpenBLAS: numpy's library not found (python3 -m pip install numpy); its column stays empty");
    }
    println!("{:48} {:>9} {:>9} {:>9} {:>9} {:>9}", "GFLOP/s", "ndarray", "gemm 1t", "gemm 2t", "blas 1t", "blas 2t");
    for (name, m, k, n, tb) in SHAPES {
        let a = filled(m, k);
        let b = if tb { filled(n, k) } else { filled(k, n) };
        let mut out = Array2::<f32>::zeros((m, n));
        let flops = 2.0 * (m * k * n) as f64;
        assert!(m * k * n >= nnc::runtime::kernels::GEMM_MIN_WORK, "{name} would not use gemm");
        let bv = if tb { b.t() } else { b.view() };
        let nd = rate(flops, || ndarray::linalg::general_mat_mul(1.0, &a, &bv, 0.0, &mut out));
        // These shapes are all large enough for nnc's `gemm` path, so nnc's kernel with
        // 1 and 2 threads is gemm on 1 and 2 threads, called as training calls it.
        let mut out_flat = vec![0f32; m * n];
        let mut scratch = vec![0f32; matmul_scratch(m, k, n, false, tb)];
        let mut gemm_rate = |threads: usize| {
            set_threads(threads);
            rate(flops, || matmul(operand(&a, false), operand(&b, tb), &mut out_flat, &mut scratch))
        };
        let (g1, g2) = (gemm_rate(1), gemm_rate(2));
        let mut blas_rate = |threads: i32| {
            let (sgemm, set) = blas?;
            // SAFETY: row-major sgemm on arrays valid for these shapes (leading dimensions
            // are the row lengths); out does not alias the inputs.
            unsafe { set(threads) };
            Some(rate(flops, || unsafe {
                sgemm(
                    101,
                    111,
                    if tb { 112 } else { 111 },
                    m as i64,
                    n as i64,
                    k as i64,
                    1.0,
                    a.as_ptr(),
                    k as i64,
                    b.as_ptr(),
                    if tb { k as i64 } else { n as i64 },
                    0.0,
                    out.as_mut_ptr(),
                    n as i64,
                )
            }))
        };
        let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.0}"));
        let (b1, b2) = (blas_rate(1), blas_rate(2));
        println!("{name:48} {nd:9.0} {g1:9.0} {g2:9.0} {:>9} {:>9}", show(b1), show(b2));
    }
}
