//! A generic training loop for two-player (adversarial) games.
//!
//! Goodfellow et al.'s algorithm: for each mini-batch, update the
//! discriminator; after every `k` discriminator updates, update the
//! generator. What a "step" means is up to the game ([`TwoPlayer`]), so the
//! same loop trains a [`Gan`](crate::Gan), a
//! [`ConditionalGan`](crate::ConditionalGan) or any other pair of players.

use nn_autograd::{no_grad, Var};
use nn_layers::Module;
use nn_optim::{Optimizer, UpdateRule};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::adversarial::{mean_probability, try_discriminator_loss, try_generator_loss};
use crate::gan::GanConfig;

/// What a discriminator update reports.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct DiscriminatorStep {
    /// The discriminator's loss before the update.
    pub loss: f64,
    /// The mean `D(x)` on the real batch.
    pub d_real: f64,
    /// The mean `D(G(z))` on the fakes it was shown.
    pub d_fake: f64,
}

/// What a generator update reports.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct GeneratorStep {
    /// The generator's loss before the update.
    pub loss: f64,
    /// The mean `D(G(z))` on the fakes of this update.
    pub d_fake: f64,
}

/// A game of two players, each updated by its own step on a batch `B`.
pub trait TwoPlayer<B> {
    /// One discriminator update on a batch of real data.
    fn discriminator_step(&mut self, batch: &B) -> Result<DiscriminatorStep>;
    /// One generator update; the batch gives its size (and, for a
    /// conditional game, the labels to ask for).
    fn generator_step(&mut self, batch: &B) -> Result<GeneratorStep>;
}

/// How many updates of each player alternate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwoPlayerSchedule {
    /// Discriminator updates (each on a new batch) before the generator's
    /// turn: Goodfellow's `k`, default 1.
    pub discriminator_steps: usize,
    /// Generator updates per turn, default 1.
    pub generator_steps: usize,
}

impl Default for TwoPlayerSchedule {
    fn default() -> Self {
        TwoPlayerSchedule {
            discriminator_steps: 1,
            generator_steps: 1,
        }
    }
}

/// The means over one epoch of the two players' reports.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct TwoPlayerEpoch {
    /// Mean discriminator loss.
    pub discriminator_loss: f64,
    /// Mean generator loss.
    pub generator_loss: f64,
    /// Mean `D(x)` over discriminator updates.
    pub d_real: f64,
    /// Mean `D(G(z))` over discriminator updates (before the generator's turn).
    pub d_fake: f64,
    /// Discriminator updates made.
    pub discriminator_steps: usize,
    /// Generator updates made.
    pub generator_steps: usize,
}

