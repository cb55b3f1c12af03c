//! The integration tests of nn-conv: fast paths against the general path,
//! PyTorch parity (fixtures), gradient checks, panic locations and the
//! pretrained LeNet-5.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.
//!
//! `tests/determinism.rs` stays a binary of its own: it sets the process-wide
//! thread count.

mod fast_paths;
mod fixtures;
mod gradcheck;
mod panic_location;
mod pretrained;
