//! Check and lower: AST -> `Program` (IR graph + data + training settings).
//!
//! Resolves names (default layer names `dense1`, ...), infers shapes, fills defaults and
//! validates everything a user can get wrong, collecting every independent diagnostic
//! instead of stopping at the first. Knows nothing of ndarray.

pub mod data;
pub mod model;
pub mod semantics;
pub mod train;
pub mod values;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::program::Program;
use crate::syntax::ast::Spec;

/// Lowers a parsed spec. On success returns the program and any warnings; on failure,
/// every diagnostic found.
pub fn lower(spec: &Spec) -> Result<(Program, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let (mut train, dtype) = train::lower_train(spec.train.as_ref(), &mut diags);
    let data = spec.data.as_ref().and_then(|d| data::lower_data(d, &mut diags));
    let model = model::lower_model(&spec.model, dtype, &mut diags);
    let (Some(model), false) = (model, diags.has_errors()) else {
        return Err(diags);
    };
    if let Some(d) = &data {
        train.shuffle = d.shuffle;
        let width = model.graph.value(model.graph.x()).shape.0[1];
        let outputs = model.graph.value(model.graph.y()).shape.0[1];
        if crate::ir::Dim::Fixed(d.dataset.x.ncols()) != width {
            diags.push(
                Diagnostic::error(
                    Code::InputWidth,
                    format!("the examples have {} features but the model's input is {width}", d.dataset.x.ncols()),
                    d.x_span,
                    format!("{} features per row", d.dataset.x.ncols()),
                )
                .with_label(model.input_span, format!("the model takes {width}"))
                .with_help("make every row of `x` as long as the input, or change `input`"),
            );
        }
        if crate::ir::Dim::Fixed(d.dataset.y.ncols()) != outputs {
            diags.push(
                Diagnostic::error(
                    Code::TargetWidth,
                    format!("the targets have {} columns but the model outputs {outputs}", d.dataset.y.ncols()),
                    d.y_span,
                    format!("{} values per row", d.dataset.y.ncols()),
                )
                .with_label(model.output_span, format!("the last layer has {outputs} units"))
                .with_help("make every row of `y` as long as the last layer's units"),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    semantics::warn(&model, &mut diags);
    let program = Program {
        graph: model.graph,
        data: data.map(|d| d.dataset),
        train,
        layers: model.layers,
        loss_name: model.loss_name,
    };
    Ok((program, diags))
}
