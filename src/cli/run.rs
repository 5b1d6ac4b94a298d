//! `nnc run`: compile, train, write the trace; start from saved weights or a checkpoint,
//! write checkpoints, stop cleanly on Ctrl-C, save the trained weights.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use nnc::diagnostics::{Code, Diagnostic, Diagnostics, render_without_source};
use nnc::persist::tensors::encode;
use nnc::persist::weights::{Provenance, weights_file};
use nnc::train::events::Level;
use nnc::train::snapshot::{End, Options, Start};
use nnc::train::{TrainError, Training};

use nnc::draw::plot::{boundary_png, curves_svg};
use nnc::trace::record::records_of;
use nnc::train::events::Event;

use crate::cli::output::Output;
use crate::cli::progress::Progress;
use crate::cli::saved::{Blame, Checkpoints, load_checkpoint, load_params};
use crate::cli::trace_writer::TraceWriter;
use crate::cli::{TraceFormat, TraceLevel, exit, load_all, report};

/// Raised by Ctrl-C (or a failed checkpoint write): the loop finishes its step and stops.
static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// The exit code after Ctrl-C (128 + SIGINT).
const INTERRUPTED: i32 = 130;

/// Where `nnc run` starts from and what it keeps.
pub struct Keep<'a> {
    /// Write the trained weights here.
    pub save: Option<&'a Path>,
    /// Start from these weights.
    pub weights: Option<&'a Path>,
    /// Write checkpoints into this folder.
    pub checkpoint: Option<&'a Path>,
    /// Every this many epochs.
    pub every: u64,
    /// Resume from the checkpoint in this folder.
    pub resume: Option<&'a Path>,
    /// Stop after this epoch.
    pub stop_after: Option<u64>,
}

/// What `nnc run` writes besides the trace.
pub struct Extras<'a> {
    /// Loss curves (SVG).
    pub plot: Option<&'a Path>,
    /// The decision function over the input plane (PNG).
    pub boundary: Option<&'a Path>,
    /// No progress bar.
    pub quiet: bool,
    /// Report the training loop's and the whole run's time on standard error.
    pub timing: bool,
}

