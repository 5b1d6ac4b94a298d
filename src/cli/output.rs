//! Output files that are never left half-written: text goes to a temporary file in the
//! same folder, which is written, synced to disk, renamed over the target, and the folder
//! synced, so that a crash leaves either the old file or the new one, never a mix.
//! A target that is not a regular file (`/dev/null`, a pipe, a terminal) is written in
//! place: renaming over it would replace the device with a plain file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where a command's output goes.
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// A device or pipe, written in place.
    Special(BufWriter<File>),
    /// A temporary file, renamed to `target` by `commit`.
    File {
        /// The file being written.
        writer: BufWriter<File>,
        /// Its temporary path.
        temp: PathBuf,
        /// Where it ends up.
        target: PathBuf,
    },
}

impl Output {
    /// Standard output, a device or pipe as it is, or a temporary file next to `path`
    /// (next to the file a symbolic link points at, so the link survives).
    pub fn open(path: Option<&Path>) -> io::Result<Output> {
        let Some(target) = path else { return Ok(Output::Stdout(BufWriter::new(io::stdout()))) };
        let target = match std::fs::symlink_metadata(target) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(target)?,
            _ => target.to_path_buf(),
        };
        if std::fs::metadata(&target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = std::fs::OpenOptions::new().write(true).open(&target)?;
            return Ok(Output::Special(BufWriter::new(file)));
        }
        let file_name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the output path names no file"))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let file = File::create(&temp)?;
        Ok(Output::File { writer: BufWriter::new(file), temp, target })
    }

    /// Writes text.
    pub fn write(&mut self, text: &str) -> io::Result<()> {
        self.write_bytes(text.as_bytes())
    }

    /// Writes bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.write_all(bytes),
            Output::Special(w) => w.write_all(bytes),
            Output::File { writer, .. } => writer.write_all(bytes),
        }
    }

    /// Writes a whole file (or standard output when `path` is `None`) at once.
    pub fn write_whole(path: Option<&Path>, bytes: &[u8]) -> io::Result<()> {
        let mut out = Output::open(path)?;
        match out.write_bytes(bytes) {
            Ok(()) => out.commit(),
            Err(e) => {
                out.abandon();
                Err(e)
            }
        }
    }

    /// Flushes everything and, for a file, moves it into place.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush(),
            Output::Special(mut w) => w.flush(),
            Output::File { writer, temp, target } => {
                let result = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|f| f.sync_all())
                    .and_then(|_| std::fs::rename(&temp, &target))
                    .and_then(|_| sync_folder(&target));
                if result.is_err() {
                    let _ = std::fs::remove_file(&temp);
                }
                result
            }
        }
    }

    /// Drops the output; a temporary file is removed.
    pub fn abandon(self) {
        if let Output::File { temp, writer, .. } = self {
            drop(writer);
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// Makes a rename into the folder of `path` durable (fsync of the folder).
fn sync_folder(path: &Path) -> io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}
