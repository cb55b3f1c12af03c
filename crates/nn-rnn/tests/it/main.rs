//! The integration tests of nn-rnn: behaviour, PyTorch parity (fixtures),
//! gradient checks, module plumbing and panic locations.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod behaviour;
mod fixtures;
mod gradcheck;
mod module;
mod panic_location;
