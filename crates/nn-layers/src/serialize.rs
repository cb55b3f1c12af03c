//! Weights files: a module's parameters and buffers as safetensors, under
//! PyTorch's `state_dict` names, so files travel both ways between this
//! library and `torch.save(model.state_dict())` → `safetensors.torch.save_file`.
//!
//! * float parameters and buffers are written in the model's precision
//!   (`F32` / `F64`); counts (`num_batches_tracked`) as `I64`, as PyTorch does;
//! * loading accepts `F32`, `F64` (converted to the model's precision) and
//!   `I64` for counts;
//! * [`LoadMode::Strict`] changes nothing unless every key matches, and
//!   errors with the missing keys, unexpected keys and shape mismatches;
//!   [`LoadMode::NonStrict`] loads what matches and reports the rest;
//! * a corrupt or truncated file is a [`SerializeError`], never a panic.
//!
//! ```
//! use nn_layers::prelude::*;
//! use nn_layers::serialize::{from_bytes, to_bytes, LoadMode};
//! let mut rng = Rng::seed_from(0);
//! let a = LinearConfig::new(3, 2).init::<f32>(&mut rng).unwrap();
//! let b = LinearConfig::new(3, 2).init::<f32>(&mut rng).unwrap();
//! let bytes = to_bytes(&a).unwrap();
//! let report = from_bytes(&b, &bytes, LoadMode::Strict).unwrap();
//! assert_eq!(report.loaded, ["weight", "bias"]);
//! assert_eq!(a.weight.value(), b.weight.value());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use nn_tensor::{Element, LeDtype, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::module::{Buffer, BufferKind, Module};
use nn_autograd::Parameter;

/// Strict or lenient loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LoadMode {
    /// Every key of the model must be in the file with the right shape, and
    /// no other key may be there (PyTorch's `strict=True`).
    #[default]
    Strict,
    /// Load what matches; report the rest.
    NonStrict,
}

/// A key whose shape in the file differs from the model's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The `state_dict` name.
    pub name: String,
    /// The model's shape.
    pub expected: Vec<usize>,
    /// The file's shape.
    pub found: Vec<usize>,
}

/// What a load did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys loaded, in the model's order.
    pub loaded: Vec<String>,
    /// Model keys absent from the file.
    pub missing: Vec<String>,
    /// File keys the model does not have.
    pub unexpected: Vec<String>,
    /// Keys present on both sides with different shapes (not loaded).
    pub mismatched: Vec<ShapeMismatch>,
}

impl LoadReport {
    /// True when every key matched.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} loaded", self.loaded.len())?;
        if !self.missing.is_empty() {
            write!(f, "; missing keys: {}", self.missing.join(", "))?;
        }
        if !self.unexpected.is_empty() {
            write!(f, "; unexpected keys: {}", self.unexpected.join(", "))?;
        }
        for m in &self.mismatched {
            write!(
                f,
                "; shape mismatch for {}: model {:?}, file {:?}",
                m.name, m.expected, m.found
            )?;
        }
        Ok(())
    }
}

/// Why saving or loading failed.
#[derive(Debug)]
pub enum SerializeError {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// The bytes are not a valid safetensors file (corrupt, truncated, garbage).
    Format(String),
    /// A tensor has a dtype that cannot go where its name points.
    Dtype {
        /// The `state_dict` name.
        name: String,
        /// The dtype in the file.
        dtype: String,
        /// What the model wants there.
        expected: &'static str,
    },
    /// Strict loading found keys that do not match; nothing was loaded.
    Mismatch(LoadReport),
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerializeError::Io(e) => write!(f, "weights file: {e}"),
            SerializeError::Format(m) => write!(f, "weights file is not valid safetensors: {m}"),
            SerializeError::Dtype {
                name,
                dtype,
                expected,
            } => write!(
                f,
                "weights file: `{name}` has dtype {dtype}, expected {expected}"
            ),
            SerializeError::Mismatch(r) => write!(f, "strict load failed: {r}"),
        }
    }
}

impl std::error::Error for SerializeError {}

impl From<std::io::Error> for SerializeError {
    fn from(e: std::io::Error) -> Self {
        SerializeError::Io(e)
    }
}

enum Slot<T: Element> {
    Param(Parameter<T>),
    Buf(Buffer<T>),
}

fn slots<T: Element, M: Module<T> + ?Sized>(module: &M) -> Vec<(String, Slot<T>)> {
    let mut out = Vec::new();
    module.visit_parameters("", &mut |n, p| {
        out.push((n.to_string(), Slot::Param(p.clone())))
    });
    module.visit_buffers("", &mut |n, b| {
        out.push((n.to_string(), Slot::Buf(b.clone())))
    });
    out
}

