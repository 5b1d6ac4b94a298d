//! Results do not depend on the thread count: the large matrix products (which run on
//! several threads) give the same bits with 1 and 2 threads, for the shapes of the
//! benchmark workloads, and a run gives the same trace (its 256×512 weight, above
//! `optimizer::PARALLEL_MIN` elements, is also updated on both threads).

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
fn large_products_have_the_same_bits_with_one_and_two_threads() {
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
    ];
    for (seed, &(m, k, n, ta, tb)) in shapes.iter().enumerate() {
        assert!(m * k * n >= GEMM_MIN_WORK, "{m}x{k}x{n} would not use the threaded kernel");
        let a = if ta { filled(k, m, seed as u64) } else { filled(m, k, seed as u64) };
        let b = if tb { filled(n, k, 100 + seed as u64) } else { filled(k, n, 100 + seed as u64) };
        let mut outs = Vec::new();
        for threads in [1, 2] {
            set_threads(threads);
            let mut out = Array2::<f32>::zeros((m, n));
            let mut scratch = vec![0f32; matmul_scratch(m, k, n, ta, tb)];
            matmul(operand(&a, ta), operand(&b, tb), out.as_slice_mut().expect("row-major"), &mut scratch);
            outs.push(out);
        }
        let same = outs[0].iter().zip(outs[1].iter()).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{m}x{k}x{n} (ta {ta}, tb {tb}) differs between 1 and 2 threads");
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
    std::fs::write(dir.path().join("wide.nn"), spec).unwrap();
    let trace = |threads: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_nnc"))
            .args(["run", "wide.nn", "--trace", "step", "-q"])
            .current_dir(dir.path())
            .env("NNC_THREADS", threads)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert_eq!(trace("1"), trace("2"));
}
