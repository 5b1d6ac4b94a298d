//! Diagnostics: errors and warnings as data, with stable codes, labelled spans and help,
//! rendered in one style by `miette`.
//!
//! Every stage collects `Diagnostic`s rather than stopping at the first one. Nothing here
//! knows which stage made a diagnostic; rendering needs only the source text.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::syntax::ast::Span;

/// A source file: its display name and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceFile {
    /// The name shown in reports (usually the path as given).
    pub name: String,
    /// The full text.
    pub text: String,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The spec cannot be compiled or run.
    Error,
    /// The spec runs, but probably not as intended.
    Warning,
}

/// The catalogue of diagnostics. Codes are stable: they are printed as `nnc::E0xx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The text does not follow the grammar.
    Syntax,
    /// A bracket, brace or parenthesis is never closed.
    Unclosed,
    /// There is no `model` block.
    MissingModel,
    /// Blocks are out of order or repeated.
    BlockOrder,
    /// A block keyword nnc does not know.
    UnknownBlock,
    /// A layer or statement kind nnc does not know.
    UnknownLayer,
    /// An activation nnc does not know.
    UnknownActivation,
    /// A loss nnc does not know.
    UnknownLoss,
    /// An optimiser nnc does not know.
    UnknownOptimizer,
    /// An initialiser nnc does not know.
    UnknownInit,
    /// A metric nnc does not know.
    UnknownMetric,
    /// An attribute or argument that does not belong where it is.
    UnknownAttribute,
    /// A name or attribute given twice.
    Duplicate,
    /// An option value nnc does not know (gradient mode, dtype, ...).
    UnknownOption,
    /// A value of the wrong type.
    WrongType,
    /// A value outside its allowed range.
    OutOfRange,
    /// An array whose rows have different lengths.
    Ragged,
    /// A number that is infinite or not a number.
    NonFinite,
    /// A `weights` matrix whose shape does not fit the layer.
    WeightsShape,
    /// `bias_values` whose length does not fit the layer.
    BiasShape,
    /// Data whose width does not match the model's input.
    InputWidth,
    /// Targets whose width does not match the model's output.
    TargetWidth,
    /// Inputs and targets with different numbers of rows.
    RowCount,
    /// A required statement or attribute is missing.
    Missing,
    /// A statement in the wrong place.
    Misplaced,
    /// Input nested deeper than nnc accepts.
    TooDeep,
    /// A tensor or input larger than nnc accepts.
    TooLarge,
    /// A TOML syntax error.
    TomlSyntax,
    /// A file could not be read or written.
    Io,
    /// A weights or checkpoint file is malformed.
    BadWeightsFile,
    /// Saved parameters do not fit the model.
    WeightsMismatch,
    /// A checkpoint belongs to another run.
    ForeignCheckpoint,
    /// Warning: the output activation and the loss do not go together.
    LossMismatch,
    /// Warning: nothing in the model can be trained.
    Untrainable,
    /// Training produced a non-finite loss or gradient.
    Diverged,
}

impl Code {
    /// Every code, in catalogue order.
    pub const ALL: &'static [Code] = &[
        Code::Syntax,
        Code::Unclosed,
        Code::MissingModel,
        Code::BlockOrder,
        Code::UnknownBlock,
        Code::UnknownLayer,
        Code::UnknownActivation,
        Code::UnknownLoss,
        Code::UnknownOptimizer,
        Code::UnknownInit,
        Code::UnknownMetric,
        Code::UnknownAttribute,
        Code::Duplicate,
        Code::UnknownOption,
        Code::WrongType,
        Code::OutOfRange,
        Code::Ragged,
        Code::NonFinite,
        Code::WeightsShape,
        Code::BiasShape,
        Code::InputWidth,
        Code::TargetWidth,
        Code::RowCount,
        Code::Missing,
        Code::Misplaced,
        Code::TooDeep,
        Code::TooLarge,
        Code::TomlSyntax,
        Code::Io,
        Code::BadWeightsFile,
        Code::WeightsMismatch,
        Code::ForeignCheckpoint,
        Code::LossMismatch,
        Code::Untrainable,
        Code::Diverged,
    ];

    /// The printed code, e.g. `nnc::E001`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "nnc::E001",
            Code::Unclosed => "nnc::E002",
            Code::MissingModel => "nnc::E003",
            Code::BlockOrder => "nnc::E004",
            Code::UnknownBlock => "nnc::E005",
            Code::UnknownLayer => "nnc::E010",
            Code::UnknownActivation => "nnc::E011",
            Code::UnknownLoss => "nnc::E012",
            Code::UnknownOptimizer => "nnc::E013",
            Code::UnknownInit => "nnc::E014",
            Code::UnknownMetric => "nnc::E015",
            Code::UnknownAttribute => "nnc::E016",
            Code::Duplicate => "nnc::E017",
            Code::UnknownOption => "nnc::E018",
            Code::WrongType => "nnc::E020",
            Code::OutOfRange => "nnc::E021",
            Code::Ragged => "nnc::E022",
            Code::NonFinite => "nnc::E023",
            Code::WeightsShape => "nnc::E030",
            Code::BiasShape => "nnc::E031",
            Code::InputWidth => "nnc::E032",
            Code::TargetWidth => "nnc::E033",
            Code::RowCount => "nnc::E034",
            Code::Missing => "nnc::E040",
            Code::Misplaced => "nnc::E041",
            Code::TooDeep => "nnc::E050",
            Code::TooLarge => "nnc::E051",
            Code::TomlSyntax => "nnc::E060",
            Code::Io => "nnc::E070",
            Code::BadWeightsFile => "nnc::E080",
            Code::WeightsMismatch => "nnc::E081",
            Code::ForeignCheckpoint => "nnc::E082",
            Code::LossMismatch => "nnc::W001",
            Code::Untrainable => "nnc::W002",
            Code::Diverged => "nnc::E090",
        }
    }
}

