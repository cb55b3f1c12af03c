//! The integration tests of nn-graph: gradient checks of the graph ops.
//!
//! One test binary, one module per topic, as in every crate: each binary
//! in `tests/` re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod gradcheck;