/// Runs one epoch: every batch feeds a discriminator update, and after
/// every `schedule.discriminator_steps` of them the generator gets
/// `schedule.generator_steps` updates on the last batch. The batches may
/// fail (a data loader's error); a non-finite loss stops the epoch with an
/// error naming the player and the step, since a diverged game never
/// recovers.
///
/// ```
/// use nn_generative::{train_two_player_epoch, DiscriminatorStep, GeneratorStep, TwoPlayer, TwoPlayerSchedule};
/// use nn_tensor::TensorError;
/// // A toy game that counts its turns.
/// struct Count(usize, usize);
/// impl TwoPlayer<u32> for Count {
///     fn discriminator_step(&mut self, _: &u32) -> Result<DiscriminatorStep, TensorError> {
///         self.0 += 1;
///         Ok(DiscriminatorStep { loss: 1.0, d_real: 0.5, d_fake: 0.5 })
///     }
///     fn generator_step(&mut self, _: &u32) -> Result<GeneratorStep, TensorError> {
///         self.1 += 1;
///         Ok(GeneratorStep { loss: 2.0, d_fake: 0.5 })
///     }
/// }
/// let mut game = Count(0, 0);
/// let schedule = TwoPlayerSchedule { discriminator_steps: 2, generator_steps: 1 };
/// let batches = (0..6u32).map(Ok::<_, TensorError>);
/// let epoch = train_two_player_epoch(&mut game, batches, schedule).unwrap();
/// assert_eq!((game.0, game.1), (6, 3));
/// assert_eq!(epoch.generator_loss, 2.0);
/// ```
pub fn train_two_player_epoch<B, E, P>(
    players: &mut P,
    batches: impl IntoIterator<Item = std::result::Result<B, E>>,
    schedule: TwoPlayerSchedule,
) -> std::result::Result<TwoPlayerEpoch, E>
where
    P: TwoPlayer<B>,
    E: From<TensorError>,
{
    if schedule.discriminator_steps == 0 || schedule.generator_steps == 0 {
        return Err(TensorError::invalid(
            "train_two_player_epoch",
            format!("both players need at least one step per turn, got {schedule:?}"),
        )
        .into());
    }
    let mut e = TwoPlayerEpoch::default();
    let mut since_generator = 0;
    for batch in batches {
        let batch = batch?;
        let d = players.discriminator_step(&batch)?;
        if !d.loss.is_finite() {
            return Err(diverged("discriminator", e.discriminator_steps, d.loss).into());
        }
        e.discriminator_loss += d.loss;
        e.d_real += d.d_real;
        e.d_fake += d.d_fake;
        e.discriminator_steps += 1;
        since_generator += 1;
        if since_generator == schedule.discriminator_steps {
            since_generator = 0;
            for _ in 0..schedule.generator_steps {
                let g = players.generator_step(&batch)?;
                if !g.loss.is_finite() {
                    return Err(diverged("generator", e.generator_steps, g.loss).into());
                }
                e.generator_loss += g.loss;
                e.generator_steps += 1;
            }
        }
    }
    let (nd, ng) = (
        e.discriminator_steps.max(1) as f64,
        e.generator_steps.max(1) as f64,
    );
    e.discriminator_loss /= nd;
    e.d_real /= nd;
    e.d_fake /= nd;
    e.generator_loss /= ng;
    Ok(e)
}

fn diverged(player: &str, step: usize, loss: f64) -> TensorError {
    TensorError::invalid(
        "train_two_player_epoch",
        format!("the {player} loss is {loss} at its update {step}: training diverged"),
    )
}

/// The two players of a GAN-like model as the shared step sees them: a
/// generator and a discriminator that both take a condition `C` with each
/// batch (`()` for a [`Gan`](crate::Gan), the class labels for a
/// [`ConditionalGan`](crate::ConditionalGan)).
///
/// The losses, the freezing of the discriminator during the generator's
/// update and the optimiser steps are written once, in
/// [`adversarial_discriminator_loss`], [`adversarial_generator_loss`] and
/// [`apply_update`]; a model only says how its players run.
pub(crate) trait Adversaries<T: Element> {
    /// What accompanies a batch: nothing, or one label per example.
    type Condition;

    /// The shared settings (latent size, real label, generator loss).
    fn gan_config(&self) -> &GanConfig;

    /// The discriminator as a module, to freeze its parameters.
    fn discriminator_module(&self) -> &dyn Module<T>;

    /// The condition of `n` fakes, drawn from `rng` (before their noise).
    fn draw_condition(&self, n: usize, rng: &mut Rng) -> Self::Condition;

    /// The generator on noise `z` (`[N, latent_dim]`).
    fn run_generator(&self, z: &Var<T>, condition: &Self::Condition) -> Result<Var<T>>;

    /// The discriminator's logits for a batch `x`.
    fn run_discriminator(&self, x: &Var<T>, condition: &Self::Condition) -> Result<Var<T>>;
}

