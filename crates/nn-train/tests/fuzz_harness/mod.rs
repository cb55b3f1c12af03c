//! How a fuzz input drives the checkpoint reader. Shared, through `#[path]`,
//! by the cargo-fuzz target in `fuzz/` and by the `fuzz_regressions` test.
//!
//! `Checkpoint::from_bytes` may return `Ok` or `Err` for any input; a panic,
//! an allocation beyond the input's size or a hang is a bug.

use nn_train::Checkpoint;

/// Parses the bytes as an f32 and an f64 checkpoint; what parses must
/// serialise again and parse back to the same shapes and metadata.
pub fn checkpoint(data: &[u8]) {
    if let Ok(c) = Checkpoint::<f32>::from_bytes(data) {
        roundtrip(&c);
    }
    if let Ok(c) = Checkpoint::<f64>::from_bytes(data) {
        roundtrip(&c);
    }
}

fn roundtrip<T: nn_tensor::Element>(c: &Checkpoint<T>) {
    let bytes = c.to_bytes().expect("a loaded checkpoint serialises");
    let back = Checkpoint::<T>::from_bytes(&bytes).expect("and parses back");
    assert_eq!(back.metadata, c.metadata);
    assert_eq!(
        back.tensors
            .iter()
            .map(|(k, t)| (k, t.shape()))
            .collect::<Vec<_>>(),
        c.tensors
            .iter()
            .map(|(k, t)| (k, t.shape()))
            .collect::<Vec<_>>()
    );
}
