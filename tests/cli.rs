//! Tests that run the `nnc` binary as a user would.

use std::path::Path;
use std::process::{Command, Output};

mod common;

fn nnc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("nnc runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_spec(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn the_full_trace_of_the_tutorial_network_shows_its_worked_numbers() {
    let o = nnc(&["run", "specs/seed_forward.nn", "--trace", "full"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "forward epoch 1 step 1 hidden.pre [1, 3] = [[1, 1.3, 0.8]]",
        "forward epoch 1 step 1 hidden [1, 3] = [[0.7310586, 0.785835, 0.6899745]]",
        "forward epoch 1 step 1 out [1, 1] = [[1.233212]]",
        "forward epoch 1 step 1 loss [] = 1.520812",
        "grad epoch 1 step 1 out.weight [3, 1] = [[1.803101], [1.938203], [1.70177]]",
        "grad epoch 1 step 1 hidden.weight [2, 3] = [[0.1454785, 0.2075475, 0.4748328], [0.1454785, 0.2075475, 0.4748328]]",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in\n{out}");
    }
}

#[test]
fn the_line_fits_end_with_the_tutorials_parameters() {
    let out = stdout(&nnc(&["run", "specs/linear_3x.nn"]));
    assert!(
        out.contains("param line.weight [1, 1] = [[2.999337]]") && out.contains("param line.bias [1] = [0.004455167]"),
        "{out}"
    );
    let out = stdout(&nnc(&["run", "specs/linear_3x_backprop.nn"]));
    assert!(
        out.contains("param line.weight [1, 1] = [[2.999486]]") && out.contains("param line.bias [1] = [0.003729579]"),
        "{out}"
    );
}

#[test]
fn the_output_file_is_written_whole_and_matches_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("xor.trace");
    let o = nnc(&["run", "specs/xor.nn", "-o", target.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written, stdout(&nnc(&["run", "specs/xor.nn"])));
    assert!(written.contains("\nfinal loss 0.002"), "{written}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("xor.trace")], "temporary files were left behind");
}

#[test]
fn nn_and_toml_twins_give_identical_traces_from_the_binary() {
    for name in ["seed_forward", "linear_3x", "xor"] {
        let a = nnc(&["run", &format!("specs/{name}.nn"), "--trace", "step"]);
        let b = nnc(&["run", &format!("specs/{name}.toml"), "--trace", "step"]);
        assert_eq!(a.stdout, b.stdout, "{name}");
    }
}

#[test]
fn a_syntax_error_exits_1_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "bad.nn",
        "model m {\n    input 2\n    dense 3 as hidden { activation = }\n    loss mse\n}\n",
    );
    let o = nnc(&["run", &spec]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.nn:3:38") && err.contains("nnc::E001"), "{err}");
    assert!(!err.contains("panicked"));
    assert!(o.stdout.is_empty(), "no trace for an invalid spec");
}

#[test]
fn a_misshaped_weights_matrix_exits_1_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "w.nn",
        "model m {\n    input 2\n    dense 3 { weights = [[1, 2], [3, 4]] }\n    loss mse\n}\n",
    );
    let o = nnc(&["check", &spec]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("w.nn:3:25") && err.contains("2×2, but the layer needs 2×3"), "{err}");
}

#[test]
fn a_diverging_run_exits_3_and_keeps_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("d.trace");
    let o = nnc(&["run", "tests/runs/diverges.nn", "-o", target.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains("nnc::E090") && err.contains("epoch 4, step 4") && err.contains("diverges.nn:9:5"), "{err}");
    let trace = std::fs::read_to_string(&target).unwrap();
    assert!(trace.trim_end().ends_with("diverged epoch 4 step 4 value loss layer loss"), "{trace}");
}

