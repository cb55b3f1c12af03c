//! How a fuzz input drives the safetensors weights loader. Shared, through
//! `#[path]`, by the `weights` cargo-fuzz target in `fuzz/` and by the
//! `fuzz_regressions` test, so committed inputs replay exactly as fuzzed.
//!
//! `serialize::from_bytes` may return `Ok` or `Err` for any input; a panic,
//! an allocation beyond the input's size or a hang is a bug.

use nn_layers::prelude::*;
use nn_layers::serialize::{from_bytes, to_bytes};

/// `Linear(3, 2)` then `BatchNorm1d(2)`: float parameters, float buffers
/// and the `I64` count `1.num_batches_tracked`.
fn model<T: nn_tensor::Element>() -> Sequential<T> {
    let mut rng = Rng::seed_from(7);
    Sequential::<T>::new()
        .append(LinearConfig::new(3, 2).init(&mut rng).unwrap())
        .append(
            BatchNormConfig::new(2)
                .init(&mut Rng::seed_from(0))
                .unwrap(),
        )
}

/// Loads the bytes, strictly and not, into an f32 and an f64 model; a
/// strict failure must leave the model untouched, and a model that loaded
/// must still serialise.
pub fn weights(data: &[u8]) {
    run::<f32>(data);
    run::<f64>(data);
}

fn run<T: nn_tensor::Element>(data: &[u8]) {
    let m = model::<T>();
    let before = to_bytes(&m).unwrap();
    if from_bytes(&m, data, LoadMode::Strict).is_err() {
        assert_eq!(
            to_bytes(&m).unwrap(),
            before,
            "a failed strict load changed the model"
        );
    }
    let _ = from_bytes(&m, data, LoadMode::NonStrict);
    to_bytes(&m).unwrap();
}
