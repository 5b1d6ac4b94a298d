//! Plots with `plotters`: loss and metric curves of one or more traces (SVG), and the
//! decision function of a two-input model over its input plane with the training points
//! (PNG, like TensorFlow Playground).

use ndarray::{Array2, ArrayD};
use plotters::prelude::*;

use crate::data::Splits;
use crate::ir::Graph;
use crate::trace::record::Record;

/// Size of the loss plot.
pub const CURVES_SIZE: (u32, u32) = (800, 600);
/// Size of the decision-boundary picture.
pub const BOUNDARY_SIZE: (u32, u32) = (600, 600);

/// Colours for runs and classes.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A curve to draw: label, points, dashed, and the run it belongs to (its colour).
type Curve = (String, Vec<(f64, f64)>, bool, usize);

/// Per epoch, a figure's values in one trace.
fn series(trace: &[Record], figure: &str) -> Vec<(f64, f64)> {
    trace
        .iter()
        .filter_map(|r| match r {
            Record::Epoch { epoch, figures, .. } => figures
                .iter()
                .find(|(k, _)| k == figure)
                .map(|(_, v)| (*epoch as f64, *v))
                .filter(|(_, v)| v.is_finite()),
            _ => None,
        })
        .collect()
}

/// The metric names (not losses) a trace reports per epoch.
fn metric_names(trace: &[Record]) -> Vec<String> {
    trace
        .iter()
        .find_map(|r| match r {
            Record::Epoch { figures, .. } => {
                Some(figures.iter().map(|(k, _)| k.clone()).filter(|k| !k.ends_with("loss")).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Training (solid) and validation (dashed) loss per epoch of each named trace, on a log
/// scale when it spans more than two decades; metrics below when there are any.
pub fn curves_svg(runs: &[(String, Vec<Record>)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CURVES_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let metrics: Vec<String> = runs.iter().flat_map(|(_, t)| metric_names(t)).fold(Vec::new(), |mut acc, m| {
            if !acc.contains(&m) {
                acc.push(m);
            }
            acc
        });
        let (top, bottom) = if metrics.is_empty() {
            (root.clone(), None)
        } else {
            let (a, b) = root.split_vertically(CURVES_SIZE.1 * 3 / 5);
            (a, Some(b))
        };
        let losses: Vec<Curve> = runs
            .iter()
            .enumerate()
            .flat_map(|(i, (name, t))| {
                [
                    (format!("{name} loss"), series(t, "loss"), false, i),
                    (format!("{name} val_loss"), series(t, "val_loss"), true, i),
                ]
            })
            .filter(|(_, s, _, _)| !s.is_empty())
            .collect();
        let max_epoch = losses.iter().flat_map(|(_, s, _, _)| s.iter().map(|p| p.0)).fold(1.0, f64::max);
        let positive: Vec<f64> =
            losses.iter().flat_map(|(_, s, _, _)| s.iter().map(|p| p.1)).filter(|v| *v > 0.0).collect();
        let (lo, hi) =
            (positive.iter().copied().fold(f64::INFINITY, f64::min), positive.iter().copied().fold(0.0, f64::max));
        let (lo, hi) = if positive.is_empty() { (1e-3, 1.0) } else { (lo, hi.max(lo * 1.01)) };
        let draw_loss = |chart_log: bool| -> Result<(), String> {
            let mut builder = ChartBuilder::on(&top);
            builder
                .caption("loss per epoch", ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70);
            macro_rules! draw {
                ($chart:expr) => {{
                    let mut chart = $chart;
                    chart
                        .configure_mesh()
                        .x_desc("epoch")
                        .y_desc("loss")
                        .x_label_formatter(&|x| format!("{x:.0}"))
                        .draw()
                        .map_err(|e| e.to_string())?;
                    for (label, points, dashed, run) in &losses {
                        let color = PALETTE[run % PALETTE.len()];
                        let style = if *dashed { color.mix(0.6).stroke_width(2) } else { color.stroke_width(2) };
                        let line = if *dashed { dashes(points) } else { vec![points.clone()] };
                        let mut first = true;
                        for segment in line {
                            let drawn =
                                chart.draw_series(LineSeries::new(segment, style)).map_err(|e| e.to_string())?;
                            if first {
                                drawn
                                    .label(label.clone())
                                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                                first = false;
                            }
                        }
                    }
                    legend(&mut chart)?;
                }};
            }
            if chart_log {
                draw!(
                    builder
                        .build_cartesian_2d(1.0..max_epoch.max(2.0), (lo * 0.8..hi * 1.25).log_scale())
                        .map_err(|e| e.to_string())?
                );
            } else {
                draw!(builder.build_cartesian_2d(1.0..max_epoch.max(2.0), 0.0..hi * 1.05).map_err(|e| e.to_string())?);
            }
            Ok(())
        };
        draw_loss(hi / lo > 100.0)?;
        if let Some(area) = bottom {
            let mut chart = ChartBuilder::on(&area)
                .caption("metrics per epoch", ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(1.0..max_epoch.max(2.0), 0.0..1.05)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, (name, t)) in runs.iter().enumerate() {
                for (k, m) in metrics.iter().enumerate() {
                    let points = series(t, m);
                    if points.is_empty() {
                        continue;
                    }
                    let color = PALETTE[(i + k) % PALETTE.len()];
                    let style =
                        if m.starts_with("val_") { color.mix(0.6).stroke_width(2) } else { color.stroke_width(2) };
                    chart
                        .draw_series(LineSeries::new(points, style))
                        .map_err(|e| e.to_string())?
                        .label(format!("{name} {m}"))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
            }
            legend(&mut chart)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Draws the series labels in a framed box.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, DB, CT>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// A line cut into short pieces, drawn as dashes.
fn dashes(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    points.windows(2).step_by(2).map(|w| w.to_vec()).collect()
}

/// The model's output on a `steps × steps` grid over the plane of its two inputs, and the
/// training points on top, as PNG bytes. `params` are the trained parameters.
pub fn boundary_png(graph: &Graph, params: &[ArrayD<f64>], data: &Splits) -> Result<Vec<u8>, String> {
    let x = &data.train.x.to_f64();
    if x.ncols() != 2 {
        return Err(format!("a decision boundary needs a model with 2 inputs; this one has {}", x.ncols()));
    }
    let pad = |c: usize| {
        let col = x.column(c);
        let (lo, hi) = (col.fold(f64::INFINITY, |a, &b| a.min(b)), col.fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
        let m = ((hi - lo) * 0.1).max(1e-3);
        (lo - m, hi + m)
    };
    let ((x0, x1), (y0, y1)) = (pad(0), pad(1));
    const STEPS: usize = 150;
    let grid = Array2::from_shape_fn((STEPS * STEPS, 2), |(i, c)| {
        let (gx, gy) = (i % STEPS, i / STEPS);
        if c == 0 {
            x0 + (x1 - x0) * (gx as f64 + 0.5) / STEPS as f64
        } else {
            y0 + (y1 - y0) * (gy as f64 + 0.5) / STEPS as f64
        }
    });
    let mut forward = graph.clone();
    forward.dtype = crate::ir::DType::F64;
    let out = crate::infer::predict(&forward, params, grid.view());
    let classes = out.ncols();
    let label_of = |row: usize| -> usize {
        let y = data.train.y.row(row);
        if y.len() > 1 {
            y.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
        } else if classes > 1 {
            y[0] as usize
        } else {
            usize::from(y[0] > 0.5)
        }
    };
    let (w, h) = BOUNDARY_SIZE;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let mut chart =
            ChartBuilder::on(&root).margin(10).build_cartesian_2d(x0..x1, y0..y1).map_err(|e| e.to_string())?;
        let (cw, ch) = ((x1 - x0) / STEPS as f64, (y1 - y0) / STEPS as f64);
        chart
            .draw_series((0..grid.nrows()).map(|i| {
                let o = out.row(i);
                let color = if classes == 1 {
                    blend(PALETTE[0], PALETTE[1], o[0].clamp(0.0, 1.0))
                } else {
                    let (k, p) = o
                        .iter()
                        .enumerate()
                        .fold((0, f64::NEG_INFINITY), |b, (k, &v)| if v > b.1 { (k, v) } else { b });
                    blend(WHITE, PALETTE[k % PALETTE.len()], p.clamp(0.0, 1.0))
                };
                let (gx, gy) = (grid[[i, 0]], grid[[i, 1]]);
                Rectangle::new(
                    [(gx - cw / 2.0, gy - ch / 2.0), (gx + cw / 2.0, gy + ch / 2.0)],
                    color.mix(0.45).filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series((0..x.nrows()).map(|r| {
                let class = label_of(r);
                let color = if classes == 1 { PALETTE[class.min(1)] } else { PALETTE[class % PALETTE.len()] };
                Circle::new((x[[r, 0]], x[[r, 1]]), 4, ShapeStyle::from(color).filled())
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series((0..x.nrows()).map(|r| Circle::new((x[[r, 0]], x[[r, 1]]), 4, BLACK.stroke_width(1))))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(png_bytes)
}

/// The colour a fraction `t` of the way from `a` to `b`.
fn blend(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
