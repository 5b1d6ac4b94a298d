//! How many threads large matrix products may use. Results must not depend on it: traces
//! are byte-identical whatever the count. `gemm` gave bit-identical products with 1 and 2
//! threads on the shapes nnc uses; `tests/threads.rs` keeps checking that.

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets the thread count (at least 1).
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The thread count.
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}
