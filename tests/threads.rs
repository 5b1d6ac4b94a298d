//! Results do not depend on the thread count: the large matrix products (which run on
//! several threads) give the same bits with 1, 2 and 3 threads, for the shapes of the
//! benchmark workloads and odd ones, and a run gives the same trace (its 256×512 weight,
//! above `optimizer::PARALLEL_MIN` elements, is also updated on both threads).

use std::process::Command;

use ndarray::Array2;
use nnc::runtime::kernels::{GEMM_MIN_WORK, Operand, matmul, matmul_scratch};
use nnc::runtime::threads::set_threads;

/// Seeded values in [-1, 1) (splitmix64).
fn filled(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut state = seed;
    Array2::from_shape_fn((rows, cols), |_| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    })
}

/// A matrix as a product operand.
fn operand(m: &Array2<f32>, transposed: bool) -> Operand<'_, f32> {
    Operand { values: m.as_slice().expect("row-major"), shape: m.dim(), transposed }
}

#[test]
fn large_products_have_the_same_bits_on_any_thread_count() {
    // (m, k, n, transpose a, transpose b): W3 and W4's forward, weight-gradient and
    // input-gradient products, and a long-sum input gradient of a small batch (it and
    // W4's input gradient go through scratch).
    let shapes = [
        (128, 784, 256, false, false),
        (784, 128, 256, true, false),
        (128, 256, 784, false, true),
        (128, 256, 128, false, false),
        (128, 2048, 512, false, true),
        (256, 1024, 1024, false, false),
        (1024, 256, 1024, true, false),
        (256, 1024, 1024, false, true),
        (2048, 1024, 1024, false, false),
        // W4's narrow products (its softmax layer), and odd sizes, which threads cannot
        // share equally.
        (256, 1024, 10, false, false),
        (1024, 256, 10, true, false),
        (256, 10, 1024, false, true),
        (257, 300, 129, false, false),
        (131, 77, 601, true, true),
        // Products whose halves would fall on gemm's paths for outputs of at most 16×16
        // elements and at most 64×64 (each with its own summation order), in every
        // layout, and a two-term sum (gemm's outer-product path).
        (130, 1024, 2, false, false),
        (130, 1024, 2, false, true),
        (130, 1024, 2, true, false),
        (130, 1024, 2, true, true),
        (2, 1024, 130, false, true),
        (128, 784, 40, false, false),
        (40, 1000, 128, true, true),
        (512, 2, 512, false, false),
    ];
    for (seed, &(m, k, n, ta, tb)) in shapes.iter().enumerate() {
        assert!(m * k * n >= GEMM_MIN_WORK, "{m}x{k}x{n} would not use the threaded kernel");
        let a = if ta { filled(k, m, seed as u64) } else { filled(m, k, seed as u64) };
        let b = if tb { filled(n, k, 100 + seed as u64) } else { filled(k, n, 100 + seed as u64) };
        let mut outs = Vec::new();
        for threads in [1, 2, 3] {
            set_threads(threads);
            let mut out = Array2::<f32>::zeros((m, n));
            let mut scratch = vec![0f32; matmul_scratch(m, k, n, ta, tb)];
            matmul(operand(&a, ta), operand(&b, tb), out.as_slice_mut().expect("row-major"), &mut scratch);
            outs.push(out);
        }
        for (threads, out) in [2, 3].iter().zip(&outs[1..]) {
            let same = outs[0].iter().zip(out.iter()).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{m}x{k}x{n} (ta {ta}, tb {tb}) differs between 1 and {threads} threads");
        }
        // And the product is right: one element against a plain f64 sum.
        let (i, j) = (m / 3, n / 2);
        let exact: f64 = (0..k)
            .map(|p| {
                let x = if ta { a[[p, i]] } else { a[[i, p]] };
                let y = if tb { b[[j, p]] } else { b[[p, j]] };
                f64::from(x) * f64::from(y)
            })
            .sum();
        assert!((f64::from(outs[0][[i, j]]) - exact).abs() < 1e-3, "{m}x{k}x{n}: {} vs {exact}", outs[0][[i, j]]);
    }
}

