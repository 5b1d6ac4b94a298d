//! The training loop: initialise parameters, visit minibatches, compute gradients
//! (backprop or finite differences), update with the optimiser, report events, and stop
//! with a `Divergence` when a value becomes NaN or infinite.

pub mod events;
pub mod gradients;
pub mod init;
pub mod metrics;

use ndarray::{ArrayD, Zip};

use crate::autodiff::{AutodiffError, differentiate};
use crate::data::{Shuffler, gather};
use crate::ir::{DType, Graph, Role, ValueId};
use crate::program::{GradientMode, Metric, Optimizer, Program};
use crate::runtime::{Executor, Scalar, kernels};
use crate::syntax::ast::Span;
use events::{Event, Level, MAX_REPORTED_PARAMS, RunInfo, Stage, TensorValues};
use metrics::MetricTotals;

/// Where and how training diverged.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The epoch, from 1.
    pub epoch: u64,
    /// The step, from 1.
    pub step: u64,
    /// The first IR value that became non-finite.
    pub value: String,
    /// The layer that value belongs to.
    pub layer: Option<String>,
    /// The span of the spec text that made it.
    pub span: Option<Span>,
}

/// Why training could not run or finish.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The spec has no data block.
    #[error("the spec has no `data` block, so there is nothing to train on")]
    NoData,
    /// The graph could not be differentiated.
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    /// A value became NaN or infinite.
    #[error("training diverged at epoch {}, step {}: `{}` became NaN or infinite", .0.epoch, .0.step, .0.value)]
    Diverged(Divergence),
}

/// What a finished run learned.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Each parameter's name and trained value.
    pub params: Vec<(String, ArrayD<f64>)>,
    /// The loss of the trained parameters on the whole data set.
    pub loss: f64,
    /// Metrics of the trained parameters on the whole data set.
    pub metrics: Vec<(Metric, f64)>,
}

/// Trains the program, reporting events at `level` to `sink`.
pub fn train(program: &Program, level: Level, sink: &mut dyn FnMut(&Event)) -> Result<Outcome, TrainError> {
    match program.graph.dtype {
        DType::F32 => Trainer::<f32>::new(program, level)?.run(sink),
        DType::F64 => Trainer::<f64>::new(program, level)?.run(sink),
    }
}

struct Trainer<'p, T> {
    program: &'p Program,
    level: Level,
    exec: Executor<T>,
    params: Vec<ArrayD<T>>,
    grads: Vec<ArrayD<T>>,
    /// Indices of the parameters the optimiser updates.
    trainable: Vec<usize>,
    x: ndarray::Array2<T>,
    y: ndarray::Array2<T>,
    info: RunInfo,
}

