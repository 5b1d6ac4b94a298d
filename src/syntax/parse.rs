//! The `.nn` front end: text -> `pest` parse tree -> AST.
//!
//! Grammar errors are turned into diagnostics that say what was found and what was
//! expected in words. Block structure (one `model`, then `data`, then `train`) and which
//! items may stand in which block are checked here, on the parse tree.

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, unknown_name_help};
use crate::syntax::ast::*;
use crate::syntax::limits;

#[derive(Parser)]
#[grammar = "../grammar/nn.pest"]
struct NnParser;

/// Parses `.nn` source text into a spec (with any errors that did not stop the parse, so
/// that checking can go on), or the diagnostics that explain why there is none.
pub fn parse_nn(text: &str) -> Result<(Spec, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    if let Err(d) = limits::check_text(text, false) {
        diags.push(d);
        return Err(diags);
    }
    let file = match NnParser::parse(Rule::file, text) {
        Ok(mut pairs) => pairs.next().expect("the file rule always yields one pair"),
        Err(e) => {
            diags.push(syntax_error(text, &e));
            return Err(diags);
        }
    };
    let blocks: Vec<Block> = file.into_inner().filter(|p| p.as_rule() == Rule::block).map(build_block).collect();
    assemble(blocks, text.len(), &mut diags)
}

