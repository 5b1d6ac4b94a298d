//! The `nnc` binary: parses arguments and hands each verb to `cli`, which maps results to
//! exit codes (0 ok, 1 invalid spec or data, 2 usage, 3 training diverged, 4 I/O).

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    std::process::exit(cli::dispatch(args));
}
