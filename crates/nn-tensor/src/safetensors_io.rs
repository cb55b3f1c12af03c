//! The [`crate::le_bytes`] codec over safetensors files (feature
//! `safetensors`): dtype conversions and reading every tensor of a file,
//! shared by weights, optimiser-state and checkpoint loaders.
//!
//! ```
//! use std::collections::HashMap;
//! use nn_tensor::safetensors_io::read_float_tensors;
//! use nn_tensor::{LeDtype, Tensor};
//! use safetensors::{tensor::TensorView, SafeTensors};
//! let t = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]);
//! let bytes = t.to_le_bytes(LeDtype::F32);
//! let view = TensorView::new(LeDtype::F32.into(), vec![2], &bytes).unwrap();
//! let file = safetensors::serialize([("w", view)], &None::<HashMap<String, String>>).unwrap();
//! let read = read_float_tensors::<f64>(&SafeTensors::deserialize(&file).unwrap()).unwrap();
//! assert_eq!(read["w"], t);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use safetensors::{Dtype, SafeTensors};

use crate::element::Element;
use crate::error::TensorError;
use crate::le_bytes::LeDtype;
use crate::tensor::Tensor;

impl From<LeDtype> for Dtype {
    fn from(d: LeDtype) -> Dtype {
        match d {
            LeDtype::F32 => Dtype::F32,
            LeDtype::F64 => Dtype::F64,
            LeDtype::I64 => Dtype::I64,
        }
    }
}

/// The safetensors dtypes this library reads; any other comes back as the
/// error, for the caller to name in its message.
impl TryFrom<Dtype> for LeDtype {
    type Error = Dtype;
    fn try_from(d: Dtype) -> Result<LeDtype, Dtype> {
        match d {
            Dtype::F32 => Ok(LeDtype::F32),
            Dtype::F64 => Ok(LeDtype::F64),
            Dtype::I64 => Ok(LeDtype::I64),
            other => Err(other),
        }
    }
}

/// Why a tensor of a safetensors file could not be read, naming it.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadTensorError {
    /// The tensor is stored in a dtype other than `F32` or `F64`.
    Dtype {
        /// The tensor's name in the file.
        name: String,
        /// Its dtype.
        dtype: Dtype,
    },
    /// The tensor's bytes do not fit its shape.
    Bytes {
        /// The tensor's name in the file.
        name: String,
        /// What [`Tensor::try_from_le_bytes`] said, with the dtype and shape.
        source: TensorError,
    },
}

impl fmt::Display for ReadTensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadTensorError::Dtype { name, dtype } => {
                write!(
                    f,
                    "tensor `{name}` has dtype {dtype:?}, expected F32 or F64"
                )
            }
            ReadTensorError::Bytes { name, source } => write!(f, "tensor `{name}`: {source}"),
        }
    }
}

impl std::error::Error for ReadTensorError {}

/// Every tensor of the file, by name, its `F32` or `F64` elements converted
/// to `T`. Stops at the first tensor of another dtype or whose bytes do not
/// fit its shape; never panics, and allocates no more than the file holds.
pub fn read_float_tensors<T: Element>(
    file: &SafeTensors<'_>,
) -> Result<BTreeMap<String, Tensor<T>>, ReadTensorError> {
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        let dtype = match LeDtype::try_from(view.dtype()) {
            Ok(d) if d.is_float() => d,
            _ => {
                let dtype = view.dtype();
                return Err(ReadTensorError::Dtype { name, dtype });
            }
        };
        match Tensor::try_from_le_bytes(dtype, view.data(), view.shape()) {
            Ok(t) => tensors.insert(name, t),
            Err(source) => return Err(ReadTensorError::Bytes { name, source }),
        };
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    fn file_of(dtype: Dtype, shape: Vec<usize>, data: &[u8]) -> Vec<u8> {
        let view = TensorView::new(dtype, shape, data).unwrap();
        safetensors::serialize([("x.count", view)], &None::<HashMap<String, String>>).unwrap()
    }

    #[test]
    fn a_non_float_tensor_is_an_error_naming_it_and_its_dtype() {
        for dtype in [Dtype::I64, Dtype::U8] {
            let bytes = file_of(dtype, vec![], &vec![0; dtype.size()]);
            let file = SafeTensors::deserialize(&bytes).unwrap();
            let e = read_float_tensors::<f32>(&file).unwrap_err();
            assert_eq!(
                e,
                ReadTensorError::Dtype {
                    name: "x.count".into(),
                    dtype
                }
            );
            assert_eq!(
                e.to_string(),
                format!("tensor `x.count` has dtype {dtype:?}, expected F32 or F64")
            );
        }
    }

    #[test]
    fn dtype_conversions_roundtrip() {
        for d in [LeDtype::F32, LeDtype::F64, LeDtype::I64] {
            assert_eq!(LeDtype::try_from(Dtype::from(d)), Ok(d));
            assert_eq!(Dtype::from(d).size(), d.size());
        }
        assert_eq!(LeDtype::try_from(Dtype::BF16), Err(Dtype::BF16));
    }
}
