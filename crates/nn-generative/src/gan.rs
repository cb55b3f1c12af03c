//! [`Gan`]: a generator and a discriminator trained against each other
//! (Goodfellow et al., 2014).

use nn_autograd::{no_grad, Var};
use nn_layers::{Forward, Module};
use nn_optim::{Optimizer, UpdateRule};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::adversarial::GeneratorLoss;
use crate::two_player::{
    adversarial_discriminator_loss, adversaries_common, apply_update, generate_constant,
    Adversaries, DiscriminatorStep, GeneratorStep, TwoPlayer,
};
use nn_tensor::or_panic;

/// The settings of a [`Gan`] (and of a [`ConditionalGan`](crate::ConditionalGan)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GanConfig {
    /// The dimension of the noise `z ~ N(0, I)` fed to the generator.
    pub latent_dim: usize,
    /// The discriminator's target for real data: 1, or e.g. 0.9 for
    /// one-sided label smoothing.
    pub real_label: f64,
    /// The generator's loss (default non-saturating).
    pub generator_loss: GeneratorLoss,
}

impl GanConfig {
    /// A GAN with `latent_dim`-dimensional noise, real label 1 and the
    /// non-saturating generator loss.
    pub fn new(latent_dim: usize) -> Self {
        GanConfig {
            latent_dim,
            real_label: 1.0,
            generator_loss: GeneratorLoss::NonSaturating,
        }
    }

    /// One-sided label smoothing: real data is labelled `real_label`
    /// (e.g. 0.9) for the discriminator; fakes stay at 0.
    pub fn with_label_smoothing(mut self, real_label: f64) -> Self {
        self.real_label = real_label;
        self
    }

    /// Sets the generator's loss.
    pub fn with_generator_loss(mut self, loss: GeneratorLoss) -> Self {
        self.generator_loss = loss;
        self
    }

    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        if self.latent_dim == 0 {
            return Err(TensorError::invalid(
                op,
                "latent_dim = 0, expected at least 1",
            ));
        }
        if !(self.real_label > 0.0 && self.real_label <= 1.0) {
            return Err(TensorError::invalid(
                op,
                format!(
                    "real_label = {}, expected a value in (0, 1]",
                    self.real_label
                ),
            ));
        }
        Ok(())
    }

    /// Builds the model from a generator (`[N, latent_dim]` → a batch of
    /// data) and a discriminator (a batch of data → `[N, 1]` logits).
    /// The players hold every weight, so `_rng` is unused: every `init`
    /// takes one, so that building any model reads the same.
    pub fn init<T: Element, G: Forward<T>, D: Forward<T>>(
        &self,
        generator: G,
        discriminator: D,
        _rng: &mut Rng,
    ) -> Result<Gan<T, G, D>> {
        self.check("GanConfig::init")?;
        Ok(Gan {
            generator,
            discriminator,
            config: *self,
            _element: std::marker::PhantomData,
        })
    }
}