/// A block as parsed, before it is known to be `model`, `data` or `train`.
pub(crate) struct Block {
    pub keyword: Ident,
    pub name: Option<Ident>,
    pub attrs: Vec<Attr>,
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

const BLOCKS: [&str; 3] = ["model", "data", "train"];

/// Checks block order and contents and assembles the spec. Shared with the TOML front end.
/// Misplaced or repeated blocks and items are reported and left out; only a missing
/// `model` block leaves no spec.
pub(crate) fn assemble(
    blocks: Vec<Block>,
    len: usize,
    diags: &mut Diagnostics,
) -> Result<(Spec, Diagnostics), Diagnostics> {
    let mut model: Option<ModelBlock> = None;
    let mut data: Option<AttrBlock> = None;
    let mut train: Option<AttrBlock> = None;
    let mut last_rank = 0usize;
    let mut last_span: Option<Span> = None;
    for b in blocks {
        let Some(rank) = BLOCKS.iter().position(|k| *k == b.keyword.name) else {
            diags.push(
                Diagnostic::error(
                    Code::UnknownBlock,
                    format!("unknown block `{}`", b.keyword.name),
                    b.keyword.span,
                    "not a block nnc knows",
                )
                .with_help(unknown_name_help(&b.keyword.name, "blocks", &BLOCKS)),
            );
            continue;
        };
        let taken = match rank {
            0 => model.is_some(),
            1 => data.is_some(),
            _ => train.is_some(),
        };
        if taken {
            diags.push(
                Diagnostic::error(
                    Code::BlockOrder,
                    format!("a second `{}` block", b.keyword.name),
                    b.keyword.span,
                    "repeated here",
                )
                .with_help(format!("a spec has at most one `{}` block: merge the two", b.keyword.name)),
            );
            continue;
        }
        if rank < last_rank {
            let mut d = Diagnostic::error(
                Code::BlockOrder,
                format!("the `{}` block must come before the `{}` block", b.keyword.name, BLOCKS[last_rank]),
                b.keyword.span,
                "out of order",
            )
            .with_help("write the blocks in the order model, data, train");
            if let Some(s) = last_span {
                d = d.with_label(s, format!("the `{}` block is here", BLOCKS[last_rank]));
            }
            diags.push(d);
        }
        last_rank = last_rank.max(rank);
        last_span = Some(b.keyword.span);
        match rank {
            0 => model = Some(model_block(b, diags)),
            1 => data = Some(attr_block(b, diags)),
            _ => train = Some(attr_block(b, diags)),
        }
    }
    let Some(model) = model else {
        diags.push(
            Diagnostic::error(
                Code::MissingModel,
                "there is no `model` block",
                Span::new(0, len.min(1)),
                "expected `model NAME { ... }`",
            )
            .with_help("start the spec with `model NAME {`, then `input N`, the layers and `loss NAME`"),
        );
        return Err(std::mem::take(diags));
    };
    Ok((Spec { model, data, train }, std::mem::take(diags)))
}

fn model_block(b: Block, diags: &mut Diagnostics) -> ModelBlock {
    let name = match b.name {
        Some(n) => n,
        None => {
            diags.push(
                Diagnostic::error(Code::Missing, "the model has no name", b.keyword.span, "name it after `model`")
                    .with_help("write `model my_net {`"),
            );
            Ident { name: String::new(), span: b.keyword.span }
        }
    };
    for a in &b.attrs {
        diags.push(
            Diagnostic::error(
                Code::Misplaced,
                format!("`{} = ...` cannot stand directly in the model block", a.key.name),
                a.span,
                "an attribute outside a layer",
            )
            .with_help("model statements are `input N`, layers such as `dense 3 { ... }`, and `loss NAME`; attributes go inside a layer's braces"),
        );
    }
    ModelBlock { name, stmts: b.stmts, span: b.span }
}

fn attr_block(b: Block, diags: &mut Diagnostics) -> AttrBlock {
    if let Some(n) = &b.name {
        diags.push(
            Diagnostic::error(
                Code::Syntax,
                format!("the `{}` block takes no name", b.keyword.name),
                n.span,
                "remove this name",
            )
            .with_help(format!("write `{} {{`", b.keyword.name)),
        );
    }
    for s in &b.stmts {
        diags.push(
            Diagnostic::error(
                Code::Misplaced,
                format!("`{}` is not an attribute of the `{}` block", s.kind.name, b.keyword.name),
                s.span,
                "expected `key = value`",
            )
            .with_help(format!("the `{}` block holds attributes such as `epochs = 10`", b.keyword.name)),
        );
    }
    AttrBlock { keyword: b.keyword, attrs: b.attrs, span: b.span }
}

fn span_of(p: &Pair<Rule>) -> Span {
    Span::new(p.as_span().start(), p.as_span().end())
}

fn ident(p: Pair<Rule>) -> Ident {
    Ident { name: p.as_str().to_string(), span: span_of(&p) }
}

fn build_block(p: Pair<Rule>) -> Block {
    let span = span_of(&p);
    let mut inner = p.into_inner().peekable();
    let keyword = ident(inner.next().expect("a block starts with its keyword"));
    let name = inner.next_if(|p| p.as_rule() == Rule::ident).map(ident);
    let mut attrs = Vec::new();
    let mut stmts = Vec::new();
    for item in inner {
        match item.as_rule() {
            Rule::attr => attrs.push(build_attr(item)),
            Rule::stmt => stmts.push(build_stmt(item)),
            _ => {}
        }
    }
    Block { keyword, name, attrs, stmts, span }
}

fn build_attr(p: Pair<Rule>) -> Attr {
    let span = span_of(&p);
    let mut inner = p.into_inner();
    let key = ident(inner.next().expect("an attribute starts with its key"));
    let value = build_value(inner.next().expect("an attribute has a value"));
    // The grammar's span also covers spaces and comments skipped after the value.
    let span = Span::new(span.start, value.span.end);
    Attr { key, value, span }
}

fn build_stmt(p: Pair<Rule>) -> Stmt {
    let span = span_of(&p);
    let mut inner = p.into_inner();
    let kind = ident(inner.next().expect("a statement starts with its kind"));
    let span = Span::new(span.start, kind.span.end);
    let mut stmt = Stmt { kind, arg: None, alias: None, attrs: Vec::new(), span };
    for part in inner {
        // The statement ends with its last part, not with the spaces and comments after it.
        stmt.span.end = part.as_span().end();
        match part.as_rule() {
            Rule::alias => stmt.alias = part.into_inner().next().map(ident),
            Rule::attr_block => stmt.attrs = part.into_inner().map(build_attr).collect(),
            _ => stmt.arg = Some(build_value(part)),
        }
    }
    stmt
}

fn build_value(p: Pair<Rule>) -> Value {
    let span = span_of(&p);
    let text = p.as_str();
    let kind = match p.as_rule() {
        Rule::number => ValueKind::Number {
            // The grammar only admits text that Rust's float parser accepts; overflow gives
            // infinity, which `lower` reports as a non-finite literal.
            value: text.parse().unwrap_or(f64::NAN),
            integer: !text.contains(['.', 'e', 'E']),
        },
        Rule::string => ValueKind::Str(unescape(&text[1..text.len() - 1])),
        Rule::boolean => ValueKind::Bool(text == "true"),
        Rule::ident => ValueKind::Name(text.to_string()),
        Rule::shape => ValueKind::Shape(text.split('x').map(|d| d.parse().unwrap_or(u64::MAX)).collect()),
        Rule::array => ValueKind::Array(p.into_inner().map(build_value).collect()),
        Rule::call => {
            let mut inner = p.into_inner();
            let name = ident(inner.next().expect("a call starts with its name"));
            let args = inner
                .map(|a| match a.as_rule() {
                    Rule::positional => {
                        let span = span_of(&a);
                        let value = build_value(a.into_inner().next().expect("a positional argument holds a string"));
                        Attr { key: Ident { name: FILE_ARG.to_string(), span }, value, span }
                    }
                    _ => build_attr(a),
                })
                .collect();
            ValueKind::Call { name, args }
        }
        other => unreachable!("the grammar yields no value of rule {other:?}"),
    };
    Value { kind, span }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What a grammar rule means, in words.
fn rule_words(rule: &Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the file",
        Rule::file | Rule::block => "a block (`model NAME {`, `data {` or `train {`)",
        Rule::attr | Rule::kwarg => "`key = value`",
        Rule::stmt => "a statement such as `dense 3`",
        Rule::alias => "`as NAME`",
        Rule::attr_block => "`{`",
        Rule::array => "an array",
        Rule::call => "a call such as `sgd(lr = 0.01)`",
        Rule::shape | Rule::number => "a number",
        Rule::string | Rule::positional => "a string",
        Rule::boolean => "`true` or `false`",
        Rule::ident | Rule::keyword | Rule::ident_char => "a name",
        Rule::WHITESPACE | Rule::COMMENT | Rule::lines | Rule::sep | Rule::gap | Rule::item | Rule::value => "a value",
    }
}

/// What the text at `pos` is, in words, and how many bytes it covers.
fn found_words(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    match rest.chars().next() {
        None => ("the end of the file".to_string(), 0),
        Some('\n') | Some('\r') => ("the end of the line".to_string(), 1),
        Some(c) if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' => {
            let word: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-')).collect();
            (format!("`{word}`"), word.len())
        }
        Some(c) => (format!("`{c}`"), c.len_utf8()),
    }
}

fn syntax_error(text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, len) = found_words(text, pos);
    let mut expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = positives.iter().map(rule_words).collect();
            words.sort_unstable();
            words.dedup();
            words
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    if expected.contains(&"`{`") && !found.starts_with("the end") {
        // A statement may also simply end here.
        expected.push("the end of the line");
    }
    let label = match expected.as_slice() {
        [] => "not expected here".to_string(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    };
    Diagnostic::error(Code::Syntax, format!("unexpected {found}"), Span::new(pos, pos + len), label)
        .with_help("statements stand one to a line; attributes are `key = value`, separated by newlines or commas")
}
