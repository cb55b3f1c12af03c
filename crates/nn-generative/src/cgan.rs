//! [`ConditionalGan`]: a GAN told which class to draw (Mirza & Osindero,
//! 2014). The class label, one-hot or embedded, is joined to the noise at
//! the generator's input and to the data at the discriminator's input.

use nn_autograd::Var;
use nn_layers::{Embedding, EmbeddingConfig, Forward, Module};
use nn_optim::{Optimizer, UpdateRule};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::adversarial::GeneratorLoss;
use crate::gan::GanConfig;
use crate::two_player::{
    adversarial_discriminator_loss, adversaries_common, apply_update, generate_constant,
    Adversaries, DiscriminatorStep, GeneratorStep, TwoPlayer,
};
use nn_tensor::or_panic;

/// How a class label becomes input features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelEncoding {
    /// A one-hot vector of `num_classes` entries (nothing to learn).
    OneHot,
    /// A learned embedding of `dim` entries per class.
    Embedding {
        /// The embedding size.
        dim: usize,
    },
}

/// How to build a [`Conditioned`] network: `num_classes` labels, one-hot
/// (the default) or embedded.
///
/// ```
/// use nn_generative::{ConditionedConfig, LabelEncoding};
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// // 4 inputs + a 3-class one-hot → 2 outputs
/// let net = LinearConfig::new(4 + 3, 2).init::<f64>(&mut rng)?;
/// let c = ConditionedConfig::new(3).init(net, &mut rng)?;
/// let y = c.forward(&Tensor::zeros(&[2, 4]), &[0, 2]);
/// assert_eq!(y.shape(), &[2, 2]);
/// assert!(c.try_forward(&Var::constant(Tensor::zeros(&[2, 4])), &[0, 3]).is_err());
///
/// // An embedding of 5 per class instead: the net reads 4 + 5 features.
/// let net = LinearConfig::new(4 + 5, 2).init::<f64>(&mut rng)?;
/// let c = ConditionedConfig::new(3)
///     .with_label_encoding(LabelEncoding::Embedding { dim: 5 })
///     .init(net, &mut rng)?;
/// assert_eq!(c.label_dim(), 5);
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionedConfig {
    /// The number of classes.
    pub num_classes: usize,
    /// How a label becomes features (default one-hot).
    pub label_encoding: LabelEncoding,
}

impl ConditionedConfig {
    /// Labels of `num_classes` classes, one-hot.
    pub fn new(num_classes: usize) -> Self {
        ConditionedConfig {
            num_classes,
            label_encoding: LabelEncoding::OneHot,
        }
    }

    /// With another label encoding.
    pub fn with_label_encoding(mut self, label_encoding: LabelEncoding) -> Self {
        self.label_encoding = label_encoding;
        self
    }

    /// Wraps `net`, whose input size must be the flattened data size plus
    /// [`Conditioned::label_dim`]. `rng` initialises an embedding (N(0, 1),
    /// PyTorch's default); one-hot labels draw nothing.
    ///
    /// # Errors
    /// If `num_classes` or an embedding's `dim` is 0.
    pub fn init<T: Element, M: Forward<T>>(
        &self,
        net: M,
        rng: &mut Rng,
    ) -> Result<Conditioned<T, M>> {
        if self.num_classes == 0 {
            return Err(TensorError::invalid(
                "Conditioned",
                "num_classes = 0, expected at least 1",
            ));
        }
        let label_embedding = match self.label_encoding {
            LabelEncoding::OneHot => None,
            LabelEncoding::Embedding { dim } => {
                Some(EmbeddingConfig::new(self.num_classes, dim).init(rng)?)
            }
        };
        Ok(Conditioned {
            label_embedding,
            net,
            num_classes: self.num_classes,
        })
    }
}

/// A network whose input is joined with a class label: `net([x, e(y)])`,
/// where `x` is flattened from dim 1 and `e(y)` is the label's one-hot
/// vector or learned embedding. `state_dict` names are
/// `label_embedding.weight` (when embedded) and `net.*`. Built by
/// [`ConditionedConfig`].
#[derive(Module)]
pub struct Conditioned<T: Element, M> {
    /// The learned label embedding (`None` for one-hot labels).
    pub label_embedding: Option<Embedding<T>>,
    /// The network that reads the joined input.
    pub net: M,
    #[module(skip)]
    num_classes: usize,
}

impl<T: Element, M: Forward<T>> Conditioned<T, M> {
    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The number of features a label adds to the input.
    pub fn label_dim(&self) -> usize {
        match &self.label_embedding {
            Some(e) => e.weight.shape()[1],
            None => self.num_classes,
        }
    }

    /// The label features, `[N, label_dim]`.
    pub fn try_label_features(&self, labels: &[usize]) -> Result<Var<T>> {
        if let Some(&bad) = labels.iter().find(|&&y| y >= self.num_classes) {
            return Err(TensorError::invalid(
                "Conditioned",
                format!(
                    "label {bad} is out of range for {} classes",
                    self.num_classes
                ),
            ));
        }
        match &self.label_embedding {
            Some(e) => e.try_lookup(labels, &[labels.len()]),
            None => {
                let c = self.num_classes;
                let mut data = vec![T::zero(); labels.len() * c];
                for (i, &y) in labels.iter().enumerate() {
                    data[i * c + y] = T::one();
                }
                Ok(Var::constant(Tensor::from_vec(data, &[labels.len(), c])))
            }
        }
    }

