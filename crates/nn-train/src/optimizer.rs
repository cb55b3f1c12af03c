//! [`TrainOptimizer`]: what the training loop needs from an optimiser, as a
//! trait object, so that [`Trainer`](crate::Trainer) and its callbacks do
//! not carry the optimiser's update rule as a type parameter.

use nn_autograd::Gradients;
use nn_optim::{LearningRates, OptimError, Optimizer, UpdateRule};
use nn_tensor::Element;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::state;

/// An optimiser as the training loop sees it: it steps, exposes each
/// group's learning rate (for schedules), and moves its state in and out of
/// a checkpoint. Every [`Optimizer`] is one.
pub trait TrainOptimizer<T: Element>: LearningRates {
    /// One update from `grads`.
    fn try_step(&mut self, grads: &Gradients<T>) -> Result<(), OptimError>;

    /// Writes the optimiser's state into `ckpt` (see [`state::save_optimizer`]).
    fn save_state(&self, ckpt: &mut Checkpoint<T>);

    /// Restores the state written by [`TrainOptimizer::save_state`].
    fn load_state(&mut self, ckpt: &Checkpoint<T>) -> Result<(), CheckpointError>;
}

impl<T: Element, R: UpdateRule<T>> TrainOptimizer<T> for Optimizer<T, R> {
    fn try_step(&mut self, grads: &Gradients<T>) -> Result<(), OptimError> {
        Optimizer::try_step(self, grads)
    }

    fn save_state(&self, ckpt: &mut Checkpoint<T>) {
        state::save_optimizer(self, ckpt)
    }

    fn load_state(&mut self, ckpt: &Checkpoint<T>) -> Result<(), CheckpointError> {
        state::load_optimizer(self, ckpt)
    }
}
