//! The trace as `nnc run` writes it: formatted and written on a thread of its own when the
//! run may use more than one, else in the training loop. The same bytes either way, in
//! the same order. Formatting and writing an epoch's line took about a quarter of a step
//! of the tutorial's network; on its own thread it overlaps the next steps.
//!
//! The loop hands its epoch and step records over as values (an epoch's scores are
//! copied), any other event as its finished text, in batches. A batch goes when it is
//! full; when the loop ends, so that the loop's time includes writing its lines; and when
//! the writer has waited `PATIENCE` for one, so that a slow run's lines reach the output
//! (whose 8 KiB buffer holds them as before) about as soon as they did when the loop
//! wrote them. The batches' queue is bounded: a loop that runs ahead of its output waits
//! for it, as it does when writing in the loop. Emptied batches come back to be filled
//! again: no allocation per batch.

use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nnc::trace::{Format, Writer};
use nnc::train::events::{Event, Scores};

use crate::cli::output::Output;

/// Records in a full batch.
const BATCH: usize = 1024;
/// Batches the queue holds before the loop waits for the writer.
const QUEUED: usize = 4;
/// How long the writer waits for a full batch before it asks for what there is.
const PATIENCE: Duration = Duration::from_millis(100);

/// A record on its way to the writer's thread.
enum Record {
    /// An epoch's record, its scores copied.
    Epoch { epoch: u64, lr: f64, train: Scores, validation: Option<Scores> },
    /// A step's record.
    Step { epoch: u64, step: u64, loss: f64 },
    /// Any other event, already formatted.
    Text(String),
}

/// What writing the trace came to.
pub struct Written {
    /// The output, for `commit` or `abandon`.
    pub out: Output,
    /// The first write that failed (nothing was written after it).
    pub error: Option<io::Error>,
    /// When the last epoch's line had been written out of the loop's way (on the writer's
    /// thread); `None` when the loop wrote its own lines.
    pub last_epoch: Option<Instant>,
}

/// Writes a run's trace, from the events of its loop.
pub struct TraceWriter(Mode);

/// Where the lines are formatted and written.
enum Mode {
    /// In the loop.
    Inline { writer: Writer, line: String, out: Output, error: Option<io::Error> },
    /// On a thread of its own.
    Threaded {
        /// Formats the events that are not sent as values.
        writer: Writer,
        /// The records not sent yet.
        batch: Vec<Record>,
        /// The last epoch the run plans (from its start record).
        last: u64,
        /// The queue to the writer's thread.
        queue: SyncSender<Vec<Record>>,
        /// The batches the writer has emptied, for the loop to fill again.
        emptied: Receiver<Vec<Record>>,
        /// Raised by the writer when it has waited `PATIENCE` for a batch.
        wanted: Arc<AtomicBool>,
        /// The writer's thread.
        thread: JoinHandle<Written>,
    },
}

