//! # nn-generative
//!
//! Deep generative models (chapter 8 of the course), built from any
//! [`nn_layers`] modules and trained with [`nn_optim`] optimisers.
//!
//! * [`reparam`]: the reparameterisation trick, `z = mu + exp(½·logvar)·eps`;
//! * [`likelihood`]: the decoder's distribution (Bernoulli or Gaussian
//!   pixels), scoring data in nats;
//! * [`autoencoder`]: [`Autoencoder`], plain or denoising;
//! * [`vae`]: [`Vae`], the variational autoencoder: negative ELBO, prior
//!   samples, reconstructions, latent interpolation;
//! * [`adversarial`]: the discriminator and generator losses;
//! * [`two_player`]: [`train_two_player_epoch`], the alternating loop;
//! * [`gan`]: [`Gan`] and its [`GanTrainer`];
//! * [`cgan`]: [`ConditionalGan`], where a class label joins the noise and
//!   the discriminator's input.
//!
//! Image grids of samples are written with `nn_train::figures::save_image_grid`.
//!
//! ```
//! use nn_autograd::Var;
//! use nn_generative::sample_reparameterized;
//! use nn_tensor::{Rng, Tensor};
//! let mu = Var::leaf(Tensor::<f64>::zeros(&[8, 2]));
//! let logvar = Var::leaf(Tensor::zeros(&[8, 2]));
//! let z = sample_reparameterized(&mu, &logvar, &mut Rng::seed_from(1));
//! let grads = z.square().sum().backward();
//! assert!(grads.get(&logvar).is_some());
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod adversarial;
pub mod autoencoder;
pub mod cgan;
pub mod gan;
pub mod likelihood;
pub mod reparam;
pub mod two_player;
pub mod vae;

pub use adversarial::{
    mean_probability, try_discriminator_loss, try_generator_loss, GeneratorLoss,
};
pub use autoencoder::{Autoencoder, AutoencoderConfig, Corruption, ReconstructionLoss};
pub use cgan::{
    ConditionalGan, ConditionalGanConfig, ConditionalGanTrainer, Conditioned, ConditionedConfig,
    LabelEncoding,
};
pub use gan::{Gan, GanConfig, GanTrainer};
pub use likelihood::Likelihood;
pub use reparam::{
    reparameterize, sample_reparameterized, try_reparameterize, try_sample_reparameterized,
};
pub use two_player::{
    train_two_player_epoch, DiscriminatorStep, GeneratorStep, TwoPlayer, TwoPlayerEpoch,
    TwoPlayerSchedule,
};
pub use vae::{Vae, VaeConfig, VaeLoss};
