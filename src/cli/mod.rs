//! The command line: one module per verb. The only layer that touches the file system,
//! the clock and the terminal.

mod check;
mod diff;
mod explain;
mod export;
mod format;
mod gradcheck;
mod init;
mod ir;
mod output;
mod picture;
mod predict;
mod profile;
mod progress;
mod run;
mod saved;
mod trace_writer;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use nnc::data::table::MAX_DATA_BYTES;
use nnc::data::{FileBytes, Splits};
use nnc::diagnostics::{Code, Diagnostics, Style, render, render_without_source};
use nnc::{Program, SourceFile, Syntax};

/// Exit codes, the same for every verb.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The spec or its data is invalid.
    pub const INVALID: i32 = 1;
    /// The command line asks for something that does not apply.
    pub const USAGE: i32 = 2;
    /// Training produced NaN or infinity.
    pub const DIVERGED: i32 = 3;
    /// A file could not be read or written.
    pub const IO: i32 = 4;
}

/// nnc: a declarative neural-network compiler.
#[derive(Parser, Debug)]
#[command(
    name = "nnc",
    version,
    about,
    after_help = "The language reference is docs/language.md; diagnostics are listed in docs/errors.md."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a trace is written.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TraceFormat {
    /// One text record a line.
    Text,
    /// One JSON object a line.
    Json,
}

/// The two forms of a spec.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SpecSyntax {
    /// The `.nn` language.
    Nn,
    /// TOML.
    Toml,
}

/// The starter specs of `nnc init`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Template {
    /// Two-class classification of generated data.
    Classifier,
    /// Regression of generated data.
    Regression,
    /// The founding tutorial's 2-3-1 network.
    Tutorial,
}

/// How `nnc graph` draws.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PictureFormat {
    /// An SVG picture.
    Svg,
    /// Graphviz DOT source.
    Dot,
}

/// How `nnc ir` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum IrFormat {
    /// Readable text.
    Text,
    /// Graphviz DOT source.
    Dot,
}

/// How `nnc explain` writes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExplainFormat {
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
}