impl TraceWriter {
    /// A writer of `format` into `out`, on a thread of its own when `threaded` (in the
    /// loop when the system cannot start a thread).
    pub fn new(out: Output, format: Format, threaded: bool) -> TraceWriter {
        if !threaded {
            return TraceWriter(Mode::Inline { writer: Writer::new(format), line: String::new(), out, error: None });
        }
        let (queue, batches) = mpsc::sync_channel::<Vec<Record>>(QUEUED);
        let (give_back, emptied) = mpsc::channel();
        let wanted = Arc::new(AtomicBool::new(false));
        let asks = Arc::clone(&wanted);
        // The output goes to the thread once it has started, so that the loop keeps it
        // (and writes in the loop) if the system cannot start one.
        let (hand_over, handed) = mpsc::channel::<Output>();
        let writes = move || {
            let out = handed.recv().expect("the loop hands the output over once the thread has started");
            let mut written = Written { out, error: None, last_epoch: None };
            let (mut writer, mut line) = (Writer::new(format), String::new());
            loop {
                let mut batch = match batches.recv_timeout(PATIENCE) {
                    Ok(batch) => batch,
                    Err(RecvTimeoutError::Timeout) => {
                        asks.store(true, Ordering::Relaxed);
                        match batches.recv() {
                            Ok(batch) => batch,
                            Err(_) => break,
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                for record in &batch {
                    put(&mut written.out, &mut written.error, record.text(&mut writer, &mut line));
                }
                if batch.iter().any(|r| matches!(r, Record::Epoch { .. })) {
                    written.last_epoch = Some(Instant::now());
                }
                batch.clear();
                // The loop may have finished; then the batch is dropped here.
                let _ = give_back.send(batch);
            }
            written
        };
        let Ok(thread) = std::thread::Builder::new().name("nnc-trace".into()).spawn(writes) else {
            return TraceWriter::new(out, format, false);
        };
        // The thread waits for it first, so it is there to receive it.
        let _ = hand_over.send(out);
        TraceWriter(Mode::Threaded {
            writer: Writer::new(format),
            batch: Vec::with_capacity(BATCH),
            last: u64::MAX,
            queue,
            emptied,
            wanted,
            thread,
        })
    }

    /// Writes (or hands over) the lines of one event.
    pub fn hear(&mut self, event: &Event) {
        match &mut self.0 {
            Mode::Inline { writer, line, out, error } => {
                line.clear();
                writer.write(line, event);
                put(out, error, line);
            }
            Mode::Threaded { writer, batch, last, queue, emptied, wanted, .. } => {
                batch.push(match event {
                    Event::Epoch { epoch, lr, train, validation } => Record::Epoch {
                        epoch: *epoch,
                        lr: *lr,
                        train: (*train).clone(),
                        validation: validation.cloned(),
                    },
                    Event::Step { epoch, step, loss } => Record::Step { epoch: *epoch, step: *step, loss: *loss },
                    other => {
                        if let Event::Start(info) = other {
                            *last = info.epochs;
                        }
                        let mut text = String::new();
                        writer.write(&mut text, other);
                        Record::Text(text)
                    }
                });
                // The loop's end sends the batch at once: the loop's time includes writing
                // its lines.
                if event.ends_loop(*last) || batch.len() >= BATCH || wanted.load(Ordering::Relaxed) {
                    wanted.store(false, Ordering::Relaxed);
                    // A writer that is gone has failed; `finish` reports it.
                    let next = emptied.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    let _ = queue.send(mem::replace(batch, next));
                }
            }
        }
    }

    /// Writes what is left and hands the output back.
    pub fn finish(self) -> Written {
        match self.0 {
            Mode::Inline { out, error, .. } => Written { out, error, last_epoch: None },
            Mode::Threaded { batch, queue, thread, .. } => {
                let _ = queue.send(batch);
                drop(queue);
                thread.join().expect("writing the trace does not panic")
            }
        }
    }
}

impl Record {
    /// The record's lines: text as it is, an epoch's or a step's record formatted into `line`.
    fn text<'a>(&'a self, writer: &mut Writer, line: &'a mut String) -> &'a str {
        let event = match self {
            Record::Text(text) => return text,
            Record::Epoch { epoch, lr, train, validation } => {
                Event::Epoch { epoch: *epoch, lr: *lr, train, validation: validation.as_ref() }
            }
            Record::Step { epoch, step, loss } => Event::Step { epoch: *epoch, step: *step, loss: *loss },
        };
        line.clear();
        writer.write(line, &event);
        line
    }
}

/// Writes `text`, unless a write has failed already.
fn put(out: &mut Output, error: &mut Option<io::Error>, text: &str) {
    if error.is_none()
        && let Err(e) = out.write(text)
    {
        *error = Some(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnc::train::events::{Level, RunInfo};

    /// A run's start record planning `epochs` epochs.
    fn start(epochs: u64) -> RunInfo {
        RunInfo {
            model: "m".into(),
            fingerprint: "f".into(),
            version: "v".into(),
            seed: 0,
            dtype: "f32".into(),
            gradient: "backprop".into(),
            optimizer: "sgd".into(),
            epochs,
            batch_size: 1,
            examples: 1,
            params: 1,
            validation_examples: 0,
            schedule: "constant".into(),
            clip_norm: "none".into(),
            early_stopping: "none".into(),
            level: Level::Epoch,
            start: None,
        }
    }

    /// The records the loop holds, not yet sent to the writer.
    fn held(t: &TraceWriter) -> usize {
        match &t.0 {
            Mode::Threaded { batch, .. } => batch.len(),
            Mode::Inline { .. } => 0,
        }
    }

    /// A slow run's records go to the writer once it has waited `PATIENCE` for a full
    /// batch, and the loop's last epoch sends what is left at once; every line arrives, in
    /// order.
    #[test]
    fn a_partial_batch_goes_when_the_writer_asks_and_when_the_loop_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let mut trace = TraceWriter::new(Output::open(Some(&path)).unwrap(), Format::Text, true);
        let scores = Scores { loss: 0.5, metrics: Vec::new() };
        let epoch = |epoch: u64| Event::Epoch { epoch, lr: 0.1, train: &scores, validation: None };
        let info = start(100);
        trace.hear(&Event::Start(&info));
        let mut e = 0;
        let waited = std::time::Instant::now();
        loop {
            e += 1;
            trace.hear(&epoch(e));
            if held(&trace) == 0 {
                break;
            }
            assert!(waited.elapsed() < PATIENCE * 100, "the writer never asked for a partial batch");
            std::thread::sleep(PATIENCE / 4);
        }
        assert!(e < 100);
        for e in e + 1..100 {
            trace.hear(&epoch(e));
        }
        assert!(held(&trace) > 0);
        trace.hear(&epoch(100));
        assert_eq!(held(&trace), 0, "the last planned epoch sends the batch");
        let written = trace.finish();
        assert!(written.error.is_none() && written.last_epoch.is_some());
        written.out.commit().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let epochs: Vec<&str> = text.lines().filter(|l| l.starts_with("epoch ")).collect();
        assert_eq!(epochs.len(), 100);
        assert!(epochs.iter().enumerate().all(|(i, l)| l.starts_with(&format!("epoch {} lr 0.1 loss 0.5", i + 1))));
    }
}