/// Runs `nnc run`.
pub fn run(
    spec: &Path,
    level: TraceLevel,
    output: Option<&Path>,
    format: TraceFormat,
    extras: Extras,
    keep: Keep,
) -> i32 {
    let started = std::time::Instant::now();
    let (mut program, source, data) = match load_all(spec) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let start = match start(&program, &source, &data, spec, &keep) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let checkpoints = keep.checkpoint.or(keep.resume).map(|f| Checkpoints { folder: f.to_path_buf() });
    let spec_file = spec.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let _ = ctrlc::set_handler(|| {
        if INTERRUPT.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED);
        }
    });
    let options = Options {
        start,
        checkpoint_every: checkpoints.as_ref().map(|_| keep.every),
        stop_after: keep.stop_after,
        interrupt: Some(&INTERRUPT),
    };
    if let Some(path) = extras.boundary
        && data.train.x.ncols() != 2
    {
        let message = format!(
            "cannot draw {}: a decision boundary needs a model with 2 inputs; this one has {}",
            path.display(),
            data.train.x.ncols()
        );
        eprint!("{}", render_without_source(Code::Missing, &message, Some("leave out --plot-boundary for this spec")));
        return exit::USAGE;
    }
    let level = match level {
        TraceLevel::Epoch => Level::Epoch,
        TraceLevel::Step => Level::Step,
        TraceLevel::Full => Level::Full,
    };
    let format = match format {
        TraceFormat::Text => nnc::trace::Format::Text,
        TraceFormat::Json => nnc::trace::Format::Json,
    };
    let out = match Output::open(output) {
        Ok(o) => o,
        Err(e) => return io_error(output, &e),
    };
    let mut checkpoint_error = None;
    let mut epochs = Vec::new();
    let mut trace = TraceWriter::new(out, format, nnc::runtime::threads::threads() > 1);
    let mut clock = LoopClock::default();
    let mut progress = Progress::new(program.train.epochs, extras.quiet);
    let training = Training::new(&program, &data, level, options);
    // The run's parameters hold the spec's initial values now: the program lets its copy
    // go (its fingerprints stay the same), so large initial weights are not held twice.
    program.release_initial_values();
    let prov = Provenance {
        program: &program,
        // The run hashed its examples when it was set up.
        run_sha256: training.as_ref().map_or(String::new(), |t| t.fingerprint().to_string()),
        spec_file: &spec_file,
        spec_text: &source.text,
        normalizer: data.normalizer.as_ref(),
        classes: data.classes.as_deref(),
    };
    let result = training.and_then(|t| {
        t.run(&mut |event| {
            if let (Event::Checkpoint(s), Some(c)) = (event, &checkpoints)
                && checkpoint_error.is_none()
                && let Err(e) = c.write(&prov, s)
            {
                checkpoint_error = Some(e);
                INTERRUPT.store(true, Ordering::SeqCst);
            }
            if extras.timing {
                clock.hear(event);
            }
            if let Event::Epoch { epoch, train, .. } = event {
                progress.epoch(*epoch, train.loss);
                if extras.plot.is_some() {
                    epochs.extend(records_of(event));
                }
            }
            trace.hear(event);
        })
    });
    let returned = std::time::Instant::now();
    progress.finish();
    let written = trace.finish();
    if extras.timing {
        eprintln!("{}", clock.report(returned, written.last_epoch, started.elapsed()));
    }
    if let Some(e) = written.error {
        written.out.abandon();
        return io_error(output, &e);
    }
    // A diverged or interrupted run keeps its trace, complete up to where it stopped.
    if let Err(e) = written.out.commit() {
        return io_error(output, &e);
    }
    if let (Some(e), Some(c)) = (checkpoint_error, &checkpoints) {
        return io_error(Some(&c.folder.join(crate::cli::saved::CHECKPOINT_FILE)), &e);
    }
    match result {
        Ok(outcome) if matches!(outcome.end, End::Interrupted { .. }) => {
            let End::Interrupted { epoch, step } = outcome.end else { return exit::OK };
            let resume = match &checkpoints {
                Some(c) => format!(
                    "; the checkpoint is in {}: continue with `nnc run {} --resume {}`",
                    c.folder.display(),
                    spec.display(),
                    c.folder.display()
                ),
                None => "; no checkpoint was written (add --checkpoint DIR to keep progress)".into(),
            };
            eprintln!("nnc: interrupted in epoch {epoch} after step {step}{resume}");
            INTERRUPTED
        }
        Ok(outcome) => {
            if let Some(path) = keep.save
                && let Err(e) = Output::write_whole(Some(path), &encode(&weights_file(&prov, &outcome.params)))
            {
                return io_error(Some(path), &e);
            }
            if let End::Paused { epoch } = outcome.end {
                let resume = checkpoints.as_ref().map_or(String::new(), |c| {
                    format!("; continue with `nnc run {} --resume {}`", spec.display(), c.folder.display())
                });
                eprintln!("nnc: stopped after epoch {epoch} as asked{resume}");
            }
            if let Some(path) = extras.plot {
                let name = program.graph.name.clone();
                let written = curves_svg(&[(name, epochs)])
                    .and_then(|svg| Output::write_whole(Some(path), svg.as_bytes()).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    return picture_error(path, &e);
                }
            }
            if let Some(path) = extras.boundary {
                let params: Vec<_> = outcome.params.to_f64().into_iter().map(|(_, p)| p).collect();
                let written = boundary_png(&program.graph, &params, &data)
                    .and_then(|png| Output::write_whole(Some(path), &png).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    return picture_error(path, &e);
                }
            }
            exit::OK
        }
        Err(TrainError::Diverged(d)) => {
            let lr = program.train.optimizer.to_string();
            let layer = d.layer.as_deref().map_or(String::new(), |l| format!(" in layer `{l}`"));
            let message = format!(
                "training diverged at epoch {}, step {}: `{}`{layer} became NaN or infinite",
                d.epoch, d.step, d.value
            );
            let help = format!("the optimiser is {lr}: try a smaller learning rate, or normalise the data");
            match d.span {
                Some(span) => {
                    let mut diags = Diagnostics::default();
                    diags.push(
                        Diagnostic::error(Code::Diverged, message, span, format!("`{}` comes from here", d.value))
                            .with_help(help),
                    );
                    report(&diags, &source);
                }
                None => eprint!("{}", render_without_source(Code::Diverged, &message, Some(&help))),
            }
            exit::DIVERGED
        }
        Err(TrainError::Resume(why)) => {
            eprint!("{}", render_without_source(Code::ForeignCheckpoint, &why, Some("start afresh without --resume")));
            exit::INVALID
        }
        Err(e) => {
            eprint!(
                "{}",
                render_without_source(
                    Code::Missing,
                    &e.to_string(),
                    Some("add a `data { x = [...], y = [...] }` block")
                )
            );
            exit::INVALID
        }
    }
}

