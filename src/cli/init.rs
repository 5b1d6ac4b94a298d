//! `nnc init`: writes a commented starter spec that runs as it is, and `nnc completions`.

use std::path::Path;

use clap::CommandFactory;
use nnc::diagnostics::{Code, render_without_source};

use crate::cli::output::Output;
use crate::cli::{Cli, Template, exit};

/// The starter spec's text, with `NAME` for the model's name.
fn template_text(template: Template) -> &'static str {
    match template {
        Template::Classifier => include_str!("../templates/classifier.nn"),
        Template::Regression => include_str!("../templates/regression.nn"),
        Template::Tutorial => include_str!("../templates/tutorial.nn"),
    }
}

/// Runs `nnc init`: writes `NAME.nn` (refusing to overwrite a file).
pub fn init(template: Template, name: &str) -> i32 {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        let message = format!("`{name}` is not a model name");
        eprint!(
            "{}",
            render_without_source(Code::Syntax, &message, Some("use letters, digits and `_`, starting with a letter"))
        );
        return exit::USAGE;
    }
    let text = template_text(template).replace("NAME", name);
    let path = format!("{name}.nn");
    if Path::new(&path).exists() {
        let message = format!("{path} already exists");
        eprint!("{}", render_without_source(Code::Io, &message, Some("choose another name, or remove the file")));
        return exit::IO;
    }
    match Output::write_whole(Some(Path::new(&path)), text.as_bytes()) {
        Ok(()) => {
            println!("wrote {path}; run it with `nnc run {path}`");
            exit::OK
        }
        Err(e) => {
            eprint!("{}", render_without_source(Code::Io, &format!("cannot write {path}: {e}"), None));
            exit::IO
        }
    }
}

/// Runs `nnc completions`: prints the completion script for a shell.
pub fn completions(shell: clap_complete::Shell) -> i32 {
    clap_complete::generate(shell, &mut Cli::command(), "nnc", &mut std::io::stdout());
    exit::OK
}
