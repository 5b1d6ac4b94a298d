//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nnc::data::Splits;
use nnc::{Program, Syntax};

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads and compiles a spec, panicking with the rendered diagnostics if it is invalid.
pub fn compile_file(path: &Path) -> Program {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let syntax = Syntax::from_path(&path.display().to_string());
    match nnc::compile(&text, syntax) {
        Ok((mut program, _)) => {
            let folder = path.parent().unwrap().to_path_buf();
            let mut loader = |p: &str| nnc::data::FileBytes::read(&folder.join(p)).map_err(|e| e.to_string());
            nnc::lower::files::resolve(&mut program, &mut loader).unwrap_or_else(|d| panic!("{d:?}"));
            program
        }
        Err(d) => {
            let source = nnc::SourceFile { name: path.display().to_string(), text };
            panic!("{}", nnc::diagnostics::render(&d, &source, nnc::diagnostics::Style::Plain { width: 100 }))
        }
    }
}

/// Loads a program's data, reading files relative to `folder`.
pub fn data_in(program: &Program, folder: &Path) -> Splits {
    let mut loader = |p: &str| nnc::data::FileBytes::read(&folder.join(p)).map_err(|e| e.to_string());
    nnc::data::prepare(program, &mut loader).unwrap_or_else(|d| panic!("{d:?}"))
}

/// Compiles a spec file and loads its data.
pub fn load_file(path: &Path) -> (Program, Splits) {
    let program = compile_file(path);
    let data = data_in(&program, path.parent().unwrap());
    (program, data)
}

/// Compiles a spec in `specs/` by file name and loads its data.
pub fn spec(name: &str) -> (Program, Splits) {
    load_file(&root().join("specs").join(name))
}
