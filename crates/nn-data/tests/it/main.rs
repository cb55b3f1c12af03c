//! The integration tests of nn-data: the fuzz corpus replay and the real
//! MNIST files.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.
//!
//! `tests/download.rs` (feature `download`) stays a binary of its own, the
//! command its docs give: `cargo test -p nn-data --features download --test download`.

mod fuzz_regressions;
mod mnist_real;
