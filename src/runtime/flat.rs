//! Row-major arrays as flat slices. ndarray's `as_slice` checks the layout through its
//! dimension-generic code, about 80 instructions a call on a dynamic-dimension array, and
//! a step of the tutorial's network reads its parameters five times. The one- and
//! two-dimensional arrays that hold parameters, gradients and optimiser buffers are
//! checked here directly (W1: 45.9M -> 44.9M instructions); other ranks go through
//! ndarray.

use ndarray::ArrayD;

/// What a panic says when an array is not row-major (nnc only makes row-major ones).
const NOT_ROW_MAJOR: &str = "parameters, gradients and optimiser buffers are stored row-major";

/// The number of elements of a one- or two-dimensional array, checked to be row-major
/// as ndarray's `is_standard_layout` decides (each element at its row-major index from the
/// first; strides along a dimension of one element, and of an empty array, do not matter).
/// Panics if it is not; `None` for other ranks.
#[inline]
fn row_major_len<T>(a: &ArrayD<T>) -> Option<usize> {
    let row_major = match (a.shape(), a.strides()) {
        (&[n], &[s]) => n <= 1 || s == 1,
        (&[r, c], &[sr, sc]) => r == 0 || c == 0 || ((sc == 1 || c == 1) && (sr == c as isize || r == 1)),
        _ => return None,
    };
    assert!(row_major, "{NOT_ROW_MAJOR}");
    Some(a.len())
}

/// The values of a row-major array, in order. Panics if it is not row-major.
#[inline]
pub fn values<T>(a: &ArrayD<T>) -> &[T] {
    match row_major_len(a) {
        // SAFETY: row-major (checked), so its `len` elements lie in order from the first,
        // where `as_ptr` points.
        Some(len) => unsafe { std::slice::from_raw_parts(a.as_ptr(), len) },
        None => a.as_slice().expect(NOT_ROW_MAJOR),
    }
}

/// The same, to change.
#[inline]
pub fn values_mut<T>(a: &mut ArrayD<T>) -> &mut [T] {
    match row_major_len(a) {
        // SAFETY: as in `values`; the array is borrowed mutably, so nothing else views it.
        Some(len) => unsafe { std::slice::from_raw_parts_mut(a.as_mut_ptr(), len) },
        None => a.as_slice_mut().expect(NOT_ROW_MAJOR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Axis, IxDyn, Slice};

    /// On arrays of every small shape, transposed and strided ones too, `values` gives
    /// what ndarray's `as_slice` gives, and panics where it refuses.
    #[test]
    fn the_direct_check_agrees_with_ndarray() {
        let agree = |a: &ArrayD<f32>, what: &str| match a.as_slice() {
            Some(slice) => assert_eq!(values(a), slice, "{what}"),
            None => assert!(std::panic::catch_unwind(|| values(a).len()).is_err(), "{what}"),
        };
        let mut refused = 0;
        for (r, c) in [(0, 0), (0, 3), (3, 0), (1, 1), (1, 4), (4, 1), (3, 5)] {
            let mut a = Array2::from_shape_fn((r, c), |(i, j)| (i * 10 + j) as f32).into_dyn();
            agree(&a, &format!("{r}x{c}"));
            agree(&a.clone().into_shape_with_order(IxDyn(&[r * c])).unwrap(), &format!("{r}x{c} as a vector"));
            let t = a.clone().reversed_axes();
            agree(&t, &format!("{r}x{c} transposed"));
            refused += usize::from(t.as_slice().is_none());
            let mut every_other = a.clone();
            every_other.slice_axis_inplace(Axis(1), Slice::new(0, None, 2));
            agree(&every_other, &format!("{r}x{c}, every other column"));
            refused += usize::from(every_other.as_slice().is_none());
            let mut every_other = a.clone();
            every_other.slice_axis_inplace(Axis(0), Slice::new(0, None, 2));
            agree(&every_other, &format!("{r}x{c}, every other row"));
            refused += usize::from(every_other.as_slice().is_none());
            let expected = a.as_slice().unwrap().to_vec();
            assert_eq!(values_mut(&mut a), &expected[..], "{r}x{c}");
        }
        assert!(refused >= 2, "some arrays are not row-major");
        agree(&ndarray::Array3::<f32>::zeros((2, 3, 4)).into_dyn(), "three dimensions");
    }
}
