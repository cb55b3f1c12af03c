//! The integration tests of nn-generative: autoencoders, GANs, VAEs and
//! panic locations.
//!
//! One test binary, one module per topic: each binary in `tests/`
//! re-monomorphises the library's generic code and links every
//! dependency, so folding them into one cut CI's build time.

mod autoencoder;
mod gan;
mod panic_location;
mod vae;
