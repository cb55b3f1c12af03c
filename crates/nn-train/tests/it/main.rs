//! The integration tests of nn-train: the generators of a distributed run,
//! checkpoint durability under SIGKILL, fitting, and the fuzz corpus replay.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod distributed;
mod durability;
mod fit;
mod fuzz_regressions;