/// How much a trace records.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TraceLevel {
    /// One record per epoch.
    Epoch,
    /// Also one record per step.
    Step,
    /// Also every forward value, gradient and update of every step.
    Full,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compile a spec and train it, writing a deterministic trace.
    #[command(
        after_help = "Examples:\n  nnc run specs/seed_forward.nn --trace full\n  nnc run specs/xor.nn -o xor.trace"
    )]
    Run {
        /// The spec (`.nn`, or `.toml` for the TOML form).
        spec: PathBuf,
        /// How much the trace records.
        #[arg(long, value_enum, default_value = "epoch")]
        trace: TraceLevel,
        /// Write the trace to this file (atomically) instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Text records or JSON lines.
        #[arg(long, value_enum, default_value = "text")]
        format: TraceFormat,
        /// Draw the loss (and metric) curves to this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Draw the learned decision function of a two-input model to this PNG file.
        #[arg(long)]
        plot_boundary: Option<PathBuf>,
        /// Show no progress bar.
        #[arg(short, long)]
        quiet: bool,
        /// Print how long the training loop and the whole run took (standard error; the
        /// trace stays deterministic).
        #[arg(long)]
        timing: bool,
        /// Save the trained weights to this safetensors file.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// Start from the weights in this safetensors file (overrides the spec's `weights_from`).
        #[arg(long, value_name = "FILE", conflicts_with = "resume")]
        weights: Option<PathBuf>,
        /// Write a checkpoint into this folder (replacing the previous one atomically).
        #[arg(long, value_name = "DIR")]
        checkpoint: Option<PathBuf>,
        /// Checkpoint every N epochs.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        checkpoint_every: u64,
        /// Continue the run whose checkpoint is in this folder (and keep checkpointing there).
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
        /// Stop after this epoch (writing a checkpoint when checkpointing), to resume later.
        #[arg(long, value_name = "EPOCH", value_parser = clap::value_parser!(u64).range(1..))]
        stop_after: Option<u64>,
    },
    /// Show what a weights or checkpoint file holds and which spec it belongs to.
    #[command(
        after_help = "Examples:\n  nnc inspect iris.safetensors\n  nnc inspect iris.safetensors --spec > iris.nn"
    )]
    Inspect {
        /// The safetensors file.
        file: PathBuf,
        /// Print only the spec it was trained from.
        #[arg(long)]
        spec: bool,
    },
    /// Predict with trained weights: one CSV row per input row.
    #[command(
        after_help = "Example:\n  nnc run specs/iris.nn --save iris.safetensors\n  nnc predict specs/iris.nn --weights iris.safetensors --input specs/data/iris.csv -o predictions.csv"
    )]
    Predict {
        /// The spec.
        spec: PathBuf,
        /// The trained weights.
        #[arg(long)]
        weights: PathBuf,
        /// A CSV file with a header row holding the model's feature columns.
        #[arg(long)]
        input: PathBuf,
        /// Write the predictions here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Report loss and metrics of trained weights on the spec's data or on a CSV file.
    #[command(
        after_help = "Examples:\n  nnc eval specs/iris.nn --weights iris.safetensors\n  nnc eval specs/iris.nn --weights iris.safetensors --input new.csv"
    )]
    Eval {
        /// The spec.
        spec: PathBuf,
        /// The trained weights.
        #[arg(long)]
        weights: PathBuf,
        /// A CSV file laid out like the spec's data file (features and target).
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Time a training step op by op (forward, backward, update), sorted by cost.
    #[command(
        after_help = "Example:\n  nnc profile benches/specs/w3.nn --steps 20\n\nNNC_THREADS sets the threads of large matrix products (default: every core)."
    )]
    Profile {
        /// The spec.
        spec: PathBuf,
        /// Steps to time (after one untimed warm-up step).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        steps: u64,
    },
    /// Export the inference graph, with its input normalisation, as an ONNX model.
    #[command(after_help = "Example:\n  nnc export specs/iris.nn --weights iris.safetensors -o iris.onnx")]
    Export {
        /// The spec.
        spec: PathBuf,
        /// The trained weights.
        #[arg(long)]
        weights: PathBuf,
        /// The ONNX file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Overlay the loss curves of several traces in one SVG.
    #[command(after_help = "Example:\n  nnc plot a.trace b.trace -o compare.svg")]
    Plot {
        /// Traces (text or JSON lines).
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// The SVG file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Draw the network's layers (SVG, or Graphviz DOT).
    #[command(
        after_help = "Examples:\n  nnc graph specs/iris.nn -o iris.svg\n  nnc graph specs/iris.nn --format dot | dot -Tpng > iris.png"
    )]
    Graph {
        /// The spec.
        spec: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// SVG or DOT.
        #[arg(long, value_enum, default_value = "svg")]
        format: PictureFormat,
    },
    /// Show the first training step of a small network as the tutorial's hand calculation.
    #[command(
        after_help = "Example:\n  nnc explain specs/seed_forward.nn\n  nnc explain specs/linear_3x.nn --format markdown > step.md"
    )]
    Explain {
        /// The spec.
        spec: PathBuf,
        /// Plain text or Markdown.
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// Rewrite specs in the canonical layout (files, or folders of specs).
    #[command(after_help = "Examples:\n  nnc fmt specs/xor.nn\n  nnc fmt --check specs/")]
    Fmt {
        /// Specs or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing; show a diff and exit 1 when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Convert a spec between the `.nn` and TOML forms.
    #[command(after_help = "Example:\n  nnc convert specs/xor.nn --to toml -o xor.toml")]
    Convert {
        /// The spec.
        spec: PathBuf,
        /// The form to write.
        #[arg(long, value_enum)]
        to: SpecSyntax,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write a commented starter spec, NAME.nn, that runs as it is.
    #[command(after_help = "Example:\n  nnc init --template classifier moons\n  nnc run moons.nn")]
    Init {
        /// The model's name (also the file name).
        name: String,
        /// Which starter.
        #[arg(long, value_enum, default_value = "classifier")]
        template: Template,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  nnc completions bash > ~/.local/share/bash-completion/completions/nnc")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Compare two traces number by number; exit 1 when they differ beyond tolerance.
    #[command(after_help = "Example:\n  nnc run specs/xor.nn -o a.trace\n  nnc diff a.trace b.trace --rtol 1e-4")]
    Diff {
        /// The first trace (text or JSON lines).
        a: PathBuf,
        /// The second trace.
        b: PathBuf,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-5)]
        rtol: f64,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-8)]
        atol: f64,
    },
    /// Check a spec and print a summary of its layers, shapes and parameters.
    #[command(after_help = "Example:\n  nnc check specs/xor.nn")]
    Check {
        /// The spec.
        spec: PathBuf,
    },
    /// Compare backprop's gradients with central finite differences in f64.
    #[command(
        after_help = "Exits 1 when a parameter's worst error reaches the tolerance (1e-6).\n\nExample:\n  nnc gradcheck specs/xor.nn"
    )]
    Gradcheck {
        /// The spec.
        spec: PathBuf,
    },
    /// Print the spec's IR graph.
    #[command(after_help = "Examples:\n  nnc ir specs/seed_forward.nn\n  nnc ir --grad specs/seed_forward.nn")]
    Ir {
        /// The spec.
        spec: PathBuf,
        /// Include the backward (gradient) part.
        #[arg(long)]
        grad: bool,
        /// Readable text or Graphviz DOT.
        #[arg(long, value_enum, default_value = "text")]
        format: IrFormat,
    },
}