/// A generative adversarial network. The discriminator outputs logits;
/// the generator's last layer sets the data range (`Tanh` for data scaled
/// to `[-1, 1]`). `state_dict` names are `generator.*` and `discriminator.*`.
///
/// Train it with one optimiser per player, through [`Gan::try_discriminator_step`]
/// and [`Gan::try_generator_step`], or with a [`GanTrainer`] and
/// [`train_two_player_epoch`](crate::train_two_player_epoch).
///
/// ```
/// use nn_generative::GanConfig;
/// use nn_layers::prelude::*;
/// use nn_optim::AdamConfig;
/// let mut rng = Rng::seed_from(0);
/// let gan = GanConfig::new(2).init(
///     LinearConfig::new(2, 3).init::<f32>(&mut rng).unwrap(),
///     LinearConfig::new(3, 1).init(&mut rng).unwrap(),
///     &mut rng,
/// ).unwrap();
/// let mut d_opt = AdamConfig::new(1e-3).init(gan.discriminator.named_parameters()).unwrap();
/// let mut g_opt = AdamConfig::new(1e-3).init(gan.generator.named_parameters()).unwrap();
/// let real = Tensor::rand_normal(&[8, 3], 1.0, 0.1, &mut rng);
/// let d = gan.try_discriminator_step(&real, &mut d_opt, &mut rng).unwrap();
/// let g = gan.try_generator_step(8, &mut g_opt, &mut rng).unwrap();
/// assert!(d.loss > 0.0 && g.loss > 0.0);
/// assert_eq!(gan.generate(4, &mut rng).shape(), &[4, 3]);
/// ```
#[derive(Module)]
pub struct Gan<T: Element, G, D> {
    /// The generator, `[N, latent_dim]` → data.
    pub generator: G,
    /// The discriminator, data → `[N, 1]` logits.
    pub discriminator: D,
    #[module(skip)]
    config: GanConfig,
    _element: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element, G: Forward<T>, D: Forward<T>> Gan<T, G, D> {
    adversaries_common!(Gan, "`n` fresh fakes");

    /// `n` noise vectors `z ~ N(0, I)`, `[n, latent_dim]`.
    pub fn sample_noise(&self, n: usize, rng: &mut Rng) -> Tensor<T> {
        Tensor::rand_normal(&[n, self.config.latent_dim], 0.0, 1.0, rng)
    }

    /// The generator's output for given noise, without recording a graph.
    pub fn try_generate_from(&self, z: &Tensor<T>) -> Result<Tensor<T>> {
        no_grad(|| {
            Ok(self
                .generator
                .try_forward(&Var::constant(z.clone()))?
                .value()
                .clone())
        })
    }

    /// `n` fresh samples from the generator.
    pub fn try_generate(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        generate_constant(self, &(), n, rng)
    }

    /// Panicking [`Gan::try_generate`].
    #[track_caller]
    pub fn generate(&self, n: usize, rng: &mut Rng) -> Tensor<T> {
        or_panic(self.try_generate(n, rng))
    }

    /// The discriminator's loss on a real batch and as many fakes; the
    /// fakes are made without a graph, so the gradients reach only the
    /// discriminator.
    pub fn try_discriminator_loss(
        &self,
        real: &Tensor<T>,
        rng: &mut Rng,
    ) -> Result<(Var<T>, DiscriminatorStep)> {
        adversarial_discriminator_loss(self, real, &(), rng)
    }

    /// One discriminator update on a real batch with its optimiser.
    pub fn try_discriminator_step<R: UpdateRule<T>>(
        &self,
        real: &Tensor<T>,
        optimizer: &mut Optimizer<T, R>,
        rng: &mut Rng,
    ) -> Result<DiscriminatorStep> {
        let loss = self.try_discriminator_loss(real, rng)?;
        apply_update("Gan::discriminator_step", loss, optimizer)
    }
}

impl<T: Element, G: Forward<T>, D: Forward<T>> Adversaries<T> for Gan<T, G, D> {
    type Condition = ();

    fn gan_config(&self) -> &GanConfig {
        &self.config
    }

    fn discriminator_module(&self) -> &dyn Module<T> {
        self.discriminator.as_module()
    }

    fn draw_condition(&self, _n: usize, _rng: &mut Rng) {}

    fn run_generator(&self, z: &Var<T>, _: &()) -> Result<Var<T>> {
        self.generator.try_forward(z)
    }

    fn run_discriminator(&self, x: &Var<T>, _: &()) -> Result<Var<T>> {
        self.discriminator.try_forward(x)
    }
}

/// A [`Gan`] with its two optimisers and a random stream: the
/// [`TwoPlayer`] game that [`train_two_player_epoch`](crate::train_two_player_epoch)
/// plays on batches of real data.
pub struct GanTrainer<'a, T: Element, G, D, RG: UpdateRule<T>, RD: UpdateRule<T>> {
    /// The model.
    pub gan: &'a Gan<T, G, D>,
    /// The generator's optimiser.
    pub generator_optimizer: Optimizer<T, RG>,
    /// The discriminator's optimiser.
    pub discriminator_optimizer: Optimizer<T, RD>,
    /// Where the noise comes from.
    pub rng: Rng,
}

impl<T, G, D, RG, RD> TwoPlayer<Tensor<T>> for GanTrainer<'_, T, G, D, RG, RD>
where
    T: Element,
    G: Forward<T>,
    D: Forward<T>,
    RG: UpdateRule<T>,
    RD: UpdateRule<T>,
{
    fn discriminator_step(&mut self, real: &Tensor<T>) -> Result<DiscriminatorStep> {
        self.gan
            .try_discriminator_step(real, &mut self.discriminator_optimizer, &mut self.rng)
    }

    fn generator_step(&mut self, real: &Tensor<T>) -> Result<GeneratorStep> {
        let n = real.shape().first().copied().unwrap_or(0);
        self.gan
            .try_generator_step(n, &mut self.generator_optimizer, &mut self.rng)
    }
}
