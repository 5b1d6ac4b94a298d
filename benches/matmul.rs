//! The matrix-product kernels nnc could use, on the benchmark workloads' shapes (f32):
//! ndarray's default (`matrixmultiply`), `gemm` (AVX-512 or AVX2 kernels, through nnc's
//! `runtime::kernels::matmul` as training calls it), and two OpenBLAS builds loaded at run
//! time: the one numpy ships (`numpy.libs/libscipy_openblas64_*.so`) and the system's
//! (`libopenblas.so.0`, Debian's `libopenblas-dev`). Each threaded kernel runs on 1 and 2
//! threads, and its two products are compared bit for bit: nnc's traces must not depend
//! on the thread count. `cargo bench --bench matmul`; prints GFLOP/s per kernel and shape.

use std::ffi::{CStr, CString, c_char, c_void};
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

/// CBLAS's row-major, no-transpose and transpose flags.
const ROW_MAJOR: i32 = 101;
const NO_TRANS: i32 = 111;
const TRANS: i32 = 112;

/// `cblas_sgemm` with 64-bit integers, as numpy's build names it (`scipy_cblas_sgemm64_`).
type Sgemm64 =
    unsafe extern "C" fn(i32, i32, i32, i64, i64, i64, f32, *const f32, i64, *const f32, i64, f32, *mut f32, i64);
/// `cblas_sgemm` with 32-bit integers, as the system's build has it.
type Sgemm32 =
    unsafe extern "C" fn(i32, i32, i32, i32, i32, i32, f32, *const f32, i32, *const f32, i32, f32, *mut f32, i32);
/// `openblas_set_num_threads` (either build's integer width: the count is passed as a C int).
type SetThreads = unsafe extern "C" fn(i32);
/// `openblas_get_corename`.
type CoreName = unsafe extern "C" fn() -> *const c_char;

/// An OpenBLAS loaded at run time.
struct OpenBlas {
    /// Its `cblas_sgemm`, in the build's integer width.
    sgemm: Sgemm,
    /// Its thread-count setter.
    set_threads: SetThreads,
    /// The CPU kernels it chose at load time (`Prescott` is its generic fallback).
    core: String,
}

/// The two integer widths of `cblas_sgemm`.
#[derive(Clone, Copy)]
enum Sgemm {
    /// 32-bit integers (the system's build).
    Lp64(Sgemm32),
    /// 64-bit integers (numpy's build).
    Ilp64(Sgemm64),
}

impl OpenBlas {
    /// Loads the library at `path`, finding its symbols under `prefix` + the usual name +
    /// `suffix` (numpy's build renames them).
    fn load(path: &str, prefix: &str, suffix: &str) -> Option<OpenBlas> {
        let path = CString::new(path).ok()?;
        // SAFETY: dlopen and dlsym on a library path and symbol names; each symbol is cast
        // to the signature OpenBLAS documents for that build's integer width.
        unsafe {
            let lib = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if lib.is_null() {
                return None;
            }
            let sym = |name: &str| -> Option<*mut c_void> {
                let name = CString::new(format!("{prefix}{name}{suffix}")).ok()?;
                let p = libc::dlsym(lib, name.as_ptr());
                (!p.is_null()).then_some(p)
            };
            let sgemm = sym("cblas_sgemm")?;
            let sgemm = if suffix.is_empty() {
                Sgemm::Lp64(std::mem::transmute::<*mut c_void, Sgemm32>(sgemm))
            } else {
                Sgemm::Ilp64(std::mem::transmute::<*mut c_void, Sgemm64>(sgemm))
            };
            let set_threads = std::mem::transmute::<*mut c_void, SetThreads>(sym("openblas_set_num_threads")?);
            let core = std::mem::transmute::<*mut c_void, CoreName>(sym("openblas_get_corename")?)();
            let core = if core.is_null() { "?".into() } else { CStr::from_ptr(core).to_string_lossy().into_owned() };
            Some(OpenBlas { sgemm, set_threads, core })
        }
    }

    /// numpy's OpenBLAS, if python3 and numpy are installed.
    fn numpy() -> Option<OpenBlas> {
        let code = "import glob, os, numpy; d = os.path.join(os.path.dirname(numpy.__file__), '..', 'numpy.libs'); \
                    print(glob.glob(os.path.join(d, 'libscipy_openblas*'))[0])";
        let out = std::process::Command::new("python3").args(["-c", code]).output().ok()?;
        OpenBlas::load(String::from_utf8(out.stdout).ok()?.trim(), "scipy_", "64_")
    }

    /// The system's OpenBLAS, if it is installed.
    fn system() -> Option<OpenBlas> {
        OpenBlas::load("libopenblas.so.0", "", "")
    }

