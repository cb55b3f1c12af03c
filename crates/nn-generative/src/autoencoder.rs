//! [`Autoencoder`]: an encoder and a decoder trained to reproduce their
//! input, optionally from a corrupted copy (a denoising autoencoder).

use nn_autograd::{no_grad, Var};
use nn_layers::{Forward, Module};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use nn_tensor::or_panic;

/// How a reconstruction is scored against the clean input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReconstructionLoss {
    /// Mean squared error between the decoder's output and the input.
    #[default]
    Mse,
    /// Binary cross-entropy: the decoder outputs logits and the input,
    /// in `[0, 1]`, is the target; reconstructions are `sigmoid(logits)`.
    BceWithLogits,
}

/// Noise applied to the encoder's input during training (denoising).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Corruption {
    /// Adds `N(0, std²)` to every element.
    Gaussian {
        /// The noise's standard deviation.
        std: f64,
    },
    /// Sets each element to 0 with probability `p` (masking noise).
    Masking {
        /// The probability of dropping an element, in `[0, 1)`.
        p: f64,
    },
}

impl Corruption {
    fn check(&self) -> Result<()> {
        let ok = match *self {
            Corruption::Gaussian { std } => std >= 0.0 && std.is_finite(),
            Corruption::Masking { p } => (0.0..1.0).contains(&p),
        };
        if ok {
            Ok(())
        } else {
            Err(TensorError::invalid(
                "AutoencoderConfig::init",
                format!("invalid corruption {self:?}: std must be finite and ≥ 0, p in [0, 1)"),
            ))
        }
    }

    /// A corrupted copy of `x`.
    pub fn apply<T: Element>(&self, x: &Tensor<T>, rng: &mut Rng) -> Tensor<T> {
        match *self {
            Corruption::Gaussian { std } => x.add(&Tensor::rand_normal(x.shape(), 0.0, std, rng)),
            Corruption::Masking { p } => x.mul(&Tensor::rand_bernoulli(x.shape(), 1.0 - p, rng)),
        }
    }
}

/// The settings of an [`Autoencoder`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct AutoencoderConfig {
    /// The reconstruction loss (default MSE).
    pub loss: ReconstructionLoss,
    /// Noise on the training input (default none: a plain autoencoder).
    pub corruption: Option<Corruption>,
}

impl AutoencoderConfig {
    /// A plain autoencoder with MSE loss.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the loss.
    pub fn with_loss(mut self, loss: ReconstructionLoss) -> Self {
        self.loss = loss;
        self
    }

    /// Makes it a denoising autoencoder: the encoder sees `corruption`
    /// applied to the input, the loss compares with the clean input.
    pub fn with_corruption(mut self, corruption: Corruption) -> Self {
        self.corruption = Some(corruption);
        self
    }

    /// Builds the model from any encoder and decoder whose composition maps
    /// an input batch `[N, ...]` back to its own shape.
    /// The encoder and decoder hold every weight, so `_rng` is unused: every `init`
    /// takes one, so that building any model reads the same.
    pub fn init<T: Element, E: Forward<T>, D: Forward<T>>(
        &self,
        encoder: E,
        decoder: D,
        _rng: &mut Rng,
    ) -> Result<Autoencoder<T, E, D>> {
        if let Some(c) = &self.corruption {
            c.check()?;
        }
        Ok(Autoencoder {
            encoder,
            decoder,
            config: *self,
            _element: std::marker::PhantomData,
        })
    }
}

