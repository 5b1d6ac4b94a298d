//! Keeping what training learned: weights files (and every hostile one refused with its
//! own message), checkpoints that survive kill -9 and Ctrl-C and resume bit for bit,
//! `nnc predict`, `nnc eval` and `nnc inspect`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nnc::persist::tensors::{Container, FileError, Stored, Values, encode, read};

fn nnc_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnc")).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run with shuffled minibatches, dropout, adam and validation: every piece of state a
/// checkpoint must carry.
const RESUMABLE: &str = "model moons_net {
    input 2
    dense 16 as hidden { activation = relu, init = he_normal }
    dropout 0.2
    dense 1 as out { activation = sigmoid }
    loss binary_crossentropy
}

data {
    generate = moons(n = 240, noise = 0.2)
    validation = 0.25
}

train {
    optimizer = adam(lr = 0.01)
    schedule = cosine(epochs = 300)
    epochs = 300
    batch_size = 16
    seed = 5
    metrics = [accuracy]
}
";

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("moons.nn"), RESUMABLE).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// The trace records after the header (and after epoch `after`).
fn records_after(trace: &str, after: u64) -> Vec<String> {
    let body: Vec<&str> = trace.lines().filter(|l| !l.starts_with("header") && !l.starts_with("nnc-trace")).collect();
    let start = if after == 0 {
        0
    } else {
        body.iter().position(|l| l.starts_with(&format!("epoch {after} "))).expect("the epoch is in the trace") + 1
    };
    body[start..].iter().map(|s| s.to_string()).collect()
}

/// The epoch a resumed trace says it resumed after.
fn resumed_after(trace: &str) -> u64 {
    let line = trace.lines().find(|l| l.starts_with("header start resumed after epoch ")).expect("a resumed trace");
    line.split_whitespace().nth(5).unwrap().parse().unwrap()
}