/// The module's `state_dict` as safetensors bytes.
pub fn to_bytes<T: Element, M: Module<T> + ?Sized>(module: &M) -> Result<Vec<u8>, SerializeError> {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, slot) in slots(module) {
        let (value, count) = match &slot {
            Slot::Param(p) => (p.value(), false),
            Slot::Buf(b) => (b.value(), b.kind() == BufferKind::Count),
        };
        // Counts as I64, as PyTorch stores them; floats in the model's precision.
        let dtype = if count {
            LeDtype::I64
        } else {
            LeDtype::of::<T>()
        };
        let bytes = value.to_le_bytes(dtype);
        owned.push((name, dtype.into(), value.shape().to_vec(), bytes));
    }
    let mut views = Vec::with_capacity(owned.len());
    for (name, dtype, shape, bytes) in &owned {
        let v = TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|e| SerializeError::Format(format!("{name}: {e:?}")))?;
        views.push((name.clone(), v));
    }
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize(views, &Some(meta)).map_err(|e| SerializeError::Format(format!("{e:?}")))
}

/// Writes the module's `state_dict` to a safetensors file, atomically
/// ([`crate::atomic_write`]): a crash or a kill mid-save leaves the previous
/// file whole, never a truncated one.
pub fn save<T: Element, M: Module<T> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), SerializeError> {
    crate::atomic_write(path, &to_bytes(module)?)?;
    Ok(())
}

/// Reads a safetensors file into the module (see [`from_bytes`]).
pub fn load<T: Element, M: Module<T> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
    mode: LoadMode,
) -> Result<LoadReport, SerializeError> {
    let bytes = std::fs::read(path)?;
    from_bytes(module, &bytes, mode)
}

fn decode<T: Element>(
    name: &str,
    view: &TensorView<'_>,
    count: bool,
) -> Result<Tensor<T>, SerializeError> {
    let dtype = LeDtype::try_from(view.dtype())
        .ok()
        .filter(|d| count || d.is_float())
        .ok_or_else(|| SerializeError::Dtype {
            name: name.to_string(),
            dtype: format!("{:?}", view.dtype()),
            expected: if count {
                "I64, F32 or F64"
            } else {
                "F32 or F64"
            },
        })?;
    Tensor::try_from_le_bytes(dtype, view.data(), view.shape())
        .map_err(|e| SerializeError::Format(format!("{name}: {e}")))
}

/// Loads safetensors bytes into the module by `state_dict` name.
///
/// Strict mode checks everything first and changes nothing on a mismatch;
/// non-strict mode loads the keys whose name and shape match.
pub fn from_bytes<T: Element, M: Module<T> + ?Sized>(
    module: &M,
    bytes: &[u8],
    mode: LoadMode,
) -> Result<LoadReport, SerializeError> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| SerializeError::Format(format!("{e:?}")))?;
    let mut in_file: BTreeMap<String, TensorView<'_>> = file.tensors().into_iter().collect();
    let mut report = LoadReport::default();
    let mut todo: Vec<(String, Slot<T>, Tensor<T>)> = Vec::new();
    for (name, slot) in slots(module) {
        let Some(view) = in_file.remove(&name) else {
            report.missing.push(name);
            continue;
        };
        let (expected, count) = match &slot {
            Slot::Param(p) => (p.shape(), false),
            Slot::Buf(b) => (b.shape(), b.kind() == BufferKind::Count),
        };
        // PyTorch stores num_batches_tracked as a 0-d tensor; accept [1] too.
        let found = view.shape().to_vec();
        let same = found == expected
            || (count && found.iter().product::<usize>() == 1 && expected.is_empty());
        if !same {
            report.mismatched.push(ShapeMismatch {
                name,
                expected,
                found,
            });
            continue;
        }
        let t = decode::<T>(&name, &view, count)?.reshape(&expected);
        todo.push((name, slot, t));
    }
    report.unexpected = in_file.into_keys().collect();
    if mode == LoadMode::Strict && !report.is_complete() {
        return Err(SerializeError::Mismatch(report));
    }
    for (name, slot, t) in todo {
        let r = match slot {
            Slot::Param(p) => p.try_set_value(t),
            Slot::Buf(b) => b.try_set_value(t),
        };
        r.map_err(|e| SerializeError::Format(format!("{name}: {e}")))?;
        report.loaded.push(name);
    }
    Ok(report)
}
