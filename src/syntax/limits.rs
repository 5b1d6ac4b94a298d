//! Limits checked on raw text before the grammar runs, so that no input can make the
//! parser recurse without bound or work for long: the size of a source file and the
//! nesting depth of brackets. The same pass reports unclosed and mismatched brackets,
//! pointing at the opener, which reads better than the grammar's view of the problem.

use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::Span;

/// The largest source file nnc reads, in bytes.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

/// The deepest nesting of `[`, `(` and `{` nnc accepts.
pub const MAX_DEPTH: usize = 64;

/// Checks size and bracket structure; returns the first problem found.
///
/// Both syntaxes start comments with `#` and quote strings with `"` (backslash escapes);
/// TOML also has `'literal'` strings. Bracket matching is reported for `.nn` only: for
/// TOML the TOML parser reports it, and `[table]` headers make depth the only concern.
pub fn check_text(text: &str, toml: bool) -> Result<(), Diagnostic> {
    if text.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic::error(
            Code::TooLarge,
            format!("the file is {} bytes; nnc reads specs of at most {MAX_SOURCE_BYTES} bytes", text.len()),
            Span::new(0, 0),
            "this file is too large",
        )
        .with_help("keep large arrays in data files (CSV) instead of the spec"));
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            quote @ (b'"' | b'\'') if quote == b'"' || toml => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' && quote == b'"' { 2 } else { 1 };
                }
            }
            open @ (b'[' | b'(' | b'{') => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Diagnostic::error(
                        Code::TooDeep,
                        format!("brackets are nested more than {MAX_DEPTH} deep"),
                        Span::new(i, i + 1),
                        "this bracket is too deep",
                    )
                    .with_help(format!("nnc accepts at most {MAX_DEPTH} levels of nested brackets")));
                }
                stack.push((open, i));
            }
            b']' | b')' | b'}' if toml => {
                stack.pop();
            }
            close @ (b']' | b')' | b'}') => match stack.pop() {
                Some((open, _)) if closer(open) == close => {}
                Some((open, at)) => {
                    return Err(Diagnostic::error(
                        Code::Unclosed,
                        format!("`{}` does not match the `{}` it closes", close as char, open as char),
                        Span::new(i, i + 1),
                        format!("expected `{}` here", closer(open) as char),
                    )
                    .with_label(Span::new(at, at + 1), "this was opened here")
                    .with_help(format!("close `{}` with `{}`", open as char, closer(open) as char)));
                }
                None => {
                    return Err(Diagnostic::error(
                        Code::Unclosed,
                        format!("`{}` closes nothing", close as char),
                        Span::new(i, i + 1),
                        "no bracket is open here",
                    )
                    .with_help("remove it, or add the opening bracket it belongs to"));
                }
            },
            _ => {}
        }
        i += 1;
    }
    if let Some((open, at)) = stack.pop().filter(|_| !toml) {
        return Err(Diagnostic::error(
            Code::Unclosed,
            format!("`{}` is never closed", open as char),
            Span::new(at, at + 1),
            "opened here",
        )
        .with_help(format!("add `{}` where it should end", closer(open) as char)));
    }
    Ok(())
}

fn closer(open: u8) -> u8 {
    match open {
        b'[' => b']',
        b'(' => b')',
        _ => b'}',
    }
}
