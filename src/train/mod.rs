//! The training loop: initialise parameters, visit minibatches, compute gradients
//! (backprop or finite differences), clip them, update with the optimiser at the
//! scheduled learning rate, evaluate on the validation set, stop early when asked, report
//! events, and stop with a `Divergence` when a value becomes NaN or infinite.

pub mod events;
pub mod gradients;
pub mod init;
pub mod metrics;
pub mod optimizer;
pub mod snapshot;

use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::autodiff::{AutodiffError, differentiate};
use crate::data::{Dataset, Shuffler, Splits, gather};
use crate::ir::{DType, Def, Graph, ValueId};
use crate::program::{GradientMode, Metric, Program, TrainConfig};
use crate::runtime::flat::{values, values_mut};
use crate::runtime::kernels::all_finite;
use crate::runtime::{Executor, Scalar};
use crate::syntax::ast::Span;
use events::{Event, Level, MAX_REPORTED_PARAMS, RunInfo, Scores, Stage, TensorValues};
use metrics::MetricTotals;
use optimizer::{OptimizerState, StepUpdate, update};
use snapshot::{End, Options, Snapshot, Start};

/// Sets evaluated at once may hold at most this many elements in their widest value;
/// larger ones are evaluated a minibatch at a time.
const EVAL_CHUNK_ELEMENTS: usize = 1 << 20;

/// The RNG stream that draws dropout masks.
const DROPOUT_STREAM: u64 = 3;

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
    /// The graph could not be differentiated.
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    /// A value became NaN or infinite.
    #[error("training diverged at epoch {}, step {}: `{}` became NaN or infinite", .0.epoch, .0.step, .0.value)]
    Diverged(Divergence),
    /// A snapshot does not fit the run.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// A fresh start of a program whose initial values were released
    /// (`Program::release_initial_values`).
    #[error("the spec's initial values were released when its first run started: lower the spec again to start afresh")]
    Released,
}

/// Trained parameters by IR name, in graph order, in the run's float type: a float32
/// model's parameters are handed over as they are, not copied to f64.
#[derive(Clone, Debug, PartialEq)]
pub enum Params {
    /// A float32 run's.
    F32(Vec<(String, ArrayD<f32>)>),
    /// A float64 run's.
    F64(Vec<(String, ArrayD<f64>)>),
}

impl Params {
    /// Each parameter's name and values, copied to f64.
    pub fn to_f64(&self) -> Vec<(String, ArrayD<f64>)> {
        match self {
            Params::F32(p) => p.iter().map(|(n, a)| (n.clone(), a.mapv(f64::from))).collect(),
            Params::F64(p) => p.clone(),
        }
    }
}

/// The float types a run can train in, and how their parameters are handed over.
trait RunType: Scalar {
    /// The parameters as `Params`.
    fn params(named: Vec<(String, ArrayD<Self>)>) -> Params;
}

impl RunType for f32 {
    fn params(named: Vec<(String, ArrayD<f32>)>) -> Params {
        Params::F32(named)
    }
}

impl RunType for f64 {
    fn params(named: Vec<(String, ArrayD<f64>)>) -> Params {
        Params::F64(named)
    }
}

/// What a finished run learned.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Each parameter's name and trained value.
    pub params: Params,
    /// The trained parameters on the training set.
    pub train: Scores,
    /// The trained parameters on the validation set.
    pub validation: Option<Scores>,
    /// Whether the run finished or paused.
    pub end: End,
}

/// Trains the program on `data`, reporting events at `level` to `sink`.
pub fn train(
    program: &Program,
    data: &Splits,
    level: Level,
    sink: &mut dyn FnMut(&Event),
) -> Result<Outcome, TrainError> {
    train_with(program, data, level, Options::default(), sink)
}

/// Trains as `train` does, starting and pausing as `options` say. Snapshots are reported
/// to `sink` as `Event::Checkpoint`.
pub fn train_with(
    program: &Program,
    data: &Splits,
    level: Level,
    options: Options,
    sink: &mut dyn FnMut(&Event),
) -> Result<Outcome, TrainError> {
    Training::new(program, data, level, options)?.run(sink)
}

/// A run set up to start: parameters made (from the initialisers, saved parameters or a
/// checkpoint), the graph differentiated. It no longer reads the `Program`, so a caller
/// can release the program's initial values (`Program::release_initial_values`) before
/// running it, and a large model's initial weights are not held twice.
pub struct Training<'d> {
    /// The run, in its dtype.
    trainer: AnyTrainer<'d>,
    /// How it starts and pauses.
    options: Options<'d>,
}

