//! What one training step and one evaluation compute: a [`Task`].
//!
//! The common cases need no code: [`Classification`] (cross-entropy, with
//! accuracy recorded), [`Regression`] (mean squared error, with the mean
//! absolute error recorded) and [`Reconstruction`] (an autoencoder's mean
//! squared error against its own input). Anything else (a VAE's loss, noise
//! added to the inputs, a weighted sum of losses) is a [`CustomTask`] made
//! of two closures, or your own implementation of [`Task`].

use nn_autograd::{CrossEntropyLoss, Var};
use nn_data::Batch;
use nn_layers::Forward;
use nn_tensor::{Element, Rng, Tensor};

use crate::metrics::{Accuracy, MeanAbsoluteError, Metric};
use crate::TrainError;

/// What a training step gets besides the model and the batch.
pub struct StepContext<'a> {
    /// The epoch, numbered from 1 (as in the progress line and the history).
    pub epoch: usize,
    /// The batch within the epoch, numbered from 1.
    pub batch: usize,
    /// The trainer's generator, for anything random in a step (noise,
    /// augmentation, sampling). Its state is saved in checkpoints, so a
    /// resumed run draws the same numbers.
    pub rng: &'a mut Rng,
}

/// What an evaluation computes for one batch.
#[derive(Clone, Debug)]
pub struct Evaluation<T: Element> {
    /// The batch's mean loss.
    pub loss: f64,
    /// The model's output, on which the metrics are measured (logits,
    /// predictions, reconstructions, …).
    pub output: Tensor<T>,
}

impl<T: Element> Evaluation<T> {
    /// From a scalar loss and the output that produced it.
    #[track_caller]
    pub fn new(loss: &Var<T>, output: &Var<T>) -> Self {
        Evaluation {
            loss: loss.value().item().to_f64_lossless(),
            output: output.value().clone(),
        }
    }
}

/// The two computations a training loop needs from a model and a batch.
///
/// `loss` runs in training mode and builds a graph; `evaluate` runs in
/// evaluation mode inside `no_grad`. Errors (a shape that does not fit the
/// model, a batch with the wrong kind of targets) end the run with that
/// error.
pub trait Task<T: Element, M: ?Sized> {
    /// The scalar training loss of `batch`.
    fn loss(
        &mut self,
        model: &M,
        batch: &Batch<T>,
        ctx: &mut StepContext<'_>,
    ) -> Result<Var<T>, TrainError>;

    /// The loss and the output of a validation batch.
    fn evaluate(&mut self, model: &M, batch: &Batch<T>) -> Result<Evaluation<T>, TrainError>;

    /// The metrics recorded by default (each as `val_<name>`).
    fn metrics(&self) -> Vec<Box<dyn Metric<T>>> {
        Vec::new()
    }
}

fn classes<'b, T: Element>(task: &str, batch: &'b Batch<T>) -> Result<&'b [usize], TrainError> {
    batch.targets.classes().ok_or_else(|| {
        TrainError::Config(format!(
            "{task}: the batch holds value targets, not class indices (build the data set with TensorDataset::classification)"
        ))
    })
}

fn values<'b, T: Element>(task: &str, batch: &'b Batch<T>) -> Result<&'b Tensor<T>, TrainError> {
    batch.targets.values().ok_or_else(|| {
        TrainError::Config(format!(
            "{task}: the batch holds class indices, not value targets (build the data set with TensorDataset::regression)"
        ))
    })
}

/// The [`Task`] of a built-in task whose inherent `forward(model, batch)`
/// returns the batch's loss and the model's output: a training step takes
/// the loss, an evaluation both; `$metrics` are recorded by default.
macro_rules! supervised_task {
    ($task:ty, $metrics:expr) => {
        impl<T: Element, M: Forward<T> + ?Sized> Task<T, M> for $task {
            fn loss(
                &mut self,
                model: &M,
                batch: &Batch<T>,
                _: &mut StepContext<'_>,
            ) -> Result<Var<T>, TrainError> {
                Ok(self.forward(model, batch)?.0)
            }

            fn evaluate(
                &mut self,
                model: &M,
                batch: &Batch<T>,
            ) -> Result<Evaluation<T>, TrainError> {
                let (loss, out) = self.forward(model, batch)?;
                Ok(Evaluation::new(&loss, &out))
            }

            fn metrics(&self) -> Vec<Box<dyn Metric<T>>> {
                $metrics
            }
        }
    };
}