impl<'p, T: Scalar> Trainer<'p, T> {
    fn new(program: &'p Program, level: Level) -> Result<Self, TrainError> {
        let data = program.data.as_ref().ok_or(TrainError::NoData)?;
        let cfg = &program.train;
        let graph = match cfg.gradient {
            GradientMode::Backprop => differentiate(&program.graph)?,
            GradientMode::FiniteDifference { .. } => program.graph.clone(),
        };
        let params = init::initial_params::<T>(&program.graph, cfg.seed);
        let grads = params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
        let (x, y) = data.cast::<T>();
        let info = RunInfo {
            model: program.graph.name.clone(),
            fingerprint: program.fingerprint(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            seed: cfg.seed,
            dtype: program.graph.dtype.to_string(),
            gradient: cfg.gradient.to_string(),
            optimizer: cfg.optimizer.to_string(),
            epochs: cfg.epochs,
            batch_size: cfg.batch_size.unwrap_or(data.len()).min(data.len()),
            examples: data.len(),
            params: program.graph.param_count(),
            level,
        };
        let trainable = (0..params.len()).filter(|i| graph.is_trainable(graph.params[*i])).collect();
        Ok(Trainer { program, level, exec: Executor::new(&graph), params, grads, trainable, x, y, info })
    }

    fn graph(&self) -> &Graph {
        self.exec.graph()
    }

    fn run(mut self, sink: &mut dyn FnMut(&Event)) -> Result<Outcome, TrainError> {
        sink(&Event::Start(&self.info));
        let cfg = &self.program.train;
        let n = self.x.nrows();
        let batch = self.info.batch_size;
        // With one full batch, order cannot change the gradient's value, only the
        // summation order: keep file order so results match a hand calculation.
        let mut shuffler = Shuffler::new(n, cfg.seed, cfg.shuffle && batch < n);
        let mut order = Vec::with_capacity(n);
        let mut step = 0u64;
        for epoch in 1..=cfg.epochs {
            order.clear();
            order.extend_from_slice(shuffler.next_epoch());
            let mut loss_sum = 0.0;
            let mut totals = MetricTotals::new(&cfg.metrics);
            for rows in order.chunks(batch) {
                step += 1;
                let loss = self.step(epoch, step, rows, &mut totals, sink)?;
                loss_sum += loss * rows.len() as f64;
                if self.level >= Level::Step {
                    sink(&Event::Step { epoch, step, loss });
                }
            }
            let metrics = totals.values();
            sink(&Event::Epoch { epoch, loss: loss_sum / n as f64, metrics: &metrics });
        }
        self.finish(sink)
    }

    /// One optimisation step on the examples `rows`; returns the batch loss.
    fn step(
        &mut self,
        epoch: u64,
        step: u64,
        rows: &[usize],
        totals: &mut MetricTotals,
        sink: &mut dyn FnMut(&Event),
    ) -> Result<f64, TrainError> {
        self.load(rows);
        let forward_len = self.program.graph.insts.len();
        let (loss_id, pred) = (self.graph().loss, self.graph().prediction);
        match self.program.train.gradient {
            GradientMode::Backprop => gradients::backprop(&mut self.exec, &self.params),
            GradientMode::FiniteDifference { .. } => self.exec.run(&self.params, 0..forward_len),
        }
        let loss = kernels::scalar(self.exec.value(loss_id, &self.params)).as_f64();
        if !loss.is_finite() {
            return Err(self.diverged(epoch, step, true, sink));
        }
        totals.add(
            kernels::as2(self.exec.value(pred, &self.params)),
            kernels::as2(self.exec.value(self.graph().y(), &self.params)),
        );
        if self.level == Level::Full {
            let values = [self.graph().x(), self.graph().y()]
                .into_iter()
                .chain(self.graph().insts[..forward_len].iter().map(|i| i.out));
            for v in values.collect::<Vec<_>>() {
                sink(&self.tensor_event(epoch, step, Stage::Forward, v));
            }
        }
        if let GradientMode::FiniteDifference { step: h } = self.program.train.gradient {
            gradients::finite_difference(&mut self.exec, &mut self.params, h, &mut self.grads);
        } else {
            for (g, id) in self.grads.iter_mut().zip(&self.exec.graph().grads) {
                if let Some(id) = id {
                    g.assign(&self.exec.value(*id, &self.params));
                }
            }
        }
        if self.grads.iter().any(|g| g.iter().any(|x| !x.is_finite())) {
            let backprop = self.program.train.gradient == GradientMode::Backprop;
            return Err(self.diverged(epoch, step, backprop, sink));
        }
        if self.level == Level::Full {
            for k in 0..self.trainable.len() {
                let i = self.trainable[k];
                sink(&Event::Tensor { epoch, step, stage: Stage::Gradient, tensor: self.values_of(i, &self.grads[i]) });
            }
        }
        let Optimizer::Sgd { lr } = self.program.train.optimizer;
        let lr = T::of_f64(lr);
        for k in 0..self.trainable.len() {
            let i = self.trainable[k];
            Zip::from(&mut self.params[i]).and(&self.grads[i]).for_each(|p, &g| *p = *p - lr * g);
        }
        if let Some(i) = self.params.iter().position(|p| p.iter().any(|x| !x.is_finite())) {
            let id = self.graph().params[i];
            return Err(self.report_divergence(epoch, step, id, sink));
        }
        if self.level == Level::Full {
            for k in 0..self.trainable.len() {
                let i = self.trainable[k];
                sink(&Event::Tensor { epoch, step, stage: Stage::Update, tensor: self.values_of(i, &self.params[i]) });
            }
        }
        Ok(loss)
    }

    /// Copies the examples `rows` into the executor's input buffers.
    fn load(&mut self, rows: &[usize]) {
        self.exec.prepare(rows.len());
        gather(&self.x, rows, self.exec.input_mut(Role::Features));
        gather(&self.y, rows, self.exec.input_mut(Role::Targets));
    }

    fn values_of(&self, param: usize, a: &ArrayD<T>) -> TensorValues<'_> {
        let name = &self.graph().value(self.graph().params[param]).name;
        TensorValues { name, dims: a.shape().to_vec(), values: a.iter().map(|v| v.as_f64()).collect() }
    }

