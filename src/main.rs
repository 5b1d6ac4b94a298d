//! The `nnc` binary: parses arguments and hands each verb to `cli`, which maps results to
//! exit codes (0 ok, 1 invalid spec or data, 2 usage, 3 training diverged, 4 I/O).

mod allocator;
mod cli;

use clap::Parser;

/// Over-aligned blocks from plain malloc (see `allocator`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: allocator::OverAligned = allocator::OverAligned;

/// The stack of the threads commands run on: the main thread's usual size.
const MAIN_STACK: usize = 8 << 20;

fn main() {
    let args = cli::Cli::parse();
    // Threads for large matrix products: NNC_THREADS, else every core. Results are the
    // same for any count.
    let threads = std::env::var("NNC_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    nnc::runtime::threads::set_threads(threads);
    allocator::one_malloc_arena();
    // The command runs on one of the pool's threads, so that a threaded product is shared
    // between it and the others, and no idle thread spins beside the one doing the
    // elementwise work between products (on 2 cores: 2 threads, not 3).
    let pool = (threads > 1)
        .then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).stack_size(MAIN_STACK).build().ok())
        .flatten();
    let code = match pool {
        Some(pool) => pool.install(|| cli::dispatch(args)),
        None => cli::dispatch(args),
    };
    std::process::exit(code);
}
