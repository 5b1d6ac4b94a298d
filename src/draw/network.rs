//! The layer diagram as SVG: one box per layer, top to bottom, with its kind, output shape,
//! parameter count and notes, and arrows between them, ending in the loss.

use std::fmt::Write;

use crate::program::Program;

/// Width of the picture, and of each box.
const WIDTH: usize = 420;
const BOX_WIDTH: usize = 340;
const BOX_HEIGHT: usize = 58;
const GAP: usize = 28;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The SVG document.
pub fn svg(p: &Program) -> String {
    let rows = p.layers.len() + 1;
    let height = 55 + rows * (BOX_HEIGHT + GAP) - GAP;
    let x = (WIDTH - BOX_WIDTH) / 2;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"4\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#555\"/></marker></defs>\n<text x=\"{}\" y=\"28\" font-size=\"16\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
        WIDTH / 2,
        escape(&format!("{} — {} parameters", p.graph.name, p.graph.param_count()))
    );
    for (i, l) in p.layers.iter().enumerate() {
        let y = 45 + i * (BOX_HEIGHT + GAP);
        let fill = match l.kind.as_str() {
            "input" => "#e8f0fe",
            "dense" => "#fef3e0",
            _ => "#eef7ee",
        };
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"8\" fill=\"{fill}\" stroke=\"#888\"/>"
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            WIDTH / 2,
            y + 22,
            escape(&format!("{} ({})", l.name, l.kind))
        );
        let detail = if l.notes.is_empty() {
            format!("{}, {} params", l.shape, l.params)
        } else {
            format!("{}, {} params, {}", l.shape, l.params, l.notes)
        };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
            WIDTH / 2,
            y + 42,
            escape(&detail)
        );
        let _ = writeln!(
            out,
            "<line x1=\"{c}\" y1=\"{}\" x2=\"{c}\" y2=\"{}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
            y + BOX_HEIGHT,
            y + BOX_HEIGHT + GAP - 4,
            c = WIDTH / 2
        );
    }
    let y = 45 + p.layers.len() * (BOX_HEIGHT + GAP);
    let _ = writeln!(
        out,
        "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" fill=\"#fde8e8\" stroke=\"#888\"/>",
        WIDTH / 2,
        y + BOX_HEIGHT / 2,
        BOX_WIDTH / 2,
        BOX_HEIGHT / 2
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2,
        y + BOX_HEIGHT / 2 + 5,
        escape(&format!("loss: {}", p.loss_name))
    );
    out.push_str("</svg>\n");
    out
}
