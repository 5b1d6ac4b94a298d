//! `nnc explain`: the founding tutorial's hand calculation for any small network. Runs the
//! first batch through the differentiated graph and writes every forward value as the sum
//! of products or function it is, the loss, every gradient as its chain-rule product, and
//! the first SGD update, with the real numbers (in the run's dtype, as the trace has them).

use std::fmt::Write;

use ndarray::{ArrayD, s};

use crate::autodiff::{AutodiffError, differentiate};
use crate::data::Splits;
use crate::ir::{Activation, DType, Def, Graph, Loss, Op, Pass, ValueId};
use crate::program::{GradientMode, Optimizer, Program};
use crate::runtime::{Executor, Scalar};
use crate::trace::float::fmt_float;
use crate::train::gradients::finite_difference;
use crate::train::init::initial_params;

/// The largest network explained: scalar parameters.
pub const MAX_PARAMS: usize = 100;
/// The largest network explained: examples in the first batch.
pub const MAX_EXAMPLES: usize = 8;
/// The largest network explained: units in one layer.
pub const MAX_UNITS: usize = 16;

/// How the explanation is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Plain text.
    Text,
    /// Markdown with plain-text math.
    Markdown,
}

/// Why a network cannot be explained.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExplainError {
    /// The network or batch is larger than a hand calculation can show.
    #[error("{0}")]
    TooLarge(String),
    /// The graph could not be differentiated.
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
}

/// The values of every graph value for the first batch, in f64.
struct Values {
    graph: Graph,
    values: Vec<ArrayD<f64>>,
    batch: usize,
}

impl Values {
    fn get(&self, id: ValueId) -> &ArrayD<f64> {
        &self.values[id.0]
    }

    fn name(&self, id: ValueId) -> &str {
        &self.graph.value(id).name
    }

    /// `name[j]` for one example, `name[n, j]` for several; 1-based.
    fn element(&self, id: ValueId, flat: usize) -> String {
        let v = self.get(id);
        let name = self.name(id);
        match v.shape() {
            [] => name.to_string(),
            [_] => format!("{name}[{}]", flat + 1),
            [_, cols] if self.is_batch(id) && self.batch == 1 => format!("{name}[{}]", flat % cols + 1),
            [_, cols] => format!("{name}[{}, {}]", flat / cols + 1, flat % cols + 1),
            _ => format!("{name}[{flat}]"),
        }
    }

    fn is_batch(&self, id: ValueId) -> bool {
        self.graph.value(id).shape.0.first() == Some(&crate::ir::Dim::Batch)
    }
}

/// The forward-difference probes of a finite-difference run: parameter index, element,
/// loss after the probe, and the resulting gradient.
type Probes = Vec<(usize, usize, f64, f64)>;

fn run<T: Scalar>(program: &Program, graph: &Graph, data: &Splits, batch: usize) -> (Vec<ArrayD<f64>>, Probes) {
    let (x, y) = data.train.cast::<T>();
    let (x, y) = (x.slice(s![..batch, ..]), y.slice(s![..batch, ..]));
    let mut exec = Executor::<T>::new(graph);
    exec.feed(x, Some(y));
    let mut params = initial_params::<T>(&program.graph, program.train.seed);
    exec.run(&params, 0..graph.insts.len());
    let values = (0..graph.values.len()).map(|i| exec.value(ValueId(i), &params).mapv(|v| v.as_f64())).collect();
    let mut probes = Vec::new();
    if let GradientMode::FiniteDifference { step } = program.train.gradient {
        let mut forward = Executor::<T>::new(&program.graph);
        forward.feed(x, Some(y));
        forward.run(&params, 0..program.graph.insts.len());
        let mut grads: Vec<ArrayD<T>> = params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
        let mut afters = Vec::new();
        finite_difference(&mut forward, &mut params, step, &mut grads, &mut |i, j, after| {
            afters.push((i, j, after.as_f64()))
        });
        probes = afters
            .into_iter()
            .map(|(i, j, after)| (i, j, after, grads[i].as_slice_memory_order().map_or(0.0, |s| s[j].as_f64())))
            .collect();
    }
    (values, probes)
}

