//! # nn-train
//!
//! What turns a model and data into a trained model:
//!
//! * [`early_stopping`]: stop when the validation metric stops improving;
//! * [`history`]: the per-epoch record, saved as CSV or JSON;
//! * [`checkpoint`]: named tensors + metadata, written atomically;
//! * [`progress`]: a progress bar on a terminal, log lines elsewhere;
//! * [`figures`]: loss curves, image grids and heat maps as PNG files;
//! * [`TrainError`]: a diverging run stops with an error naming the epoch and batch.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod early_stopping;
pub mod figures;
pub mod history;
pub mod progress;

pub use checkpoint::{atomic_write, Checkpoint, CheckpointError};
pub use early_stopping::{Decision, EarlyStopping, Mode};
pub use history::{EpochRecord, History};
pub use progress::Progress;

/// Why training stopped with an error.
#[derive(Debug)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    Diverged {
        /// The epoch (from 0).
        epoch: usize,
        /// The batch within the epoch (from 0).
        batch: usize,
        /// The offending loss value.
        loss: f64,
    },
    /// A checkpoint could not be written or read.
    Checkpoint(CheckpointError),
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Diverged { epoch, batch, loss } => write!(
                f,
                "training diverged: the loss is {loss} at epoch {epoch}, batch {batch}; lower the learning rate or clip gradients (the last good checkpoint is kept)"
            ),
            TrainError::Checkpoint(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        TrainError::Checkpoint(e)
    }
}

/// Returns an error when a loss is not finite, so a run stops at the first
/// bad batch instead of filling the weights with NaN.
pub fn check_finite(loss: f64, epoch: usize, batch: usize) -> Result<(), TrainError> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(TrainError::Diverged { epoch, batch, loss })
    }
}
