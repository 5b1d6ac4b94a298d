//! Arrays from numpy files: `x`, `y` (integer labels one-hot for a categorical loss) and a
//! layer's `weights` and `bias_values`, in both syntaxes; shape and file errors point at
//! the `npy(...)` that named the file.

mod common;

use std::path::Path;
use std::process::Command;

/// A version-1 `.npy` file with this descriptor, shape and data, its header padded as
/// numpy pads it (the data starts a multiple of 64 bytes in).
fn npy(descr: &str, shape: &str, data: Vec<u8>) -> Vec<u8> {
    let start = (10 + header(descr, shape).len() + 1).next_multiple_of(64);
    npy_with_data_at(descr, shape, data, start)
}

/// A version-1 `.npy` file whose data starts `start` bytes in.
fn npy_with_data_at(descr: &str, shape: &str, data: Vec<u8>, start: usize) -> Vec<u8> {
    let mut header = header(descr, shape);
    while 10 + header.len() + 1 < start {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    assert_eq!(out.len(), start, "the header fits before the data");
    out.extend(data);
    out
}

/// The header's dictionary.
fn header(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

#[test]
fn reads_floats_and_integers_and_refuses_what_does_not_fit() {
    use nnc::data::npy::{Elements, parse};
    let f: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(parse(npy("<f8", "(2,)", f.clone()).into()).unwrap().values, Elements::F64(vec![1.5, -2.0]));
    let i: Vec<u8> = [3i64, 0, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = parse(npy("<i8", "(3, 1)", i).into()).unwrap();
    assert_eq!((a.dims, a.values), (vec![3, 1], Elements::F64(vec![3.0, 0.0, 2.0])));
    // float32 stays float32 (half the memory); everything else becomes f64.
    let a = parse(npy("<f4", "(2,)", f32s(&[0.1, -3.0])).into()).unwrap();
    assert_eq!(a.values, Elements::F32(vec![0.1f32, -3.0]));
    assert_eq!(a.values.into_f64(), vec![f64::from(0.1f32), -3.0]);
    let u: Vec<u8> = vec![7u8, 255];
    assert_eq!(parse(npy("|u1", "(2,)", u).into()).unwrap().values, Elements::F64(vec![7.0, 255.0]));
    assert!(parse(npy("<f8", "(1000000000000,)", f.clone()).into()).unwrap_err().contains("truncated"));
    assert!(parse(npy("<f8", "(4611686018427387904, 8)", f.clone()).into()).unwrap_err().contains("more elements"));
    assert!(parse(npy("<c16", "(1,)", f).into()).unwrap_err().contains("element type"));
    assert!(parse(b"not numpy".to_vec().into()).unwrap_err().contains("not a valid .npy"));
    // Data that does not start on a boundary of its element type in the file (a header
    // padded otherwise than numpy pads it) is read the same.
    let f: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let odd = npy_with_data_at("<f8", "(2,)", f, 132);
    assert_eq!(parse(odd.clone().into()).unwrap().values, Elements::F64(vec![1.5, -2.0]));
    // The same in version 2, whose header's length takes 4 bytes (the data starts at 134).
    let mut v2 = odd;
    v2[6] = 2;
    v2.splice(10..10, [0, 0]);
    assert_eq!(parse(v2.into()).unwrap().values, Elements::F64(vec![1.5, -2.0]));
    let odd = npy_with_data_at("<f4", "(2,)", f32s(&[0.1, -3.0]), 130);
    assert_eq!(parse(odd.into()).unwrap().values, Elements::F32(vec![0.1f32, -3.0]));
}

#[test]
fn float32_arrays_in_fortran_order_are_read_in_row_major_order() {
    use nnc::data::npy::{Elements, parse};
    let mut file = npy("<f4", "(2, 3)", f32s(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]));
    let at = file.windows(5).position(|w| w == b"False").unwrap();
    file.splice(at..at + 5, *b"True ");
    let a = parse(file.into()).unwrap();
    assert_eq!((a.dims, a.values), (vec![2, 3], Elements::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])));
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn nnc(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nnc")).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

const SPEC: &str = r#"model from_files {
    input 2
    dense 3 as hidden {
        activation = tanh
        weights = npy("w.npy")
        bias_values = npy("b.npy")
    }
    dense 2 as out { activation = softmax }
    loss categorical_crossentropy
}

data {
    x = npy("x.npy")
    y = npy("labels.npy")
}

train {
    optimizer = sgd(lr = 0.1)
    epochs = 3
    metrics = [accuracy]
}
"#;

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("x.npy"), npy("<f4", "(4, 2)", f32s(&[0., 0., 0., 1., 1., 0., 1., 1.]))).unwrap();
    let labels: Vec<u8> = [0i64, 1, 1, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(p.join("labels.npy"), npy("<i8", "(4,)", labels)).unwrap();
    std::fs::write(p.join("w.npy"), npy("<f4", "(2, 3)", f32s(&[0.5, -0.25, 1.0, 0.75, 0.5, -1.0]))).unwrap();
    let b: Vec<u8> = [0.1f64, 0.0, -0.1].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(p.join("b.npy"), npy("<f8", "(3,)", b)).unwrap();
    std::fs::write(p.join("m.nn"), SPEC).unwrap();
    dir
}

