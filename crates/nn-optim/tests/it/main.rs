//! The integration tests of nn-optim: configuration errors, fitting a line,
//! PyTorch parity (fixtures), optimiser behaviour, panic locations,
//! properties, resuming from saved state and learning-rate schedules.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod config_errors;
mod fit_line;
mod fixtures;
mod optimizer;
mod panic_location;
mod properties;
mod resume;
mod schedules;
