//! ONNX export checked by a real ONNX runtime (tract): for every spec in `specs/`, the
//! exported model, given raw features, returns what nnc's own forward pass returns; and
//! for iris, `nnc export` predicts the same classes as `nnc predict`.

mod common;

use std::process::Command;

use ndarray::{Array2, ArrayD};
use nnc::export::onnx::onnx;
use nnc::infer::predict;
use nnc::ir::DType;
use nnc::train::events::Level;
use tract_onnx::prelude::*;

/// Runs an ONNX model on `x` with tract.
fn tract_run(model: &[u8], x: &Array2<f64>, dtype: DType) -> Array2<f64> {
    let (n, k) = x.dim();
    let model = tract_onnx::onnx().model_for_read(&mut &model[..]).expect("tract reads the model");
    let values: Vec<f64> = x.iter().copied().collect();
    let input = match dtype {
        DType::F32 => Tensor::from_shape(&[n, k], &values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        DType::F64 => Tensor::from_shape(&[n, k], &values),
    }
    .unwrap();
    let fact = match dtype {
        DType::F32 => f32::fact([n, k]),
        DType::F64 => f64::fact([n, k]),
    };
    let plan = model
        .with_input_fact(0, fact.into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("tract optimises the model");
    let out = plan.run(tvec!(input.into())).expect("tract runs the model");
    let out = out[0].cast_to::<f64>().expect("a float output").into_owned();
    let shape = out.shape().to_vec();
    assert_eq!(shape.len(), 2, "a 2-d output");
    Array2::from_shape_vec((shape[0], shape[1]), out.as_slice::<f64>().unwrap().to_vec()).unwrap()
}

#[test]
fn every_spec_exports_a_model_that_predicts_what_nnc_predicts() {
    let mut checked = 0;
    for entry in std::fs::read_dir(common::root().join("specs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nn") {
            continue;
        }
        let (program, data) = common::load_file(&path);
        let mut short = program.clone();
        short.train.epochs = short.train.epochs.min(3);
        let outcome = nnc::train::train(&short, &data, Level::Epoch, &mut |_| {}).unwrap();
        let params: Vec<ArrayD<f64>> = outcome.params.to_f64().into_iter().map(|(_, p)| p).collect();
        let bytes = onnx(&program, &params, data.normalizer.as_ref(), &[]).unwrap();
        // The exported model takes raw features: undo the normalisation nnc applied.
        let normalized = &data.train.x.to_f64();
        let mut raw = normalized.clone();
        if let Some(n) = &data.normalizer {
            for mut row in raw.rows_mut() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = *v * n.scale[j] + n.shift[j];
                }
            }
        }
        let theirs = tract_run(&bytes, &raw, program.graph.dtype);
        let ours = predict(&program.graph, &params, normalized.view());
        assert_eq!(theirs.dim(), ours.dim(), "{}", path.display());
        for (a, b) in theirs.iter().zip(ours.iter()) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{}: tract {a} vs nnc {b}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} specs checked");
}

#[test]
fn exported_iris_predicts_the_classes_nnc_predict_writes() {
    let dir = tempfile::tempdir().unwrap();
    let nnc = env!("CARGO_BIN_EXE_nnc");
    let spec = common::root().join("specs/iris.nn");
    let csv = common::root().join("specs/data/iris.csv");
    let w = dir.path().join("iris.safetensors");
    let onnx_path = dir.path().join("iris.onnx");
    let predictions = dir.path().join("predictions.csv");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(nnc).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "run".as_ref(),
        spec.as_ref(),
        "--save".as_ref(),
        w.as_ref(),
        "-q".as_ref(),
        "-o".as_ref(),
        dir.path().join("t").as_ref(),
    ]);
    let mut predict_args: Vec<&std::ffi::OsStr> = vec!["predict".as_ref(), spec.as_ref(), "--weights".as_ref()];
    predict_args.extend([w.as_os_str(), "--input".as_ref(), csv.as_ref(), "-o".as_ref(), predictions.as_ref()]);
    run(&predict_args);
    run(&["export".as_ref(), spec.as_ref(), "--weights".as_ref(), w.as_ref(), "-o".as_ref(), onnx_path.as_ref()]);

    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<f64>> =
        text.lines().skip(1).map(|l| l.split(',').take(4).map(|c| c.trim().parse().unwrap()).collect()).collect();
    let x = Array2::from_shape_fn((rows.len(), 4), |(r, c)| rows[r][c]);
    let probs = tract_run(&std::fs::read(&onnx_path).unwrap(), &x, DType::F32);
    let names = ["setosa", "versicolor", "virginica"];
    let written = std::fs::read_to_string(&predictions).unwrap();
    let classes: Vec<&str> = written.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(classes.len(), rows.len());
    for (r, class) in classes.iter().enumerate() {
        let row = probs.row(r);
        let best = (0..3).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        assert_eq!(names[best], *class, "row {r}");
    }
}