/// Runs one command and returns its exit code.
pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run {
            spec,
            trace,
            output,
            format,
            plot,
            plot_boundary,
            quiet,
            timing,
            save,
            weights,
            checkpoint,
            checkpoint_every,
            resume,
            stop_after,
        } => {
            let extras = run::Extras { plot: plot.as_deref(), boundary: plot_boundary.as_deref(), quiet, timing };
            let keep = run::Keep {
                save: save.as_deref(),
                weights: weights.as_deref(),
                checkpoint: checkpoint.as_deref(),
                every: checkpoint_every,
                resume: resume.as_deref(),
                stop_after,
            };
            run::run(&spec, trace, output.as_deref(), format, extras, keep)
        }
        Command::Inspect { file, spec } => saved::inspect(&file, spec),
        Command::Predict { spec, weights, input, output } => {
            predict::predict(&spec, &weights, &input, output.as_deref())
        }
        Command::Eval { spec, weights, input } => predict::eval(&spec, &weights, input.as_deref()),
        Command::Export { spec, weights, output } => export::export(&spec, &weights, &output),
        Command::Profile { spec, steps } => profile::profile(&spec, steps as usize),
        Command::Init { name, template } => init::init(template, &name),
        Command::Fmt { paths, check } => format::fmt(&paths, check),
        Command::Convert { spec, to, output } => {
            let to = match to {
                SpecSyntax::Nn => Syntax::Nn,
                SpecSyntax::Toml => Syntax::Toml,
            };
            format::convert(&spec, to, output.as_deref())
        }
        Command::Completions { shell } => init::completions(shell),
        Command::Plot { traces, output } => picture::plot(&traces, &output),
        Command::Graph { spec, output, format } => {
            picture::graph(&spec, output.as_deref(), matches!(format, PictureFormat::Dot))
        }
        Command::Diff { a, b, rtol, atol } => diff::diff(&a, &b, rtol, atol),
        Command::Explain { spec, format } => explain::explain(&spec, matches!(format, ExplainFormat::Markdown)),
        Command::Check { spec } => check::check(&spec),
        Command::Ir { spec, grad, format } => ir::ir(&spec, grad, matches!(format, IrFormat::Dot)),
        Command::Gradcheck { spec } => gradcheck::gradcheck(&spec),
    }
}

