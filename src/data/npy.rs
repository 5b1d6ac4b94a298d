//! Arrays from numpy's `.npy` files (through `ndarray-npy`): float32 stays float32, every
//! other element type becomes f64 (exactly, for the integers nnc reads). The file's bytes are
//! viewed in place, never trusted for an allocation: a header that claims more elements
//! than the file holds is an error, not a huge `Vec`. A float32 array in C order becomes
//! the buffer the bytes were read into, so it is never held twice.

use ndarray::ArrayViewD;
use ndarray_npy::{ViewNpyError, ViewNpyExt};

use crate::data::FileBytes;
use crate::ir::Values;

/// The element types read, as numpy writes them on little-endian machines.
const TYPES: &str = "float64, float32, int64, int32, int16, int8, uint8 (little-endian)";

/// An array read from a file: its dimensions and its elements, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The dimensions.
    pub dims: Vec<usize>,
    /// The elements in row-major order.
    pub values: Elements,
}

/// Elements as read: float32 stays float32, every other type is widened to f64.
#[derive(Clone, Debug, PartialEq)]
pub enum Elements {
    /// Double precision (and integers, exactly).
    F64(Vec<f64>),
    /// Single precision.
    F32(Vec<f32>),
}

impl Elements {
    /// The first element that is NaN or infinite, widened.
    pub fn first_non_finite(&self) -> Option<f64> {
        match self {
            Elements::F64(v) => v.iter().copied().find(|x| !x.is_finite()),
            Elements::F32(v) => v.iter().find(|x| !x.is_finite()).map(|&x| f64::from(x)),
        }
    }

    /// Every element in f64.
    pub fn into_f64(self) -> Vec<f64> {
        match self {
            Elements::F64(v) => v,
            Elements::F32(v) => v.into_iter().map(f64::from).collect(),
        }
    }
}

impl From<Elements> for Values {
    fn from(e: Elements) -> Values {
        match e {
            Elements::F64(v) => Values::F64(v.into()),
            Elements::F32(v) => Values::F32(v.into()),
        }
    }
}

/// The array in an `.npy` file's bytes. A float32 array in this machine's byte order and
/// C order takes the bytes' buffer over in place; other arrays are copied out of it.
pub fn parse(bytes: FileBytes) -> Result<Loaded, String> {
    if let Some((dims, start, count)) = f32_in_place(bytes.as_bytes()) {
        let values = bytes.into_f32(start, count).expect("a view lies inside the bytes it views, on whole words");
        return Ok(Loaded { dims, values: Elements::F32(values) });
    }
    let bytes = bytes.as_bytes();
    // `view_npy` needs the data aligned for its element type. numpy pads the header so
    // that the data starts a multiple of 64 bytes in, so it usually is; a file whose
    // header is padded otherwise is copied into 8-byte words, shifted so that its data
    // starts on one.
    let found = match parse_aligned(bytes) {
        Err(ViewNpyError::MisalignedData) => {
            let shift = data_start(bytes).map_or(0, |start| (8 - start % 8) % 8);
            let mut words = vec![0u64; (shift + bytes.len()).div_ceil(8)];
            let aligned = &mut bytemuck::cast_slice_mut(&mut words)[shift..shift + bytes.len()];
            aligned.copy_from_slice(bytes);
            parse_aligned(aligned)
        }
        other => other,
    };
    found.map_err(message)?.ok_or_else(|| format!("its element type is not one nnc reads ({TYPES})"))
}

/// Where the data of an `.npy` file starts: after the magic string (6 bytes), the version
/// (2), the header's length (2 bytes in version 1, 4 in later ones) and the header.
fn data_start(bytes: &[u8]) -> Option<usize> {
    let length =
        |at: usize, n: usize| bytes.get(at..at + n).map(|b| b.iter().rev().fold(0, |l, &b| l << 8 | b as usize));
    match bytes.get(6)? {
        1 => Some(10 + length(8, 2)?),
        _ => Some(12 + length(8, 4)?),
    }
}

/// Where a float32 array in C order lies in an `.npy` file's bytes: its dimensions, the
/// offset of its first element in bytes and its number of elements. `None` for any other
/// file, which `parse_aligned` reads (and explains, when it is not valid).
fn f32_in_place(buf: &[u8]) -> Option<(Vec<usize>, usize, usize)> {
    let view = ArrayViewD::<f32>::view_npy(buf).ok()?;
    let values = view.as_slice()?;
    let start = (values.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    Some((view.shape().to_vec(), start, values.len()))
}

/// `parse` on bytes whose data is aligned (else `MisalignedData`); `None` for an element
/// type nnc does not read.
fn parse_aligned(buf: &[u8]) -> Result<Option<Loaded>, ViewNpyError> {
    macro_rules! attempt {
        ($($t:ty => $variant:ident as $u:ty),*) => {$(
            match ArrayViewD::<$t>::view_npy(buf) {
                Ok(v) => {
                    let values = Elements::$variant(row_major(&v, |x: $t| x as $u));
                    return Ok(Some(Loaded { dims: v.shape().to_vec(), values }));
                }
                Err(ViewNpyError::WrongDescriptor(_)) => {}
                Err(e) => return Err(e),
            }
        )*};
    }
    attempt!(f64 => F64 as f64, f32 => F32 as f32, i64 => F64 as f64, i32 => F64 as f64, i16 => F64 as f64,
             i8 => F64 as f64, u8 => F64 as f64);
    Ok(None)
}

/// The elements in row-major order, cast (a plain loop over the slice when the file is
/// C-ordered).
fn row_major<T: Copy, U>(v: &ArrayViewD<T>, cast: impl Fn(T) -> U) -> Vec<U> {
    match v.as_slice() {
        Some(s) => s.iter().map(|&x| cast(x)).collect(),
        None => v.iter().map(|&x| cast(x)).collect(),
    }
}

fn message(e: ViewNpyError) -> String {
    match e {
        ViewNpyError::MissingBytes(n) => format!("it is truncated: {n} bytes of data are missing"),
        ViewNpyError::ExtraBytes(n) => format!("it has {n} bytes after the data its header describes"),
        ViewNpyError::LengthOverflow => "its header's shape has more elements than fit in memory".into(),
        other => format!("it is not a valid .npy file ({other})"),
    }
}
