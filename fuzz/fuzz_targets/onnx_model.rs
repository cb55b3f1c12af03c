//! Fuzz target: see `crates/nn-onnx/tests/fuzz_harness` for how the input is used.
#![no_main]

#[path = "../../crates/nn-onnx/tests/fuzz_harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::model(data));
