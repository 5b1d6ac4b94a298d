//! Parameter values kept in files named by the spec (`weights = npy("w.npy")`): read
//! through a loader the caller passes (the library never opens files itself), checked
//! against the parameter's shape, and put in the graph as explicit values.

use crate::data::Loader;
use crate::data::npy;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{Def, Init, Values};
use crate::program::Program;

/// Reads every `npy(...)` parameter of `program` into its graph.
pub fn resolve(program: &mut Program, loader: &mut Loader) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    for k in 0..program.graph.params.len() {
        let id = program.graph.params[k];
        let info = program.graph.value(id);
        let Def::Param { init: Init::File(file), .. } = &info.def else { continue };
        let want = info.shape.resolve(0);
        let bad = |why: String, code: Code| {
            Diagnostic::error(
                code,
                format!("cannot use `{}` for `{}`: {why}", file.path, info.name),
                file.span,
                "this file",
            )
            .with_help("paths are relative to the spec's folder; write arrays with numpy.save")
        };
        let values = loader(&file.path)
            .map_err(|why| bad(why, Code::Io))
            .and_then(|bytes| npy::parse(bytes).map_err(|why| bad(why, Code::WrongType)))
            .and_then(|a| {
                let code = if want.len() == 2 { Code::WeightsShape } else { Code::BiasShape };
                if a.dims != want {
                    return Err(bad(format!("it has shape {:?}, the parameter {want:?}", a.dims), code));
                }
                match a.values.first_non_finite() {
                    Some(v) => Err(bad(format!("it holds {v}"), Code::NonFinite)),
                    None => Ok(Values::from(a.values)),
                }
            });
        match values {
            Ok(v) => {
                if let Def::Param { init, .. } = &mut program.graph.values[id.0].def {
                    *init = Init::Explicit(v);
                }
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}