/// The inherent methods that a [`Gan`](crate::Gan) and a
/// [`ConditionalGan`](crate::ConditionalGan) share word for word, written
/// once over their [`Adversaries`] impl: `config`, `try_generator_loss` and
/// `try_generator_step`. `$model` names the optimiser's errors; `$fakes`
/// says in the docs which fakes the generator is scored on.
macro_rules! adversaries_common {
    ($model:ident, $fakes:literal) => {
        /// The settings.
        pub fn config(&self) -> &GanConfig {
            &self.config
        }

        #[doc = concat!("The generator's loss on ", $fakes, ". The discriminator's")]
        /// parameters enter as constants (it is frozen for the forward pass),
        /// so the gradients reach only the generator.
        pub fn try_generator_loss(
            &self,
            n: usize,
            rng: &mut Rng,
        ) -> Result<(Var<T>, GeneratorStep)> {
            $crate::two_player::adversarial_generator_loss(self, n, rng)
        }

        #[doc = concat!("One generator update on ", $fakes, " with its optimiser.")]
        pub fn try_generator_step<R: UpdateRule<T>>(
            &self,
            n: usize,
            optimizer: &mut Optimizer<T, R>,
            rng: &mut Rng,
        ) -> Result<GeneratorStep> {
            let loss = self.try_generator_loss(n, rng)?;
            $crate::two_player::apply_update(
                concat!(stringify!($model), "::generator_step"),
                loss,
                optimizer,
            )
        }
    };
}
pub(crate) use adversaries_common;

/// `n` fakes for the drawn `condition`, with no graph recorded.
pub(crate) fn generate_constant<T: Element, P: Adversaries<T> + ?Sized>(
    players: &P,
    condition: &P::Condition,
    n: usize,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    let z = Tensor::rand_normal(&[n, players.gan_config().latent_dim], 0.0, 1.0, rng);
    no_grad(|| {
        Ok(players
            .run_generator(&Var::constant(z), condition)?
            .value()
            .clone())
    })
}

/// The discriminator's loss on a real batch (with its condition) and as
/// many fresh fakes, made without a graph so only the discriminator gets
/// gradients; with the report of the step.
pub(crate) fn adversarial_discriminator_loss<T: Element, P: Adversaries<T> + ?Sized>(
    players: &P,
    real: &Tensor<T>,
    real_condition: &P::Condition,
    rng: &mut Rng,
) -> Result<(Var<T>, DiscriminatorStep)> {
    let n = real.shape().first().copied().unwrap_or(0);
    let fake_condition = players.draw_condition(n, rng);
    let fake = generate_constant(players, &fake_condition, n, rng)?;
    let real_logits = players.run_discriminator(&Var::constant(real.clone()), real_condition)?;
    let fake_logits = players.run_discriminator(&Var::constant(fake), &fake_condition)?;
    let loss = try_discriminator_loss(&real_logits, &fake_logits, players.gan_config().real_label)?;
    let step = DiscriminatorStep {
        loss: loss.value().item().to_f64_lossless(),
        d_real: mean_probability(real_logits.as_tensor()),
        d_fake: mean_probability(fake_logits.as_tensor()),
    };
    Ok((loss, step))
}

/// The generator's loss on `n` fresh fakes. The discriminator is frozen
/// while it scores them: the gradient flows through it to the fakes, but
/// its own parameters get none.
pub(crate) fn adversarial_generator_loss<T: Element, P: Adversaries<T> + ?Sized>(
    players: &P,
    n: usize,
    rng: &mut Rng,
) -> Result<(Var<T>, GeneratorStep)> {
    let condition = players.draw_condition(n, rng);
    let z = Tensor::rand_normal(&[n, players.gan_config().latent_dim], 0.0, 1.0, rng);
    let fake = players.run_generator(&Var::constant(z), &condition)?;
    let logits = {
        let _frozen = FrozenParameters::new(players.discriminator_module());
        players.run_discriminator(&fake, &condition)?
    };
    let loss = try_generator_loss(&logits, players.gan_config().generator_loss)?;
    let step = GeneratorStep {
        loss: loss.value().item().to_f64_lossless(),
        d_fake: mean_probability(logits.as_tensor()),
    };
    Ok((loss, step))
}