/// Explains the first step of training the program.
pub fn explain(program: &Program, data: &Splits, style: Style) -> Result<String, ExplainError> {
    let n = data.train.len();
    let batch = program.train.batch_size.unwrap_or(n).min(n).max(1);
    let params = program.graph.param_count();
    let widest = program.layers.iter().filter_map(|l| l.shape.0.last().map(|d| d.resolve(0))).max().unwrap_or(0);
    if params > MAX_PARAMS || batch > MAX_EXAMPLES || widest > MAX_UNITS {
        return Err(ExplainError::TooLarge(format!(
            "`{}` is too large to explain by hand ({params} parameters, {batch} examples a batch, {widest} units in its widest layer); explain shows networks of at most {MAX_PARAMS} parameters, {MAX_EXAMPLES} examples a batch and {MAX_UNITS} units a layer",
            program.graph.name
        )));
    }
    let graph = differentiate(&program.graph)?;
    let (values, probes) = match program.graph.dtype {
        DType::F32 => run::<f32>(program, &graph, data, batch),
        DType::F64 => run::<f64>(program, &graph, data, batch),
    };
    let v = Values { graph, values, batch };
    let mut out = Writer { style, text: String::new() };
    out.title(&format!("{}: the first training step, by hand", program.graph.name));
    out.para(&format!(
        "{} {} of {} inputs, {}, computed in {} (the numbers the trace shows).",
        batch,
        if batch == 1 { "example" } else { "examples" },
        data.train.x.ncols(),
        program.loss_name,
        program.graph.dtype
    ));
    out.heading("Inputs");
    for id in [v.graph.x(), v.graph.y()] {
        for flat in 0..v.get(id).len() {
            out.line(&format!(
                "{} = {}",
                v.element(id, flat),
                fmt_float(v.get(id).as_slice_memory_order().map_or(0.0, |s| s[flat]))
            ));
        }
    }
    out.heading("Parameters");
    for p in &v.graph.params {
        for flat in 0..v.get(*p).len() {
            out.line(&format!(
                "{} = {}",
                v.element(*p, flat),
                fmt_float(v.values[p.0].as_slice_memory_order().map_or(0.0, |s| s[flat]))
            ));
        }
    }
    let mut pass = None;
    for inst in &v.graph.insts {
        let this = v.graph.value(inst.out).origin.pass;
        if this == Pass::Backward && !probes.is_empty() {
            break;
        }
        if pass != Some(this) {
            pass = Some(this);
            out.heading(match this {
                Pass::Forward => "Forward pass",
                Pass::Backward => "Backward pass (the chain rule, from the loss back)",
            });
        }
        for line in describe(&v, &inst.op, &inst.args, inst.out) {
            out.line(&line);
        }
    }
    let before = at(v.get(v.graph.loss), 0);
    let mut gradient: Vec<Option<Vec<f64>>> =
        v.graph.grads.iter().map(|g| g.map(|g| v.get(g).iter().copied().collect())).collect();
    if let GradientMode::FiniteDifference { step } = program.train.gradient {
        out.heading("Gradients by forward differences (add the step, recompute the loss)");
        for (i, j, after, g) in &probes {
            let p = v.graph.params[*i];
            out.line(&format!(
                "∂loss/∂{} ≈ ({} − {}) / {} = {}",
                v.element(p, *j),
                fmt_float(*after),
                fmt_float(before),
                fmt_float(step),
                fmt_float(*g)
            ));
            if let Some(Some(grad)) = gradient.get_mut(*i) {
                grad[*j] = *g;
            }
        }
    }
    out.heading("Update");
    match program.train.optimizer {
        Optimizer::Sgd { lr, momentum, weight_decay, .. } if momentum == 0.0 && weight_decay == 0.0 => {
            for (p, g) in v.graph.params.iter().zip(&gradient) {
                let Some(g) = g else { continue };
                for (flat, &d) in g.iter().enumerate() {
                    let w = at(v.get(*p), flat);
                    let new = new_value(program.graph.dtype, w, lr, d);
                    out.line(&format!("{} = {} − {} × {} = {}", v.element(*p, flat), fmt_float(w), fmt_float(lr), term(d), fmt_float(new)));
                }
            }
        }
        ref other => out.para(&format!("{other} updates each parameter from its gradient above; the trace's `update` records (`nnc run --trace full`) show the results.")),
    }
    Ok(out.text)
}

