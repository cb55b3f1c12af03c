//! The integration tests of nn-layers: `#[derive(Module)]`, the fuzz corpus
//! replay, gradient checks, modules, panic locations, pretrained weights and
//! serialisation.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod derive;
mod fuzz_regressions;
mod gradcheck;
mod modules;
mod panic_location;
mod pretrained;
mod serialize;
