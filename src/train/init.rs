//! Initial parameter values from the spec's initialisers and a portable seeded RNG
//! (ChaCha8, stream 1 of the run's seed): the same seed gives the same values on every
//! platform. Values are drawn in f64 and rounded to the run's dtype.

use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::ir::{Def, Graph, Init};
use crate::runtime::Scalar;

/// The RNG stream that initialises parameters.
const INIT_STREAM: u64 = 1;

/// A uniform draw in [0, 1): the top 53 bits of one 64-bit output, times 2^-53.
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `n` standard normal draws, Box-Muller on consecutive uniform pairs (u1, u2):
/// r = sqrt(-2 ln(1 - u1)), giving r cos(2 pi u2) and r sin(2 pi u2).
fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (uniform(rng), uniform(rng));
        let r = (-2.0 * (-u1).ln_1p()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(n);
    out
}

/// `n` normal draws with standard deviation `std`.
fn scaled_normals(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f64> {
    normals(rng, n).into_iter().map(|z| z * std).collect()
}

/// `n` uniform draws on [-limit, limit): (2u - 1) · limit.
fn uniforms(rng: &mut ChaCha8Rng, n: usize, limit: f64) -> Vec<f64> {
    (0..n).map(|_| (2.0 * uniform(rng) - 1.0) * limit).collect()
}

/// Every parameter's initial value, in the graph's parameter order. The graph must still
/// hold its explicit values (see `Graph::release_initial_values`).
pub fn initial_params<T: Scalar>(graph: &Graph, seed: u64) -> Vec<ArrayD<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(INIT_STREAM);
    graph
        .params
        .iter()
        .map(|p| {
            let v = graph.value(*p);
            let dims = v.shape.resolve(0);
            let n: usize = dims.iter().product();
            let (fan_in, fan_out) = match dims.as_slice() {
                [i, o] => (*i as f64, *o as f64),
                _ => (n as f64, n as f64),
            };
            let values: Vec<f64> = match &v.def {
                // Straight to the run's type: no f64 copy of a large file.
                Def::Param { init: Init::Explicit(values), .. } => {
                    return ArrayD::from_shape_vec(IxDyn(&dims), values.iter().map(T::of_f64).collect())
                        .expect("initial values match the parameter's shape");
                }
                Def::Param { init: Init::Normal { std }, .. } => scaled_normals(&mut rng, n, *std),
                Def::Param { init: Init::HeNormal, .. } => scaled_normals(&mut rng, n, (2.0 / fan_in).sqrt()),
                Def::Param { init: Init::GlorotNormal, .. } => {
                    scaled_normals(&mut rng, n, (2.0 / (fan_in + fan_out)).sqrt())
                }
                Def::Param { init: Init::LecunNormal, .. } => scaled_normals(&mut rng, n, (1.0 / fan_in).sqrt()),
                Def::Param { init: Init::HeUniform, .. } => uniforms(&mut rng, n, (6.0 / fan_in).sqrt()),
                Def::Param { init: Init::Constant { value }, .. } => vec![*value; n],
                Def::Param { init: Init::Uniform { limit }, .. } => uniforms(&mut rng, n, *limit),
                Def::Param { init: Init::GlorotUniform, .. } => {
                    uniforms(&mut rng, n, (6.0 / (fan_in + fan_out)).sqrt())
                }
                Def::Param { init: Init::Zeros, .. } | Def::Input(_) | Def::Inst(_) => vec![0.0; n],
                Def::Param { init: Init::File(f), .. } => {
                    unreachable!("`{}` is read by lower::files::resolve before training", f.path)
                }
                Def::Param { init: Init::Released { .. }, .. } => {
                    unreachable!("a fresh start refuses a graph whose initial values were released")
                }
            };
            ArrayD::from_shape_vec(IxDyn(&dims), values.into_iter().map(T::of_f64).collect())
                .expect("initial values match the parameter's shape")
        })
        .collect()
}
