//! How a fuzz input drives the ONNX loader. Shared, through `#[path]`, by
//! the `onnx_model` cargo-fuzz target in `fuzz/` and by the
//! `fuzz_regressions` test, so committed inputs replay exactly as fuzzed.
//!
//! `Model::from_bytes` may return `Ok` or `Err` for any input; a panic, an
//! allocation beyond what the input declares within the crate's caps, or a
//! hang is a bug. A model that loads is run once on zeros of its declared
//! input shapes (symbolic dims as 1) when those are small, and running may
//! fail but not panic either.

use nn_onnx::{Model, Value};
use nn_tensor::Tensor;

/// Inputs above this many elements are not built: the fuzzer looks for
/// crashes, not for the largest tensor it can declare.
const MAX_INPUT_ELEMENTS: usize = 1 << 16;

/// Loads the bytes as a model (and as a lone tensor), and runs a model
/// that loaded.
pub fn model(data: &[u8]) {
    let _ = Value::decode(data);
    let Ok(m) = Model::from_bytes(data) else {
        return;
    };
    let mut inputs = Vec::new();
    for info in m.inputs() {
        let shape: Vec<usize> = info.shape.iter().map(|d| d.unwrap_or(1)).collect();
        let n = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX);
        if n > MAX_INPUT_ELEMENTS {
            return;
        }
        inputs.push(Tensor::<f32>::zeros(&shape));
    }
    let _ = m.run(&inputs);
}
