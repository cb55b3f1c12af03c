//! The integration tests of nn-tensor: error messages, panic locations and
//! property-based tests.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod errors;
mod panic_location;
mod props;