    /// `net([flatten(x), e(labels)])`; `x` is `[N, ...]` with one label per row.
    pub fn try_forward(&self, x: &Var<T>, labels: &[usize]) -> Result<Var<T>> {
        if x.ndim() < 1 || x.shape()[0] != labels.len() {
            return Err(TensorError::invalid(
                "Conditioned",
                format!(
                    "input of shape {:?} with {} labels: one label per row",
                    x.shape(),
                    labels.len()
                ),
            ));
        }
        let flat = if x.ndim() == 2 {
            x.clone()
        } else {
            x.flatten_from(1)
        };
        let e = self.try_label_features(labels)?;
        self.net.try_forward(&Var::concat(&[&flat, &e], 1))
    }

    /// Panicking [`Conditioned::try_forward`]; `x` is anything that turns
    /// into a var (a `&Tensor` as a constant input, a `&Var` in a graph).
    #[track_caller]
    pub fn forward(&self, x: impl Into<Var<T>>, labels: &[usize]) -> Var<T> {
        or_panic(self.try_forward(&x.into(), labels))
    }
}

/// How to build a [`ConditionalGan`]: the noise size and the number of
/// classes (required), the label encoding both players use (default
/// one-hot) and the [`GanConfig`] settings (label smoothing, generator loss).
///
/// ```
/// use nn_generative::{ConditionalGanConfig, LabelEncoding};
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// // noise 2 + embedding 3 → 1-d data; data 1 + embedding 3 → a logit
/// let g = LinearConfig::new(2 + 3, 1).init::<f32>(&mut rng)?;
/// let d = LinearConfig::new(1 + 3, 1).init::<f32>(&mut rng)?;
/// let cgan = ConditionalGanConfig::new(2, 4)
///     .with_label_encoding(LabelEncoding::Embedding { dim: 3 })
///     .with_label_smoothing(0.9)
///     .init(g, d, &mut rng)?;
/// assert_eq!(cgan.generate(&[0, 3], &mut rng).shape(), &[2, 1]);
///
/// let (g, d) = (LinearConfig::new(2, 1).init::<f32>(&mut rng)?, LinearConfig::new(1, 1).init(&mut rng)?);
/// let err = ConditionalGanConfig::new(2, 0).init(g, d, &mut rng).err().unwrap();
/// assert_eq!(err.to_string(), "ConditionalGan: num_classes = 0, expected at least 1");
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConditionalGanConfig {
    /// The noise size, the discriminator's real label and the generator's loss.
    pub gan: GanConfig,
    /// The number of classes.
    pub num_classes: usize,
    /// How a label becomes features, for both players (default one-hot).
    pub label_encoding: LabelEncoding,
}

impl ConditionalGanConfig {
    /// A conditional GAN with `latent_dim`-dimensional noise over
    /// `num_classes` classes, one-hot labels, and [`GanConfig::new`]'s
    /// defaults.
    pub fn new(latent_dim: usize, num_classes: usize) -> Self {
        ConditionalGanConfig {
            gan: GanConfig::new(latent_dim),
            num_classes,
            label_encoding: LabelEncoding::OneHot,
        }
    }

    /// With another label encoding (for both players).
    pub fn with_label_encoding(mut self, label_encoding: LabelEncoding) -> Self {
        self.label_encoding = label_encoding;
        self
    }

    /// One-sided label smoothing, as [`GanConfig::with_label_smoothing`].
    pub fn with_label_smoothing(mut self, real_label: f64) -> Self {
        self.gan = self.gan.with_label_smoothing(real_label);
        self
    }

    /// With another generator loss, as [`GanConfig::with_generator_loss`].
    pub fn with_generator_loss(mut self, loss: GeneratorLoss) -> Self {
        self.gan = self.gan.with_generator_loss(loss);
        self
    }

    /// Builds the model from a generator (`[N, latent_dim + label_dim]` →
    /// a batch of data) and a discriminator (`[N, data + label_dim]` →
    /// `[N, 1]` logits), each wrapped in a [`Conditioned`]. `rng` draws the
    /// generator's label embedding, then the discriminator's (one-hot
    /// labels draw nothing).
    ///
    /// # Errors
    /// If `latent_dim` or `num_classes` is 0, the real label is outside
    /// `(0, 1]`, or an embedding's `dim` is 0.
    pub fn init<T: Element, G: Forward<T>, D: Forward<T>>(
        &self,
        generator: G,
        discriminator: D,
        rng: &mut Rng,
    ) -> Result<ConditionalGan<T, G, D>> {
        let what = "ConditionalGan";
        self.gan.check(what)?;
        if self.num_classes == 0 {
            return Err(TensorError::invalid(
                what,
                "num_classes = 0, expected at least 1",
            ));
        }
        let players =
            ConditionedConfig::new(self.num_classes).with_label_encoding(self.label_encoding);
        Ok(ConditionalGan {
            generator: players.init(generator, rng)?,
            discriminator: players.init(discriminator, rng)?,
            config: self.gan,
        })
    }
}

