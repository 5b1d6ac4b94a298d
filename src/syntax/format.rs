//! Printing a spec's AST back as text: the canonical `.nn` layout (`nnc fmt`) and the TOML
//! form (`nnc convert`). Numbers keep the digits they were written with; comments are kept,
//! each before the item it preceded or at the end of the line it ended.

use std::fmt::Write;

use crate::syntax::ast::{Attr, AttrBlock, FILE_ARG, Span, Spec, Stmt, Value, ValueKind};
use crate::syntax::toml::positional_key;

/// Attribute blocks and arrays longer than this go one item a line.
const WIDTH: usize = 90;

/// A comment: its span (from `#`) and whether code precedes it on its line.
#[derive(Clone, Debug)]
struct Comment {
    span: Span,
    text: String,
    trailing: bool,
}

/// Every comment in the text (outside strings).
fn comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line_start, mut in_string) = (0, 0, None::<u8>);
    while i < bytes.len() {
        let b = bytes[i];
        match in_string {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q || b == b'\n' {
                    in_string = None;
                }
            }
            None if b == b'"' || b == b'\'' => in_string = Some(b),
            None if b == b'#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let trailing = !text[line_start..i].trim().is_empty();
                out.push(Comment { span: Span::new(i, end), text: text[i + 1..end].trim_end().to_string(), trailing });
                i = end;
                continue;
            }
            None => {}
        }
        if b == b'\n' {
            line_start = i + 1;
        }
        i += 1;
    }
    out
}

/// Where comments go: before an item (by its start), or after an item (by its end).
struct Comments {
    list: Vec<Comment>,
    used: Vec<bool>,
}

impl Comments {
    /// Own-line comments that start between `from` and `pos` and were not printed yet.
    fn between(&mut self, from: usize, pos: usize) -> Vec<String> {
        let mut out = Vec::new();
        for (c, used) in self.list.iter().zip(self.used.iter_mut()) {
            if !*used && c.span.start >= from && c.span.start < pos && !c.trailing {
                *used = true;
                out.push(c.text.clone());
            }
        }
        out
    }

    /// A trailing comment on the line where an item ending at `end` ends.
    fn after(&mut self, source: &str, end: usize) -> Option<String> {
        for (c, used) in self.list.iter().zip(self.used.iter_mut()) {
            if !*used && c.trailing && c.span.start >= end && !source[end..c.span.start].contains('\n') {
                *used = true;
                return Some(c.text.clone());
            }
        }
        None
    }

    /// Whether a comment lies inside `span`.
    fn inside(&self, span: Span) -> bool {
        self.list.iter().any(|c| c.span.start > span.start && c.span.start < span.end)
    }

    /// Every comment not printed yet.
    fn rest(&mut self) -> Vec<String> {
        let out = self.list.iter().zip(&self.used).filter(|(_, u)| !**u).map(|(c, _)| c.text.clone()).collect();
        self.used.iter_mut().for_each(|u| *u = true);
        out
    }
}

/// The text printer with the source it reads numbers and layout hints from.
struct Printer<'a> {
    source: &'a str,
    comments: Comments,
    out: String,
    toml: bool,
}

impl<'a> Printer<'a> {
    fn new(source: &'a str, toml: bool) -> Self {
        let list = comments(source);
        let used = vec![false; list.len()];
        Printer { source, comments: Comments { list, used }, out: String::new(), toml }
    }

    /// Prints the own-line comments before `pos` (all not yet printed).
    fn comment_lines(&mut self, pos: usize, indent: &str) {
        self.comment_lines_between(0, pos, indent);
    }

    /// Prints the own-line comments between `from` and `pos`.
    fn comment_lines_between(&mut self, from: usize, pos: usize, indent: &str) {
        for c in self.comments.between(from, pos) {
            let _ = writeln!(self.out, "{indent}#{c}");
        }
    }

    /// Ends the current line, with the trailing comment of the item ending at `end`.
    fn end_line(&mut self, end: usize) {
        if let Some(c) = self.comments.after(self.source, end) {
            let _ = write!(self.out, "  #{c}");
        }
        self.out.push('\n');
    }

    /// Whether the source has a blank line between `from` and `to` (outside comments).
    fn blank_between(&self, from: usize, to: usize) -> bool {
        // The first piece ends the previous item's line, the last indents the next item.
        from < to
            && self.source.get(from..to).is_some_and(|gap| {
                let pieces: Vec<&str> = gap.split('\n').collect();
                pieces.len() > 2 && pieces[1..pieces.len() - 1].iter().any(|p| p.trim().is_empty())
            })
    }