#[test]
fn check_prints_a_summary_table() {
    let o = nnc(&["check", "specs/xor.nn"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("hidden  dense  [N, 4]      12  tanh"), "{out}");
    assert!(out.contains("total params: 17"), "{out}");
}

#[test]
fn ir_prints_the_forward_and_backward_graphs() {
    let fwd = stdout(&nnc(&["ir", "specs/seed_forward.nn"]));
    assert!(fwd.contains("sigmoid hidden.pre") && !fwd.contains("backward"));
    let grad = stdout(&nnc(&["ir", "--grad", "specs/seed_forward.nn"]));
    assert!(grad.contains("backward") && grad.contains("grad(hidden.weight)"), "{grad}");
}

#[test]
fn a_missing_file_exits_4_and_a_bad_flag_exits_2() {
    let o = nnc(&["run", "specs/no_such_spec.nn"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("no_such_spec.nn"));
    assert_eq!(nnc(&["run", "specs/xor.nn", "--trace", "everything"]).status.code(), Some(2));
    assert_eq!(nnc(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn an_unwritable_output_exits_4_without_leaving_files() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("missing_folder").join("t.trace");
    let o = nnc(&["run", "specs/seed_forward.nn", "-o", target.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_pipe_or_a_symbolic_link_as_output_is_written_through_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let expected = stdout(&nnc(&["run", "specs/seed_forward.nn"]));

    let pipe = dir.path().join("pipe");
    assert!(Command::new("mkfifo").arg(&pipe).status().unwrap().success());
    let reader = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::read_to_string(pipe).unwrap())
    };
    let o = nnc(&["run", "specs/seed_forward.nn", "-o", pipe.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&pipe).unwrap().file_type().is_fifo(), "the pipe was replaced");
    assert_eq!(reader.join().unwrap(), expected);

    let real = dir.path().join("real.trace");
    let link = dir.path().join("link.trace");
    std::fs::write(&real, "old").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = nnc(&["run", "specs/seed_forward.nn", "-o", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), expected);
}

#[test]
fn check_on_every_bad_spec_exits_1_or_warns_with_a_location_and_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nn" && e != "toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let o = nnc(&["check", path.to_str().unwrap()]);
        let err = stderr(&o);
        let expected = match name.as_str() {
            n if n.starts_with("warning_") => 0,
            "data_missing_file.nn" => 4,
            _ => 1,
        };
        assert_eq!(o.status.code(), Some(expected), "{name}:\n{err}");
        assert!(err.contains(&format!("{name}:")) || err.contains(".csv:"), "{name}: no line and column in\n{err}");
        assert!(!err.contains("panicked"), "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} bad specs");
}

#[test]
fn gradcheck_reports_every_parameter_and_passes_on_the_bundled_specs() {
    let o = nnc(&["gradcheck", "specs/iris.nn"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for name in ["hidden.weight", "hidden.bias", "out.weight", "out.bias"] {
        assert!(out.lines().any(|l| l.contains(name) && l.trim_end().ends_with("ok")), "{out}");
    }
}

#[test]
fn a_csv_spec_reads_its_data_relative_to_the_spec() {
    let o = nnc(&["check", "specs/iris.nn"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "120 examples, 4 features -> 3 targets; 30 held out for validation; classes setosa, versicolor, virginica"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn diff_exits_0_for_a_trace_and_itself_and_1_for_two_learning_rates() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.trace");
    let b = dir.path().join("b.trace");
    let slow = write_spec(
        dir.path(),
        "slow.nn",
        &std::fs::read_to_string("specs/xor.nn").unwrap().replace("lr = 0.5", "lr = 0.01"),
    );
    let fast = write_spec(
        dir.path(),
        "fast.nn",
        &std::fs::read_to_string("specs/xor.nn").unwrap().replace("lr = 0.5", "lr = 0.1"),
    );
    assert_eq!(nnc(&["run", &slow, "-o", a.to_str().unwrap()]).status.code(), Some(0));
    assert_eq!(nnc(&["run", &fast, "--format", "json", "-o", b.to_str().unwrap()]).status.code(), Some(0));
    let same = nnc(&["diff", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    let differ = nnc(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(differ.status.code(), Some(1));
    let out = stdout(&differ);
    assert!(out.contains("first difference: epoch 1") && out.contains("optimizer"), "{out}");
    let garbage = write_spec(dir.path(), "g.trace", "not a trace\n");
    assert_eq!(nnc(&["diff", &garbage, a.to_str().unwrap()]).status.code(), Some(1));
}

#[test]
fn run_draws_its_plots_and_explain_and_graph_print() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = (dir.path().join("loss.svg"), dir.path().join("b.png"));
    let o = nnc(&["run", "specs/xor.nn", "--plot", svg.to_str().unwrap(), "--plot-boundary", png.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "no progress bar when standard error is not a terminal");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let e = nnc(&["explain", "specs/seed_forward.nn"]);
    assert!(stdout(&e).contains("hidden.pre[1] = 1 × 0.8 + 1 × 0.2 = 1"));
    assert_eq!(nnc(&["explain", "specs/digits.nn"]).status.code(), Some(1));
    assert!(stdout(&nnc(&["graph", "specs/xor.nn", "--format", "dot"])).starts_with("digraph"));
    assert!(stdout(&nnc(&["ir", "--format", "dot", "specs/xor.nn"])).starts_with("digraph"));
    let bad = nnc(&["run", "specs/iris.nn", "--plot-boundary", png.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("2 inputs"));
}

#[test]
fn every_init_template_writes_a_spec_that_runs_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nnc"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    for template in ["classifier", "regression", "tutorial"] {
        let name = format!("my_{template}");
        let o = in_dir(&["init", "--template", template, &name]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let run = in_dir(&["run", &format!("{name}.nn")]);
        assert_eq!(run.status.code(), Some(0), "{template}: {}", stderr(&run));
        assert!(stdout(&run).contains(&format!("header model {name}")));
        assert!(run.stderr.is_empty(), "{template} warns: {}", stderr(&run));
    }
    let classifier = stdout(&in_dir(&["run", "my_classifier.nn"]));
    let accuracy: f64 = classifier
        .lines()
        .find(|l| l.starts_with("final"))
        .unwrap()
        .split(" val_accuracy ")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(accuracy >= 0.9, "{accuracy}");
    assert_eq!(in_dir(&["init", "my_tutorial"]).status.code(), Some(4), "never overwrites");
    assert_eq!(in_dir(&["init", "not-a-name"]).status.code(), Some(2));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let o = nnc(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("gradcheck"), "{shell}");
    }
}

#[test]
fn fmt_check_shows_a_diff_and_fmt_rewrites_and_convert_goes_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let messy = write_spec(
        dir.path(),
        "m.nn",
        "# a comment\nmodel m {\n  input   2 # two\n  dense 1 { activation = sigmoid,bias=false }\n  loss binary_crossentropy\n}\n",
    );
    let check = nnc(&["fmt", "--check", &messy]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stdout(&check).contains("+    dense 1 { activation = sigmoid, bias = false }"), "{}", stdout(&check));
    assert_eq!(nnc(&["fmt", &messy]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "# a comment\nmodel m {\n    input 2  # two\n    dense 1 { activation = sigmoid, bias = false }\n    loss binary_crossentropy\n}\n"
    );
    assert_eq!(nnc(&["fmt", "--check", &messy]).status.code(), Some(0));
    assert_eq!(nnc(&["fmt", "--check", "specs"]).status.code(), Some(0), "the bundled specs are formatted");
    let toml = dir.path().join("m.toml");
    assert_eq!(nnc(&["convert", &messy, "--to", "toml", "-o", toml.to_str().unwrap()]).status.code(), Some(0));
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("activation = \"sigmoid\"") && text.contains("# a comment"), "{text}");
    let back = stdout(&nnc(&["convert", toml.to_str().unwrap(), "--to", "nn"]));
    assert!(back.contains("dense 1 { activation = sigmoid, bias = false }"), "{back}");
    assert_eq!(nnc(&["fmt", "tests/diagnostics/syntax_unexpected_token.nn"]).status.code(), Some(1));
}

#[test]
fn timing_reports_the_loop_on_standard_error_and_leaves_the_trace_alone() {
    let plain = nnc(&["run", "specs/xor.nn", "-q"]);
    let timed = nnc(&["run", "specs/xor.nn", "-q", "--timing"]);
    assert_eq!(timed.status.code(), Some(0), "{}", stderr(&timed));
    assert_eq!(stdout(&plain), stdout(&timed));
    let line = stderr(&timed);
    let epochs = stdout(&timed).lines().filter(|l| l.starts_with("epoch ")).count();
    assert!(line.starts_with("timing: training loop "), "{line}");
    assert!(line.contains(&format!(" s for {epochs} epochs, ")), "{line}");
    assert!(line.contains(" steps/s); whole run "), "{line}");
    // A run that ends before its last planned epoch (early stopping, a pause) is timed to
    // where it ended, over the epochs it ran.
    for args in [
        &["run", "specs/breast_cancer.nn", "-q", "--timing"][..],
        &["run", "specs/xor.nn", "-q", "--timing", "--stop-after", "5"],
    ] {
        let out = nnc(args);
        let (line, epochs) = (stderr(&out), stdout(&out).lines().filter(|l| l.starts_with("epoch ")).count());
        let secs: f64 =
            line.strip_prefix("timing: training loop ").and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
        assert!(secs > 0.0 && line.contains(&format!(" s for {epochs} epochs, ")), "{args:?}: {line}");
    }
    // On Linux the process's own high-water mark: a few MB for this net, not the test
    // runner's image it was forked from.
    if cfg!(target_os = "linux") {
        let mb: f64 = line.split("peak RSS ").nth(1).and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
        assert!(mb > 0.5 && mb < 200.0, "{line}");
    }
}

/// `nnc profile` times the step as a run makes it: every instruction of the
/// differentiated graph in exactly one row (a fused pass is one row, its ops joined by
/// `+`), the updates in one more, the matrix products with a GFLOP/s figure, a summary,
/// and the step's buffers, fewer shared than with one per value.
#[test]
fn profile_times_every_instruction_once_with_fused_passes_as_rows() {
    let out = nnc(&["profile", "specs/xor.nn", "--steps", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("profile of `xor`: 3 steps of batch 4 (f32)"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("forward ") || l.starts_with("backward ") || l.starts_with("update "))
        .collect();
    let ops: Vec<&str> = rows.iter().map(|r| r.split_whitespace().nth(1).unwrap()).collect();
    assert!(ops.contains(&"broadcast+add+tanh") && ops.contains(&"broadcast+add+sigmoid"), "{text}");
    assert!(ops.contains(&"tanh_grad+sum_rows"), "{text}");
    assert_eq!(ops.iter().filter(|o| o.starts_with("matmul")).count(), 5, "{text}");
    assert_eq!(rows.iter().filter(|r| r.starts_with("update ")).count(), 1, "{text}");
    let instructions: usize = ops.iter().filter(|o| !o.starts_with("sgd")).map(|o| o.split('+').count()).sum();
    let graph =
        nnc::autodiff::differentiate(&common::compile_file(&common::root().join("specs/xor.nn")).graph).unwrap();
    assert_eq!(instructions, graph.insts.len(), "{text}");
    assert!(text.contains("\nper step: forward ") && text.contains("matrix products: "), "{text}");
    let buffers = text.lines().find(|l| l.starts_with("buffers: ")).expect("a buffers line");
    let bytes = |amount: &str, unit: &str| {
        let scale = match unit {
            "bytes" => 1.0,
            "kB" => 1e3,
            _ => 1e6,
        };
        amount.trim_start_matches('(').parse::<f64>().unwrap() * scale
    };
    let words: Vec<&str> = buffers.split_whitespace().collect();
    let own_at = words.iter().position(|w| w.starts_with('(')).unwrap();
    let (shared, own) = (bytes(words[1], words[2]), bytes(words[own_at], words[own_at + 1]));
    assert!(buffers.contains(" at batch 4, ") && shared > 0.0 && shared < own, "{buffers}");
}
