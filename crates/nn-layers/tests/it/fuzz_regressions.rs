//! Replays every committed fuzz input for the safetensors weights loader
//! (seed corpus, minimised fuzzer corpus, former crashes) exactly as the
//! `weights` cargo-fuzz target feeds them: `Ok` or `Err`, never a panic.

#[path = "../fuzz_harness/mod.rs"]
mod fuzz_harness;

#[test]
fn weights_inputs_never_panic() {
    nn_testkit::fuzz::replay(env!("CARGO_MANIFEST_DIR"), "weights", fuzz_harness::weights);
}
