//! [`Vae`]: the variational autoencoder (Kingma & Welling, 2014).

use nn_autograd::ops::loss::try_gaussian_kl;
use nn_autograd::{no_grad, Reduction, Var};
use nn_layers::{Forward, Module};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::likelihood::Likelihood;
use crate::reparam::try_reparameterize;
use nn_tensor::or_panic;

/// The settings of a [`Vae`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VaeConfig {
    /// The latent dimension `D`: the encoder outputs `[N, 2·D]`.
    pub latent_dim: usize,
    /// The decoder's output distribution (default Bernoulli, for pixels in `[0, 1]`).
    pub likelihood: Likelihood,
    /// The weight of the KL term (1 for the ELBO; β-VAEs use other values).
    pub beta: f64,
    /// How the training loss combines the examples of a batch: `Sum` (the
    /// default, as PyTorch's VAE example) or `BatchMean`.
    pub reduction: Reduction,
}

impl VaeConfig {
    /// A VAE with `latent_dim` latent units, Bernoulli pixels, β = 1 and a
    /// summed loss.
    pub fn new(latent_dim: usize) -> Self {
        VaeConfig {
            latent_dim,
            likelihood: Likelihood::Bernoulli,
            beta: 1.0,
            reduction: Reduction::Sum,
        }
    }

    /// Sets the likelihood.
    pub fn with_likelihood(mut self, likelihood: Likelihood) -> Self {
        self.likelihood = likelihood;
        self
    }