    fn number(&self, v: &Value) -> String {
        let raw = self.source.get(v.span.start..v.span.end).unwrap_or("").replace('_', "");
        if raw.parse::<f64>().is_ok() { raw } else { format!("{}", number_of(v)) }
    }

    /// A value at column `col` (for aligning matrix rows).
    fn value(&self, v: &Value, col: usize) -> String {
        self.value_of(v, col, None)
    }

    /// A value given to `key`: in `.nn`, a string that names something (not a path, column
    /// or class) is written as a bare name, as TOML cannot.
    fn value_of(&self, v: &Value, col: usize, key: Option<&str>) -> String {
        match &v.kind {
            ValueKind::Number { .. } => self.number(v),
            ValueKind::Str(s) if !self.toml && is_name(s) && !key.is_some_and(|k| STRING_KEYS.contains(&k)) => {
                s.clone()
            }
            ValueKind::Str(s) => quote(s),
            ValueKind::Bool(b) => b.to_string(),
            ValueKind::Name(n) if self.toml => quote(n),
            ValueKind::Name(n) => n.clone(),
            ValueKind::Shape(dims) => {
                let s = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
                if self.toml { quote(&s) } else { s }
            }
            ValueKind::Call { name, args } if self.toml => {
                let mut parts = vec![format!("type = {}", quote(&name.name))];
                parts.extend(args.iter().map(|a| format!("{} = {}", a.key.name, self.value(&a.value, 0))));
                format!("{{ {} }}", parts.join(", "))
            }
            ValueKind::Call { name, args } if args.is_empty() => name.name.clone(),
            ValueKind::Call { name, args }
                if args.len() == 1
                    && args[0].key.name == FILE_ARG
                    && matches!(args[0].value.kind, ValueKind::Str(_)) =>
            {
                format!("{}({})", name.name, self.value(&args[0].value, 0))
            }
            ValueKind::Call { name, args } => {
                let parts: Vec<String> = args
                    .iter()
                    .map(|a| format!("{} = {}", a.key.name, self.value_of(&a.value, 0, Some(&a.key.name))))
                    .collect();
                format!("{}({})", name.name, parts.join(", "))
            }
            ValueKind::Array(items) => {
                let inline: Vec<String> = items.iter().map(|i| self.value_of(i, 0, key)).collect();
                let one_line = format!("[{}]", inline.join(", "));
                let rows_are_arrays = items.len() > 1 && items.iter().all(|i| matches!(i.kind, ValueKind::Array(_)));
                let written_across_lines = self.source.get(v.span.start..v.span.end).is_some_and(|s| s.contains('\n'));
                if rows_are_arrays && (written_across_lines || col + one_line.len() > WIDTH) {
                    let pad = " ".repeat(col + 1);
                    format!("[{}]", inline.join(&format!(",\n{pad}")))
                } else {
                    one_line
                }
            }
        }
    }

    fn attr_line(&mut self, a: &Attr, indent: &str) {
        self.comment_lines(a.span.start, indent);
        let head = format!("{indent}{} = ", a.key.name);
        let value = self.value_of(&a.value, head.len(), Some(&a.key.name));
        let _ = write!(self.out, "{head}{value}");
        self.end_line(a.span.end);
    }

    fn attrs(&mut self, attrs: &[Attr], indent: &str) {
        let mut prev: Option<usize> = None;
        for a in attrs {
            if let Some(p) = prev
                && self.blank_between(p, a.span.start)
            {
                self.out.push('\n');
            }
            self.attr_line(a, indent);
            prev = Some(a.span.end);
        }
    }
}

/// Keys whose string values are data (paths, columns, classes), not names.
const STRING_KEYS: &[&str] = &["csv", "target", "features", "classes"];

/// Whether `s` can be written as a bare name.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(s, "true" | "false" | "as")
}

fn number_of(v: &Value) -> f64 {
    match v.kind {
        ValueKind::Number { value, .. } => value,
        _ => f64::NAN,
    }
}

fn quote(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\t', "\\t");
    format!("\"{escaped}\"")
}

/// The spec in the canonical `.nn` layout. `source` is the text it was parsed from (either
/// syntax): numbers keep their digits and comments are carried over.
pub fn to_nn(spec: &Spec, source: &str) -> String {
    let mut p = Printer::new(source, false);
    p.comment_lines(spec.model.span.start.min(spec.model.name.span.start), "");
    let _ = write!(p.out, "model {} {{", spec.model.name.name);
    p.end_line(spec.model.name.span.end);
    let mut prev: Option<usize> = None;
    for s in &spec.model.stmts {
        if let Some(end) = prev
            && p.blank_between(end, s.span.start)
        {
            p.out.push('\n');
        }
        // From TOML, statements come in another order than the source's: take only the
        // comments after the statement that precedes this one in the source.
        let from = spec.model.stmts.iter().map(|t| t.span.end).filter(|e| *e <= s.span.start).max().unwrap_or(0);
        p.comment_lines_between(from, s.span.start, "    ");
        stmt_nn(&mut p, s);
        prev = Some(s.span.end);
    }
    p.comment_lines(spec.model.span.end, "    ");
    p.out.push_str("}\n");
    for block in [&spec.data, &spec.train].into_iter().flatten() {
        p.out.push('\n');
        block_nn(&mut p, block);
    }
    for c in p.comments.rest() {
        let _ = writeln!(p.out, "#{c}");
    }
    p.out
}