/// A trainer of either dtype.
enum AnyTrainer<'d> {
    F32(Trainer<'d, f32>),
    F64(Trainer<'d, f64>),
}

impl<'d> Training<'d> {
    /// Sets up a run of `program` on `data`, reporting events at `level`.
    pub fn new(
        program: &Program,
        data: &'d Splits,
        level: Level,
        mut options: Options<'d>,
    ) -> Result<Self, TrainError> {
        let trainer = match program.graph.dtype {
            DType::F32 => AnyTrainer::F32(Trainer::new(program, data, level, &options)?),
            DType::F64 => AnyTrainer::F64(Trainer::new(program, data, level, &options)?),
        };
        // The trainer holds the starting parameters and optimiser state in its own type
        // now: their f64 copies go (a resumed run keeps the snapshot's cursor, order and
        // best parameters, which the loop reads).
        match &mut options.start {
            Start::Params { params, .. } => *params = Vec::new(),
            Start::Resume(s) => {
                s.params = Vec::new();
                s.optimizer.first = Vec::new();
                s.optimizer.second = Vec::new();
            }
            Start::Fresh => {}
        }
        Ok(Training { trainer, options })
    }

    /// The run's fingerprint (`Program::fingerprint`), computed when it was set up.
    pub fn fingerprint(&self) -> &str {
        match &self.trainer {
            AnyTrainer::F32(t) => &t.info.fingerprint,
            AnyTrainer::F64(t) => &t.info.fingerprint,
        }
    }

    /// Runs it, reporting events to `sink` (snapshots as `Event::Checkpoint`).
    pub fn run(self, sink: &mut dyn FnMut(&Event)) -> Result<Outcome, TrainError> {
        match self.trainer {
            AnyTrainer::F32(t) => t.run(&self.options, sink),
            AnyTrainer::F64(t) => t.run(&self.options, sink),
        }
    }
}

/// Where the loop stands: what a snapshot saves besides parameters and optimiser state.
struct Cursor {
    /// Epochs finished.
    epoch: u64,
    /// Examples of the next epoch visited.
    rows_done: usize,
    step: u64,
    loss_sum: f64,
    totals: MetricTotals,
}

fn to_f64<T: Scalar>(arrays: &[ArrayD<T>]) -> Vec<ArrayD<f64>> {
    arrays.iter().map(|a| a.mapv(|v| v.as_f64())).collect()
}

fn from_f64<T: Scalar>(arrays: &[ArrayD<f64>]) -> Vec<ArrayD<T>> {
    arrays.iter().map(|a| a.mapv(T::of_f64)).collect()
}

/// Parameter i's gradient: where the backward pass left it in `exec` (`grad_ids[i]`),
/// or, for forward differences and frozen parameters, in `fd`.
fn gradient_of<'a, T: Scalar>(
    exec: &'a Executor<T>,
    fd: &'a [ArrayD<T>],
    grad_ids: &[Option<ValueId>],
    i: usize,
) -> &'a [T] {
    match grad_ids.get(i).copied().flatten() {
        Some(id) => exec.buffer(id),
        None => values(&fd[i]),
    }
}

/// How a divergence report finds the value to name.
#[derive(Clone, Copy)]
enum Scan {
    /// The first non-finite value of instructions `0..upto`, which ran on parameters not
    /// yet updated: replayed unshared when the executor shares buffers, so that every
    /// value is seen.
    Step(usize),
    /// The first non-finite value of instructions `0..upto` that the executor still holds
    /// (parameters were updated, so the step cannot be replayed).
    Held(usize),
    /// The first parameter whose gradient is not finite (finite differences).
    Gradients,
}

/// Refuses a snapshot of another run, or one whose counters contradict each other.
fn check_snapshot(s: &Snapshot, info: &RunInfo, n: usize) -> Result<(), TrainError> {
    if s.fingerprint != info.fingerprint {
        return Err(TrainError::Resume(format!(
            "the checkpoint belongs to run {}, this is run {}",
            s.fingerprint, info.fingerprint
        )));
    }
    if s.rows_done >= n.max(1) || s.best.as_ref().is_some_and(|(_, e, _)| *e > s.epoch) {
        return Err(TrainError::Resume("the checkpoint's epoch, cursor and best epoch contradict each other".into()));
    }
    Ok(())
}

