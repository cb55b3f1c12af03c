//! Replays every committed fuzz input for the safetensors weights loader
//! (seed corpus, minimised fuzzer corpus, former crashes) exactly as the
//! `weights` cargo-fuzz target feeds them: `Ok` or `Err`, never a panic.

mod fuzz_harness;

use std::path::PathBuf;

#[test]
fn weights_inputs_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/weights");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| fuzz_harness::weights(&bytes)).is_err() {
            panic!("weights: input {} panics", path.display());
        }
    }
}