    /// Sets the KL weight β.
    pub fn with_beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// Sets the batch reduction of the training loss (`Sum` or `BatchMean`).
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Builds the model from an encoder (input `[N, ...]` → `[N, 2·latent_dim]`,
    /// the means then the log-variances) and a decoder (`[N, latent_dim]` →
    /// the data's shape: logits for Bernoulli, means for Gaussian).
    /// The encoder and decoder hold every weight, so `_rng` is unused: every `init`
    /// takes one, so that building any model reads the same.
    pub fn init<T: Element, E: Forward<T>, D: Forward<T>>(
        &self,
        encoder: E,
        decoder: D,
        _rng: &mut Rng,
    ) -> Result<Vae<T, E, D>> {
        if self.latent_dim == 0 {
            return Err(TensorError::invalid(
                "VaeConfig::init",
                "latent_dim = 0, expected at least 1",
            ));
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(TensorError::invalid(
                "VaeConfig::init",
                format!("beta = {}, expected a finite value >= 0", self.beta),
            ));
        }
        if !matches!(self.reduction, Reduction::Sum | Reduction::BatchMean) {
            return Err(TensorError::invalid(
                "VaeConfig::init",
                format!(
                    "reduction must be Sum or BatchMean, got {:?}",
                    self.reduction
                ),
            ));
        }
        Ok(Vae {
            encoder,
            decoder,
            config: *self,
            _element: std::marker::PhantomData,
        })
    }
}

/// One evaluation of the VAE objective on a batch.
#[derive(Clone, Debug)]
pub struct VaeLoss<T: Element> {
    /// What to back-propagate: `Σ_n (recon_n + β·KL_n)`, or that divided
    /// by N with [`Reduction::BatchMean`].
    pub total: Var<T>,
    /// The mean reconstruction term `−log p(x | z)` per example, in nats.
    pub reconstruction: f64,
    /// The mean `KL(q(z | x) ‖ N(0, I))` per example, in nats.
    pub kl: f64,
    /// The number of examples in the batch.
    pub batch_size: usize,
}

impl<T: Element> VaeLoss<T> {
    /// The negative ELBO per example in nats, `reconstruction + KL` (β not
    /// applied: this is the bound on `−log p(x)` whatever β trained it).
    pub fn neg_elbo(&self) -> f64 {
        self.reconstruction + self.kl
    }
}

/// A variational autoencoder: an encoder giving the mean and log-variance
/// of `q(z | x) = N(mu, diag(exp(logvar)))`, the reparameterisation trick,
/// and a decoder giving `p(x | z)`.
///
/// Its `state_dict` names are `encoder.*` and `decoder.*`.
///
/// ```
/// use nn_generative::VaeConfig;
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// let encoder = Sequential::<f64>::new()
///     .append(LinearConfig::new(6, 8).init(&mut rng).unwrap())
///     .append(Relu)
///     .append(LinearConfig::new(8, 2 * 2).init(&mut rng).unwrap());
/// let decoder = Sequential::new()
///     .append(LinearConfig::new(2, 8).init(&mut rng).unwrap())
///     .append(Relu)
///     .append(LinearConfig::new(8, 6).init(&mut rng).unwrap());
/// let vae = VaeConfig::new(2).init(encoder, decoder, &mut rng).unwrap();
/// let x = Tensor::rand_uniform(&[5, 6], 0.0, 1.0, &mut rng);
/// let loss = vae.loss(&x, &mut rng);
/// let grads = loss.total.backward();
/// assert!(vae.parameters().iter().all(|p| grads.get_id(p.id()).is_some()));
/// assert_eq!(vae.sample_prior(3, &mut rng).shape(), &[3, 6]);
/// ```
#[derive(Module)]
pub struct Vae<T: Element, E, D> {
    /// The encoder, `[N, ...] → [N, 2·latent_dim]`.
    pub encoder: E,
    /// The decoder, `[N, latent_dim] → [N, ...]`.
    pub decoder: D,
    #[module(skip)]
    config: VaeConfig,
    _element: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element, E: Forward<T>, D: Forward<T>> Vae<T, E, D> {
    /// The settings.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The latent dimension.
    pub fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    /// `(mu, logvar)` of `q(z | x)`, each `[N, latent_dim]`.
    pub fn try_encode(&self, x: &Var<T>) -> Result<(Var<T>, Var<T>)> {
        let h = self.encoder.try_forward(x)?;
        let d = self.config.latent_dim;
        if h.ndim() != 2 || h.shape()[1] != 2 * d {
            return Err(TensorError::invalid(
                "Vae::encode",
                format!(
                    "the encoder gave {:?} for input {:?}; it must give [N, 2·latent_dim] = [N, {}]",
                    h.shape(),
                    x.shape(),
                    2 * d
                ),
            ));
        }
        Ok((h.narrow(1, 0, d), h.narrow(1, d, d)))
    }

    /// The decoder's output for latent codes `z` (`[N, latent_dim]`): logits
    /// for Bernoulli pixels, means for Gaussian ones.
    pub fn try_decode(&self, z: &Var<T>) -> Result<Var<T>> {
        if z.ndim() != 2 || z.shape()[1] != self.config.latent_dim {
            return Err(TensorError::invalid(
                "Vae::decode",
                format!(
                    "latent codes of shape {:?}, expected [N, {}]",
                    z.shape(),
                    self.config.latent_dim
                ),
            ));
        }
        self.decoder.try_forward(z)
    }

    /// The objective on a batch `x` (`[N, ...]`), with the noise `eps`
    /// (`[N, latent_dim]`) given: deterministic, for tests and for
    /// reproducing a reference computation.
    pub fn try_loss_with_noise(&self, x: &Tensor<T>, eps: &Tensor<T>) -> Result<VaeLoss<T>> {
        let (mu, logvar) = self.try_encode(&Var::constant(x.clone()))?;
        let z = try_reparameterize(&mu, &logvar, eps)?;
        let out = self.decoder.try_forward(&z)?;
        let recon = self
            .config
            .likelihood
            .try_negative_log_likelihood(&out, x)
            .map_err(|e| match e {
                TensorError::ShapeMismatch { lhs, rhs, .. } => TensorError::shapes(
                    "Vae::loss",
                    &lhs,
                    &rhs,
                    "the decoder's output must have the input's shape",
                ),
                other => other,
            })?;
        let kl = try_gaussian_kl(&mu, &logvar, Reduction::None)?;
        let n = x.shape()[0];
        let recon_sum = recon.sum();
        let kl_sum = kl.sum();
        let mut total = recon_sum.add(&kl_sum.mul_scalar(T::of(self.config.beta)));
        if self.config.reduction == Reduction::BatchMean {
            total = total.mul_scalar(T::of(1.0 / n as f64));
        }
        Ok(VaeLoss {
            total,
            reconstruction: recon_sum.value().item().to_f64_lossless() / n as f64,
            kl: kl_sum.value().item().to_f64_lossless() / n as f64,
            batch_size: n,
        })
    }

    /// The objective on a batch `x` (`[N, ...]`), drawing one `z` per
    /// example from `q(z | x)` with `rng`.
    pub fn try_loss(&self, x: &Tensor<T>, rng: &mut Rng) -> Result<VaeLoss<T>> {
        if x.ndim() < 2 {
            return Err(TensorError::invalid(
                "Vae::loss",
                format!("input of shape {:?} must be [N, ...]", x.shape()),
            ));
        }
        let eps = Tensor::rand_normal(&[x.shape()[0], self.config.latent_dim], 0.0, 1.0, rng);
        self.try_loss_with_noise(x, &eps)
    }

    /// Panicking [`Vae::try_loss`].
    #[track_caller]
    pub fn loss(&self, x: &Tensor<T>, rng: &mut Rng) -> VaeLoss<T> {
        or_panic(self.try_loss(x, rng))
    }

    /// `n` samples from the model: `z ~ N(0, I)` decoded to the mean of
    /// `p(x | z)`, `[n, ...]`. No graph is recorded.
    pub fn try_sample_prior(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        let z = Tensor::rand_normal(&[n, self.config.latent_dim], 0.0, 1.0, rng);
        self.try_decode_mean(&z)
    }

    /// Panicking [`Vae::try_sample_prior`].
    #[track_caller]
    pub fn sample_prior(&self, n: usize, rng: &mut Rng) -> Tensor<T> {
        or_panic(self.try_sample_prior(n, rng))
    }

    /// The mean of `p(x | z)` for given codes `z` (`[N, latent_dim]`).
    pub fn try_decode_mean(&self, z: &Tensor<T>) -> Result<Tensor<T>> {
        no_grad(|| {
            let out = self.try_decode(&Var::constant(z.clone()))?;
            Ok(self.config.likelihood.mean(out.as_tensor()))
        })
    }

    /// Reconstructions of `x`: the mean of `p(x | z)` at `z = mu(x)`, the
    /// centre of the posterior (no sampling, so the picture is stable).
    pub fn try_reconstruct(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        let mu = no_grad(|| self.try_encode(&Var::constant(x.clone())))?.0;
        self.try_decode_mean(mu.as_tensor())
    }

    /// Panicking [`Vae::try_reconstruct`].
    #[track_caller]
    pub fn reconstruct(&self, x: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_reconstruct(x))
    }