struct Trainer<'p, T> {
    /// The training settings.
    cfg: TrainConfig,
    /// Whether the data block asks for shuffling.
    shuffle: bool,
    /// How many of the graph's instructions are the forward pass.
    forward_len: usize,
    level: Level,
    exec: Executor<T>,
    params: Vec<ArrayD<T>>,
    /// Gradients computed outside the graph (forward differences; zeros for frozen
    /// parameters); empty arrays under backprop, whose gradients stay in the executor.
    grads: Vec<ArrayD<T>>,
    /// For each parameter, the graph value holding its gradient (backprop only).
    grad_ids: Vec<Option<ValueId>>,
    /// When updates are streamed (`streamed_backward`): each trainable parameter with the
    /// last instruction after which it is updated, in instruction order; else empty.
    updates: Vec<(usize, usize)>,
    state: OptimizerState<T>,
    /// Indices of the parameters the optimiser updates.
    trainable: Vec<usize>,
    /// The others (frozen by the spec).
    frozen: Vec<usize>,
    /// Dropout masks and their rates.
    masks: Vec<(ValueId, f64)>,
    dropout: ChaCha8Rng,
    train: &'p Dataset,
    validation: Option<&'p Dataset>,
    /// The examples the inputs hold, as the last `load` copied them: whether from the
    /// validation set, and their rows. Loading the same rows again copies nothing
    /// (full-batch training loads the same rows every step). Its capacity is reserved
    /// for the largest set, so that it never allocates during training.
    loaded: (bool, Vec<usize>),
    info: RunInfo,
}

impl<'p, T: RunType> Trainer<'p, T> {
    fn new(program: &Program, data: &'p Splits, level: Level, options: &Options) -> Result<Self, TrainError> {
        let cfg = &program.train;
        let mut graph = match cfg.gradient {
            GradientMode::Backprop => differentiate(&program.graph)?,
            GradientMode::FiniteDifference { .. } => program.graph.clone(),
        };
        let (params, state, start) = match &options.start {
            Start::Fresh if program.graph.has_released_values() => return Err(TrainError::Released),
            Start::Fresh => {
                let params = init::initial_params::<T>(&program.graph, cfg.seed);
                let state = OptimizerState::new(&cfg.optimizer, &params);
                (params, state, None)
            }
            Start::Params { params, from } => {
                let params = from_f64(params);
                let state = OptimizerState::new(&cfg.optimizer, &params);
                (params, state, Some(format!("weights {from}")))
            }
            Start::Resume(s) => {
                let o = &s.optimizer;
                let state = OptimizerState { step: o.step, first: from_f64(&o.first), second: from_f64(&o.second) };
                (from_f64(&s.params), state, Some(format!("resumed after epoch {} step {}", s.epoch, s.step)))
            }
        };
        let mut grad_ids: Vec<Option<ValueId>> = match cfg.gradient {
            GradientMode::Backprop => graph.grads.clone(),
            GradientMode::FiniteDifference { .. } => Vec::new(),
        };
        grad_ids.resize(params.len(), None);
        let grads = params
            .iter()
            .zip(&grad_ids)
            .map(|(p, id)| if id.is_some() { ArrayD::zeros(IxDyn(&[0])) } else { ArrayD::zeros(p.raw_dim()) })
            .collect();
        let n = data.train.len();
        let warmup = if cfg.warmup > 0 { format!(", warmup {}", cfg.warmup) } else { String::new() };
        let info = RunInfo {
            model: program.graph.name.clone(),
            fingerprint: program.fingerprint(data),
            version: env!("CARGO_PKG_VERSION").to_string(),
            seed: cfg.seed,
            dtype: program.graph.dtype.to_string(),
            gradient: cfg.gradient.to_string(),
            optimizer: cfg.optimizer.to_string(),
            epochs: cfg.epochs,
            batch_size: cfg.batch_size.unwrap_or(n).min(n).max(1),
            examples: n,
            params: program.graph.param_count(),
            validation_examples: data.validation.as_ref().map_or(0, Dataset::len),
            schedule: format!("{}{warmup}", cfg.schedule),
            clip_norm: cfg.clip_norm.map_or("none".into(), |c| c.to_string()),
            early_stopping: cfg.early_stopping.map_or("none".into(), |e| {
                format!("{}(patience = {}, min_delta = {})", e.monitor.name(), e.patience, e.min_delta)
            }),
            level,
            start,
        };
        if let Start::Resume(s) = &options.start {
            check_snapshot(s, &info, n)?;
        }
        // The parameters hold the initial values now: the run's own graph lets them go.
        graph.release_initial_values();
        let (trainable, frozen): (Vec<usize>, Vec<usize>) =
            (0..params.len()).partition(|i| graph.is_trainable(graph.params[*i]));
        let masks = graph.masks();
        let forward_len = program.graph.insts.len();
        // A full trace records every value and gradient: its executor keeps them all,
        // unfused, and updates after the whole pass.
        let (exec, updates) = if level == Level::Full {
            (Executor::new(&graph), Vec::new())
        } else {
            step_executor(&graph, cfg, forward_len, &grad_ids, &trainable)
        };
        let mut dropout = ChaCha8Rng::seed_from_u64(cfg.seed);
        dropout.set_stream(DROPOUT_STREAM);
        if let Start::Resume(s) = &options.start {
            dropout.set_word_pos(s.dropout_pos);
        }
        Ok(Trainer {
            cfg: cfg.clone(),
            shuffle: program.data.as_ref().is_none_or(|d| d.shuffle),
            forward_len,
            level,
            exec,
            params,
            grads,
            grad_ids,
            updates,
            state,
            trainable,
            frozen,
            masks,
            dropout,
            train: &data.train,
            validation: data.validation.as_ref(),
            loaded: (false, Vec::with_capacity(data.train.len().max(data.validation.as_ref().map_or(0, Dataset::len)))),
            info,
        })
    }

