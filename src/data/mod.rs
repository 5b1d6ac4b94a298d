//! Training data: what a `data` block asks for (`spec`), loading it from inline values,
//! CSV files (`table`) or generators (`generate`), preparing the training and validation
//! sets (`prepare`), and the order in which minibatches visit them (a seeded shuffle per
//! epoch). Files are read through a loader the caller passes in: this module never
//! touches the file system.

pub mod bytes;
pub mod generate;
pub mod npy;
pub mod prepare;
pub mod spec;
pub mod table;

pub use bytes::FileBytes;
pub use prepare::{Loader, Splits, prepare};
pub use spec::DataSpec;

use ndarray::{Array2, Axis};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::runtime::Scalar;

/// Examples: one row of `x` (features) and `y` (targets) per example.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, `[examples, inputs]`.
    pub x: Features,
    /// Targets, `[examples, outputs]`.
    pub y: Array2<f64>,
}

/// Feature values in the precision of their source: a float32 `.npy` file stays f32 (half
/// the memory of widening it), everything else, and anything normalised, is f64. Widening
/// f32 to f64 is exact, so every reader sees the same f64 values either way.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    /// Double precision.
    F64(Array2<f64>),
    /// Single precision, as read from a float32 file.
    F32(Array2<f32>),
}

impl Features {
    /// The number of examples.
    pub fn nrows(&self) -> usize {
        match self {
            Features::F64(a) => a.nrows(),
            Features::F32(a) => a.nrows(),
        }
    }

    /// The number of features per example.
    pub fn ncols(&self) -> usize {
        match self {
            Features::F64(a) => a.ncols(),
            Features::F32(a) => a.ncols(),
        }
    }

    /// The values in f64 (a copy).
    pub fn to_f64(&self) -> Array2<f64> {
        self.cast()
    }

    /// The values in another float type (a copy).
    pub fn cast<T: Scalar>(&self) -> Array2<T> {
        match self {
            Features::F64(a) => a.mapv(T::of_f64),
            Features::F32(a) => a.mapv(T::of_f32),
        }
    }

    /// The values in f64, to change in place (normalisation): f32 values are widened first.
    pub fn f64_mut(&mut self) -> &mut Array2<f64> {
        if let Features::F32(a) = self {
            *self = Features::F64(a.mapv(f64::from));
        }
        match self {
            Features::F64(a) => a,
            Features::F32(_) => unreachable!("widened above"),
        }
    }

    /// The examples `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Features {
        match self {
            Features::F64(a) => Features::F64(a.select(Axis(0), rows)),
            Features::F32(a) => Features::F32(a.select(Axis(0), rows)),
        }
    }

    /// Copies the rows `rows` into `dst` (row-major) in the run's float type.
    pub fn gather<T: Scalar>(&self, rows: &[usize], dst: &mut [T]) {
        match self {
            Features::F64(a) => copy_rows(a, rows, dst, T::of_f64),
            Features::F32(a) => copy_rows(a, rows, dst, T::of_f32),
        }
    }
}

impl Dataset {
    /// The number of examples.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// The data in the run's float type.
    pub fn cast<T: Scalar>(&self) -> (Array2<T>, Array2<T>) {
        (self.x.cast(), self.y.mapv(T::of_f64))
    }
}

/// Copies the rows `rows` of `src` into `dst` (row-major), in that order, converted to
/// the run's float type: examples are kept once, as loaded, and converted batch by batch.
pub fn gather<T: Scalar>(src: &Array2<f64>, rows: &[usize], dst: &mut [T]) {
    copy_rows(src, rows, dst, T::of_f64);
}

/// Copies the rows `rows` of `src` into `dst` (row-major), converting each element.
fn copy_rows<S: Copy, T>(src: &Array2<S>, rows: &[usize], dst: &mut [T], convert: impl Fn(S) -> T) {
    for (d, &r) in dst.chunks_exact_mut(src.ncols().max(1)).zip(rows) {
        d.iter_mut().zip(src.row(r)).for_each(|(d, &v)| *d = convert(v));
    }
}

/// The RNG stream that shuffles examples.
const SHUFFLE_STREAM: u64 = 2;

/// Decides the order of examples in each epoch.
pub struct Shuffler {
    rng: ChaCha8Rng,
    order: Vec<usize>,
    enabled: bool,
}

impl Shuffler {
    /// A shuffler over `n` examples seeded with `seed`. When disabled, every epoch visits
    /// the examples in file order.
    pub fn new(n: usize, seed: u64, enabled: bool) -> Shuffler {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SHUFFLE_STREAM);
        Shuffler { rng, order: (0..n).collect(), enabled }
    }

    /// The order for the next epoch: a Fisher-Yates shuffle of the previous one.
    pub fn next_epoch(&mut self) -> &[usize] {
        if self.enabled {
            for i in (1..self.order.len()).rev() {
                let j = below(&mut self.rng, i + 1);
                self.order.swap(i, j);
            }
        }
        &self.order
    }

    /// The order drawn last and the RNG's position: what a checkpoint keeps.
    pub fn state(&self) -> (Vec<usize>, u128) {
        (self.order.clone(), self.rng.get_word_pos())
    }

    /// A shuffler that continues from a saved `state`; refuses an order that is not a
    /// permutation of `0..n`.
    pub fn resume(n: usize, seed: u64, enabled: bool, order: Vec<usize>, pos: u128) -> Result<Shuffler, String> {
        let mut seen = vec![false; n];
        if order.len() != n || !order.iter().all(|&i| i < n && !std::mem::replace(&mut seen[i], true)) {
            return Err(format!("the saved example order is not a permutation of the {n} training examples"));
        }
        let mut s = Shuffler::new(n, seed, enabled);
        s.order = order;
        s.rng.set_word_pos(pos);
        Ok(s)
    }
}

/// A number in `0..n` from one 64-bit draw (multiply-shift; the bias is below 2^-32 for
/// any n that fits in memory).
pub fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}