    /// A walk through latent space from input `a` to input `b` (each one
    /// example, `[1, ...]`): their posterior means are joined by `steps`
    /// evenly spaced points (both ends included) and decoded, `[steps, ...]`.
    pub fn try_interpolate(&self, a: &Tensor<T>, b: &Tensor<T>, steps: usize) -> Result<Tensor<T>> {
        if a.shape() != b.shape() || a.ndim() < 2 || a.shape()[0] != 1 {
            return Err(TensorError::shapes(
                "Vae::interpolate",
                a.shape(),
                b.shape(),
                "the two inputs must be single examples [1, ...] of the same shape",
            ));
        }
        if steps < 2 {
            return Err(TensorError::invalid(
                "Vae::interpolate",
                format!("steps must be at least 2 (both ends), got {steps}"),
            ));
        }
        let both = Tensor::concat(&[a, b], 0);
        let mu = no_grad(|| self.try_encode(&Var::constant(both)))?.0;
        let m = mu.value().to_f64_vec();
        let d = self.config.latent_dim;
        let mut codes = Vec::with_capacity(steps * d);
        for s in 0..steps {
            let t = s as f64 / (steps - 1) as f64;
            codes.extend((0..d).map(|j| T::of((1.0 - t) * m[j] + t * m[d + j])));
        }
        self.try_decode_mean(&Tensor::from_vec(codes, &[steps, d]))
    }

    /// Panicking [`Vae::try_interpolate`].
    #[track_caller]
    pub fn interpolate(&self, a: &Tensor<T>, b: &Tensor<T>, steps: usize) -> Tensor<T> {
        or_panic(self.try_interpolate(a, b, steps))
    }
}
