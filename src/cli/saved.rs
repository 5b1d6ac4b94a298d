//! Weights and checkpoint files on disk: reading them with diagnostics, starting a run
//! from them, writing checkpoints, and `nnc inspect`.

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use nnc::diagnostics::{Code, Diagnostic, Diagnostics, render_without_source};
use nnc::persist::checkpoint;
use nnc::persist::tensors::{self, Container};
use nnc::persist::weights::{self, Provenance};
use nnc::syntax::ast::Span;
use nnc::train::snapshot::Snapshot;
use nnc::{Program, SourceFile};
use sha2::{Digest, Sha256};

use crate::cli::output::Output;
use crate::cli::{exit, report};

/// The file a checkpoint folder holds.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// Where a problem with a file is reported: at a spec's line, or on its own.
#[derive(Clone, Copy)]
pub enum Blame<'a> {
    /// The file was named on the command line.
    Flag,
    /// The file was named in the spec, here.
    Spec(&'a SourceFile, Span),
}

impl Blame<'_> {
    /// Prints an error about `path` and returns `code`'s exit code.
    pub fn report(self, code: Code, message: &str, help: &str, exit_code: i32) -> i32 {
        match self {
            Blame::Flag => eprint!("{}", render_without_source(code, message, Some(help))),
            Blame::Spec(source, span) => {
                let mut d = Diagnostics::default();
                d.push(Diagnostic::error(code, message, span, "this file").with_help(help));
                report(&d, source);
            }
        }
        exit_code
    }
}

/// Reads a safetensors file, never trusting it. Returns its contents and the sha256 of
/// its bytes.
pub fn read(path: &Path, blame: Blame) -> Result<(Container, String), i32> {
    let shown = path.display();
    let opened = File::open(path).and_then(|f| f.metadata().map(|m| (f, m.len())));
    let (file, len) = match opened {
        Ok(x) => x,
        Err(e) => {
            let resolved = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let help = format!("looked for {}", resolved.display());
            return Err(blame.report(Code::Io, &format!("cannot read {shown}: {e}"), &help, exit::IO));
        }
    };
    let mut hashing = HashingReader { inner: file, hash: Sha256::new() };
    match tensors::read(&mut hashing, len) {
        Ok(c) => Ok((c, hex(&hashing.hash.finalize()))),
        Err(e) => {
            let help = "write it again with `nnc run SPEC --save FILE`, or check that it is a safetensors file";
            Err(blame.report(
                Code::BadWeightsFile,
                &format!("{shown} is not a valid weights file: {e}"),
                help,
                exit::INVALID,
            ))
        }
    }
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parameters read from a weights file.
pub struct Loaded {
    /// The values, in graph order.
    pub params: Vec<ArrayD<f64>>,
    /// The file and its sha256, for the trace header.
    pub from: String,
    /// Everything the file holds.
    pub file: Container,
}

/// Saved parameters for `program`, in graph order, and a description for the trace.
pub fn load_params(program: &Program, path: &Path, blame: Blame) -> Result<Loaded, i32> {
    let (c, sha) = read(path, blame)?;
    match weights::params_named(&program.graph, &c, "") {
        Ok(params) => Ok(Loaded { params, from: format!("{} sha256 {sha}", path.display()), file: c }),
        Err(problems) => {
            let from = c.meta(weights::MODEL).map_or(String::new(), |m| format!(" (saved from model `{m}`)"));
            let message = format!("{}{from} does not fit model `{}`:{problems}", path.display(), program.graph.name);
            Err(blame.report(
                Code::WeightsMismatch,
                &message,
                "save the weights from this spec, or make the layers' names and sizes match the file's",
                exit::INVALID,
            ))
        }
    }
}

/// The snapshot in a checkpoint folder, checked to belong to this run.
pub fn load_checkpoint(program: &Program, fingerprint: &str, folder: &Path) -> Result<Snapshot, i32> {
    let path = folder.join(CHECKPOINT_FILE);
    let (c, _) = read(&path, Blame::Flag)?;
    let snapshot = checkpoint::snapshot(&c, &program.graph).map_err(|why| {
        Blame::Flag.report(
            Code::BadWeightsFile,
            &format!("{} is not a usable checkpoint: {why}", path.display()),
            "checkpoints are written by `nnc run SPEC --checkpoint DIR`",
            exit::INVALID,
        )
    })?;
    if snapshot.fingerprint != fingerprint {
        let theirs = c.meta(weights::SPEC_FILE).unwrap_or("an unknown spec");
        let model = c.meta(weights::MODEL).unwrap_or("?");
        let message = format!(
            "{} was written by a different run (model `{model}` from {theirs}); this is model `{}`, and its spec, \
             data or training settings differ",
            path.display(),
            program.graph.name
        );
        return Err(Blame::Flag.report(
            Code::ForeignCheckpoint,
            &message,
            "resume with the spec that wrote the checkpoint, or start afresh without --resume",
            exit::INVALID,
        ));
    }
    Ok(snapshot)
}

/// Writes checkpoints into a folder, atomically and durably.
pub struct Checkpoints {
    /// The folder.
    pub folder: PathBuf,
}

impl Checkpoints {
    /// Writes `snapshot`: the previous checkpoint stays until the new one is complete.
    /// Temporary files a killed run left behind are removed first.
    pub fn write(&self, prov: &Provenance, snapshot: &Snapshot) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.folder)?;
        let ours = format!(".{CHECKPOINT_FILE}.{}.tmp", std::process::id());
        for entry in std::fs::read_dir(&self.folder)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!(".{CHECKPOINT_FILE}.")) && name.ends_with(".tmp") && name != ours {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let bytes = tensors::encode(&checkpoint::checkpoint_file(prov, snapshot));
        Output::write_whole(Some(&self.folder.join(CHECKPOINT_FILE)), &bytes)
    }
}

/// Runs `nnc inspect`: what a weights or checkpoint file holds and which spec it belongs to.
pub fn inspect(path: &Path, spec_only: bool) -> i32 {
    let (c, sha) = match read(path, Blame::Flag) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if spec_only {
        return match c.meta(weights::SPEC) {
            Some(text) => {
                print!("{text}");
                exit::OK
            }
            None => Blame::Flag.report(
                Code::Missing,
                &format!("{} does not hold a spec", path.display()),
                "only files written by nnc carry their spec",
                exit::INVALID,
            ),
        };
    }
    let mut out = format!("file {}\nsha256 {sha}\n", path.display());
    for (key, value) in &c.metadata {
        if key != weights::SPEC && key != checkpoint::STATE {
            out.push_str(&format!("{} {value}\n", key.strip_prefix("nnc.").unwrap_or(key)));
        }
    }
    if let Some(state) = c.meta(checkpoint::STATE) {
        out.push_str(&format!("state {state}\n"));
    }
    let total: usize = c.tensors.iter().map(|t| t.dims.iter().product::<usize>()).sum();
    out.push_str(&format!("tensors {} ({total} values)\n", c.tensors.len()));
    for t in &c.tensors {
        out.push_str(&format!("  {} {} {:?}\n", t.name, t.values.dtype(), t.dims));
    }
    if let Some(spec) = c.meta(weights::SPEC) {
        out.push_str(&format!("spec {}\n", c.meta(weights::SPEC_FILE).unwrap_or("")));
        for line in spec.lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    print!("{out}");
    exit::OK
}
