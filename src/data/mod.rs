//! Training data: what a `data` block asks for (`spec`), loading it from inline values,
//! CSV files (`table`) or generators (`generate`), preparing the training and validation
//! sets (`prepare`), and the order in which minibatches visit them (a seeded shuffle per
//! epoch). Files are read through a loader the caller passes in: this module never
//! touches the file system.

pub mod generate;
pub mod npy;
pub mod prepare;
pub mod spec;
pub mod table;

pub use prepare::{Loader, Splits, prepare};
pub use spec::DataSpec;

use ndarray::Array2;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::runtime::Scalar;

/// Examples: one row of `x` (features) and `y` (targets) per example.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, `[examples, inputs]`.
    pub x: Array2<f64>,
    /// Targets, `[examples, outputs]`.
    pub y: Array2<f64>,
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
        (self.x.mapv(T::of_f64), self.y.mapv(T::of_f64))
    }
}

/// Copies the rows `rows` of `src` into `dst` (row-major), in that order, converted to
/// the run's float type: examples are kept once, in f64, and converted batch by batch.
pub fn gather<T: Scalar>(src: &Array2<f64>, rows: &[usize], dst: &mut [T]) {
    let cols = src.ncols();
    for (d, &r) in dst.chunks_exact_mut(cols.max(1)).zip(rows) {
        d.iter_mut().zip(src.row(r)).for_each(|(d, &v)| *d = T::of_f64(v));
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
