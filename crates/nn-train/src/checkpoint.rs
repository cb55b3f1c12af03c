//! Checkpoints: named tensors plus metadata in one safetensors file,
//! written atomically so a crash never leaves a broken file.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::Path;

use nn_tensor::safetensors_io::{read_float_tensors, ReadTensorError};
use nn_tensor::{Element, LeDtype, Tensor};
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;

/// Re-exported from `nn-layers`, where weights files use it too.
pub use nn_layers::atomic_write;

/// Why a checkpoint could not be read.
#[derive(Debug)]
pub enum CheckpointError {
    /// The file could not be read or written.
    Io(io::Error),
    /// The file is not a valid checkpoint (corrupt, truncated, wrong dtype).
    Format(String),
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::Io(e) => write!(f, "checkpoint: {e}"),
            CheckpointError::Format(m) => write!(f, "checkpoint: {m}"),
        }
    }
}

impl std::error::Error for CheckpointError {}

impl From<io::Error> for CheckpointError {
    fn from(e: io::Error) -> Self {
        CheckpointError::Io(e)
    }
}

/// A training checkpoint: tensors by name (model parameters, buffers,
/// optimiser state) and string metadata (epoch, RNG state, …).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint<T: Element> {
    /// Named tensors.
    pub tensors: BTreeMap<String, Tensor<T>>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

impl<T: Element> Checkpoint<T> {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Checkpoint {
            tensors: BTreeMap::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// Serialises to safetensors bytes (little-endian, as the format requires).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let raw: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    t.to_le_bytes(LeDtype::of::<T>()),
                    t.shape().to_vec(),
                )
            })
            .collect();
        let mut views = Vec::with_capacity(raw.len());
        for (k, b, s) in &raw {
            let v = TensorView::new(LeDtype::of::<T>().into(), s.clone(), b)
                .map_err(|e| CheckpointError::Format(format!("tensor {k}: {e}")))?;
            views.push((k.clone(), v));
        }
        // safetensors 0.4 writes an empty `__metadata__` map that its own
        // reader then rejects (found by the fuzzer), so an empty map is
        // written as no metadata at all.
        let meta: Option<HashMap<String, String>> = if self.metadata.is_empty() {
            None
        } else {
            Some(self.metadata.clone().into_iter().collect())
        };
        safetensors::serialize(views, &meta).map_err(|e| CheckpointError::Format(e.to_string()))
    }

    /// Parses safetensors bytes; any corruption is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| CheckpointError::Format(e.to_string()))?;
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
        let tensors = read_float_tensors(&st).map_err(|e| {
            CheckpointError::Format(match e {
                ReadTensorError::Dtype { name, dtype } => {
                    format!("tensor {name} has unsupported dtype {dtype:?}")
                }
                ReadTensorError::Bytes { name, source } => format!("tensor {name}: {source}"),
            })
        })?;
        let metadata = meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Checkpoint { tensors, metadata })
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        atomic_write(path, &self.to_bytes()?)?;
        Ok(())
    }

    /// Reads a checkpoint.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        Self::from_bytes(&fs::read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_corruption() {
        let mut c = Checkpoint::<f32>::new();
        c.tensors
            .insert("w".into(), Tensor::from_vec(vec![1.0, -2.5], &[2]));
        c.metadata.insert("epoch".into(), "3".into());
        let dir = std::env::temp_dir().join(format!("nn-train-ckpt-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.safetensors");
        c.save(&p).unwrap();
        assert_eq!(Checkpoint::<f32>::load(&p).unwrap(), c);
        let bytes = fs::read(&p).unwrap();
        for cut in [0, 7, 8, 20, bytes.len() - 1] {
            assert!(
                Checkpoint::<f32>::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut garbage = bytes.clone();
        garbage[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Checkpoint::<f32>::from_bytes(&garbage).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Found by the fuzzer: an empty checkpoint (no tensors, no metadata)
    /// must serialise to bytes that parse back.
    #[test]
    fn empty_checkpoint_roundtrips() {
        let c = Checkpoint::<f32>::new();
        let back = Checkpoint::<f32>::from_bytes(&c.to_bytes().unwrap()).unwrap();
        assert_eq!(back, c);
        let mut only_meta = Checkpoint::<f64>::new();
        only_meta.metadata.insert("epoch".into(), "0".into());
        let back = Checkpoint::<f64>::from_bytes(&only_meta.to_bytes().unwrap()).unwrap();
        assert_eq!(back, only_meta);
    }
}
