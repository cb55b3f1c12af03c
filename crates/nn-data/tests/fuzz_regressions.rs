//! Replays every committed fuzz input (the seed corpus, the minimised corpus
//! the fuzzers grew, and any input that once crashed) through the loaders,
//! exactly as the cargo-fuzz targets in `fuzz/` feed them: each must come
//! back `Ok` or `Err`, never panic. This is what CI runs in place of the fuzzers.

mod fuzz_harness;

use std::path::PathBuf;

/// The inputs committed for one fuzz target, in a stable order.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8])) {
    for (path, bytes) in inputs(target) {
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            panic!("{target}: input {} panics", path.display());
        }
    }
}

#[test]
fn idx_inputs_never_panic() {
    replay("idx", fuzz_harness::idx);
}

#[test]
fn idx_gz_inputs_never_panic() {
    replay("idx_gz", fuzz_harness::idx_gz);
}

#[test]
fn csv_inputs_never_panic() {
    replay("csv", fuzz_harness::csv);
}