fn reference(dir: &Path) -> (String, Vec<u8>, Duration) {
    let t = Instant::now();
    let out = nnc_in(dir, &["run", "moons.nn", "-q", "--trace", "step", "-o", "full.trace", "--save", "full.st"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let took = t.elapsed();
    (std::fs::read_to_string(dir.join("full.trace")).unwrap(), std::fs::read(dir.join("full.st")).unwrap(), took)
}

#[test]
fn a_run_stopped_after_epoch_50_and_resumed_ends_like_the_uninterrupted_run() {
    let (_keep, dir) = setup();
    let (full, weights, _) = reference(&dir);
    let stopped = nnc_in(&dir, &["run", "moons.nn", "-q", "-o", "a.trace", "--checkpoint", "ck", "--stop-after", "50"]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    assert!(text(&stopped.stderr).contains("stopped after epoch 50"), "{}", text(&stopped.stderr));
    let resumed = nnc_in(
        &dir,
        &["run", "moons.nn", "-q", "--trace", "step", "-o", "b.trace", "--resume", "ck", "--save", "b.st"],
    );
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert_eq!(std::fs::read(dir.join("b.st")).unwrap(), weights, "weights differ");
    let b = std::fs::read_to_string(dir.join("b.trace")).unwrap();
    assert_eq!(resumed_after(&b), 50);
    assert_eq!(records_after(&b, 0), records_after(&full, 50));
}

#[test]
fn early_stopping_state_survives_a_pause() {
    let (_keep, dir) = setup();
    let spec = RESUMABLE.replace(
        "metrics = [accuracy]",
        "metrics = [accuracy]\n    early_stopping = early_stopping(monitor = val_accuracy, patience = 15)",
    );
    std::fs::write(dir.join("moons.nn"), spec).unwrap();
    let (full, weights, _) = reference(&dir);
    let stopped = full.lines().find(|l| l.starts_with("stopped epoch ")).expect("early stopping ends this run");
    let stop_epoch: u64 = stopped.split_whitespace().nth(2).unwrap().parse().unwrap();
    let pause = (stop_epoch - 5).to_string();
    let out = nnc_in(&dir, &["run", "moons.nn", "-q", "-o", "t", "--checkpoint", "ck", "--stop-after", &pause]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = nnc_in(
        &dir,
        &["run", "moons.nn", "-q", "--trace", "step", "-o", "e.trace", "--resume", "ck", "--save", "e.st"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(dir.join("e.st")).unwrap(),
        weights,
        "the best epoch's weights were not restored the same"
    );
    let e = std::fs::read_to_string(dir.join("e.trace")).unwrap();
    assert_eq!(records_after(&e, 0), records_after(&full, stop_epoch - 5));
}

#[test]
fn kill_9_at_random_moments_always_leaves_a_checkpoint_that_resumes_exactly() {
    let (_keep, dir) = setup();
    let (full, weights, took) = reference(&dir);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let (mut resumed, mut attempts) = (0, 0);
    while resumed < 20 {
        attempts += 1;
        assert!(attempts <= 60, "only {resumed} of {attempts} kills found a checkpoint");
        let _ = std::fs::remove_dir_all(dir.join("ck"));
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let fraction = 0.1 + 0.8 * ((state >> 11) as f64 / (1u64 << 53) as f64);
        let mut child = Command::new(env!("CARGO_BIN_EXE_nnc"))
            .args(["run", "moons.nn", "-q", "-o", "k.trace", "--checkpoint", "ck", "--checkpoint-every", "3"])
            .current_dir(&dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took.mul_f64(fraction));
        let _ = child.kill();
        let _ = child.wait();
        if !dir.join("ck/checkpoint.safetensors").exists() {
            continue;
        }
        let out = nnc_in(
            &dir,
            &["run", "moons.nn", "-q", "--trace", "step", "-o", "r.trace", "--resume", "ck", "--save", "r.st"],
        );
        assert!(out.status.success(), "kill {attempts}: the newest checkpoint did not resume: {}", text(&out.stderr));
        assert_eq!(std::fs::read(dir.join("r.st")).unwrap(), weights, "kill {attempts}: weights differ");
        let r = std::fs::read_to_string(dir.join("r.trace")).unwrap();
        assert_eq!(records_after(&r, 0), records_after(&full, resumed_after(&r)), "kill {attempts}");
        resumed += 1;
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_finishes_the_step_writes_a_checkpoint_and_exits_130() {
    let (_keep, dir) = setup();
    // A long run, interrupted early: it cannot finish before the signal even when the
    // machine is busier for the reference run than for this one.
    std::fs::write(dir.join("moons.nn"), RESUMABLE.replace("\n    epochs = 300\n", "\n    epochs = 2000\n")).unwrap();
    let (full, weights, took) = reference(&dir);
    let child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args([
            "run",
            "moons.nn",
            "-q",
            "--trace",
            "step",
            "-o",
            "i.trace",
            "--checkpoint",
            "ck",
            "--checkpoint-every",
            "1000",
        ])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(took / 5);
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--resume ck"), "{}", text(&out.stderr));
    let partial = std::fs::read_to_string(dir.join("i.trace")).unwrap();
    // The last record the interrupted run wrote: a step, or an epoch when the signal came
    // in an epoch's last step.
    let last = records_after(&partial, 0).pop().expect("the run recorded something");
    let resumed = nnc_in(
        &dir,
        &["run", "moons.nn", "-q", "--trace", "step", "-o", "j.trace", "--resume", "ck", "--save", "j.st"],
    );
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert_eq!(std::fs::read(dir.join("j.st")).unwrap(), weights);
    // The resumed trace continues right after the last record the interrupted run wrote.
    let j = std::fs::read_to_string(dir.join("j.trace")).unwrap();
    let full_body = records_after(&full, 0);
    let at = full_body.iter().position(|l| *l == last).unwrap();
    assert!(records_after(&j, 0) == full_body[at + 1..], "the resumed run does not continue after {last:?}");
}

#[test]
fn a_checkpoint_of_another_spec_is_refused() {
    let (_keep, dir) = setup();
    let stop = nnc_in(&dir, &["run", "moons.nn", "-q", "-o", "t", "--checkpoint", "ck", "--stop-after", "2"]);
    assert!(stop.status.success());
    std::fs::write(dir.join("other.nn"), RESUMABLE.replace("seed = 5", "seed = 6")).unwrap();
    let out = nnc_in(&dir, &["run", "other.nn", "-q", "--resume", "ck"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nnc::E082") && err.contains("different run") && err.contains("moons.nn"), "{err}");
}

#[test]
fn weights_load_from_the_spec_or_the_flag_and_a_mismatch_lists_what_differs() {
    let (_keep, dir) = setup();
    let (_, _, _) = reference(&dir);
    // Starting from the trained weights, one more epoch begins where training ended.
    let spec = RESUMABLE.replace("\n    epochs = 300\n", "\n    epochs = 1\n    weights_from = \"full.st\"\n");
    std::fs::write(dir.join("more.nn"), &spec).unwrap();
    let out = nnc_in(&dir, &["run", "more.nn", "-q"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("header start weights full.st sha256 "), "{}", text(&out.stdout));
    let flag = nnc_in(&dir, &["run", "moons.nn", "-q", "--weights", "full.st"]);
    assert!(text(&flag.stdout).contains("header start weights full.st sha256 "));

    let wider = spec.replace("dense 16 as hidden", "dense 8 as hidden").replace("dropout 0.2\n", "dense 1 as extra\n");
    std::fs::write(dir.join("wider.nn"), wider).unwrap();
    let out = nnc_in(&dir, &["run", "wider.nn", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr).replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "nnc::E081",
        "wider.nn:18:20",
        "`hidden.weight` is [2, 16] in the file but [2, 8] in the model",
        "`extra.weight` [8, 1] is missing",
        "`out.weight` is [16, 1] in the file but [1, 1] in the model",
    ] {
        assert!(err.contains(part), "missing {part:?} in:\n{err}");
    }
    let out = nnc_in(&dir, &["run", "moons.nn", "-q", "--weights", "nowhere.st"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("cannot read nowhere.st"));
}

#[test]
fn predict_eval_and_inspect_use_the_saved_weights() {
    let (_keep, dir) = setup();
    let root = common::root();
    let iris = root.join("specs/iris.nn");
    let csv = root.join("specs/data/iris.csv");
    let (iris, csv) = (iris.to_str().unwrap(), csv.to_str().unwrap());
    let out = nnc_in(&dir, &["run", iris, "-q", "-o", "t", "--save", "iris.st"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = nnc_in(&dir, &["predict", iris, "--weights", "iris.st", "--input", csv]);
    let predictions = text(&out.stdout);
    let lines: Vec<&str> = predictions.lines().collect();
    assert_eq!(lines[0], "class,p_setosa,p_versicolor,p_virginica");
    assert_eq!(lines.len(), 151);
    assert!(lines[1].starts_with("setosa,"), "{}", lines[1]);
    let probs: f64 = lines[1].split(',').skip(1).map(|p| p.parse::<f64>().unwrap()).sum();
    assert!((probs - 1.0).abs() < 1e-5);
    let right = std::fs::read_to_string(csv)
        .unwrap()
        .lines()
        .skip(1)
        .zip(&lines[1..])
        .filter(|(row, p)| row.rsplit(',').next() == p.split(',').next())
        .count();
    assert!(right >= 145, "{right} of 150 right");

    let out = nnc_in(&dir, &["eval", iris, "--weights", "iris.st"]);
    let report = text(&out.stdout);
    assert!(
        report.starts_with("train examples 120 loss ") && report.contains("\nvalidation examples 30 loss "),
        "{report}"
    );
    let out = nnc_in(&dir, &["eval", iris, "--weights", "iris.st", "--input", csv]);
    assert!(text(&out.stdout).contains("examples 150 loss "), "{}", text(&out.stderr));

    let out = nnc_in(&dir, &["inspect", "iris.st"]);
    let shown = text(&out.stdout);
    for part in ["model iris", "kind weights", "hidden.weight F32 [4, 16]", "  | model iris {", "ir_sha256 "] {
        assert!(shown.contains(part), "missing {part:?} in:\n{shown}");
    }
    let out = nnc_in(&dir, &["inspect", "iris.st", "--spec"]);
    assert_eq!(text(&out.stdout), std::fs::read_to_string(root.join("specs/iris.nn")).unwrap());
}

// ---- hostile weights files ----

fn valid() -> Vec<u8> {
    let mut c = Container::default();
    c.tensors.push(Stored { name: "a".into(), dims: vec![2], values: Values::F32(vec![1.0, 2.0]) });
    c.tensors.push(Stored { name: "b".into(), dims: vec![1], values: Values::F32(vec![3.0]) });
    encode(&c)
}

/// A file with this JSON header and `data` bytes after it.
fn with_header(json: &str, data: usize) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend(std::iter::repeat_n(0u8, data));
    out
}

fn refused(bytes: &[u8]) -> FileError {
    read(&mut &bytes[..], bytes.len() as u64).expect_err("a hostile file must be refused")
}

#[test]
fn every_hostile_file_is_refused_with_its_own_message() {
    assert!(read(&mut &valid()[..], valid().len() as u64).is_ok());
    let mut huge = valid();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut over = valid();
    over[..8].copy_from_slice(&100_000_001u64.to_le_bytes());
    let f32_entry = |name: &str, a: u64, b: u64| {
        format!(r#""{name}":{{"dtype":"F32","shape":[{}],"data_offsets":[{a},{b}]}}"#, (b - a) / 4)
    };
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("header length u64::MAX", huge, "the header length is 18446744073709551615 bytes".into()),
        ("header over 100 MB", over, "the header length is 100000001 bytes, over the safetensors limit".into()),
        (
            "overlapping offsets",
            with_header(&format!("{{{},{}}}", f32_entry("a", 0, 8), f32_entry("b", 4, 12)), 12),
            "tensors `a` and `b` overlap".into(),
        ),
        (
            "out-of-file offsets",
            with_header(&format!("{{{}}}", f32_entry("a", 0, 4000)), 8),
            "tensor `a` ends at data byte 4000, past the end of the file (8 data bytes)".into(),
        ),
        (
            "shape product overflows",
            with_header(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#, 8),
            "the shape [4294967296, 4294967296, 16] of tensor `a` has more elements than fit in memory".into(),
        ),
        (
            "unknown dtype",
            with_header(r#"{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#, 8),
            "tensor `a` has dtype `Q7`; nnc reads F32, F64 and I64".into(),
        ),
        (
            "duplicate names",
            with_header(&format!("{{{},{}}}", f32_entry("a", 0, 4), f32_entry("a", 4, 8)), 8),
            "the header names the tensor `a` twice".into(),
        ),
        ("truncated file", valid()[..valid().len() - 3].to_vec(), "tensor `b` ends at data byte 12".into()),
        ("truncated header", valid()[..20].to_vec(), "the file is truncated".into()),
        ("shorter than 8 bytes", vec![1, 2, 3], "the file is 3 bytes long, too short".into()),
        ("not JSON", with_header("{nope", 0), "the header is not valid JSON".into()),
        (
            "gap between tensors",
            with_header(&format!("{{{},{}}}", f32_entry("a", 0, 4), f32_entry("b", 8, 12)), 12),
            "data bytes 4..8 belong to no tensor".into(),
        ),
        (
            "size does not match the shape",
            with_header(r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#, 8),
            "tensor `a` needs 16 bytes for its dtype and shape, but its offsets span 8".into(),
        ),
        (
            "reversed offsets",
            with_header(
                r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}, "b":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
                8,
            ),
            "tensor `b` has data_offsets [8, 0]".into(),
        ),
        (
            "trailing bytes",
            {
                let mut v = valid();
                v.extend([0u8; 5]);
                v
            },
            "the file has 5 bytes after its last tensor's data".into(),
        ),
    ];
    let mut messages = std::collections::HashSet::new();
    for (what, bytes, expected) in cases {
        let message = refused(&bytes).to_string();
        assert!(message.contains(&expected), "{what}: got {message:?}, expected {expected:?}");
        assert!(messages.insert(message.clone()), "{what}: the message {message:?} is not its own");
    }
}

#[test]
fn a_hostile_weights_file_named_in_a_spec_is_reported_at_that_line() {
    let (_keep, dir) = setup();
    let mut bytes = valid();
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(dir.join("bad.st"), bytes).unwrap();
    std::fs::write(dir.join("w.nn"), RESUMABLE.replace("seed = 5", "seed = 5\n    weights_from = \"bad.st\"")).unwrap();
    let out = nnc_in(&dir, &["run", "w.nn", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nnc::E080") && err.contains("w.nn:20:") && err.contains("header length"), "{err}");
}