#[test]
fn arrays_from_npy_files_feed_data_and_weights_in_both_syntaxes() {
    let dir = fixture();
    let p = dir.path();
    let out = nnc(p, &["run", "m.nn", "--trace", "full", "-q"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trace = String::from_utf8(out.stdout).unwrap();
    // Labels became one-hot rows; the weights and biases are the files' values.
    assert!(trace.contains("forward epoch 1 step 1 y [4, 2] = [[1, 0], [0, 1], [0, 1], [1, 0]]"), "{trace}");
    assert!(trace.contains("forward epoch 1 step 1 hidden.pre [4, 3] = [[0.1, 0, -0.1], [0.85, 0.5, -1.1]"), "{trace}");
    // The canonical layout keeps `npy("...")`; the TOML twin gives the same run.
    let fmt = nnc(p, &["fmt", "--check", "m.nn"]);
    assert!(fmt.status.success(), "{}", String::from_utf8_lossy(&fmt.stdout));
    let toml = nnc(p, &["convert", "m.nn", "--to", "toml", "-o", "m.toml"]);
    assert!(toml.status.success());
    assert!(std::fs::read_to_string(p.join("m.toml")).unwrap().contains(r#"{ type = "npy", file = "w.npy" }"#));
    let twin = nnc(p, &["run", "m.toml", "--trace", "full", "-q"]);
    assert_eq!(String::from_utf8(twin.stdout).unwrap(), trace);
}

#[test]
fn a_mis_shaped_or_missing_array_is_reported_at_its_npy_call() {
    let dir = fixture();
    let p = dir.path();
    std::fs::write(p.join("w.npy"), npy("<f4", "(3, 2)", f32s(&[0.0; 6]))).unwrap();
    std::fs::write(p.join("x.npy"), npy("<f4", "(4, 2)", f32s(&[0.0; 3]))).unwrap();
    let out = nnc(p, &["check", "m.nn"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot use `w.npy` for `hidden.weight`: it has shape [3, 2], the parameter [2, 3]"), "{err}");
    assert!(err.contains("m.nn:5:"), "{err}");
    std::fs::write(p.join("w.npy"), npy("<f4", "(2, 3)", f32s(&[0.0; 6]))).unwrap();
    let out = nnc(p, &["check", "m.nn"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot use `x.npy` for `x`: it is truncated"), "{err}");
    assert!(err.contains("m.nn:13:"), "{err}");
    std::fs::remove_file(p.join("b.npy")).unwrap();
    let out = nnc(p, &["check", "m.nn"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot use `b.npy` for `hidden.bias`"));
}

/// float32 files stay float32 in memory (data and weights), and a run on them is the run on
/// the same values widened to float64: byte for byte the same trace, fingerprint included.
#[test]
fn float32_arrays_are_kept_narrow_and_train_exactly_as_their_widened_values() {
    use nnc::data::Features;
    use nnc::ir::{Def, Init, Values};
    let dir = fixture();
    let p = dir.path();
    let (program, data) = common::load_file(&p.join("m.nn"));
    assert!(matches!(data.train.x, Features::F32(_)), "{:?}", data.train.x);
    let init = |name: &str| {
        let id = program.graph.params.iter().find(|&&id| program.graph.value(id).name == name).unwrap();
        match &program.graph.value(*id).def {
            Def::Param { init, .. } => init.clone(),
            _ => unreachable!(),
        }
    };
    assert!(matches!(init("hidden.weight"), Init::Explicit(Values::F32(_))));
    assert!(matches!(init("hidden.bias"), Init::Explicit(Values::F64(_))));
    let narrow = nnc(p, &["run", "m.nn", "--trace", "full", "-q"]);
    let x: Vec<u8> = [0f64, 0., 0., 1., 1., 0., 1., 1.].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(p.join("x.npy"), npy("<f8", "(4, 2)", x)).unwrap();
    let w: Vec<u8> = [0.5f64, -0.25, 1.0, 0.75, 0.5, -1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(p.join("w.npy"), npy("<f8", "(2, 3)", w)).unwrap();
    assert!(matches!(common::load_file(&p.join("m.nn")).1.train.x, Features::F64(_)));
    let wide = nnc(p, &["run", "m.nn", "--trace", "full", "-q"]);
    assert!(narrow.status.success() && wide.status.success());
    assert_eq!(String::from_utf8(narrow.stdout).unwrap(), String::from_utf8(wide.stdout).unwrap());
    // Normalising widens: the rescaled values are f64, as they always were.
    std::fs::write(p.join("x.npy"), npy("<f4", "(4, 2)", f32s(&[0., 0., 0., 1., 1., 0., 1., 1.]))).unwrap();
    let spec = std::fs::read_to_string(p.join("m.nn")).unwrap();
    std::fs::write(
        p.join("n.nn"),
        spec.replace("y = npy(\"labels.npy\")", "y = npy(\"labels.npy\")\n    normalize = standard"),
    )
    .unwrap();
    let (_, data) = common::load_file(&p.join("n.nn"));
    match &data.train.x {
        Features::F64(x) => assert_eq!(x.column(0).to_vec(), vec![-1.0, -1.0, 1.0, 1.0]),
        other => panic!("{other:?}"),
    }
}

/// A run set up from a program no longer needs the spec's initial values: the program
/// lets them go (as `nnc run` does, so that large initial weights are not held twice),
/// its fingerprints stay the same, the run is the run of the unreleased program, and a
/// fresh start from the released program is refused instead of guessed.
#[test]
fn a_run_that_is_set_up_lets_the_initial_values_go_and_keeps_the_fingerprints() {
    use nnc::ir::{Def, Init};
    use nnc::train::events::Level;
    use nnc::train::snapshot::Options;
    use nnc::train::{TrainError, Training, train};
    let dir = fixture();
    let (mut program, data) = common::load_file(&dir.path().join("m.nn"));
    let (run, model) = (program.fingerprint(&data), program.model_fingerprint());
    let expected = train(&program, &data, Level::Epoch, &mut |_| {}).unwrap();
    let training = Training::new(&program, &data, Level::Epoch, Options::default()).unwrap();
    program.release_initial_values();
    let explicit = program.graph.values.iter().filter(|v| matches!(v.def, Def::Param { init: Init::Explicit(_), .. }));
    assert_eq!(explicit.count(), 0);
    assert!(program.graph.has_released_values());
    assert_eq!((program.fingerprint(&data), program.model_fingerprint()), (run, model));
    assert_eq!(training.run(&mut |_| {}).unwrap(), expected);
    assert_eq!(train(&program, &data, Level::Epoch, &mut |_| {}), Err(TrainError::Released));
}
