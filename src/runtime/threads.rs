//! How many threads large matrix products and large elementwise passes may use, and when
//! elementwise work is cut for them. Results must not depend on it: traces
//! are byte-identical whatever the count. A large product is cut into one part per
//! thread, each on `gemm` alone and summed as the whole would be
//! (`kernels::Product::run_cut`); `tests/threads.rs` checks 1, 2 and 3 threads.

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

/// The smallest piece of elementwise work (an optimiser update, a fused pass) handed to a
/// thread: work is cut into halves while each half holds at least this many elements.
pub const PIECE: usize = 1 << 14;

/// Whether elementwise work over `len` elements goes on every thread, given the least
/// worth cutting for that kind of work.
pub fn worth_cutting(len: usize, least: usize) -> bool {
    len >= least && len >= 2 * PIECE && threads() > 1
}
