//! Tensors to and from little-endian bytes, the element layout of weights,
//! optimiser-state and checkpoint files (safetensors and most others).
//!
//! One codec for every file format the library reads, so a loader's
//! guarantees hold everywhere at once: decoding checks the byte length
//! against the shape *before* allocating, so a corrupt file never makes it
//! allocate more than the input holds, and never panics.
//!
//! With the `safetensors` feature, `crate::safetensors_io` reads whole
//! safetensors files with it.
//!
//! ```
//! use nn_tensor::{LeDtype, Tensor};
//! let t = Tensor::<f32>::from_vec(vec![1.5, -2.0], &[2]);
//! let bytes = t.to_le_bytes(LeDtype::F64);
//! assert_eq!(bytes.len(), 16);
//! let back = Tensor::<f32>::try_from_le_bytes(LeDtype::F64, &bytes, &[2]).unwrap();
//! assert_eq!(back, t);
//! assert!(Tensor::<f32>::try_from_le_bytes(LeDtype::F64, &bytes, &[3]).is_err());
//! ```

use crate::element::Element;
use crate::error::or_panic;
use crate::error::{Result, TensorError};
use crate::tensor::Tensor;

/// How one element is stored as little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeDtype {
    /// IEEE-754 single precision, 4 bytes.
    F32,
    /// IEEE-754 double precision, 8 bytes.
    F64,
    /// Two's-complement signed integer, 8 bytes (PyTorch's counts, such as
    /// `num_batches_tracked`).
    I64,
}

impl LeDtype {
    /// The float dtype that stores `T` without loss: `F32` for `f32`, `F64`
    /// for `f64`.
    pub fn of<T: Element>() -> Self {
        T::LE_DTYPE
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            LeDtype::F32 => 4,
            LeDtype::F64 | LeDtype::I64 => 8,
        }
    }

    /// True for `F32` and `F64`.
    pub fn is_float(self) -> bool {
        self != LeDtype::I64
    }
}

impl<T: Element> Tensor<T> {
    /// Decodes little-endian `data` of the given dtype into a tensor of
    /// `shape`, converting each element to `T` (`I64` through `f64`, as
    /// PyTorch's `.float()` does).
    ///
    /// Errors, naming the dtype and the shape, when `data` does not hold
    /// exactly the shape's elements; nothing is allocated in that case.
    pub fn try_from_le_bytes(dtype: LeDtype, data: &[u8], shape: &[usize]) -> Result<Self> {
        let numel = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|n| n.checked_mul(dtype.size()) == Some(data.len()));
        if numel.is_none() {
            return Err(TensorError::invalid(
                "from_le_bytes",
                format!(
                    "shape {shape:?} of {dtype:?} ({} bytes each) does not fit {} bytes of data",
                    dtype.size(),
                    data.len()
                ),
            ));
        }
        let values: Vec<T> = match dtype {
            LeDtype::F32 => data
                .chunks_exact(4)
                .map(|c| T::of(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
                .collect(),
            LeDtype::F64 => data
                .chunks_exact(8)
                .map(|c| T::of(f64::from_le_bytes(eight(c))))
                .collect(),
            LeDtype::I64 => data
                .chunks_exact(8)
                .map(|c| T::of(i64::from_le_bytes(eight(c)) as f64))
                .collect(),
        };
        Tensor::try_from_vec(values, shape)
    }

    /// Panicking twin of [`Tensor::try_from_le_bytes`].
    ///
    /// # Panics
    /// When `data` does not hold exactly the shape's elements.
    #[track_caller]
    pub fn from_le_bytes(dtype: LeDtype, data: &[u8], shape: &[usize]) -> Self {
        or_panic(Self::try_from_le_bytes(dtype, data, shape))
    }

    /// The elements, row-major, as little-endian bytes of `dtype` (`I64`
    /// truncates toward zero, for counts that are whole numbers anyway).
    pub fn to_le_bytes(&self, dtype: LeDtype) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.numel() * dtype.size());
        for &x in self.as_slice() {
            let x = x.to_f64_lossless();
            match dtype {
                LeDtype::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
                LeDtype::F64 => out.extend_from_slice(&x.to_le_bytes()),
                LeDtype::I64 => out.extend_from_slice(&(x as i64).to_le_bytes()),
            }
        }
        out
    }
}

/// `chunks_exact(8)` yields slices of 8 bytes; this says so to the type system
/// without a panic path.
fn eight(c: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_every_dtype_bit_exactly() {
        let t = Tensor::<f64>::from_vec(vec![0.1, -2.5, 1e300, 0.0], &[2, 2]);
        let b = t.to_le_bytes(LeDtype::F64);
        assert_eq!(&b[..8], &0.1f64.to_le_bytes());
        assert_eq!(Tensor::<f64>::from_le_bytes(LeDtype::F64, &b, &[2, 2]), t);
        let f = Tensor::<f32>::from_vec(vec![0.1, -2.5, 3.0], &[3]);
        let b = f.to_le_bytes(LeDtype::F32);
        assert_eq!(&b[4..8], &(-2.5f32).to_le_bytes());
        assert_eq!(Tensor::<f32>::from_le_bytes(LeDtype::F32, &b, &[3]), f);
        let c = Tensor::<f32>::from_vec(vec![7.0], &[]);
        let b = c.to_le_bytes(LeDtype::I64);
        assert_eq!(b, 7i64.to_le_bytes());
        assert_eq!(Tensor::<f32>::from_le_bytes(LeDtype::I64, &b, &[]), c);
    }

    #[test]
    fn wrong_length_or_overflowing_shape_is_an_error_naming_both() {
        let e = Tensor::<f32>::try_from_le_bytes(LeDtype::F32, &[0; 7], &[2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "from_le_bytes: shape [2] of F32 (4 bytes each) does not fit 7 bytes of data"
        );
        // A shape whose byte count overflows must not be trusted, nor allocated.
        let huge = [usize::MAX / 4, 3];
        assert!(Tensor::<f64>::try_from_le_bytes(LeDtype::F64, &[], &huge).is_err());
        assert!(
            Tensor::<f64>::try_from_le_bytes(LeDtype::F64, &[0; 8], &[usize::MAX / 8 + 1]).is_err()
        );
    }

    #[test]
    #[should_panic(expected = "from_le_bytes: shape [1] of I64")]
    fn panicking_twin_panics_with_the_same_message() {
        Tensor::<f64>::from_le_bytes(LeDtype::I64, &[0; 4], &[1]);
    }
}
