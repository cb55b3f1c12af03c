//! The integration tests of nn-onnx: the operator table of docs/onnx.md, the
//! fuzz corpus replay, hostile files and importing chain graphs as layers.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.
//!
//! Binaries of their own: `mutations` (its global allocator measures every
//! allocation in the process), and `backend` and `export`, whose names
//! docs/onnx.md gives as commands (`cargo test --release -p nn-onnx --test backend`).

mod docs;
mod fuzz_regressions;
mod hostile;
mod import;