#[test]
fn a_run_with_large_layers_gives_the_same_trace_with_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "model wide {
    input 256
    dense 512 as hidden { activation = relu }
    dense 4 as out { activation = softmax }
    loss categorical_crossentropy
}

data {
    generate = blobs(n = 1024, features = 256, classes = 4, spread = 2.0)
}

train {
    optimizer = adam(lr = 0.001)
    epochs = 2
    batch_size = 256
    seed = 1
}
";
    let path = dir.path().join("wide.nn");
    std::fs::write(&path, spec).unwrap();
    let trace = |threads: &str| {
        let out = run_with_threads(threads, &["run", path.to_str().unwrap(), "--trace", "step", "-q"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert_eq!(trace("1"), trace("2"));
}

/// `nnc` with `args`, run from the project's folder with `NNC_THREADS` set to `threads`.
fn run_with_threads(threads: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NNC_THREADS", threads)
        .output()
        .unwrap()
}

/// With two threads the trace is formatted and written on a thread of its own, with one
/// in the training loop: the same bytes, to standard output and to a file, at every
/// level and in both formats, for a run that ends at its last epoch (xor: 2000 epoch
/// lines, a full batch and most of a second), one that stops early (breast cancer), one
/// with validation scores and metrics (iris) and one that diverges.
#[test]
fn the_trace_has_the_same_bytes_written_on_its_own_thread_or_in_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let runs: [(&str, &[&str]); 8] = [
        ("specs/xor.nn", &[]),
        ("specs/xor.nn", &["--trace", "step"]),
        ("specs/xor.nn", &["--format", "json"]),
        ("specs/seed_forward.nn", &["--trace", "full"]),
        ("specs/breast_cancer.nn", &["--trace", "step"]),
        ("specs/breast_cancer.nn", &["--format", "json"]),
        ("specs/iris.nn", &[]),
        ("tests/runs/diverges.nn", &["--trace", "full"]),
    ];
    for (spec, extra) in runs {
        let mut outputs = Vec::new();
        for threads in ["1", "2"] {
            let file = dir.path().join(format!("t{threads}.trace"));
            let to_stdout = run_with_threads(threads, &[&["run", spec, "-q"], extra].concat());
            let to_file =
                run_with_threads(threads, &[&["run", spec, "-q", "-o", file.to_str().unwrap()], extra].concat());
            assert_eq!(to_stdout.status.code(), to_file.status.code(), "{spec} {extra:?}");
            let code = to_stdout.status.code();
            assert!(code == Some(0) || spec.contains("diverges") && code == Some(3), "{spec}: {code:?}");
            let written = std::fs::read(&file).unwrap();
            assert_eq!(to_stdout.stdout, written, "{spec} {extra:?} with {threads} threads: stdout and file differ");
            outputs.push(written);
        }
        assert!(outputs[0].len() > 1000, "{spec} {extra:?}: {} bytes", outputs[0].len());
        assert!(outputs[0] == outputs[1], "{spec} {extra:?}: the traces of 1 and 2 threads differ");
    }
}

/// A write that fails while the writer's thread writes the trace (a full device) ends the
/// run with the I/O exit code and names the file, as it does when the loop writes it.
#[cfg(target_os = "linux")]
#[test]
fn a_trace_that_cannot_be_written_exits_4_with_either_thread_count() {
    use std::os::unix::fs::FileTypeExt;
    // A machine without the full device has nothing to test with (a plain path would be
    // written as a file).
    if !std::fs::metadata("/dev/full").is_ok_and(|m| m.file_type().is_char_device()) {
        return;
    }
    for threads in ["1", "2"] {
        let o = run_with_threads(threads, &["run", "specs/xor.nn", "-q", "-o", "/dev/full"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{threads} threads: {err}");
        assert!(err.contains("/dev/full"), "{err}");
    }
}
