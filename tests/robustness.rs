//! Nothing a user can type makes nnc panic: a bounded property test feeds mutated specs
//! (tokens deleted, duplicated, swapped and inserted) through parse, lower and a short
//! training run, and requires either a result or a diagnostic with a label in the file.

use std::panic::{AssertUnwindSafe, catch_unwind};

use nnc::Syntax;
use nnc::train::events::Level;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// Mutants tried per seed file.
const MUTANTS_PER_FILE: usize = 120;
/// Epochs a mutant that compiles is trained for at most.
const MAX_EPOCHS: u64 = 1;

/// Splits text into tokens: runs of word characters, single punctuation, runs of spaces.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    for c in text.chars() {
        match out.last_mut() {
            Some(last) if word(c) && last.chars().all(word) => last.push(c),
            Some(last) if c == ' ' && last.chars().all(|c| c == ' ') => last.push(c),
            _ => out.push(c.to_string()),
        }
    }
    out
}

const INSERTS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "=",
    ",",
    "\n",
    "\"",
    "#",
    "as",
    "-",
    "1e999",
    "-0",
    "0",
    "1e-400",
    "nan",
    "dense",
    "input",
    "loss",
    "model",
    "data",
    "train",
    "x",
    "y",
    "softmax",
    "true",
    "3x3",
    "9999999999999999999999",
    "[[1]]",
];

fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}

fn mutate(rng: &mut ChaCha8Rng, toks: &[String]) -> String {
    let mut t = toks.to_vec();
    for _ in 0..1 + below(rng, 3) {
        if t.is_empty() {
            break;
        }
        let i = below(rng, t.len());
        match below(rng, 4) {
            0 => {
                t.remove(i);
            }
            1 => t.insert(i, t[i].clone()),
            2 => {
                let j = below(rng, t.len());
                t.swap(i, j);
            }
            _ => t.insert(i, INSERTS[below(rng, INSERTS.len())].to_string()),
        }
    }
    t.concat()
}

fn check(text: &str, syntax: Syntax) {
    match nnc::compile(text, syntax) {
        Ok((mut program, _)) => {
            program.train.epochs = program.train.epochs.min(MAX_EPOCHS);
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
            let mut loader = |p: &str| nnc::data::FileBytes::read(&root.join(p)).map_err(|e| e.to_string());
            match nnc::data::prepare(&program, &mut loader) {
                // Training the larger data sets adds time, not coverage: the runtime is
                // the same for every size.
                Ok(data) if data.train.x.nrows() * data.train.x.ncols() <= 10_000 => {
                    let _ = nnc::trace::record(&program, &data, Level::Full);
                }
                Ok(_) => {}
                Err(diags) => assert!(!diags.is_empty()),
            }
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "an error with no diagnostic for:\n{text}");
            for d in &diags.0 {
                assert!(
                    d.labels.iter().all(|l| l.span.start <= l.span.end && l.span.end <= text.len()),
                    "{d:?}\n{text}"
                );
            }
            let source = nnc::SourceFile { name: "mutant".into(), text: text.to_string() };
            nnc::diagnostics::render(&diags, &source, nnc::diagnostics::Style::Plain { width: 80 });
        }
    }
}

#[test]
fn mutated_specs_give_a_result_or_a_diagnostic_never_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["specs", "tests/diagnostics", "tests/runs"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "nn" || e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut tried = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let syntax = Syntax::from_path(&path.display().to_string());
        let toks = tokens(&text);
        let per_file = std::env::var("NNC_MUTANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(MUTANTS_PER_FILE);
        for _ in 0..per_file {
            let mutant = mutate(&mut rng, &toks);
            if catch_unwind(AssertUnwindSafe(|| check(&mutant, syntax))).is_err() {
                panic!("panicked on a mutant of {}:\n{mutant}", path.display());
            }
            tried += 1;
        }
    }
    assert!(tried >= 1000, "only {tried} mutants");
}
