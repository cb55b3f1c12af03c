//! [`Value`], what flows along a graph's edges, and its conversion to and
//! from the protobuf `TensorProto`.
//!
//! The library's tensors hold floats only, but ONNX graphs also compute on
//! integers: shapes, indices, token ids, masks (`Shape → Gather → Concat →
//! Reshape`). An integer tensor is kept as a `Tensor<f64>` whose elements
//! are whole numbers, so every shape op of `nn-tensor` (reshape, permute,
//! gather, concat, slicing, broadcasting) serves both kinds without a second
//! copy. An `f64` holds every integer up to 2⁵³ exactly, which covers every
//! size, index and token id; larger ones only appear as the "to the end"
//! sentinels of `Slice` (±2⁶³), which stay larger than any dim.

use nn_tensor::Tensor;

use crate::error::{OnnxError, Result};
use crate::proto::{data_type, TensorProto};

/// A tensor flowing through an ONNX graph: float (`float32`; `double`
/// inputs are narrowed to it) or integer (every integer type and `bool`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A float tensor.
    Float(Tensor<f32>),
    /// An integer or boolean tensor, its whole-number elements held as `f64`
    /// (see the module docs).
    Int(Tensor<f64>),
}

impl Value {
    /// An integer tensor from its elements and shape.
    ///
    /// ```
    /// use nn_onnx::Value;
    /// let v = Value::ints(vec![3, -1], &[2]).unwrap();
    /// assert_eq!(v.to_i64s(), vec![3, -1]);
    /// ```
    pub fn ints(data: Vec<i64>, shape: &[usize]) -> Result<Value> {
        let data = data.into_iter().map(|v| v as f64).collect();
        Tensor::try_from_vec(data, shape)
            .map(Value::Int)
            .map_err(|e| OnnxError::Input(e.to_string()))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Float(t) => t.shape(),
            Value::Int(t) => t.shape(),
        }
    }

    /// True for an integer tensor.
    pub fn is_int(&self) -> bool {
        matches!(self, Value::Int(_))
    }

    /// The elements as `f64` (integers exactly, floats widened).
    pub fn to_f64s(&self) -> Vec<f64> {
        match self {
            Value::Float(t) => t.to_f64_vec(),
            Value::Int(t) => t.to_vec(),
        }
    }

    /// The elements as integers (floats truncated toward zero, as `Cast`).
    pub fn to_i64s(&self) -> Vec<i64> {
        self.to_f64s().into_iter().map(|v| v as i64).collect()
    }

    /// The value as a float tensor (integers converted).
    pub fn to_float(&self) -> Tensor<f32> {
        match self {
            Value::Float(t) => t.clone(),
            Value::Int(t) => t.cast(),
        }
    }

    /// Decodes a `TensorProto`. Errors name the tensor and say what is
    /// wrong; the data must fill the declared shape exactly, so a huge
    /// declared shape is refused before anything is allocated for it.
    pub fn from_proto(t: &TensorProto) -> Result<Value> {
        let what = || format!("tensor {:?}", t.name);
        if t.data_location == 1 || !t.external_data.is_empty() {
            return Err(OnnxError::Invalid(format!(
                "{}: data stored in an external file is not supported",
                what()
            )));
        }
        let mut shape = Vec::with_capacity(t.dims.len());
        let mut numel: usize = 1;
        for &d in &t.dims {
            let d = usize::try_from(d).map_err(|_| {
                OnnxError::Invalid(format!("{}: negative dim in {:?}", what(), t.dims))
            })?;
            numel = numel.checked_mul(d).ok_or_else(|| {
                OnnxError::Invalid(format!("{}: shape {:?} overflows", what(), t.dims))
            })?;
            shape.push(d);
        }
        let width = match t.data_type {
            data_type::FLOAT | data_type::INT32 => 4,
            data_type::DOUBLE | data_type::INT64 => 8,
            data_type::INT16 | data_type::UINT16 => 2,
            data_type::INT8 | data_type::UINT8 | data_type::BOOL => 1,
            other => {
                return Err(OnnxError::Invalid(format!(
                    "{}: element type {other} is not supported (float, double and integer \
                     types and bool are)",
                    what()
                )))
            }
        };
        let count = |have: usize, field: &str| {
            if have == numel {
                Ok(())
            } else {
                Err(OnnxError::Invalid(format!(
                    "{}: shape {:?} needs {numel} elements, {field} holds {have}",
                    what(),
                    t.dims
                )))
            }
        };
        let raw = !t.raw_data.is_empty() || numel == 0;
        if raw {
            if t.raw_data.len() / width != numel || !t.raw_data.len().is_multiple_of(width) {
                return Err(OnnxError::Invalid(format!(
                    "{}: shape {:?} needs {} bytes of raw data, the file holds {}",
                    what(),
                    t.dims,
                    numel as u128 * width as u128,
                    t.raw_data.len()
                )));
            }
            let b = &t.raw_data;
            let chunks = b.chunks_exact(width);
            let value = match t.data_type {
                data_type::FLOAT => Value::Float(from_vec(
                    chunks
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect(),
                    &shape,
                )?),
                data_type::DOUBLE => Value::Float(from_vec(
                    chunks
                        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                        .collect(),
                    &shape,
                )?),
                ty => Value::Int(from_vec(
                    chunks.map(|c| int_from_le(ty, c)).collect(),
                    &shape,
                )?),
            };
            return Ok(value);
        }
        match t.data_type {
            data_type::FLOAT => {
                count(t.float_data.len(), "float_data")?;
                Ok(Value::Float(from_vec(t.float_data.clone(), &shape)?))
            }
            data_type::DOUBLE => {
                count(t.double_data.len(), "double_data")?;
                let v = t.double_data.iter().map(|&x| x as f32).collect();
                Ok(Value::Float(from_vec(v, &shape)?))
            }
            data_type::INT64 => {
                count(t.int64_data.len(), "int64_data")?;
                let v = t.int64_data.iter().map(|&x| x as f64).collect();
                Ok(Value::Int(from_vec(v, &shape)?))
            }
            _ => {
                count(t.int32_data.len(), "int32_data")?;
                let v = t.int32_data.iter().map(|&x| x as f64).collect();
                Ok(Value::Int(from_vec(v, &shape)?))
            }
        }
    }

    /// Decodes a serialised `TensorProto` (the `.pb` files of ONNX test
    /// data sets).
    pub fn decode(bytes: &[u8]) -> Result<Value> {
        use prost::Message;
        Value::from_proto(&TensorProto::decode(bytes)?)
    }

    /// Encodes the value as a `TensorProto` named `name`: `float` raw data
    /// for a float tensor, `int64` for an integer one.
    pub fn to_proto(&self, name: &str) -> TensorProto {
        let dims = self.shape().iter().map(|&d| d as i64).collect();
        let (data_type, raw_data) = match self {
            Value::Float(t) => (
                data_type::FLOAT,
                t.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            Value::Int(t) => (
                data_type::INT64,
                t.as_slice()
                    .iter()
                    .flat_map(|&v| (v as i64).to_le_bytes())
                    .collect(),
            ),
        };
        TensorProto {
            dims,
            data_type,
            name: name.to_string(),
            raw_data,
            ..Default::default()
        }
    }
}

