//! Pictures: loss curves (SVG), decision boundaries (PNG), the layer diagram (SVG, DOT)
//! and the IR as DOT, checked for format and size.

mod common;

use nnc::draw::{dot, network, plot};
use nnc::trace::record::read;
use nnc::train::events::Level;

fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| -> u32 {
        let at = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        svg[at..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("width"), attr("height"))
}

#[test]
fn loss_curves_are_an_svg_of_the_documented_size() {
    let (p, d) = common::spec("iris.nn");
    let trace = read(&nnc::trace::record(&p, &d, Level::Epoch).0).unwrap();
    let svg = plot::curves_svg(&[("iris".into(), trace.clone()), ("again".into(), trace)]).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg_size(&svg), plot::CURVES_SIZE);
    for label in ["iris loss", "iris val_loss", "again accuracy", "loss per epoch"] {
        assert!(svg.contains(label), "no {label}");
    }
}

#[test]
fn the_decision_boundary_is_a_png_of_the_documented_size() {
    let (p, d) = common::spec("xor.nn");
    let outcome = nnc::train::train(&p, &d, Level::Epoch, &mut |_| {}).unwrap();
    let params: Vec<_> = outcome.params.to_f64().into_iter().map(|(_, v)| v).collect();
    let png = plot::boundary_png(&p.graph, &params, &d).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), plot::BOUNDARY_SIZE);
    let (iris, iris_data) = common::spec("iris.nn");
    assert!(plot::boundary_png(&iris.graph, &[], &iris_data).unwrap_err().contains("2 inputs"));
}

#[test]
fn the_layer_diagram_and_the_ir_as_pictures() {
    let (p, _) = common::spec("digits.nn");
    let svg = network::svg(&p);
    for text in ["hidden (dense)", "dropout1 (dropout)", "loss: categorical_crossentropy", "2410 parameters"] {
        assert!(svg.contains(text), "no {text} in\n{svg}");
    }
    let net = dot::network(&p);
    assert!(net.starts_with("digraph \"digits\" {") && net.contains("l2 -> l3;") && net.contains("-> loss;"));
    let g = nnc::autodiff::differentiate(&p.graph).unwrap();
    let ir = dot::ir(&g);
    assert!(ir.contains("style=dashed") && ir.matches(" -> ").count() >= g.insts.len());
}

#[test]
fn the_readmes_pictures_are_what_nnc_draws_today() {
    let images = common::root().join("docs/images");
    let (p, d) = common::spec("iris.nn");
    let trace = read(&nnc::trace::record(&p, &d, Level::Epoch).0).unwrap();
    let svg = plot::curves_svg(&[("iris".into(), trace)]).unwrap();
    assert_eq!(
        svg,
        std::fs::read_to_string(images.join("iris_loss.svg")).unwrap(),
        "rerun the README's picture commands"
    );
    assert_eq!(network::svg(&p), std::fs::read_to_string(images.join("iris_network.svg")).unwrap());
    let (s, sd) = common::spec("spiral.nn");
    let outcome = nnc::train::train(&s, &sd, Level::Epoch, &mut |_| {}).unwrap();
    let params: Vec<_> = outcome.params.to_f64().into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        plot::boundary_png(&s.graph, &params, &sd).unwrap(),
        std::fs::read(images.join("spiral_boundary.png")).unwrap()
    );
}
