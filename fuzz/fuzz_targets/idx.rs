//! Fuzz target: see `crates/nn-data/tests/fuzz_harness` for how the input is used.
#![no_main]

#[path = "../../crates/nn-data/tests/fuzz_harness/mod.rs"]
#[allow(dead_code)] // each target uses one of the harness functions
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::idx(data));
