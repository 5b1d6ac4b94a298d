//! The training step allocates nothing after the first batch: buffers are planned once
//! per batch size. Measured with a counting global allocator, read at every step record:
//! between two steps of an epoch nothing is allocated, except in the first epoch's short
//! last batch (a new batch size, whose buffers are made once). The models cover dropout,
//! every optimiser family, momentum, clipping, schedules, metrics and validation. The one
//! exception is the `gemm` crate's own per-call packing buffers for large products,
//! checked to stay a fixed few per step.
//!
//! One test function only: another test running beside it would allocate concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nnc::train::events::{Event, Level};

/// Counts every allocation and reallocation.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A spec over `n` generated examples of `features`, a hidden layer of `width`, trained
/// for 2 epochs in batches of `batch`.
fn spec(n: usize, features: usize, width: usize, batch: usize, optimizer: &str, extra: &str) -> String {
    format!(
        "model m {{
            input {features}
            dense {width} as h {{ activation = relu }}
            dropout 0.2
            dense 3 {{ activation = softmax }}
            loss categorical_crossentropy
        }}
        data {{
            generate = blobs(n = {n}, features = {features}, classes = 3, spread = 1.0)
            validation = 0.25
        }}
        train {{
            optimizer = {optimizer}
            epochs = 2
            batch_size = {batch}
            metrics = [accuracy]
            {extra}
        }}"
    )
}

/// For every step after the first of its epoch: (epoch, step, allocations since the
/// previous step's record).
fn allocations_per_step(text: &str) -> Vec<(u64, u64, usize)> {
    let (program, _) = nnc::compile(text, nnc::Syntax::Nn).unwrap_or_else(|d| panic!("{d:?}\n{text}"));
    let data = nnc::data::prepare(&program, &mut |_: &str| Err(String::new())).unwrap();
    // Filled inside the sink without allocating: the capacity is reserved up front.
    let mut marks: Vec<(u64, u64, usize)> = Vec::with_capacity(10_000);
    nnc::train::train(&program, &data, Level::Step, &mut |e| {
        if let Event::Step { epoch, step, .. } = e
            && marks.len() < marks.capacity()
        {
            marks.push((*epoch, *step, ALLOCATIONS.load(Ordering::Relaxed)));
        }
    })
    .unwrap();
    marks.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| (w[1].0, w[1].1, w[1].2 - w[0].2)).collect()
}

#[test]
fn a_training_step_allocates_nothing_after_the_first_batch() {
    let cases = [
        ("sgd(lr = 0.1)", ""),
        ("sgd(lr = 0.1, momentum = 0.9, nesterov = true)", "clip_norm = 1.0"),
        ("adam(lr = 0.01)", "schedule = cosine(epochs = 2)"),
        ("adamw(lr = 0.01, weight_decay = 0.01)", ""),
        ("rmsprop(lr = 0.01, momentum = 0.5)", ""),
        ("adagrad(lr = 0.1)", ""),
    ];
    for (optimizer, extra) in cases {
        // 400 examples, a quarter held out: 300 train, 38 steps an epoch, the last of 4.
        let steps = allocations_per_step(&spec(400, 2, 16, 8, optimizer, extra));
        assert_eq!(steps.len(), 2 * 37, "{optimizer}: steps recorded");
        let first_short = 38;
        let allocating: Vec<_> = steps.iter().filter(|&&(_, step, n)| n > 0 && step != first_short).collect();
        assert!(allocating.is_empty(), "{optimizer} {extra}: (epoch, step, allocations) {allocating:?}");
        let short = steps.iter().find(|s| s.1 == first_short).map_or(0, |s| s.2);
        assert!(short > 0, "{optimizer}: the short batch's buffers were not counted, so the counter is off");
    }
    // Products large enough for the threaded `gemm` kernel (64·64·64 multiply-adds; two
    // per step here: the first layer's forward and weight-gradient products). `gemm` has
    // no workspace argument: it allocates its packing buffer and a flag vector on each
    // call (and one vector per extra thread). nnc adds nothing: every step makes the same
    // small number, at most 3 per product. 512 examples, 384 train in 6 steps of 64.
    let steps = allocations_per_step(&spec(512, 64, 64, 64, "sgd(lr = 0.01)", ""));
    assert_eq!(steps.len(), 2 * 5);
    let first = steps[0].2;
    assert!(
        first <= 2 * 3 && steps.iter().all(|s| s.2 == first),
        "gemm-sized steps: (epoch, step, allocations) {steps:?}"
    );
}