    fn graph(&self) -> &Graph {
        self.exec.graph()
    }

    fn run(mut self, options: &Options, sink: &mut dyn FnMut(&Event)) -> Result<Outcome, TrainError> {
        sink(&Event::Start(&self.info));
        // A copy of the settings: the loop below borrows `self` mutably.
        let cfg = &self.cfg.clone();
        let n = self.train.x.nrows();
        let batch = self.info.batch_size;
        let shuffle = self.shuffle;
        // With one full batch, order cannot change the gradient's value, only the
        // summation order: keep file order so results match a hand calculation.
        let shuffled = shuffle && batch < n;
        let (mut shuffler, mut at, mut best) = match &options.start {
            Start::Resume(s) => {
                let shuffler = Shuffler::resume(n, cfg.seed, shuffled, s.order.clone(), s.shuffle_pos)
                    .map_err(TrainError::Resume)?;
                let at = Cursor {
                    epoch: s.epoch,
                    rows_done: s.rows_done,
                    step: s.step,
                    loss_sum: s.loss_sum,
                    totals: MetricTotals::with_counts(&cfg.metrics, s.counts),
                };
                let best = s.best.as_ref().map(|(v, e, p)| (*v, *e, from_f64::<T>(p)));
                (shuffler, at, best)
            }
            _ => {
                let at =
                    Cursor { epoch: 0, rows_done: 0, step: 0, loss_sum: 0.0, totals: MetricTotals::new(&cfg.metrics) };
                (Shuffler::new(n, cfg.seed, shuffled), at, None)
            }
        };
        let interrupted = || options.interrupt.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst));
        let mut order = Vec::with_capacity(n);
        while at.epoch < cfg.epochs {
            let epoch = at.epoch + 1;
            let lr = cfg.schedule.lr(cfg.optimizer.lr(), cfg.warmup, epoch);
            order.clear();
            if at.rows_done == 0 {
                order.extend_from_slice(shuffler.next_epoch());
            } else {
                order.extend_from_slice(&shuffler.state().0);
            }
            for rows in order[at.rows_done.min(n)..].chunks(batch) {
                at.step += 1;
                let loss = self.step(epoch, at.step, lr, rows, &mut at.totals, sink)?;
                at.loss_sum += loss * rows.len() as f64;
                at.rows_done += rows.len();
                if self.level >= Level::Step {
                    sink(&Event::Step { epoch, step: at.step, loss });
                }
                if at.rows_done < n && interrupted() {
                    return Ok(self.pause(
                        options,
                        &at,
                        &shuffler,
                        best.as_ref(),
                        End::Interrupted { epoch, step: at.step },
                        sink,
                    ));
                }
            }
            let train = Scores { loss: at.loss_sum / n as f64, metrics: at.totals.values() };
            at = Cursor { epoch, rows_done: 0, step: at.step, loss_sum: 0.0, totals: MetricTotals::new(&cfg.metrics) };
            let validation = self.validation.is_some().then(|| self.evaluate(true));
            sink(&Event::Epoch { epoch, lr, train: &train, validation: validation.as_ref() });
            if let Some(rule) = cfg.early_stopping
                && let Some(value) = monitored(rule.monitor, &train, validation.as_ref())
            {
                let sign = if rule.monitor.higher_is_better() { -1.0 } else { 1.0 };
                let improved = best.as_ref().is_none_or(|(b, _, _)| sign * value < sign * b - rule.min_delta);
                if improved {
                    best = Some((value, epoch, self.params.clone()));
                } else if let Some((b, best_epoch, kept)) = &best
                    && epoch - best_epoch >= rule.patience
                {
                    let name = rule.monitor.name();
                    sink(&Event::Stopped { epoch, best_epoch: *best_epoch, monitor: &name, best: *b });
                    self.params.clone_from(kept);
                    break;
                }
            }
            let end = if interrupted() {
                Some(End::Interrupted { epoch, step: at.step })
            } else {
                (options.stop_after == Some(epoch) && epoch < cfg.epochs).then_some(End::Paused { epoch })
            };
            if let Some(end) = end {
                return Ok(self.pause(options, &at, &shuffler, best.as_ref(), end, sink));
            }
            if options.checkpoint_every.is_some_and(|k| epoch % k == 0) && epoch < cfg.epochs {
                sink(&Event::Checkpoint(&self.snapshot(&at, &shuffler, best.as_ref())));
            }
        }
        self.finish(sink)
    }

    /// Everything the loop carries at `at`.
    fn snapshot(&self, at: &Cursor, shuffler: &Shuffler, best: Option<&(f64, u64, Vec<ArrayD<T>>)>) -> Snapshot {
        let (order, shuffle_pos) = shuffler.state();
        Snapshot {
            fingerprint: self.info.fingerprint.clone(),
            epoch: at.epoch,
            rows_done: at.rows_done,
            step: at.step,
            loss_sum: at.loss_sum,
            counts: at.totals.counts(),
            order,
            shuffle_pos,
            dropout_pos: self.dropout.get_word_pos(),
            params: to_f64(&self.params),
            optimizer: self.state.to_f64(&self.params),
            best: best.map(|(v, e, p)| (*v, *e, to_f64(p))),
        }
    }

    /// Stops between steps: reports a snapshot when checkpointing is on.
    fn pause(
        &mut self,
        options: &Options,
        at: &Cursor,
        shuffler: &Shuffler,
        best: Option<&(f64, u64, Vec<ArrayD<T>>)>,
        end: End,
        sink: &mut dyn FnMut(&Event),
    ) -> Outcome {
        if options.checkpoint_every.is_some() {
            sink(&Event::Checkpoint(&self.snapshot(at, shuffler, best)));
        }
        let nan = Scores { loss: f64::NAN, metrics: Vec::new() };
        Outcome { params: self.take_named_params(), train: nan, validation: None, end }
    }

    /// The parameters by name, for the `Outcome` that ends the run (moved, not copied).
    fn take_named_params(&mut self) -> Params {
        let params = std::mem::take(&mut self.params);
        let names = self.graph().params.iter().map(|&id| self.graph().value(id).name.clone());
        T::params(names.zip(params).collect())
    }

    /// One optimisation step on the examples `rows`; returns the batch loss.
    fn step(
        &mut self,
        epoch: u64,
        step: u64,
        lr: f64,
        rows: &[usize],
        totals: &mut MetricTotals,
        sink: &mut dyn FnMut(&Event),
    ) -> Result<f64, TrainError> {
        self.load(rows, false, true);
        let (forward_len, all) = (self.forward_len, self.graph().insts.len());
        let (loss_id, pred) = (self.graph().loss, self.graph().prediction);
        self.exec.run(&self.params, 0..forward_len);
        let loss = self.exec.scalar(loss_id, &self.params).as_f64();
        if !loss.is_finite() {
            return Err(self.diverged(epoch, step, Scan::Step(forward_len), sink));
        }
        if !self.cfg.metrics.is_empty() {
            totals.add(self.exec.matrix(pred, &self.params), self.exec.matrix(self.graph().y(), &self.params));
        }
        if !self.updates.is_empty() {
            return self.streamed_backward(epoch, step, lr, sink).map(|()| loss);
        }
        if self.cfg.gradient == GradientMode::Backprop {
            self.exec.run(&self.params, forward_len..all);
        }
        if self.level == Level::Full {
            let inputs = (0..self.graph().values.len())
                .map(ValueId)
                .filter(|v| matches!(self.graph().value(*v).def, Def::Input(_)));
            let values: Vec<ValueId> = inputs.chain(self.graph().insts[..forward_len].iter().map(|i| i.out)).collect();
            for v in values {
                sink(&self.tensor_event(epoch, step, Stage::Forward, v));
            }
        }
        if let GradientMode::FiniteDifference { step: h } = self.cfg.gradient {
            gradients::finite_difference(&mut self.exec, &mut self.params, h, &mut self.grads, &mut |_, _, _| {});
        }
        // A non-finite gradient makes its parameter non-finite, which the check after the
        // update finds; only a full trace must stop before recording the gradients.
        let scan = if self.cfg.gradient == GradientMode::Backprop { Scan::Step(all) } else { Scan::Gradients };
        if self.level == Level::Full && !self.grads_finite() {
            return Err(self.diverged(epoch, step, scan, sink));
        }
        if let Some(limit) = self.cfg.clip_norm
            && !self.clip(limit)
            && !self.grads_finite()
        {
            return Err(self.diverged(epoch, step, scan, sink));
        }
        if self.level == Level::Full {
            for k in 0..self.trainable.len() {
                let i = self.trainable[k];
                let tensor = self.values_of(i, self.grad(i));
                sink(&Event::Tensor { epoch, step, stage: Stage::Gradient, tensor });
            }
        }
        let (exec, fd, grad_ids) = (&self.exec, &self.grads, &self.grad_ids);
        let grad = |i: usize| gradient_of(exec, fd, grad_ids, i);
        let updated = update(&self.cfg.optimizer, lr, &mut self.state, &mut self.params, grad, &self.trainable);
        // The update checked what it wrote; frozen parameters are checked here.
        let finite = updated && self.frozen.iter().all(|&i| all_finite(values(&self.params[i])));
        if !finite && let Some(i) = self.params.iter().position(|p| !all_finite(values(p))) {
            if !self.grads_finite() {
                let scan = if let Scan::Step(all) = scan { Scan::Held(all) } else { scan };
                return Err(self.diverged(epoch, step, scan, sink));
            }
            let id = self.graph().params[i];
            return Err(self.report_divergence(epoch, step, id, sink));
        }
        if self.level == Level::Full {
            for k in 0..self.trainable.len() {
                let i = self.trainable[k];
                let tensor = self.values_of(i, values(&self.params[i]));
                sink(&Event::Tensor { epoch, step, stage: Stage::Update, tensor });
            }
        }
        Ok(loss)
    }

    /// The backward pass in ranges, each parameter updated as soon as its gradient is final
    /// and no instruction reads the parameter any more (`updates`), so that its gradient's
    /// buffer can hold later values: the same updates as after the whole pass, made in
    /// another order. Stops at the first update that is not finite.
    fn streamed_backward(
        &mut self,
        epoch: u64,
        step: u64,
        lr: f64,
        sink: &mut dyn FnMut(&Event),
    ) -> Result<(), TrainError> {
        let update = StepUpdate::begin(&self.cfg.optimizer, lr, &mut self.state);
        let mut from = self.forward_len;
        for k in 0..self.updates.len() {
            let (last, i) = self.updates[k];
            self.exec.run(&self.params, from..last + 1);
            from = from.max(last + 1);
            let grad = gradient_of(&self.exec, &self.grads, &self.grad_ids, i);
            if !update.apply(&mut self.state, i, &mut self.params[i], grad) {
                return Err(if all_finite(grad) {
                    self.report_divergence(epoch, step, self.graph().params[i], sink)
                } else {
                    self.diverged(epoch, step, Scan::Held(from), sink)
                });
            }
        }
        self.exec.run(&self.params, from..self.graph().insts.len());
        if let Some(&i) = self.frozen.iter().find(|&&i| !all_finite(values(&self.params[i]))) {
            return Err(self.report_divergence(epoch, step, self.graph().params[i], sink));
        }
        Ok(())
    }

    /// Parameter i's gradient of this step.
    fn grad(&self, i: usize) -> &[T] {
        gradient_of(&self.exec, &self.grads, &self.grad_ids, i)
    }

    /// Whether every gradient of this step is finite.
    fn grads_finite(&self) -> bool {
        (0..self.params.len()).all(|i| all_finite(self.grad(i)))
    }

    /// Scales the trainable gradients down so that their global L2 norm is at most `limit`.
    /// Returns whether the norm is finite.
    fn clip(&mut self, limit: f64) -> bool {
        let norm = self
            .trainable
            .iter()
            .flat_map(|&i| self.grad(i).iter())
            .map(|g| g.as_f64() * g.as_f64())
            .sum::<f64>()
            .sqrt();
        if norm > limit {
            let scale = T::of_f64(limit / norm);
            for k in 0..self.trainable.len() {
                let i = self.trainable[k];
                let g = match self.grad_ids.get(i).copied().flatten() {
                    Some(id) => self.exec.buffer_mut(id),
                    None => values_mut(&mut self.grads[i]),
                };
                g.iter_mut().for_each(|g| *g = *g * scale);
            }
        }
        norm.is_finite()
    }

    /// Copies the examples `rows` (of the validation set when `validation`) into the
    /// executor's inputs, and fills the dropout masks: random when `training`, else ones.
    fn load(&mut self, rows: &[usize], validation: bool, training: bool) {
        self.exec.prepare(rows.len());
        // The same rows as the last load are in the same batch size's inputs, which
        // nothing else writes.
        // (Row by row: comparing the slices called `memcmp`, which cost more than W1's one
        // row.)
        let same = self.loaded.1.len() == rows.len() && self.loaded.1.iter().zip(rows).all(|(a, b)| a == b);
        if self.loaded.0 != validation || !same {
            let set = if validation { self.validation.unwrap_or(self.train) } else { self.train };
            let (x, y) = (self.exec.graph().x(), self.exec.graph().y());
            set.x.gather(rows, self.exec.buffer_mut(x));
            gather(&set.y, rows, self.exec.buffer_mut(y));
            self.loaded.0 = validation;
            self.loaded.1.clear();
            self.loaded.1.extend_from_slice(rows);
        }
        for k in 0..self.masks.len() {
            let (id, rate) = self.masks[k];
            let keep = T::of_f64(1.0 / (1.0 - rate));
            let mask = self.exec.buffer_mut(id);
            if training {
                for m in mask.iter_mut() {
                    let u = (self.dropout.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                    *m = if u < rate { T::zero() } else { keep };
                }
            } else {
                mask.fill(T::one());
            }
        }
    }

    /// The current parameters on the whole validation (or training) set.
    fn evaluate(&mut self, validation: bool) -> Scores {
        let n = if validation { self.validation.as_ref().map_or(0, |v| v.x.nrows()) } else { self.train.x.nrows() };
        // A large set is evaluated in minibatch-sized pieces, so that evaluation needs no
        // buffers beyond the training step's; a small one in one pass, as always.
        let widest =
            self.graph().values.iter().map(|v| v.shape.resolve(1).iter().product::<usize>()).max().unwrap_or(1);
        let chunk = if n.saturating_mul(widest) > EVAL_CHUNK_ELEMENTS { self.info.batch_size.max(1) } else { n.max(1) };
        let forward_len = self.forward_len;
        let mut totals = MetricTotals::new(&self.cfg.metrics);
        let (mut loss_sum, mut loss) = (0.0, f64::NAN);
        let all: Vec<usize> = (0..n).collect();
        for rows in all.chunks(chunk) {
            self.load(rows, validation, false);
            self.exec.run(&self.params, 0..forward_len);
            loss = self.exec.scalar(self.graph().loss, &self.params).as_f64();
            loss_sum += loss * rows.len() as f64;
            totals.add(
                self.exec.matrix(self.graph().prediction, &self.params),
                self.exec.matrix(self.graph().y(), &self.params),
            );
        }
        // One piece: its loss as computed (no rescaling, so no rounding is added).
        let loss = if chunk >= n { loss } else { loss_sum / n as f64 };
        Scores { loss, metrics: totals.values() }
    }

    /// Values shaped like parameter `param` (the parameter, or its gradient), for a trace.
    fn values_of(&self, param: usize, values: &[T]) -> TensorValues<'_> {
        let name = &self.graph().value(self.graph().params[param]).name;
        TensorValues {
            name,
            dims: self.params[param].shape().to_vec(),
            values: values.iter().map(|v| v.as_f64()).collect(),
        }
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

    /// Finds the first non-finite value of the step as `scan` says and reports it (the
    /// loss when none is found).
    fn diverged(&self, epoch: u64, step: u64, scan: Scan, sink: &mut dyn FnMut(&Event)) -> TrainError {
        let first = match scan {
            Scan::Step(upto) if self.exec.is_sharing() => {
                self.exec.replay(&self.params, upto).first_non_finite(&self.params, 0..upto)
            }
            Scan::Step(upto) | Scan::Held(upto) => self.exec.first_non_finite(&self.params, 0..upto),
            Scan::Gradients => None,
        }
        .or_else(|| {
            let i = (0..self.params.len()).position(|i| !all_finite(self.grad(i)))?;
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

    /// Evaluates the trained parameters and reports them.
    fn finish(mut self, sink: &mut dyn FnMut(&Event)) -> Result<Outcome, TrainError> {
        let train = self.evaluate(false);
        let validation = self.validation.is_some().then(|| self.evaluate(true));
        sink(&Event::Final { train: &train, validation: validation.as_ref() });
        if self.info.params <= MAX_REPORTED_PARAMS {
            for i in 0..self.params.len() {
                sink(&Event::Param(self.values_of(i, values(&self.params[i]))));
            }
        }
        // Free what training needed before the parameters are handed over (the executor
        // last: releasing it hands freed memory back).
        self.state.first.clear();
        self.state.second.clear();
        self.exec.release();
        // The inputs went with the buffers.
        self.loaded.1.clear();
        Ok(Outcome { params: self.take_named_params(), train, validation, end: End::Finished })
    }
}

/// The executor a run below a full trace steps with: fused passes, buffers shared between
/// values whose lives do not overlap (the caller reads the loss, the prediction and the
/// targets after the forward pass's `forward_len` instructions, and each gradient
/// (`grad_ids`) when it updates its parameter). With backprop and no clipping (which
/// needs every gradient at once), each trainable parameter is updated as soon as it can
/// be: the list gives each with the last instruction after which it is updated
/// (`update_points`); otherwise it is empty, and every gradient is read after the pass.
pub fn step_executor<T: Scalar>(
    graph: &Graph,
    cfg: &TrainConfig,
    forward_len: usize,
    grad_ids: &[Option<ValueId>],
    trainable: &[usize],
) -> (Executor<T>, Vec<(usize, usize)>) {
    let exec = Executor::new(graph).fused();
    let streamed = cfg.gradient == GradientMode::Backprop && cfg.clip_norm.is_none();
    let updates = if streamed { update_points(&exec, grad_ids, trainable) } else { Vec::new() };
    let (last, after_forward) = (graph.insts.len().saturating_sub(1), forward_len.saturating_sub(1));
    let mut read_at = vec![last; grad_ids.len()];
    for &(at, i) in &updates {
        if let Some(r) = read_at.get_mut(i) {
            *r = at;
        }
    }
    let grads_read = grad_ids.iter().zip(read_at).filter_map(|(g, at)| g.map(|g| (g, at)));
    let reads = [graph.loss, graph.prediction, graph.y()].map(|v| (v, after_forward));
    (exec.sharing(reads.into_iter().chain(grads_read).collect()), updates)
}

/// For streamed updates: each trainable parameter with the last instruction after which
/// it can be updated (its gradient written, every instruction that reads it run, the pass
/// finished), in instruction order.
fn update_points<T: Scalar>(
    exec: &Executor<T>,
    grad_ids: &[Option<ValueId>],
    trainable: &[usize],
) -> Vec<(usize, usize)> {
    let (graph, passes) = (exec.graph(), exec.passes());
    let last = graph.insts.len().saturating_sub(1);
    let mut last_read = vec![0; graph.values.len()];
    for (j, inst) in graph.insts.iter().enumerate() {
        for a in &inst.args {
            last_read[a.0] = j;
        }
    }
    let mut points: Vec<(usize, usize)> = trainable
        .iter()
        .map(|&i| {
            let written = match grad_ids.get(i).copied().flatten().map(|g| &graph.value(g).def) {
                Some(&Def::Inst(k)) => k,
                _ => last,
            };
            (passes[written.max(last_read[graph.params[i].0])].1, i)
        })
        .collect();
    points.sort_unstable();
    points
}

/// The figure early stopping watches, when this epoch has it.
fn monitored(monitor: crate::program::Monitor, train: &Scores, validation: Option<&Scores>) -> Option<f64> {
    use crate::program::Monitor;
    match monitor {
        Monitor::Loss => Some(train.loss),
        Monitor::ValLoss => validation.map(|v| v.loss),
        Monitor::ValMetric(m) => validation.and_then(|v| metric(&v.metrics, m)),
    }
}

fn metric(values: &[(Metric, f64)], m: Metric) -> Option<f64> {
    values.iter().find(|(k, _)| *k == m).map(|(_, v)| *v)
}