/// Classification: the model maps features to logits `[batch, classes]`,
/// trained with cross-entropy against the batch's class indices; accuracy
/// is recorded as `val_accuracy`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Classification {
    label_smoothing: f64,
}

impl Classification {
    /// Plain cross-entropy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cross-entropy with label smoothing `eps` in `[0, 1]` (PyTorch's
    /// `label_smoothing`); evaluation uses the same loss.
    #[track_caller]
    pub fn with_label_smoothing(mut self, eps: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&eps),
            "Classification: label smoothing {eps} is outside [0, 1]"
        );
        self.label_smoothing = eps;
        self
    }

    fn forward<T: Element, M: Forward<T> + ?Sized>(
        &self,
        model: &M,
        batch: &Batch<T>,
    ) -> Result<(Var<T>, Var<T>), TrainError> {
        let logits = model.try_forward(&batch.inputs())?;
        let loss = CrossEntropyLoss::new()
            .with_label_smoothing(self.label_smoothing)?
            .try_forward(&logits, classes("Classification", batch)?)?;
        Ok((loss, logits))
    }
}

supervised_task!(Classification, vec![Box::new(Accuracy::new())]);

/// Regression: the model's output is compared with the batch's value
/// targets by the mean squared error; the mean absolute error is recorded
/// as `val_mae`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regression;

impl Regression {
    fn forward<T: Element, M: Forward<T> + ?Sized>(
        &self,
        model: &M,
        batch: &Batch<T>,
    ) -> Result<(Var<T>, Var<T>), TrainError> {
        let out = model.try_forward(&batch.inputs())?;
        let loss = out.try_mse_loss(values("Regression", batch)?)?;
        Ok((loss, out))
    }
}

supervised_task!(Regression, vec![Box::new(MeanAbsoluteError::new())]);

/// Autoencoding: the model reconstructs its input, trained with the mean
/// squared error between the reconstruction and the batch's features (the
/// targets are not used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconstruction;

impl Reconstruction {
    fn forward<T: Element, M: Forward<T> + ?Sized>(
        &self,
        model: &M,
        batch: &Batch<T>,
    ) -> Result<(Var<T>, Var<T>), TrainError> {
        let x = batch.inputs();
        let out = model.try_forward(&x)?;
        Ok((out.try_mse_loss(&x)?, out))
    }
}

supervised_task!(Reconstruction, Vec::new());

/// A task from two closures: `step(model, batch, ctx)` returns the scalar
/// training loss, `evaluate(model, batch)` the loss and output of a
/// validation batch. Built by [`Trainer::custom`](crate::Trainer::custom).
pub struct CustomTask<S, E> {
    step: S,
    evaluate: E,
}

impl<S, E> CustomTask<S, E> {
    /// The task of `step` and `evaluate`.
    pub fn new(step: S, evaluate: E) -> Self {
        CustomTask { step, evaluate }
    }
}

impl<T, M, S, E> Task<T, M> for CustomTask<S, E>
where
    T: Element,
    M: ?Sized,
    S: FnMut(&M, &Batch<T>, &mut StepContext<'_>) -> Var<T>,
    E: FnMut(&M, &Batch<T>) -> Evaluation<T>,
{
    fn loss(
        &mut self,
        model: &M,
        batch: &Batch<T>,
        ctx: &mut StepContext<'_>,
    ) -> Result<Var<T>, TrainError> {
        Ok((self.step)(model, batch, ctx))
    }

    fn evaluate(&mut self, model: &M, batch: &Batch<T>) -> Result<Evaluation<T>, TrainError> {
        Ok((self.evaluate)(model, batch))
    }
}
