//! docs/tutorial.md shows real commands and their real output: each `$ nnc ...` line is run
//! (from a folder holding a copy of `specs/`), and each line shown after it must appear in
//! what it prints (`...` marks lines left out).

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() { copy_dir(&path, &target) } else { std::fs::copy(&path, &target).map(|_| ()).unwrap() }
    }
}

#[test]
fn every_tutorial_command_prints_what_the_page_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/tutorial.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root.join("specs"), &dir.path().join("specs"));
    let mut commands = 0;
    for block in page.split("```console\n").skip(1).map(|b| b.split("```").next().unwrap()) {
        let mut output = String::new();
        for line in block.lines() {
            if let Some(command) = line.strip_prefix("$ nnc ") {
                let args: Vec<&str> = command.split_whitespace().collect();
                let o = Command::new(env!("CARGO_BIN_EXE_nnc"))
                    .args(&args)
                    .current_dir(dir.path())
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                output = String::from_utf8(o.stdout).unwrap();
                commands += 1;
            } else if line != "..." {
                assert!(
                    output.lines().any(|l| l.trim_end() == line.trim_end()),
                    "`{line}` is not in the output:\n{output}"
                );
            }
        }
    }
    assert!(commands >= 12, "{commands} commands");
}
