//! Fuzzes TOML parsing and lowering (see `common.rs` for the property checked).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        common::check(text, nnc::Syntax::Toml);
    }
});
