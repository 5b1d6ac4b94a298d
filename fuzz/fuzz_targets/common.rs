//! The property both fuzz targets check: any text gives a program or diagnostics whose
//! labels lie inside the text, and rendering them succeeds.

/// Compiles `text` and checks the result.
pub fn check(text: &str, syntax: nnc::Syntax) {
    if let Err(diags) = nnc::compile(text, syntax) {
        assert!(!diags.is_empty());
        for d in &diags.0 {
            assert!(d.labels.iter().all(|l| l.span.start <= l.span.end && l.span.end <= text.len()));
        }
        let source = nnc::SourceFile { name: "fuzz".into(), text: text.to_string() };
        nnc::diagnostics::render(&diags, &source, nnc::diagnostics::Style::Plain { width: 80 });
    }
}
