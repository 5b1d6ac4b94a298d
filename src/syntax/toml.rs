//! The TOML front end: TOML text -> the same AST as `.nn` text, spans pointing into the
//! TOML file.
//!
//! Layout: `[model]` with `name`, `input`, `loss` and an array `[[model.layers]]` of
//! tables (`type`, `name`, the positional argument under its own key such as `units`,
//! then attributes); `[data]` and `[train]` hold attributes. A call is an inline table
//! whose `type` names it: `{ type = "sgd", lr = 0.01 }`. Names are written as strings.

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostics::{Code, Diagnostic, Diagnostics, unknown_name_help};
use crate::syntax::ast::*;
use crate::syntax::limits;
use crate::syntax::parse::{Block, assemble};

/// The key that holds a layer kind's positional argument in TOML (`dense 3` is
/// `type = "dense", units = 3`).
pub fn positional_key(kind: &str) -> Option<&'static str> {
    match kind {
        "dense" => Some("units"),
        "dropout" => Some("rate"),
        "activation" => Some("function"),
        _ => None,
    }
}

/// Parses TOML source text into a spec (with any errors that did not stop the parse), or
/// the diagnostics that explain why there is none.
pub fn parse_toml(text: &str) -> Result<(Spec, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    if let Err(d) = limits::check_text(text, true) {
        diags.push(d);
        return Err(diags);
    }
    let root = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().map(span).unwrap_or_default();
            diags.push(
                Diagnostic::error(Code::TomlSyntax, format!("invalid TOML: {}", e.message().trim()), span, "here")
                    .with_help("see https://toml.io for the TOML syntax"),
            );
            return Err(diags);
        }
    };
    let mut blocks = Vec::new();
    for (key, value) in root.get_ref().iter() {
        let keyword = ident_of(key);
        let table_span = span(value.span());
        let DeValue::Table(table) = value.get_ref() else {
            diags.push(wrong_type(&keyword.name, "a table", value));
            continue;
        };
        let block = if keyword.name == "model" {
            model_block(keyword, table, table_span, &mut diags)
        } else {
            let attrs = table.iter().filter_map(|(k, v)| attr(k, v, &mut diags)).collect();
            Block { keyword, name: None, attrs, stmts: Vec::new(), span: table_span }
        };
        blocks.push(block);
    }
    assemble(blocks, text.len(), &mut diags)
}

fn span(r: Range<usize>) -> Span {
    Span::new(r.start, r.end)
}

fn ident_of(key: &Spanned<Cow<'_, str>>) -> Ident {
    Ident { name: key.get_ref().to_string(), span: span(key.span()) }
}

fn wrong_type(key: &str, expected: &str, v: &Spanned<DeValue<'_>>) -> Diagnostic {
    Diagnostic::error(
        Code::WrongType,
        format!("`{key}` must be {expected}"),
        span(v.span()),
        format!("expected {expected}"),
    )
}

const MODEL_KEYS: [&str; 4] = ["name", "input", "layers", "loss"];

fn model_block(keyword: Ident, table: &DeTable<'_>, table_span: Span, diags: &mut Diagnostics) -> Block {
    let mut name = None;
    let mut input = None;
    let mut loss = None;
    let mut layers = Vec::new();
    for (k, v) in table.iter() {
        let key = ident_of(k);
        let whole = key.span.join(span(v.span()));
        match key.name.as_str() {
            "name" => match v.get_ref() {
                DeValue::String(s) => name = Some(Ident { name: s.to_string(), span: span(v.span()) }),
                _ => diags.push(wrong_type("name", "a string", v)),
            },
            "input" | "loss" => {
                if let Some(value) = value(v, diags) {
                    let stmt =
                        Stmt { kind: key.clone(), arg: Some(value), alias: None, attrs: Vec::new(), span: whole };
                    if key.name == "input" { input = Some(stmt) } else { loss = Some(stmt) }
                }
            }
            "layers" => match v.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        match item.get_ref() {
                            DeValue::Table(t) => layers.push(layer(t, span(item.span()), diags)),
                            _ => diags.push(wrong_type("layers", "an array of tables", item)),
                        }
                    }
                }
                _ => diags.push(wrong_type("layers", "an array of tables (`[[model.layers]]`)", v)),
            },
            other => diags.push(
                Diagnostic::error(
                    Code::UnknownAttribute,
                    format!("unknown key `{other}` in [model]"),
                    key.span,
                    "not a model key",
                )
                .with_help(unknown_name_help(other, "keys", &MODEL_KEYS)),
            ),
        }
    }
    let stmts = input.into_iter().chain(layers.into_iter().flatten()).chain(loss).collect();
    Block { keyword, name, attrs: Vec::new(), stmts, span: table_span }
}

