//! # nn-train
//!
//! What turns a model and data into a trained model:
//!
//! * [`fit`]: [`Trainer`], the epoch loop (training, validation, metrics,
//!   gradient clipping, exact resume), numbering epochs from 1 everywhere;
//! * [`task`]: what a step computes — [`Classification`], [`Regression`],
//!   [`Reconstruction`] without any code, or your own ([`CustomTask`], [`Task`]);
//! * [`callback`]: the [`Callback`] hooks everything else plugs into:
//!   [`ProgressBar`], [`EarlyStopper`], [`LrScheduler`], [`PlateauScheduler`]
//!   (reduce on plateau), [`HistoryFile`], [`CheckpointEvery`] ([`resume`]);
//! * [`optimizer`]: [`TrainOptimizer`], an optimiser as the loop sees it;
//! * [`distributed`]: [`DataParallelism`], what a data-parallel run needs
//!   (implemented on MPI by `nn-distributed`);
//! * [`metrics`]: [`Accuracy`], [`ZeroOneError`], [`MeanSquaredError`], … and
//!   the [`Metric`] trait for your own;
//! * [`state`]: a model's, an optimiser's and a generator's state in a checkpoint;
//! * [`early_stopping`]: stop when the validation metric stops improving;
//! * [`history`]: the per-epoch record, saved as CSV or JSON;
//! * [`checkpoint`]: named tensors + metadata, written atomically;
//! * [`progress`]: a progress bar on a terminal, log lines elsewhere;
//! * [`figures`]: loss curves, image grids and heat maps as PNG files;
//! * [`TrainError`]: a diverging run stops with an error naming the epoch and batch.
//!
//! ## Why this crate depends on `nn-layers`, `nn-optim` and `nn-data`
//!
//! A training loop is where a model, an optimiser and the data meet, so it
//! has to name all three: it walks the model through [`nn_layers::Module`]'s
//! visitors (train/eval mode, parameters to clip, `state_dict` names for
//! checkpoints), steps an [`nn_optim::Optimizer`] and saves its state, and
//! reads mini-batches from an [`nn_data::DataLoader`]. Defining traits of
//! our own for each of these would duplicate those crates' interfaces for no
//! user; and none of them needs the loop, so there is no cycle. The
//! building blocks that need none of them (early stopping, history,
//! checkpoint files, progress, figures) stay usable on their own.
//!
//! Fitting `y = 2x + 1` with a one-weight linear model, a validation loader
//! and early stopping; regression needs no closure (see [`Trainer`] for a
//! classifier, and [`Trainer::custom`] for a step of your own):
//!
//! ```
//! use nn_data::{DataLoader, TensorDataset};
//! use nn_layers::prelude::*;
//! use nn_optim::SgdConfig;
//! use nn_train::{EarlyStopping, Mode, Trainer};
//! let mut rng = Rng::seed_from(0);
//! let x = Tensor::<f64>::rand_uniform(&[32, 1], -1.0, 1.0, &mut rng);
//! let y = &x * 2.0 + 1.0;
//! let data = TensorDataset::regression(x, y)?;
//! let model = LinearConfig::new(1, 1).init::<f64>(&mut rng)?;
//! let mut opt = SgdConfig::new(0.1).init(model.named_parameters())?;
//! let loader = DataLoader::new(&data, 8)?.shuffle(1);
//! let report = Trainer::regression(&model, &mut opt)
//!     .epochs(100)
//!     .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 5, 1e-9))
//!     .quiet()
//!     .fit(&loader, &loader)?;
//! assert!(report.history.last("val_loss").unwrap() < 1e-4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod callback;
pub mod checkpoint;
pub mod distributed;
pub mod early_stopping;
pub mod figures;
pub mod fit;
pub mod history;
pub mod lr;
pub mod metrics;
pub mod optimizer;
pub mod progress;
pub mod resume;
pub mod state;
pub mod task;

pub use callback::{BatchProgress, Callback, Control, FitContext};
pub use checkpoint::{atomic_write, Checkpoint, CheckpointError};
pub use distributed::{DataParallelism, MicroBatchLoss, ReducedGradients};
pub use early_stopping::{Decision, EarlyStopper, EarlyStopping, Mode};
pub use fit::{FitReport, Trainer};
pub use history::{EpochRecord, History, HistoryFile};
pub use lr::{LrScheduler, PlateauScheduler};
pub use metrics::{Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, ZeroOneError};
pub use optimizer::TrainOptimizer;
pub use progress::{Progress, ProgressBar};
pub use resume::CheckpointEvery;
pub use task::{
    Classification, CustomTask, Evaluation, Reconstruction, Regression, StepContext, Task,
};

/// Why training stopped with an error.
#[derive(Debug)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    Diverged {
        /// The epoch (numbered from 1).
        epoch: usize,
        /// The batch within the epoch (numbered from 1).
        batch: usize,
        /// The offending loss value.
        loss: f64,
    },
    /// A checkpoint could not be written or read.
    Checkpoint(CheckpointError),
    /// A batch could not be loaded.
    Data(nn_data::DataError),
    /// The model or the loss rejected a batch (a shape that does not fit).
    Model(nn_tensor::TensorError),
    /// The optimiser or the gradient clipping rejected a step.
    Optim(nn_optim::OptimError),
    /// The loop was set up wrongly (a monitored metric that is never
    /// recorded, a loss that is not a scalar).
    Config(String),
    /// The data-parallel group failed (a rank's error, reported on every rank).
    Distributed(String),
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Diverged { epoch, batch, loss } => write!(
                f,
                "training diverged: the loss is {loss} at epoch {epoch}, batch {batch}; lower the learning rate or clip gradients (the last good checkpoint is kept)"
            ),
            TrainError::Checkpoint(e) => write!(f, "{e}"),
            TrainError::Data(e) => write!(f, "{e}"),
            TrainError::Model(e) => write!(f, "{e}"),
            TrainError::Optim(e) => write!(f, "{e}"),
            TrainError::Config(m) => write!(f, "{m}"),
            TrainError::Distributed(m) => write!(f, "distributed training: {m}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        TrainError::Checkpoint(e)
    }
}

impl From<nn_data::DataError> for TrainError {
    fn from(e: nn_data::DataError) -> Self {
        TrainError::Data(e)
    }
}

impl From<nn_tensor::TensorError> for TrainError {
    fn from(e: nn_tensor::TensorError) -> Self {
        TrainError::Model(e)
    }
}

impl From<nn_optim::OptimError> for TrainError {
    fn from(e: nn_optim::OptimError) -> Self {
        TrainError::Optim(e)
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
