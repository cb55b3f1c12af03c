//! # nn-testkit
//!
//! What the test suites of several nn crates share, so that each helper is
//! written once: never a dependency of a library, only a
//! `[dev-dependencies]` entry (it is not published).
//!
//! * [`fixtures`]: the PyTorch golden cases of `fixtures/pytorch` (where the
//!   folder is, its manifest, the cases of one op family, their tensors);
//! * [`pretrained`]: the PyTorch-trained models of `fixtures/pretrained` and
//!   the logits they must reproduce;
//! * [`errors`]: the error policy's check that a `try_*` op and its
//!   panicking twin say the same thing;
//! * [`fuzz`]: replaying a committed fuzz corpus.
//!
//! Both folders are checked in under `fixtures/` at the workspace root,
//! found from this crate's own place in the workspace, so every crate's
//! tests resolve them alike; an environment variable points a run at
//! another folder of the same format (`NN_FIXTURES`, `NN_PRETRAINED`). A
//! missing or empty folder fails the test that needs it: nothing is ever
//! skipped silently.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

pub mod errors;
pub mod fixtures;
pub mod fuzz;
pub mod pretrained;

/// `fixtures/<sub>` in the workspace root (crates/nn-testkit → crates →
/// the root).
fn repository_fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(sub)
}

/// The folder named by the environment variable `var`, else `default`.
///
/// # Panics
/// If the folder does not exist or holds no file ending in `.{ext}`: a typo
/// in the variable, or a clone without the checked-in fixtures, would
/// otherwise pass every test unchecked.
fn folder(var: &str, default: PathBuf, ext: &str) -> PathBuf {
    let (dir, origin) = match std::env::var_os(var) {
        Some(d) => (PathBuf::from(d), format!("{var}=")),
        None => (default, format!("the default (set {var} to change it): ")),
    };
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures folder {origin}{}: {e}", dir.display()));
    let has_one = entries
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == ext));
    assert!(
        has_one,
        "fixtures folder {origin}{} holds no .{ext} file",
        dir.display()
    );
    dir
}
