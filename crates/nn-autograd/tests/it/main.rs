//! The integration tests of nn-autograd: the engine, error messages,
//! property-based gradient checks and panic locations.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod engine;
mod errors;
mod gradcheck_props;
mod panic_location;