/// Back-propagates a player's loss and steps its optimiser; an optimiser
/// error is reported under `op` (e.g. `Gan::generator_step`).
pub(crate) fn apply_update<T: Element, R: UpdateRule<T>, S>(
    op: &'static str,
    (loss, report): (Var<T>, S),
    optimizer: &mut Optimizer<T, R>,
) -> Result<S> {
    let grads = loss.backward();
    // Free the graph first, so the parameters' storage is no longer shared
    // and the update writes in place.
    drop(loss);
    optimizer
        .try_step(&grads)
        .map_err(|e| TensorError::invalid(op, e.to_string()))?;
    Ok(report)
}

/// Freezes a module's trainable parameters until dropped, then restores
/// exactly the ones it froze (parameters the user had frozen stay frozen).
/// The generator update uses it on the discriminator: the gradient still
/// flows through `D` to the fakes, but none is computed for `D`'s weights.
pub(crate) struct FrozenParameters<T: Element> {
    frozen: Vec<nn_autograd::Parameter<T>>,
}

impl<T: Element> FrozenParameters<T> {
    pub(crate) fn new(module: &dyn Module<T>) -> Self {
        let mut frozen = Vec::new();
        module.visit_parameters("", &mut |_, p| {
            if p.is_trainable() {
                p.set_trainable(false);
                frozen.push(p.clone());
            }
        });
        FrozenParameters { frozen }
    }
}

impl<T: Element> Drop for FrozenParameters<T> {
    fn drop(&mut self) {
        for p in &self.frozen {
            p.set_trainable(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A game whose generator loss becomes NaN at its third update.
    struct Diverging(usize);

    impl TwoPlayer<()> for Diverging {
        fn discriminator_step(&mut self, _: &()) -> Result<DiscriminatorStep> {
            Ok(DiscriminatorStep {
                loss: 1.0,
                d_real: 0.75,
                d_fake: 0.25,
            })
        }
        fn generator_step(&mut self, _: &()) -> Result<GeneratorStep> {
            self.0 += 1;
            let loss = if self.0 == 3 { f64::NAN } else { 0.5 };
            Ok(GeneratorStep { loss, d_fake: 0.25 })
        }
    }

    #[test]
    fn a_non_finite_loss_stops_the_epoch() {
        let batches = (0..10).map(|_| Ok::<_, TensorError>(()));
        let e = train_two_player_epoch(&mut Diverging(0), batches, TwoPlayerSchedule::default())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "train_two_player_epoch: the generator loss is NaN at its update 2: training diverged"
        );
    }

    #[test]
    fn means_and_counts_follow_the_schedule() {
        let schedule = TwoPlayerSchedule {
            discriminator_steps: 1,
            generator_steps: 2,
        };
        let batches = (0..1).map(|_| Ok::<_, TensorError>(()));
        let e = train_two_player_epoch(&mut Diverging(10), batches, schedule).unwrap();
        assert_eq!((e.discriminator_steps, e.generator_steps), (1, 2));
        assert_eq!((e.d_real, e.d_fake, e.generator_loss), (0.75, 0.25, 0.5));
        let zero = TwoPlayerSchedule {
            discriminator_steps: 0,
            generator_steps: 1,
        };
        assert!(train_two_player_epoch(&mut Diverging(0), Vec::<Result<()>>::new(), zero).is_err());
    }

    #[test]
    fn a_failing_batch_is_passed_on() {
        let batches = vec![Ok(()), Err(TensorError::invalid("loader", "bad file"))];
        let e = train_two_player_epoch(&mut Diverging(10), batches, TwoPlayerSchedule::default())
            .unwrap_err();
        assert_eq!(e.to_string(), "loader: bad file");
    }
}
