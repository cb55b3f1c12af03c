//! Replays every committed fuzz input for the ONNX loader (seed corpus:
//! small models of the backend cases and of the exporter, hostile
//! hand-made files; and any former crash) exactly as the `onnx_model`
//! cargo-fuzz target feeds them: `Ok` or `Err`, never a panic.

#[path = "../fuzz_harness/mod.rs"]
mod fuzz_harness;

#[test]
fn onnx_model_inputs_never_panic() {
    nn_testkit::fuzz::replay(env!("CARGO_MANIFEST_DIR"), "model", fuzz_harness::model);
}
