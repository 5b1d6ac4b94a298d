//! The `nnc` binary: parses arguments and hands each verb to `cli`, which maps results to
//! exit codes (0 ok, 1 invalid spec or data, 2 usage, 3 training diverged, 4 I/O).

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    // Threads for large matrix products: NNC_THREADS, else every core. Results are the
    // same for any count.
    let threads = std::env::var("NNC_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    nnc::runtime::threads::set_threads(threads);
    std::process::exit(cli::dispatch(args));
}
