//! Replays every committed fuzz input for the checkpoint reader (seed
//! corpus, minimised fuzzer corpus, former crashes) exactly as the
//! `checkpoint` cargo-fuzz target feeds them: `Ok` or `Err`, never a panic.

#[path = "../fuzz_harness/mod.rs"]
mod fuzz_harness;

#[test]
fn checkpoint_inputs_never_panic() {
    nn_testkit::fuzz::replay(
        env!("CARGO_MANIFEST_DIR"),
        "checkpoint",
        fuzz_harness::checkpoint,
    );
}