    fn tensor_event(&self, epoch: u64, step: u64, stage: Stage, id: ValueId) -> Event<'_> {
        let v = self.exec.value(id, &self.params);
        let tensor = TensorValues {
            name: &self.graph().value(id).name,
            dims: v.shape().to_vec(),
            values: v.iter().map(|x| x.as_f64()).collect(),
        };
        Event::Tensor { epoch, step, stage, tensor }
    }

    /// Finds the first non-finite value of the step and reports it: the first in the
    /// executor's values when `scan` (they belong to this step), else the first parameter
    /// whose finite-difference gradient is not finite.
    fn diverged(&self, epoch: u64, step: u64, scan: bool, sink: &mut dyn FnMut(&Event)) -> TrainError {
        let all = 0..self.graph().insts.len();
        let first = scan.then(|| self.exec.first_non_finite(&self.params, all)).flatten().or_else(|| {
            let i = self.grads.iter().position(|g| g.iter().any(|x| !x.is_finite()))?;
            Some(self.graph().params[i])
        });
        self.report_divergence(epoch, step, first.unwrap_or(self.graph().loss), sink)
    }

    fn report_divergence(&self, epoch: u64, step: u64, id: ValueId, sink: &mut dyn FnMut(&Event)) -> TrainError {
        let info = self.graph().value(id);
        let layer = info.origin.layer.clone();
        sink(&Event::Diverged { epoch, step, value: &info.name, layer: layer.as_deref() });
        TrainError::Diverged(Divergence { epoch, step, value: info.name.clone(), layer, span: info.origin.span })
    }

    /// Evaluates the trained parameters on the whole data set and reports them.
    fn finish(mut self, sink: &mut dyn FnMut(&Event)) -> Result<Outcome, TrainError> {
        let all: Vec<usize> = (0..self.x.nrows()).collect();
        self.load(&all);
        let forward_len = self.program.graph.insts.len();
        self.exec.run(&self.params, 0..forward_len);
        let loss = kernels::scalar(self.exec.value(self.graph().loss, &self.params)).as_f64();
        let mut totals = MetricTotals::new(&self.program.train.metrics);
        totals.add(
            kernels::as2(self.exec.value(self.graph().prediction, &self.params)),
            kernels::as2(self.exec.value(self.graph().y(), &self.params)),
        );
        let metrics = totals.values();
        sink(&Event::Final { loss, metrics: &metrics });
        if self.info.params <= MAX_REPORTED_PARAMS {
            for i in 0..self.params.len() {
                sink(&Event::Param(self.values_of(i, &self.params[i])));
            }
        }
        let params = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| (self.graph().value(self.graph().params[i]).name.clone(), p.mapv(|v| v.as_f64())))
            .collect();
        Ok(Outcome { params, loss, metrics })
    }
}
