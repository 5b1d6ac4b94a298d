//! How long parsing and lowering take on inputs at nnc's limits: a 1 MiB spec, a 200-layer
//! spec, a 10^12-element layer (rejected) and brackets nested 100,000 deep (rejected).
//! Run with `cargo bench --bench compile`.

use criterion::{Criterion, criterion_group, criterion_main};
use nnc::Syntax;

/// A spec of about `bytes` bytes, almost all of it one explicit weights matrix.
fn big_spec(bytes: usize) -> String {
    let side = ((bytes / 11) as f64).sqrt() as usize;
    let row = format!("[{}]", vec!["0.12345678"; side].join(", "));
    let rows = vec![row; side].join(",\n    ");
    format!("model big {{\n  input {side}\n  dense {side} {{ weights = [\n    {rows}\n  ] }}\n  loss mse\n}}\n")
}

fn deep_spec(layers: usize) -> String {
    let body: String = (0..layers).map(|i| format!("  dense 16 as l{i} {{ activation = relu }}\n")).collect();
    format!("model deep {{\n  input 16\n{body}  dense 1\n  loss mse\n}}\n")
}

fn bench(c: &mut Criterion) {
    let big = big_spec(1 << 20);
    assert!(big.len() >= 1 << 20);
    c.bench_function("compile a 1 MiB spec", |b| b.iter(|| nnc::compile(&big, Syntax::Nn).unwrap()));
    let deep = deep_spec(200);
    c.bench_function("compile a 200-layer spec", |b| b.iter(|| nnc::compile(&deep, Syntax::Nn).unwrap()));
    let huge = "model m {\n input 1000000\n dense 1000000\n loss mse\n}\n";
    c.bench_function("reject a 10^12-element layer", |b| b.iter(|| nnc::compile(huge, Syntax::Nn).unwrap_err()));
    let nested = format!(
        "model m {{\n input 1\n dense 1 {{ weights = {}{} }}\n loss mse\n}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    c.bench_function("reject nesting 100,000 deep", |b| b.iter(|| nnc::compile(&nested, Syntax::Nn).unwrap_err()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
