//! Arrays from numpy's `.npy` files (through `ndarray-npy`), as f64. The file's bytes are
//! viewed in place, never trusted for an allocation: a header that claims more elements
//! than the file holds is an error, not a huge `Vec`.

use ndarray::ArrayViewD;
use ndarray_npy::{ViewNpyError, ViewNpyExt};

/// The element types read, as numpy writes them on little-endian machines.
const TYPES: &str = "float64, float32, int64, int32, int16, int8, uint8 (little-endian)";

/// An array read from a file: its dimensions and its elements, row-major, as f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The dimensions.
    pub dims: Vec<usize>,
    /// The elements in row-major order.
    pub values: Vec<f64>,
}

/// The array in an `.npy` file's bytes, converted to f64.
pub fn parse(bytes: &[u8]) -> Result<Loaded, String> {
    // `view_npy` needs the data aligned for its element type: copy into 8-byte words.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    let aligned: &mut [u8] = bytemuck_bytes(&mut words);
    aligned[..bytes.len()].copy_from_slice(bytes);
    let buf = &aligned[..bytes.len()];
    macro_rules! attempt {
        ($($t:ty),*) => {$(
            match ArrayViewD::<$t>::view_npy(buf) {
                Ok(v) => return Ok(to_f64(&v, |x: $t| x as f64)),
                Err(ViewNpyError::WrongDescriptor(_)) => {}
                Err(e) => return Err(message(e)),
            }
        )*};
    }
    attempt!(f64, f32, i64, i32, i16, i8, u8);
    Err(format!("its element type is not one nnc reads ({TYPES})"))
}

/// The elements in row-major order (a plain loop over the slice when the file is C-ordered).
fn to_f64<T: Copy>(v: &ArrayViewD<T>, cast: impl Fn(T) -> f64) -> Loaded {
    let values = match v.as_slice() {
        Some(s) => s.iter().map(|&x| cast(x)).collect(),
        None => v.iter().map(|&x| cast(x)).collect(),
    };
    Loaded { dims: v.shape().to_vec(), values }
}

fn message(e: ViewNpyError) -> String {
    match e {
        ViewNpyError::MissingBytes(n) => format!("it is truncated: {n} bytes of data are missing"),
        ViewNpyError::ExtraBytes(n) => format!("it has {n} bytes after the data its header describes"),
        ViewNpyError::LengthOverflow => "its header's shape has more elements than fit in memory".into(),
        other => format!("it is not a valid .npy file ({other})"),
    }
}

/// The bytes of a slice of words.
fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
    let len = words.len() * 8;
    // SAFETY: u64 has no padding and any byte pattern is a valid u8; the slice covers
    // exactly the words' memory and borrows them mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 `.npy` file with this descriptor, shape and data.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_floats_and_integers_and_refuses_what_does_not_fit() {
        let f: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse(&npy("<f8", "(2,)", &f)).unwrap().values, vec![1.5, -2.0]);
        let i: Vec<u8> = [3i64, 0, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse(&npy("<i8", "(3, 1)", &i)).unwrap();
        assert_eq!((a.dims, a.values), (vec![3, 1], vec![3.0, 0.0, 2.0]));
        assert!(parse(&npy("<f8", "(1000000000000,)", &f)).unwrap_err().contains("truncated"));
        assert!(parse(&npy("<f8", "(4611686018427387904, 8)", &f)).unwrap_err().contains("more elements"));
        assert!(parse(&npy("<c16", "(1,)", &f)).unwrap_err().contains("element type"));
        assert!(parse(b"not numpy").unwrap_err().contains("not a valid .npy"));
    }
}