/// The report style for standard error: colours on a terminal unless NO_COLOR is set.
pub fn style() -> Style {
    if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Style::Fancy
    } else {
        Style::Plain { width: 100 }
    }
}

/// Prints diagnostics to standard error.
pub fn report(diags: &Diagnostics, source: &SourceFile) {
    if !diags.is_empty() {
        eprint!("{}", render(diags, source, style()));
    }
}

/// Reads and compiles a spec, printing diagnostics. Returns the program and its source,
/// or the exit code to stop with.
pub fn load(path: &std::path::Path) -> Result<(Program, SourceFile), i32> {
    let name = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                eprint!(
                    "{}",
                    render_without_source(
                        Code::Syntax,
                        &format!("{name} is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
                        Some("save the spec as UTF-8")
                    )
                );
                return Err(exit::INVALID);
            }
        },
        Err(e) => {
            let resolved = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            eprint!(
                "{}",
                render_without_source(
                    Code::Io,
                    &format!("cannot read {name}: {e}"),
                    Some(&format!("looked for {}", resolved.display()))
                )
            );
            return Err(exit::IO);
        }
    };
    let source = SourceFile { name: name.clone(), text };
    match nnc::compile(&source.text, Syntax::from_path(&name)) {
        Ok((mut program, warnings)) => {
            report(&warnings, &source);
            let folder = path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            let mut io_failed = false;
            let resolved =
                nnc::lower::files::resolve(&mut program, &mut |p: &str| read_named(&folder, p, &mut io_failed));
            if let Err(diags) = resolved {
                report(&diags, &source);
                return Err(if io_failed { exit::IO } else { exit::INVALID });
            }
            Ok((program, source))
        }
        Err(diags) => {
            report(&diags, &source);
            Err(exit::INVALID)
        }
    }
}

/// Reads a file a spec names, relative to the spec's folder; sets `io_failed` when the
/// file system refused (rather than the file being too large).
fn read_named(folder: &std::path::Path, path: &str, io_failed: &mut bool) -> Result<FileBytes, String> {
    let full = folder.join(path);
    let shown = std::path::absolute(&full).unwrap_or_else(|_| full.clone());
    let mut fail = |e: std::io::Error| {
        *io_failed = true;
        format!("cannot read {}: {e}", shown.display())
    };
    let size = std::fs::metadata(&full).map_err(&mut fail)?;
    if size.len() > MAX_DATA_BYTES as u64 {
        return Err(format!(
            "{} is {} bytes; nnc reads data files of at most {MAX_DATA_BYTES}",
            shown.display(),
            size.len()
        ));
    }
    FileBytes::read(&full).map_err(fail)
}

/// Loads the program's data, reading files relative to the spec's folder, printing
/// diagnostics. Returns the splits, or the exit code to stop with.
pub fn load_data(program: &Program, spec: &std::path::Path, source: &SourceFile) -> Result<Splits, i32> {
    let folder = spec.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let mut io_failed = false;
    let result = nnc::data::prepare(program, &mut |path: &str| read_named(&folder, path, &mut io_failed));
    match result {
        Ok(splits) => Ok(splits),
        Err(diags) => {
            report(&diags, source);
            Err(if io_failed { exit::IO } else { exit::INVALID })
        }
    }
}

/// Reads and compiles a spec and loads its data, printing diagnostics.
pub fn load_all(path: &std::path::Path) -> Result<(Program, SourceFile, Splits), i32> {
    let (program, source) = load(path)?;
    let data = load_data(&program, path, &source)?;
    Ok((program, source, data))
}
