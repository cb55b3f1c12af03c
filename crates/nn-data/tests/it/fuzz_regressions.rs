//! Replays every committed fuzz input (the seed corpus, the minimised corpus
//! the fuzzers grew, and any input that once crashed) through the loaders,
//! exactly as the cargo-fuzz targets in `fuzz/` feed them: each must come
//! back `Ok` or `Err`, never panic. This is what CI runs in place of the fuzzers.

#[path = "../fuzz_harness/mod.rs"]
mod fuzz_harness;

#[test]
fn idx_inputs_never_panic() {
    nn_testkit::fuzz::replay(env!("CARGO_MANIFEST_DIR"), "idx", fuzz_harness::idx);
}

#[test]
fn idx_gz_inputs_never_panic() {
    nn_testkit::fuzz::replay(env!("CARGO_MANIFEST_DIR"), "idx_gz", fuzz_harness::idx_gz);
}

#[test]
fn csv_inputs_never_panic() {
    nn_testkit::fuzz::replay(env!("CARGO_MANIFEST_DIR"), "csv", fuzz_harness::csv);
}