    /// out (m×n) = a (m×k) · b (k×n, or n×k read transposed), all row-major, on `threads`.
    fn product(&self, threads: i32, a: &Array2<f32>, b: &Array2<f32>, tb: bool, out: &mut Array2<f32>) {
        let ((m, k), n) = (a.dim(), out.ncols());
        let ldb = if tb { k } else { n };
        let tb = if tb { TRANS } else { NO_TRANS };
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
        // SAFETY: row-major sgemm on arrays valid for these shapes (leading dimensions are
        // the row lengths); `out` is borrowed mutably, so it aliases neither input.
        unsafe {
            (self.set_threads)(threads);
            match self.sgemm {
                Sgemm::Lp64(f) => {
                    let i = |v: usize| v as i32;
                    f(ROW_MAJOR, NO_TRANS, tb, i(m), i(n), i(k), 1.0, a, i(k), b, i(ldb), 0.0, c, i(n))
                }
                Sgemm::Ilp64(f) => {
                    let i = |v: usize| v as i64;
                    f(ROW_MAJOR, NO_TRANS, tb, i(m), i(n), i(k), 1.0, a, i(k), b, i(ldb), 0.0, c, i(n))
                }
            }
        }
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

/// A kernel's rates on 1 and 2 threads, written `R1 R2`, with `≠` after R2 when the two
/// products differ in any bit. `product(threads, out)` writes one product.
fn on_one_and_two_threads(
    flops: f64,
    out: &mut Array2<f32>,
    mut product: impl FnMut(usize, &mut Array2<f32>),
) -> String {
    let mut rates = [0.0; 2];
    let mut outs = Vec::new();
    for (threads, r) in [1, 2].into_iter().zip(&mut rates) {
        *r = rate(flops, || product(threads, out));
        outs.push(out.clone());
    }
    let same = outs[0].iter().zip(outs[1].iter()).all(|(x, y)| x.to_bits() == y.to_bits());
    format!("{:>9.0} {:>9.0}{}", rates[0], rates[1], if same { " " } else { "≠" })
}

/// A matrix as a product operand.
fn operand(x: &Array2<f32>, transposed: bool) -> Operand<'_, f32> {
    Operand { values: x.as_slice().expect("row-major"), shape: x.dim(), transposed }
}

/// A deterministic matrix of values in [-0.5, 0.5).
fn filled(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5)
}

/// The widest kernels `gemm` picks at run time on this CPU (figures from an AVX-512
/// machine and an AVX2 one differ by up to a factor of two).
fn gemm_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "AVX-512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return "AVX2 + FMA";
        }
    }
    "scalar or SSE"
}

fn main() {
    let numpy = OpenBlas::numpy();
    let system = OpenBlas::system();
    for (name, lib, fix) in [
        ("numpy's", &numpy, "python3 -m pip install numpy"),
        ("the system's", &system, "apt-get install libopenblas-dev"),
    ] {
        match lib {
            // OpenBLAS 0.3.21 (Debian 12's) takes this project's machines' CPU for an
            // unknown one and falls back to its generic kernels, 4-6 times slower here.
            Some(lib) if lib.core == "Prescott" => println!(
                "OpenBLAS, {name}: generic kernels (Prescott); OPENBLAS_CORETYPE=SkylakeX (or your CPU's) selects faster ones"
            ),
            Some(lib) => println!("OpenBLAS, {name}: kernels for {}", lib.core),
            None => println!("OpenBLAS, {name}: not found ({fix}); its columns stay empty"),
        }
    }
    println!("gemm: {} kernels on this CPU", gemm_kernels());
    println!("GFLOP/s on 1 and 2 threads (≠: the two products differ in some bit)");
    println!(
        "{:48} {:>9} {:>19}  {:>19}  {:>19}",
        "shape", "ndarray", "gemm (nnc)", "numpy's OpenBLAS", "system OpenBLAS"
    );
    for (name, m, k, n, tb) in SHAPES {
        let a = filled(m, k);
        let b = if tb { filled(n, k) } else { filled(k, n) };
        let mut out = Array2::<f32>::zeros((m, n));
        let flops = 2.0 * (m * k * n) as f64;
        assert!(m * k * n >= nnc::runtime::kernels::GEMM_MIN_WORK, "{name} would not use gemm");
        let bv = if tb { b.t() } else { b.view() };
        let nd = rate(flops, || ndarray::linalg::general_mat_mul(1.0, &a, &bv, 0.0, &mut out));
        // These shapes are all large enough for nnc's `gemm` path, so nnc's kernel on 1
        // and 2 threads is gemm on 1 and 2 threads, called as training calls it.
        let mut scratch = vec![0f32; matmul_scratch(m, k, n, false, tb)];
        let gemm = on_one_and_two_threads(flops, &mut out, |threads, out| {
            set_threads(threads);
            let out = out.as_slice_mut().expect("row-major");
            matmul(operand(&a, false), operand(&b, tb), out, &mut scratch)
        });
        let mut blas = |lib: &Option<OpenBlas>| {
            lib.as_ref().map_or(format!("{:>19} ", "-"), |lib| {
                on_one_and_two_threads(flops, &mut out, |threads, out| lib.product(threads as i32, &a, &b, tb, out))
            })
        };
        let (np, sys) = (blas(&numpy), blas(&system));
        println!("{name:48} {nd:9.0} {gemm} {np} {sys}");
    }
}
