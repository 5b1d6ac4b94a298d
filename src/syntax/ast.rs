//! The abstract syntax tree shared by both front ends (`.nn` and TOML).
//!
//! The AST is deliberately generic: blocks hold attributes and statements, statements
//! hold a kind, an optional argument, an optional name and attributes. What each of them
//! means is decided by `lower`, which is where diagnostics in the user's terms are made.
//! Every node carries the byte span of its source text.

use std::fmt;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from byte `start` to byte `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.end - s.start).into()
    }
}

/// A name with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A whole spec: one model, then optional data and train blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The `model NAME { ... }` block.
    pub model: ModelBlock,
    /// The `data { ... }` block, if any.
    pub data: Option<AttrBlock>,
    /// The `train { ... }` block, if any.
    pub train: Option<AttrBlock>,
}

/// `model NAME { statements }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelBlock {
    /// The model's name.
    pub name: Ident,
    /// Statements in order from input to loss.
    pub stmts: Vec<Stmt>,
    /// The whole block.
    pub span: Span,
}

/// A block that holds only attributes (`data`, `train`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttrBlock {
    /// The block keyword (`data`, `train`).
    pub keyword: Ident,
    /// Its attributes, in source order.
    pub attrs: Vec<Attr>,
    /// The whole block.
    pub span: Span,
}

/// A model statement: `kind [arg] [as NAME] [{ attrs }]`, e.g. `dense 3 as hidden { ... }`,
/// `input 2`, `loss mse`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What kind of statement (`input`, `dense`, `loss`, ...).
    pub kind: Ident,
    /// The positional argument (`3` in `dense 3`, `mse` in `loss mse`).
    pub arg: Option<Value>,
    /// The name given with `as`.
    pub alias: Option<Ident>,
    /// Attributes in braces.
    pub attrs: Vec<Attr>,
    /// The whole statement.
    pub span: Span,
}

/// `key = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attr {
    /// The key.
    pub key: Ident,
    /// The value.
    pub value: Value,
    /// The whole attribute.
    pub span: Span,
}

/// A file path written in a spec, with where it was written. Its `Debug` form is the path
/// alone, so that fingerprints do not depend on layout.
#[derive(Clone, PartialEq)]
pub struct FilePath {
    /// The path as written (relative to the spec's folder).
    pub path: String,
    /// Where it was written.
    pub span: Span,
}

impl std::fmt::Debug for FilePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.path)
    }
}

/// The key a call's leading string argument gets: `npy("x.npy")` is `npy(file = "x.npy")`.
pub const FILE_ARG: &str = "file";

/// A literal value with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What the value is.
    pub kind: ValueKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of literal values.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// A number; `integer` is true when it was written without `.` or exponent.
    Number {
        /// The value, parsed with correct rounding.
        value: f64,
        /// Written as an integer literal.
        integer: bool,
    },
    /// A string literal, unescaped.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// A bare name (`sigmoid`, `backprop`).
    Name(String),
    /// A shape literal such as `28x28x1`.
    Shape(Vec<u64>),
    /// `[a, b, ...]`.
    Array(Vec<Value>),
    /// `name(key = value, ...)`.
    Call {
        /// The called name.
        name: Ident,
        /// Keyword arguments.
        args: Vec<Attr>,
    },
}

impl ValueKind {
    /// The kind of value in words, for diagnostics.
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Number { integer: true, .. } => "an integer",
            ValueKind::Number { .. } => "a number",
            ValueKind::Str(_) => "a string",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Name(_) => "a name",
            ValueKind::Shape(_) => "a shape",
            ValueKind::Array(_) => "an array",
            ValueKind::Call { .. } => "a call",
        }
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