/// Times the training loop from the events it hears: from the start record to the end
/// of the last epoch the run plans, or to the event that ends it sooner (early stopping,
/// divergence), or else to the moment training returned (an interrupted or paused run);
/// per-epoch validation included; loading, the final evaluation and writing files
/// excluded. The clock is read at those ends only: a read takes 35-40 ns here, up to a tenth
/// of a step of the tutorial's network. When the trace is written on a thread of its own,
/// the loop ends no sooner than that thread has written the last epoch's line.
#[derive(Default)]
struct LoopClock {
    /// When the loop started, and the examples and steps of one epoch.
    start: Option<(std::time::Instant, u64, u64)>,
    /// The last epoch the run plans.
    last: u64,
    /// Epochs finished.
    epochs: u64,
    /// When the loop ended, once it is known.
    end: Option<std::time::Instant>,
}

impl LoopClock {
    fn hear(&mut self, event: &Event) {
        match event {
            Event::Start(info) => {
                let (n, batch) = (info.examples as u64, info.batch_size.max(1) as u64);
                self.start = Some((std::time::Instant::now(), n, n.div_ceil(batch)));
                self.last = info.epochs;
            }
            Event::Epoch { .. } => self.epochs += 1,
            _ => {}
        }
        if event.ends_loop(self.last) {
            self.end = Some(std::time::Instant::now());
        }
    }

    /// One line: the loop's time and rates, the whole run's time, and the process's peak
    /// resident memory where the system tells it.
    /// `returned`: when training returned; `written`: when the last epoch's line was
    /// written, when a thread of its own wrote it (the loop ends no sooner).
    fn report(
        &self,
        returned: std::time::Instant,
        written: Option<std::time::Instant>,
        whole: std::time::Duration,
    ) -> String {
        let peak = peak_resident_mb().map_or(String::new(), |mb| format!(", peak RSS {mb:.1} MB"));
        let whole = format!("whole run {:.3} s{peak}", whole.as_secs_f64());
        let (Some((start, examples, steps)), true) = (self.start, self.epochs > 0) else {
            return format!("timing: no epoch finished; {whole}");
        };
        let end = self.end.unwrap_or(returned);
        // The lines the loop handed to the writer's thread are part of the loop.
        let end = written.map_or(end, |w| end.max(w));
        let secs = end.duration_since(start).as_secs_f64().max(1e-9);
        let (examples, steps) = (examples * self.epochs, steps * self.epochs);
        format!(
            "timing: training loop {secs:.6} s for {} epochs, {steps} steps, {examples} examples \
             ({:.0} examples/s, {:.0} steps/s); {whole}",
            self.epochs,
            examples as f64 / secs,
            steps as f64 / secs,
        )
    }
}

/// This process's peak resident memory in MB, from Linux's `/proc/self/status` (`VmHWM`:
/// the high-water mark of this program's own address space, so unlike `getrusage` it
/// does not count the image of a parent the process was forked from).
fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Where the parameters come from: a checkpoint (`--resume`), a weights file (`--weights`,
/// else the spec's `weights_from`), or the initialisers.
fn start(
    program: &nnc::Program,
    source: &nnc::SourceFile,
    data: &nnc::data::Splits,
    spec: &Path,
    keep: &Keep,
) -> Result<Start, i32> {
    if let Some(folder) = keep.resume {
        let snapshot = load_checkpoint(program, &program.fingerprint(data), folder)?;
        return Ok(Start::Resume(Box::new(snapshot)));
    }
    let (path, blame) = match (keep.weights, &program.train.weights_from) {
        (Some(p), _) => (p.to_path_buf(), Blame::Flag),
        (None, Some(f)) => {
            let folder = spec.parent().map(Path::to_path_buf).unwrap_or_default();
            (folder.join(&f.path), Blame::Spec(source, f.span))
        }
        (None, None) => return Ok(Start::Fresh),
    };
    let loaded = load_params(program, &path, blame)?;
    Ok(Start::Params { params: loaded.params, from: loaded.from })
}

fn picture_error(path: &Path, e: &str) -> i32 {
    eprint!("{}", render_without_source(Code::Io, &format!("cannot draw {}: {e}", path.display()), None));
    exit::IO
}

fn io_error(path: Option<&Path>, e: &std::io::Error) -> i32 {
    if path.is_none() && e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader of standard output stopped reading (`| head`): not an error.
        return exit::OK;
    }
    let what = path.map_or("standard output".to_string(), |p| p.display().to_string());
    eprint!(
        "{}",
        render_without_source(
            Code::Io,
            &format!("cannot write {what}: {e}"),
            Some("check that the folder exists and is writable")
        )
    );
    exit::IO
}
