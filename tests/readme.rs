//! The README's tour shows real output: each shown block is checked against the binary.

use std::process::Command;

fn nnc(args: &[&str]) -> String {
    let o =
        Command::new(env!("CARGO_BIN_EXE_nnc")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    String::from_utf8(o.stdout).unwrap()
}

/// The code block that follows `marker` in the README.
fn block_after(readme: &str, marker: &str) -> String {
    let at = readme.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let rest = &readme[at..];
    let start = rest.find("```\n").unwrap() + 4;
    rest[start..].split("```").next().unwrap().to_string()
}

#[test]
fn the_tours_outputs_are_what_nnc_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert_eq!(block_after(&readme, "**1. Look at the network.**"), nnc(&["check", "specs/seed_forward.nn"]));
    let shown_and_run = [
        ("**3. Run one step", vec!["run", "specs/seed_forward.nn", "--trace", "full"]),
        ("**4. Gradient descent by finite differences.**", vec!["run", "specs/linear_3x.nn"]),
    ];
    for (marker, args) in shown_and_run {
        let out = nnc(&args);
        for line in block_after(&readme, marker).lines() {
            assert!(out.lines().any(|l| l == line), "README line `{line}` is not in the output of nnc {args:?}");
        }
    }
    assert!(nnc(&["run", "specs/xor.nn"]).contains("final loss 0.002595582 accuracy 1"));
}
