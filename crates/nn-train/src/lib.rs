//! # nn-train
//!
//! What turns a model and data into a trained model:
//!
//! * [`fit`]: [`Trainer`], the training loop (validation, metrics, learning-rate
//!   schedule, gradient clipping, early stopping, checkpoints and exact resume);
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
//! and early stopping (see [`Trainer`] for a classifier with metrics):
//!
//! ```
//! use nn_data::{DataLoader, TensorDataset};
//! use nn_layers::prelude::*;
//! use nn_optim::SgdConfig;
//! use nn_train::{EarlyStopping, Evaluation, MeanSquaredError, Mode, Trainer};
//! let mut rng = Rng::seed_from(0);
//! let x = Tensor::<f64>::rand_uniform(&[32, 1], -1.0, 1.0, &mut rng);
//! let y = x.mul_scalar(2.0).add_scalar(1.0);
//! let data = TensorDataset::regression(x, y)?;
//! let model = LinearConfig::new(1, 1).init::<f64>(&mut rng)?;
//! let mut opt = SgdConfig::new(0.1).init(model.named_parameters())?;
//! let loader = DataLoader::new(&data, 8)?.shuffle(1);
//! let mse = MseLoss::default();
//! let predict = |m: &Linear<f64>, b: &nn_data::Batch<f64>| m.forward(&Var::constant(b.features.clone()));
//! let report = Trainer::new(100)
//!     .metric(MeanSquaredError::new())
//!     .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 5, 1e-9), true)
//!     .quiet()
//!     .fit(
//!         &model, &mut opt, &loader, Some(&loader),
//!         |m, b, _| mse.forward(&predict(m, b), &Var::constant(b.values().clone())),
//!         |m, b| {
//!             let out = predict(m, b);
//!             Evaluation::new(&mse.forward(&out, &Var::constant(b.values().clone())), &out)
//!         },
//!     )?;
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

pub mod checkpoint;
pub mod early_stopping;
pub mod figures;
pub mod fit;
pub mod history;
pub mod metrics;
pub mod progress;
pub mod state;

pub use checkpoint::{atomic_write, Checkpoint, CheckpointError};
pub use early_stopping::{Decision, EarlyStopping, Mode};
pub use fit::{evaluate, Evaluation, FitReport, StepContext, Trainer};
pub use history::{EpochRecord, History};
pub use metrics::{Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, ZeroOneError};
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
    /// A batch could not be loaded.
    Data(nn_data::DataError),
    /// The optimiser or the gradient clipping rejected a step.
    Optim(nn_optim::OptimError),
    /// The loop was set up wrongly (a monitored metric that is never
    /// recorded, a loss that is not a scalar).
    Config(String),
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
            TrainError::Optim(e) => write!(f, "{e}"),
            TrainError::Config(m) => write!(f, "{m}"),
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
