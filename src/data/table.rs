//! Reading a CSV file (with a header row) into named columns of cells, remembering where
//! each cell stands so that errors can point at it.

use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::Span;

/// The largest data file nnc reads, in bytes.
pub const MAX_DATA_BYTES: usize = 512 * 1024 * 1024;

/// A parsed CSV file.
pub struct Table {
    /// The header names.
    pub headers: Vec<String>,
    /// Rows of cells, each with its byte span in the file.
    pub rows: Vec<Vec<(String, Span)>>,
}

/// Parses CSV text. Errors carry spans into the CSV text.
pub fn parse(text: &str) -> Result<Table, Diagnostic> {
    if text.len() > MAX_DATA_BYTES {
        return Err(Diagnostic::error(
            Code::TooLarge,
            format!("the file is larger than {MAX_DATA_BYTES} bytes"),
            Span::new(0, 0),
            "too large",
        ));
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => return Err(csv_error(&e, text)),
    };
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(Diagnostic::error(
            Code::Missing,
            "the file has no header row",
            Span::new(0, 0),
            "expected column names here",
        )
        .with_help("the first line of the CSV must name the columns"));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, text))?;
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let spans = field_spans(text, start);
        let cells = record
            .iter()
            .enumerate()
            .map(|(i, cell)| (cell.to_string(), spans.get(i).copied().unwrap_or_default()))
            .collect();
        rows.push(cells);
    }
    Ok(Table { headers, rows })
}

/// The spans of the fields of the record starting at byte `start` (commas inside double
/// quotes do not separate fields), trimmed of surrounding spaces.
fn field_spans(text: &str, start: usize) -> Vec<Span> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let (mut field_start, mut quoted, mut i) = (start, false, start);
    while i <= bytes.len() {
        let end_of_record = i == bytes.len() || (!quoted && matches!(bytes[i], b'\n' | b'\r'));
        if end_of_record || (!quoted && bytes[i] == b',') {
            let raw = &text[field_start..i];
            let lead = raw.len() - raw.trim_start().len();
            spans.push(Span::new(field_start + lead, field_start + raw.trim_end().len().max(lead)));
            if end_of_record {
                break;
            }
            field_start = i + 1;
        } else if bytes[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    spans
}

fn csv_error(e: &csv::Error, text: &str) -> Diagnostic {
    let at = e.position().map_or(0, |p| (p.byte() as usize).min(text.len()));
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("this row has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text".to_string(),
        _ => format!("invalid CSV: {e}"),
    };
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    Diagnostic::error(Code::Syntax, message, Span::new(at, end), "this row")
        .with_help("every row needs one value per header column")
}