fn layer(t: &DeTable<'_>, whole: Span, diags: &mut Diagnostics) -> Option<Stmt> {
    let Some((_, type_value)) = t.iter().find(|(k, _)| k.get_ref() == "type") else {
        diags.push(
            Diagnostic::error(Code::Missing, "this layer has no `type`", whole, "which kind of layer?")
                .with_help("add `type = \"dense\"` (or another layer kind)"),
        );
        return None;
    };
    let DeValue::String(kind) = type_value.get_ref() else {
        diags.push(wrong_type("type", "a string", type_value));
        return None;
    };
    let kind = Ident { name: kind.to_string(), span: span(type_value.span()) };
    let positional = positional_key(&kind.name);
    let mut stmt = Stmt { kind, arg: None, alias: None, attrs: Vec::new(), span: whole };
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "type" => {}
            "name" => match v.get_ref() {
                DeValue::String(s) => stmt.alias = Some(Ident { name: s.to_string(), span: span(v.span()) }),
                _ => diags.push(wrong_type("name", "a string", v)),
            },
            key if Some(key) == positional => stmt.arg = value(v, diags),
            _ => stmt.attrs.extend(attr(k, v, diags)),
        }
    }
    Some(stmt)
}

fn attr(k: &Spanned<Cow<'_, str>>, v: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Option<Attr> {
    let key = ident_of(k);
    let value = value(v, diags)?;
    let span = key.span.join(value.span);
    Some(Attr { key, value, span })
}

fn value(v: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Option<Value> {
    let s = span(v.span());
    let kind = match v.get_ref() {
        DeValue::String(text) => ValueKind::Str(text.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => ValueKind::Number { value: n as f64, integer: true },
                Err(_) => {
                    diags.push(Diagnostic::error(
                        Code::OutOfRange,
                        "this integer does not fit in 64 bits",
                        s,
                        "too large",
                    ));
                    return None;
                }
            }
        }
        DeValue::Float(f) => ValueKind::Number { value: parse_float(f.as_str()), integer: false },
        DeValue::Boolean(b) => ValueKind::Bool(*b),
        DeValue::Datetime(_) => {
            diags.push(Diagnostic::error(Code::WrongType, "a date cannot stand in a spec", s, "a date"));
            return None;
        }
        DeValue::Array(items) => ValueKind::Array(items.iter().filter_map(|item| value(item, diags)).collect()),
        DeValue::Table(t) => {
            let Some((_, name)) = t.iter().find(|(k, _)| k.get_ref() == "type") else {
                diags.push(
                    Diagnostic::error(Code::Missing, "this table has no `type`", s, "which call is this?")
                        .with_help("write a call as an inline table naming it: `{ type = \"sgd\", lr = 0.01 }`"),
                );
                return None;
            };
            let DeValue::String(n) = name.get_ref() else {
                diags.push(wrong_type("type", "a string", name));
                return None;
            };
            let name = Ident { name: n.to_string(), span: span(name.span()) };
            let args = t.iter().filter(|(k, _)| k.get_ref() != "type").filter_map(|(k, v)| attr(k, v, diags)).collect();
            ValueKind::Call { name, args }
        }
    };
    Some(Value { kind, span: s })
}

fn parse_float(text: &str) -> f64 {
    match text {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "+nan" | "-nan" => f64::NAN,
        t => t.replace('_', "").parse().unwrap_or(f64::NAN),
    }
}