impl From<Tensor<f32>> for Value {
    fn from(t: Tensor<f32>) -> Value {
        Value::Float(t)
    }
}

fn from_vec<T: nn_tensor::Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor<T>> {
    Tensor::try_from_vec(data, shape).map_err(|e| OnnxError::Invalid(e.to_string()))
}

/// One little-endian integer element of type `ty` (its width is `c.len()`).
fn int_from_le(ty: i32, c: &[u8]) -> f64 {
    match ty {
        data_type::INT64 => i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64,
        data_type::INT32 => i32::from_le_bytes(c.try_into().expect("4 bytes")) as f64,
        data_type::INT16 => i16::from_le_bytes(c.try_into().expect("2 bytes")) as f64,
        data_type::UINT16 => u16::from_le_bytes(c.try_into().expect("2 bytes")) as f64,
        data_type::INT8 => c[0] as i8 as f64,
        // UINT8, and BOOL whose byte is 0 or 1.
        _ => c[0] as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_and_int_round_trip() {
        let f = Value::Float(Tensor::from_vec(vec![1.5, -2.0], &[2, 1]));
        assert_eq!(Value::from_proto(&f.to_proto("f")).unwrap(), f);
        let i = Value::ints(vec![7, -3, 0], &[3]).unwrap();
        assert_eq!(Value::from_proto(&i.to_proto("i")).unwrap(), i);
    }

    #[test]
    fn huge_declared_shape_is_refused_without_allocating() {
        let t = TensorProto {
            dims: vec![1 << 40, 1 << 40],
            data_type: data_type::FLOAT,
            raw_data: vec![0; 8],
            name: "w".into(),
            ..Default::default()
        };
        let e = Value::from_proto(&t).unwrap_err().to_string();
        assert!(e.contains("tensor \"w\""), "{e}");
        let t = TensorProto {
            dims: vec![i64::MAX, i64::MAX],
            ..t
        };
        assert!(Value::from_proto(&t)
            .unwrap_err()
            .to_string()
            .contains("overflows"));
    }
}