/// w − lr·g in the run's dtype.
fn new_value(dtype: DType, w: f64, lr: f64, g: f64) -> f64 {
    match dtype {
        DType::F32 => ((w as f32) - (lr as f32) * (g as f32)) as f64,
        DType::F64 => w - lr * g,
    }
}

fn at(a: &ArrayD<f64>, flat: usize) -> f64 {
    a.as_slice_memory_order().map_or(f64::NAN, |s| s[flat])
}

/// A number as an operand: negative ones in parentheses.
fn term(x: f64) -> String {
    if x < 0.0 { format!("({})", fmt_float(x)) } else { fmt_float(x) }
}

/// One line per element of the instruction's output.
fn describe(v: &Values, op: &Op, args: &[ValueId], out: ValueId) -> Vec<String> {
    let result = v.get(out);
    let f = term;
    let arg = |k: usize| v.get(args[k]);
    let elementwise = |body: &dyn Fn(usize) -> String| -> Vec<String> {
        (0..result.len())
            .map(|i| format!("{} = {} = {}", v.element(out, i), body(i), fmt_float(at(result, i))))
            .collect()
    };
    match op {
        Op::MatMul { transpose_a, transpose_b } => {
            let (a, b) = (arg(0), arg(1));
            let (ar, ac) = (a.shape()[0], a.shape()[1]);
            let (br, bc) = (b.shape()[0], b.shape()[1]);
            let get_a = |r: usize, k: usize| if *transpose_a { a[[k, r]] } else { a[[r, k]] };
            let get_b = |k: usize, c: usize| if *transpose_b { b[[c, k]] } else { b[[k, c]] };
            let inner = if *transpose_a { ar } else { ac };
            let cols = if *transpose_b { br } else { bc };
            elementwise(&|i| {
                let (r, c) = (i / cols, i % cols);
                (0..inner).map(|k| format!("{} × {}", f(get_a(r, k)), f(get_b(k, c)))).collect::<Vec<_>>().join(" + ")
            })
        }
        Op::Add => elementwise(&|i| format!("{} + {}", f(at(arg(0), i)), f(at(arg(1), i)))),
        Op::Mul => elementwise(&|i| format!("{} × {}", f(at(arg(0), i)), f(at(arg(1), i)))),
        Op::Broadcast => vec![format!("{} = {} for every example", v.name(out), v.name(args[0]))],
        Op::SumRows => {
            let m = arg(0);
            elementwise(&|j| (0..m.shape()[0]).map(|r| f(m[[r, j]])).collect::<Vec<_>>().join(" + "))
        }
        Op::Activate(a) => elementwise(&|i| format!("{a}({})", f(at(arg(0), i)))),
        Op::ActivateGrad(a) => {
            let (x, y, d) = Op::activate_grad_operands(*a, args);
            // The pre-activation, which a derivative of y alone does not read but a hand
            // calculation shows: the input of the instruction that computed y.
            let x = match v.graph.value(y).def {
                Def::Inst(i) if x == y => v.graph.insts[i].args[0],
                _ => x,
            };
            let (x, y, d) = (v.get(x), v.get(y), v.get(d));
            elementwise(&|i| {
                let factor = match a {
                    Activation::Sigmoid => format!("{} × (1 − {})", f(at(y, i)), f(at(y, i))),
                    Activation::Tanh => format!("(1 − {}²)", f(at(y, i))),
                    Activation::Relu => format!("[{} > 0]", f(at(x, i))),
                    other => format!("{}′({})", other.name(), f(at(x, i))),
                };
                format!("{} × {factor}", f(at(d, i)))
            })
        }
        Op::Softmax => {
            let (z, cols) = (arg(0), result.shape()[1]);
            elementwise(&|i| {
                let row = i / cols;
                let sum: Vec<String> = (0..cols).map(|k| format!("e^{}", f(z[[row, k]]))).collect();
                format!("e^{} / ({})", f(at(z, i)), sum.join(" + "))
            })
        }
        Op::SoftmaxGrad => {
            let (y, d, cols) = (arg(0), arg(1), result.shape()[1]);
            elementwise(&|i| {
                let row = i / cols;
                let dot: Vec<String> = (0..cols).map(|k| format!("{} × {}", f(y[[row, k]]), f(d[[row, k]]))).collect();
                format!("{} × ({} − ({}))", f(at(y, i)), f(at(d, i)), dot.join(" + "))
            })
        }
        Op::Loss(loss) => {
            let (p, t) = (arg(0), arg(1));
            let terms: Vec<String> = (0..p.len())
                .map(|i| {
                    let (pi, ti) = (f(at(p, i)), f(at(t, i.min(t.len() - 1))));
                    match loss {
                        Loss::Mse => format!("({pi} − {ti})²"),
                        Loss::Mae => format!("|{pi} − {ti}|"),
                        Loss::BinaryCrossentropy => format!("−({ti} ln {pi} + (1 − {ti}) ln(1 − {pi}))"),
                        Loss::CategoricalCrossentropy => format!("−{ti} ln {pi}"),
                        other => format!("{}({pi}, {ti})", other.name()),
                    }
                })
                .collect();
            let over = match loss {
                Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => p.shape()[0],
                _ => p.len(),
            };
            let sum = if terms.len() == 1 { terms[0].clone() } else { format!("({})", terms.join(" + ")) };
            vec![format!("{} = {sum} / {over} = {}", v.name(out), fmt_float(at(result, 0)))]
        }
        Op::LossGrad(loss) => {
            let (p, t, d) = (arg(0), arg(1), at(arg(2), 0));
            let n = p.len();
            elementwise(&|i| match loss {
                Loss::Mse => format!("2 × ({} − {}) / {n} × {}", f(at(p, i)), f(at(t, i)), f(d)),
                other => format!("{}′({}, {}) × {}", other.name(), f(at(p, i)), f(at(t, i.min(t.len() - 1))), f(d)),
            })
        }
        Op::LogitsLossGrad(loss) => {
            let (p, t, d) = (arg(0), arg(1), at(arg(2), 0));
            let over = match loss {
                Loss::BinaryCrossentropy => p.len(),
                _ => p.shape()[0],
            };
            elementwise(&|i| format!("({} − {}) / {over} × {}", f(at(p, i)), f(at(t, i.min(t.len() - 1))), f(d)))
        }
        Op::Constant(c) => vec![format!("{} = {} (the loss's gradient with respect to itself)", v.name(out), f(*c))],
        Op::Penalty { l1, l2 } => {
            vec![format!("{} = {} × Σ|w| + {} × Σw² = {}", v.name(out), f(*l1), f(*l2), fmt_float(at(result, 0)))]
        }
        Op::PenaltyGrad { l1, l2 } => elementwise(&|i| {
            format!("{} × ({} × sign({w}) + 2 × {} × {w})", f(at(arg(1), 0)), f(*l1), f(*l2), w = f(at(arg(0), i)))
        }),
    }
}

/// Writes headings, paragraphs and lines in the chosen style.
struct Writer {
    style: Style,
    text: String,
}

impl Writer {
    fn title(&mut self, t: &str) {
        let _ = match self.style {
            Style::Text => writeln!(self.text, "{t}\n{}", "=".repeat(t.chars().count())),
            Style::Markdown => writeln!(self.text, "# {t}"),
        };
    }

    fn heading(&mut self, h: &str) {
        let _ = match self.style {
            Style::Text => writeln!(self.text, "\n{h}\n{}", "-".repeat(h.chars().count())),
            Style::Markdown => writeln!(self.text, "\n## {h}\n"),
        };
    }

    fn para(&mut self, p: &str) {
        let _ = writeln!(self.text, "\n{p}");
    }

    fn line(&mut self, l: &str) {
        let _ = match self.style {
            Style::Text => writeln!(self.text, "  {l}"),
            Style::Markdown => writeln!(self.text, "- {l}"),
        };
    }
}
