//! The integration tests of the facade: argument checking across the
//! crates, determinism over seeds and thread counts, the prelude, PyTorch
//! state_dict loading and numerical stability.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.
//!
//! Binaries of their own: `memory` (its global allocator counts every
//! allocation in the process), and `book`, `conformance` and `tour`, whose
//! names the docs give as commands (`cargo test --release -p nnkit --test book`).

mod arguments;
mod determinism;
mod prelude;
mod pytorch_state_dict;
mod stability;
