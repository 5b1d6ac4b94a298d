//! Syntax: the two front ends (`.nn` through `pest`, TOML through `toml`) and the AST they
//! share. Knows nothing of the IR, shapes or ndarray.

pub mod ast;
pub mod format;
pub mod limits;
pub mod parse;
pub mod toml;

pub use parse::parse_nn;
pub use toml::parse_toml;

/// Which front end a source text is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// The `.nn` language.
    Nn,
    /// The TOML form.
    Toml,
}

impl Syntax {
    /// The syntax a file name implies: TOML for `.toml`, `.nn` otherwise.
    pub fn from_path(path: &str) -> Syntax {
        if path.ends_with(".toml") { Syntax::Toml } else { Syntax::Nn }
    }
}

/// Parses source text in the given syntax: a spec and the errors found on the way, or only
/// errors when no spec could be made.
pub fn parse(
    text: &str,
    syntax: Syntax,
) -> Result<(ast::Spec, crate::diagnostics::Diagnostics), crate::diagnostics::Diagnostics> {
    match syntax {
        Syntax::Nn => parse_nn(text),
        Syntax::Toml => parse_toml(text),
    }
}