fn stmt_nn(p: &mut Printer, s: &Stmt) {
    let mut head = format!("    {}", s.kind.name);
    if let Some(arg) = &s.arg {
        let _ = write!(head, " {}", p.value(arg, head.len() + 1));
    }
    if let Some(alias) = &s.alias {
        let _ = write!(head, " as {}", alias.name);
    }
    if s.attrs.is_empty() {
        p.out.push_str(&head);
        p.end_line(s.span.end);
        return;
    }
    let inline: Vec<String> =
        s.attrs.iter().map(|a| format!("{} = {}", a.key.name, p.value_of(&a.value, 0, Some(&a.key.name)))).collect();
    let one_line = format!("{head} {{ {} }}", inline.join(", "));
    // As Prettier does for object literals: a block the author broke across lines stays
    // broken; one written on one line stays there while it fits.
    let written_on_one_line = p.source.get(s.span.start..s.span.end).is_some_and(|t| !t.contains('\n'));
    if written_on_one_line && one_line.len() <= WIDTH && !one_line.contains('\n') && !p.comments.inside(s.span) {
        p.out.push_str(&one_line);
        p.end_line(s.span.end);
        return;
    }
    let _ = writeln!(p.out, "{head} {{");
    p.attrs(&s.attrs, "        ");
    p.comment_lines(s.span.end, "        ");
    p.out.push_str("    }");
    p.end_line(s.span.end);
}

fn block_nn(p: &mut Printer, b: &AttrBlock) {
    p.comment_lines(b.keyword.span.start.min(b.span.start), "");
    let _ = write!(p.out, "{} {{", b.keyword.name);
    p.end_line(b.keyword.span.end);
    p.attrs(&b.attrs, "    ");
    p.comment_lines(b.span.end, "    ");
    p.out.push_str("}\n");
}

/// The spec as TOML (`[model]` with `[[model.layers]]`, `[data]`, `[train]`), comments
/// carried over.
pub fn to_toml(spec: &Spec, source: &str) -> String {
    let mut p = Printer::new(source, true);
    let m = &spec.model;
    p.comment_lines(m.name.span.start, "");
    p.out.push_str("[model]\n");
    let _ = writeln!(p.out, "name = {}", quote(&m.name.name));
    // Statements print out of source order (input and loss first), so each takes only the
    // comments between the statement before it in the source and itself.
    let from = |s: &Stmt| m.stmts.iter().map(|t| t.span.end).filter(|e| *e <= s.span.start).max().unwrap_or(0);
    let (layers, ends): (Vec<&Stmt>, Vec<&Stmt>) =
        m.stmts.iter().partition(|s| s.kind.name != "input" && s.kind.name != "loss");
    for s in ends {
        p.comment_lines_between(from(s), s.span.start, "");
        let value = s.arg.as_ref().map_or("\"\"".to_string(), |a| p.value(a, 0));
        let _ = write!(p.out, "{} = {value}", s.kind.name);
        p.end_line(s.span.end);
    }
    for s in layers {
        p.out.push('\n');
        p.comment_lines_between(from(s), s.span.start, "");
        p.out.push_str("[[model.layers]]\n");
        let _ = writeln!(p.out, "type = {}", quote(&s.kind.name));
        if let Some(arg) = &s.arg {
            let key = positional_key(&s.kind.name).unwrap_or("arg");
            let _ = writeln!(p.out, "{key} = {}", p.value(arg, key.len() + 3));
        }
        if let Some(alias) = &s.alias {
            let _ = writeln!(p.out, "name = {}", quote(&alias.name));
        }
        p.attrs(&s.attrs, "");
    }
    for block in [&spec.data, &spec.train].into_iter().flatten() {
        p.out.push('\n');
        p.comment_lines(block.keyword.span.start.min(block.span.start), "");
        let _ = writeln!(p.out, "[{}]", block.keyword.name);
        p.attrs(&block.attrs, "");
    }
    for c in p.comments.rest() {
        let _ = writeln!(p.out, "#{c}");
    }
    p.out
}
