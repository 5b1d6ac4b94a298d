//! The element types the interpreter runs in (f32 and f64), behind one trait so that
//! every kernel is written once.

use std::fmt::{Debug, Display};

use ndarray::LinalgScalar;
use num_traits::Float;

use crate::ir::DType;

/// A float type the interpreter can run a graph in.
pub trait Scalar: LinalgScalar + Float + Default + Debug + Display + Send + Sync + 'static {
    /// The IR dtype this type implements.
    const DTYPE: DType;
    /// Converts from f64, rounding to nearest.
    fn of_f64(v: f64) -> Self;
    /// Converts to f64 exactly.
    fn as_f64(self) -> f64;
    /// Converts from f32 exactly (what `of_f64` of the widened value gives, without the
    /// round trip: a copy when Self is f32).
    fn of_f32(v: f32) -> Self;
}

impl Scalar for f32 {
    const DTYPE: DType = DType::F32;
    fn of_f64(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn of_f32(v: f32) -> Self {
        v
    }
}

impl Scalar for f64 {
    const DTYPE: DType = DType::F64;
    fn of_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
    fn of_f32(v: f32) -> Self {
        f64::from(v)
    }
}
