//! Replaying the fuzz inputs a crate commits under
//! `tests/fuzz_regressions/<target>` (seed corpus, minimised fuzzer corpus,
//! former crashes), exactly as the cargo-fuzz target feeds them: each must
//! come back `Ok` or `Err`, never panic. This is what CI runs in place of
//! the fuzzers.

use std::path::{Path, PathBuf};

/// Runs `run` on every file of the corpus `target` of the crate at
/// `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`), in name order, and
/// fails, naming the input, at the first that panics.
///
/// # Panics
/// If the folder cannot be read or holds no file, or an input panics.
pub fn replay(manifest_dir: &str, target: &str, run: fn(&[u8])) {
    let corpus = Path::new(manifest_dir)
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", corpus.display());
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            panic!("{target}: input {} panics", path.display());
        }
    }
}