/// A conditional GAN: `G(z, y)` draws class `y`, `D(x, y)` judges whether
/// `x` is a real example of class `y`. Fakes are asked for uniformly drawn
/// classes. `state_dict` names are `generator.*` and `discriminator.*`.
/// Built by [`ConditionalGanConfig`].
#[derive(Module)]
pub struct ConditionalGan<T: Element, G, D> {
    /// The generator, `[z, e(y)]` → data.
    pub generator: Conditioned<T, G>,
    /// The discriminator, `[x, e(y)]` → `[N, 1]` logits.
    pub discriminator: Conditioned<T, D>,
    #[module(skip)]
    config: GanConfig,
}

impl<T: Element, G: Forward<T>, D: Forward<T>> ConditionalGan<T, G, D> {
    adversaries_common!(ConditionalGan, "`n` fakes of random classes");

    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.generator.num_classes()
    }

    /// `n` classes drawn uniformly.
    pub fn sample_labels(&self, n: usize, rng: &mut Rng) -> Vec<usize> {
        (0..n).map(|_| rng.below(self.num_classes())).collect()
    }

    /// One sample per requested label, without recording a graph.
    pub fn try_generate(&self, labels: &[usize], rng: &mut Rng) -> Result<Tensor<T>> {
        generate_constant(self, &labels.to_vec(), labels.len(), rng)
    }

    /// Panicking [`ConditionalGan::try_generate`].
    #[track_caller]
    pub fn generate(&self, labels: &[usize], rng: &mut Rng) -> Tensor<T> {
        or_panic(self.try_generate(labels, rng))
    }

    /// The discriminator's loss on a labelled real batch and as many fakes
    /// of random classes (made without a graph).
    pub fn try_discriminator_loss(
        &self,
        real: &Tensor<T>,
        labels: &[usize],
        rng: &mut Rng,
    ) -> Result<(Var<T>, DiscriminatorStep)> {
        adversarial_discriminator_loss(self, real, &labels.to_vec(), rng)
    }

    /// One discriminator update on a labelled real batch.
    pub fn try_discriminator_step<R: UpdateRule<T>>(
        &self,
        real: &Tensor<T>,
        labels: &[usize],
        optimizer: &mut Optimizer<T, R>,
        rng: &mut Rng,
    ) -> Result<DiscriminatorStep> {
        let loss = self.try_discriminator_loss(real, labels, rng)?;
        apply_update("ConditionalGan::discriminator_step", loss, optimizer)
    }
}

impl<T: Element, G: Forward<T>, D: Forward<T>> Adversaries<T> for ConditionalGan<T, G, D> {
    /// One class label per example.
    type Condition = Vec<usize>;

    fn gan_config(&self) -> &GanConfig {
        &self.config
    }

    fn discriminator_module(&self) -> &dyn Module<T> {
        &self.discriminator
    }

    fn draw_condition(&self, n: usize, rng: &mut Rng) -> Vec<usize> {
        self.sample_labels(n, rng)
    }

    fn run_generator(&self, z: &Var<T>, labels: &Vec<usize>) -> Result<Var<T>> {
        self.generator.try_forward(z, labels)
    }

    fn run_discriminator(&self, x: &Var<T>, labels: &Vec<usize>) -> Result<Var<T>> {
        self.discriminator.try_forward(x, labels)
    }
}

/// A [`ConditionalGan`] with its two optimisers and a random stream: the
/// [`TwoPlayer`] game on labelled batches `(images, labels)`.
pub struct ConditionalGanTrainer<'a, T: Element, G, D, RG: UpdateRule<T>, RD: UpdateRule<T>> {
    /// The model.
    pub gan: &'a ConditionalGan<T, G, D>,
    /// The generator's optimiser (include the label embedding's parameters).
    pub generator_optimizer: Optimizer<T, RG>,
    /// The discriminator's optimiser (include the label embedding's parameters).
    pub discriminator_optimizer: Optimizer<T, RD>,
    /// Where the noise and the fake labels come from.
    pub rng: Rng,
}

impl<T, G, D, RG, RD> TwoPlayer<(Tensor<T>, Vec<usize>)>
    for ConditionalGanTrainer<'_, T, G, D, RG, RD>
where
    T: Element,
    G: Forward<T>,
    D: Forward<T>,
    RG: UpdateRule<T>,
    RD: UpdateRule<T>,
{
    fn discriminator_step(&mut self, batch: &(Tensor<T>, Vec<usize>)) -> Result<DiscriminatorStep> {
        self.gan.try_discriminator_step(
            &batch.0,
            &batch.1,
            &mut self.discriminator_optimizer,
            &mut self.rng,
        )
    }

    fn generator_step(&mut self, batch: &(Tensor<T>, Vec<usize>)) -> Result<GeneratorStep> {
        self.gan
            .try_generator_step(batch.1.len(), &mut self.generator_optimizer, &mut self.rng)
    }
}
