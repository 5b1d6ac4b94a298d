//! Shapes and element types of IR values.

use std::fmt;

/// The element type of every value in a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit IEEE floats (the default).
    F32,
    /// 64-bit IEEE floats.
    F64,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

/// One dimension: fixed, or the batch size, which is known only when a batch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// The symbolic batch size, printed `N`.
    Batch,
    /// A fixed size.
    Fixed(usize),
}

impl Dim {
    /// The size of this dimension for a given batch size.
    pub fn resolve(self, batch: usize) -> usize {
        match self {
            Dim::Batch => batch,
            Dim::Fixed(n) => n,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Batch => f.write_str("N"),
            Dim::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The shape of a value: `[]` for a scalar, `[3]` for a vector, `[N, 3]` for a batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// A scalar.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// A vector of `n` elements.
    pub fn vector(n: usize) -> Shape {
        Shape(vec![Dim::Fixed(n)])
    }

    /// A matrix.
    pub fn matrix(rows: Dim, cols: Dim) -> Shape {
        Shape(vec![rows, cols])
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The concrete dimensions for a given batch size.
    pub fn resolve(&self, batch: usize) -> Vec<usize> {
        self.0.iter().map(|d| d.resolve(batch)).collect()
    }

    /// The number of elements, when no dimension is the batch.
    pub fn fixed_len(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |acc, d| match d {
            Dim::Fixed(n) => acc.checked_mul(*n),
            Dim::Batch => None,
        })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}