/// An autoencoder: `decoder(encoder(x)) ≈ x`, the code in between being
/// the learned representation. Its `state_dict` names are `encoder.*` and
/// `decoder.*`.
///
/// ```
/// use nn_generative::{AutoencoderConfig, Corruption};
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// let ae = AutoencoderConfig::new()
///     .with_corruption(Corruption::Masking { p: 0.3 })
///     .init(
///         LinearConfig::new(6, 2).init::<f32>(&mut rng).unwrap(),
///         LinearConfig::new(2, 6).init(&mut rng).unwrap(),
///         &mut rng,
///     )
///     .unwrap();
/// let x = Tensor::rand_uniform(&[4, 6], 0.0, 1.0, &mut rng);
/// let loss = ae.loss(&x, &mut rng);
/// assert_eq!(loss.backward().len(), 4);
/// assert_eq!(ae.encode(&x).shape(), &[4, 2]);
/// ```
#[derive(Module)]
pub struct Autoencoder<T: Element, E, D> {
    /// The encoder, `[N, ...] → [N, code]`.
    pub encoder: E,
    /// The decoder, `[N, code] → [N, ...]`.
    pub decoder: D,
    #[module(skip)]
    config: AutoencoderConfig,
    _element: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element, E: Forward<T>, D: Forward<T>> Autoencoder<T, E, D> {
    /// The settings.
    pub fn config(&self) -> &AutoencoderConfig {
        &self.config
    }

    /// The decoder's raw output for `x` (logits with the BCE loss):
    /// `x: [N, *]` → the decoder's output shape, `[N, *]` like `x` for a
    /// matching encoder and decoder.
    pub fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        self.decoder.try_forward(&self.encoder.try_forward(x)?)
    }

    /// The training loss on a clean batch `x` (the mean over elements);
    /// with a corruption the encoder sees a noisy copy drawn from `rng`.
    pub fn try_loss(&self, x: &Tensor<T>, rng: &mut Rng) -> Result<Var<T>> {
        let input = match &self.config.corruption {
            Some(c) => c.apply(x, rng),
            None => x.clone(),
        };
        let out = self.try_forward(&Var::constant(input))?;
        if out.shape() != x.shape() {
            return Err(TensorError::shapes(
                "Autoencoder::loss",
                out.shape(),
                x.shape(),
                "the decoder's output must have the input's shape",
            ));
        }
        match self.config.loss {
            ReconstructionLoss::Mse => out.try_mse_loss(x),
            ReconstructionLoss::BceWithLogits => out.try_binary_cross_entropy_with_logits(x),
        }
    }

    /// Panicking [`Autoencoder::try_loss`].
    #[track_caller]
    pub fn loss(&self, x: &Tensor<T>, rng: &mut Rng) -> Var<T> {
        or_panic(self.try_loss(x, rng))
    }

    /// The codes of `x`, without recording a graph.
    pub fn try_encode(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        no_grad(|| {
            Ok(self
                .encoder
                .try_forward(&Var::constant(x.clone()))?
                .value()
                .clone())
        })
    }

    /// Panicking [`Autoencoder::try_encode`].
    #[track_caller]
    pub fn encode(&self, x: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_encode(x))
    }

    /// Reconstructions of the clean `x` (sigmoid applied with the BCE
    /// loss), without recording a graph.
    pub fn try_reconstruct(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        let out = no_grad(|| self.try_forward(&Var::constant(x.clone())))?;
        Ok(match self.config.loss {
            ReconstructionLoss::Mse => out.value().clone(),
            ReconstructionLoss::BceWithLogits => out.value().sigmoid(),
        })
    }

    /// Panicking [`Autoencoder::try_reconstruct`].
    #[track_caller]
    pub fn reconstruct(&self, x: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_reconstruct(x))
    }

    /// The mean squared error of the reconstructions of `x`, in the data's
    /// units (what `test_mse` reports).
    pub fn try_reconstruction_mse(&self, x: &Tensor<T>) -> Result<f64> {
        let r = self.try_reconstruct(x)?;
        let n = x.numel().max(1) as f64;
        // Accumulate in f64: millions of f32 squares would lose digits.
        let sq: f64 = r
            .sub(x)
            .as_slice()
            .iter()
            .map(|d| d.to_f64_lossless().powi(2))
            .sum();
        Ok(sq / n)
    }
}