/// A label: a span in the source and what to say about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it.
    pub text: String,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Its catalogue entry.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence in the user's terms.
    pub message: String,
    /// Spans in the source, the first being the primary one.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
    /// The file the labels point into, when it is not the spec (a data file).
    pub file: Option<Arc<SourceFile>>,
}

impl Diagnostic {
    /// A new error with a primary label.
    pub fn error(code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label { span, text: label.into() }],
            help: None,
            file: None,
        }
    }

    /// A new warning with a primary label.
    pub fn warning(code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message, span, label) }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Says that the labels point into `file` rather than the spec.
    pub fn in_file(mut self, file: Arc<SourceFile>) -> Self {
        self.file = Some(file);
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label { span, text: text.into() });
        self
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The diagnostics of one compilation, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// The value of `r`, or `None` after recording its diagnostic.
    pub fn take<T>(&mut self, r: Result<T, Diagnostic>) -> Option<T> {
        r.map_err(|d| self.push(d)).ok()
    }

    /// Whether any of them is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Orders them by where their primary label starts (stable for ties).
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| d.labels.first().map_or(0, |l| l.span.start));
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A diagnostic paired with its source, so that `miette` can render it.
#[derive(Debug)]
struct Report<'a> {
    diag: &'a Diagnostic,
    source: Arc<NamedSource<String>>,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source.as_ref())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.inner().len();
        Some(Box::new(self.diag.labels.iter().enumerate().map(move |(i, l)| {
            // Clamp so that a span at the very end of the file still renders.
            let start = l.span.start.min(len);
            let end = l.span.end.clamp(start, len);
            let span = Span::new(start, end);
            if i == 0 {
                LabeledSpan::new_primary_with_span(Some(l.text.clone()), span)
            } else {
                LabeledSpan::new_with_span(Some(l.text.clone()), span)
            }
        })))
    }
}

/// How to render reports.
#[derive(Clone, Copy, Debug)]
pub enum Style {
    /// Colours and Unicode art, for a terminal.
    Fancy,
    /// No colour, fixed width: for pipes, files and snapshot tests.
    Plain {
        /// Line width to wrap at.
        width: usize,
    },
}

/// Renders every diagnostic against its source (the spec, or the data file it names), in
/// order, as one string.
pub fn render(diags: &Diagnostics, source: &SourceFile, style: Style) -> String {
    let named = Arc::new(NamedSource::new(source.name.clone(), source.text.clone()).with_language("nn"));
    let handler = match style {
        Style::Fancy => GraphicalReportHandler::new_themed(GraphicalTheme::unicode()),
        Style::Plain { width } => {
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(width)
        }
    };
    let mut out = String::new();
    for diag in &diags.0 {
        let source = match &diag.file {
            Some(f) => Arc::new(NamedSource::new(f.name.clone(), f.text.clone())),
            None => named.clone(),
        };
        let report = Report { diag, source };
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", diag.code.as_str(), diag.message));
        }
    }
    out
}

/// Renders a diagnostic that has no source text (e.g. a missing file) as plain lines.
pub fn render_without_source(code: Code, message: &str, help: Option<&str>) -> String {
    let mut out = format!("Error: {}\n\n  × {message}\n", code.as_str());
    if let Some(h) = help {
        out.push_str(&format!("  help: {h}\n"));
    }
    out
}

/// Suggests the closest known name to `name`, when one is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A help line for an unknown name: "did you mean" when close, else the list of known names.
pub fn unknown_name_help(name: &str, what: &str, known: &[&str]) -> String {
    match did_you_mean(name, known) {
        Some(k) => format!("did you mean `{k}`? Known {what}: {}", known.join(", ")),
        None => format!("known {what}: {}", known.join(", ")),
    }
}
