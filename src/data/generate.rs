//! Synthetic data sets, drawn from ChaCha8 (stream 5 of the generator's seed), so the
//! same seed gives the same examples on every platform.

use ndarray::Array2;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::data::spec::{Generator, GeneratorCall};

/// The RNG stream generators draw from.
const GENERATE_STREAM: u64 = 5;

/// Generated examples: features, and either class indices or regression targets.
pub struct Generated {
    /// Features, one row per example.
    pub x: Array2<f64>,
    /// Class indices, for classification data sets.
    pub classes: Option<(Vec<usize>, usize)>,
    /// Targets, for regression data sets.
    pub values: Option<Array2<f64>>,
}

struct Draws(ChaCha8Rng);

impl Draws {
    fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// One standard normal draw (Box-Muller, using the cosine branch only).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * (-u1).ln_1p()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Draws the data set `call` with `seed` (the call's own seed wins).
pub fn generate(call: &GeneratorCall, seed: u64) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(call.seed.unwrap_or(seed));
    rng.set_stream(GENERATE_STREAM);
    let mut d = Draws(rng);
    let n = call.n;
    let noise = call.noise;
    let two_d = |rows: Vec<[f64; 2]>| Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
    let mut labels = Vec::with_capacity(n);
    match call.kind {
        Generator::Xor | Generator::Circle | Generator::Gauss | Generator::Moons => {
            let mut rows = Vec::with_capacity(n);
            for i in 0..n {
                let class = i % 2;
                let (a, b) = match call.kind {
                    Generator::Xor => {
                        let (a, b) = (d.between(-1.0, 1.0), d.between(-1.0, 1.0));
                        labels.push(usize::from(a * b < 0.0));
                        (a, b)
                    }
                    Generator::Circle => {
                        let r = if class == 1 { d.between(0.0, 0.5) } else { d.between(0.7, 1.0) };
                        let t = d.between(0.0, 2.0 * std::f64::consts::PI);
                        labels.push(class);
                        (r * t.cos(), r * t.sin())
                    }
                    Generator::Gauss => {
                        let c = if class == 1 { 1.0 } else { -1.0 };
                        labels.push(class);
                        (c + 0.5 * d.normal(), c + 0.5 * d.normal())
                    }
                    _ => {
                        let t = d.between(0.0, std::f64::consts::PI);
                        labels.push(class);
                        if class == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) }
                    }
                };
                rows.push([a + noise * d.normal(), b + noise * d.normal()]);
            }
            Generated { x: two_d(rows), classes: Some((labels, 2)), values: None }
        }
        Generator::Spiral => {
            let k = call.classes.max(1);
            let per_class = n.div_ceil(k).max(2);
            let mut rows = Vec::with_capacity(n);
            for i in 0..n {
                let class = i % k;
                let r = (i / k) as f64 / (per_class - 1) as f64;
                let t = class as f64 * 4.0 + 4.0 * r + noise * d.normal();
                labels.push(class);
                rows.push([r * t.sin(), r * t.cos()]);
            }
            Generated { x: two_d(rows), classes: Some((labels, k)), values: None }
        }
        Generator::Linear => {
            let f = call.features.max(1);
            let x = Array2::from_shape_fn((n, f), |_| d.between(-1.0, 1.0));
            let y =
                Array2::from_shape_fn((n, 1), |(i, _)| (0..f).map(|j| (j + 1) as f64 * x[[i, j]]).sum::<f64>() + 0.5);
            let y = y.mapv(|v| v + noise * d.normal());
            Generated { x, classes: None, values: Some(y) }
        }
        Generator::Blobs => {
            let (k, f) = (call.classes.max(1), call.features.max(1));
            let centres = Array2::from_shape_fn((k, f), |_| d.between(-10.0, 10.0));
            let mut x = Array2::zeros((n, f));
            for i in 0..n {
                let class = i % k;
                labels.push(class);
                for j in 0..f {
                    x[[i, j]] = centres[[class, j]] + call.spread * d.normal();
                }
            }
            Generated { x, classes: Some((labels, k)), values: None }
        }
    }
}
