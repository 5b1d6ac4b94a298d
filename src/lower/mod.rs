//! Check and lower: AST -> `Program` (IR graph + data settings + training settings).
//!
//! Resolves names (default layer names `dense1`, ...), infers shapes, fills defaults and
//! validates everything a user can get wrong, collecting every independent diagnostic
//! instead of stopping at the first. Checks that need the examples themselves (widths of
//! loaded data, class labels) happen when `data::prepare` loads them. Knows nothing of
//! ndarray's kernels.

pub mod choices;
pub mod data;
pub mod files;
pub mod layers;
pub mod model;
pub mod semantics;
pub mod train;
pub mod values;

use crate::diagnostics::Diagnostics;
use crate::program::Program;
use crate::syntax::ast::Spec;

/// Lowers a parsed spec. On success returns the program and any warnings; on failure,
/// every diagnostic found.
pub fn lower(spec: &Spec) -> Result<(Program, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let (train, dtype) = train::lower_train(spec.train.as_ref(), &mut diags);
    let data = spec.data.as_ref().and_then(|d| data::lower_data(d, &mut diags));
    let model = model::lower_model(&spec.model, dtype, &mut diags);
    let (Some(model), false) = (model, diags.has_errors()) else {
        return Err(diags);
    };
    semantics::warn(&model, &mut diags);
    let program =
        Program { graph: model.graph, data, train, layers: model.layers, loss_name: model.loss_name, model_hash: None };
    Ok((program, diags))
}
