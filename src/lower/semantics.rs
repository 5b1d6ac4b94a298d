//! Warnings about specs that compile but probably do not mean what they say: an output
//! activation that does not suit the loss, or a model with nothing to train.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{Activation, Def, Loss, Op};
use crate::lower::model::LoweredModel;

/// What the model's last op produces, as far as the loss cares.
#[derive(PartialEq)]
enum Output {
    Softmax,
    Sigmoid,
    Unbounded,
}

/// Adds warnings for `model` to `diags`.
pub fn warn(model: &LoweredModel, diags: &mut Diagnostics) {
    let g = &model.graph;
    let Def::Inst(loss_inst) = g.value(g.loss).def else { return };
    let Op::Loss(loss) = g.insts[loss_inst].op else { return };
    let output = match g.value(g.prediction).def {
        Def::Inst(i) => match g.insts[i].op {
            Op::Softmax => Output::Softmax,
            Op::Activate(Activation::Sigmoid) => Output::Sigmoid,
            _ => Output::Unbounded,
        },
        _ => Output::Unbounded,
    };
    let units = g.value(g.prediction).shape.0.last().map(|d| d.resolve(0)).unwrap_or(0);
    let out_name = model.layers.last().map_or("the output", |l| l.name.as_str());
    let warning = |message: String, label: &str, help: &str| {
        Diagnostic::warning(Code::LossMismatch, message, model.output_span, label)
            .with_label(model.loss_span, "the loss")
            .with_help(help)
    };
    match (output, loss) {
        (Output::Softmax, _) if units == 1 => diags.push(warning(
            format!("`{out_name}` takes a softmax over one unit, which is always 1"),
            "softmax over a single unit",
            "for one output use `activation = sigmoid`; softmax needs one unit per class",
        )),
        (Output::Softmax, Loss::BinaryCrossentropy) => diags.push(warning(
            format!("`{out_name}` ends in softmax but the loss is `binary_crossentropy`"),
            "softmax outputs compete and sum to 1",
            "use `loss categorical_crossentropy` for one class per example, or `activation = sigmoid` for independent labels",
        )),
        (Output::Sigmoid, Loss::CategoricalCrossentropy) if units > 1 => diags.push(warning(
            format!("`{out_name}` ends in sigmoid but the loss is `categorical_crossentropy`"),
            "sigmoid outputs need not sum to 1",
            "use `activation = softmax` for one class per example, or `loss binary_crossentropy` for independent labels",
        )),
        (Output::Unbounded, Loss::BinaryCrossentropy | Loss::CategoricalCrossentropy) => diags.push(warning(
            format!("`{out_name}` does not output probabilities, but `{}` expects them", loss.name()),
            "not a probability",
            "end the model with `activation = sigmoid` (binary) or `activation = softmax` (categorical)",
        )),
        _ => {}
    }
    if !g.params.iter().any(|p| g.is_trainable(*p)) {
        let span = model.layers.get(1).map_or(model.loss_span, |l| l.span);
        diags.push(
            Diagnostic::warning(Code::Untrainable, "nothing in this model is trainable", span, "every layer is frozen")
                .with_help("training will not change any parameter: remove `trainable = false` from a layer"),
        );
    }
}
