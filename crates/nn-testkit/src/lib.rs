//! # nn-testkit
//!
//! What the test suites of several nn crates share, so that each helper is
//! written once: never a dependency of a library, only a
//! `[dev-dependencies]` entry (it is not published).
//!
//! * [`fixtures`]: the PyTorch golden cases of `shared/fixtures` (where the
//!   folder is, the cases of one op family, their tensors);
//! * [`pretrained`]: the PyTorch-trained models of `shared/pretrained` and
//!   the logits they must reproduce;
//! * [`errors`]: the error policy's check that a `try_*` op and its
//!   panicking twin say the same thing;
//! * [`fuzz`]: replaying a committed fuzz corpus.
//!
//! The shared folders sit next to the workspace root (`../shared`), found
//! from this crate's own place in the workspace, so every crate's tests
//! resolve them alike.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

pub mod errors;
pub mod fixtures;
pub mod fuzz;
pub mod pretrained;

/// `../shared/<sub>` relative to the workspace root.
fn shared_dir(sub: &str) -> PathBuf {
    // crates/nn-testkit → crates → the workspace root → its parent.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.ancestors().nth(3) {
        Some(outside) => outside.join("shared").join(sub),
        None => manifest.join("../../../shared").join(sub),
    }
}
