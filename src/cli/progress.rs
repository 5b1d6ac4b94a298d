//! The progress bar of long runs: epoch, loss and time left, on standard error, only when
//! it is a terminal and the run has lasted a second; never in traces or pipes.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs shorter than this show no bar.
const DELAY: Duration = Duration::from_secs(1);

/// A progress bar that appears after `DELAY` on a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    epochs: u64,
    enabled: bool,
}

impl Progress {
    /// A bar for `epochs` epochs, off when `quiet` or when standard error is not a terminal.
    pub fn new(epochs: u64, quiet: bool) -> Progress {
        Progress { bar: None, started: Instant::now(), epochs, enabled: !quiet && std::io::stderr().is_terminal() }
    }

    /// Reports the end of an epoch.
    pub fn epoch(&mut self, epoch: u64, loss: f64) {
        if !self.enabled || self.started.elapsed() < DELAY {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(self.epochs), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{bar:40} epoch {pos}/{len}  loss {msg}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        bar.set_position(epoch);
        bar.set_message(nnc::trace::float::fmt_float(loss));
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
