//! [`Callback`]: the hooks through which everything around the epoch loop
//! (progress, early stopping, learning-rate schedules, history files,
//! checkpoints) plugs into [`Trainer`](crate::Trainer).
//!
//! The loop itself only trains, validates and records. Each hook gets a
//! [`FitContext`] (the model, the optimiser's learning rates, the history,
//! the epoch); at the end of an epoch a callback can ask, through
//! [`Control`], for the run to stop or for a checkpoint to be written; the
//! loop acts on the requests once every callback has run. A callback whose
//! decisions depend on the past (early stopping, a plateau schedule) saves
//! that past in checkpoints through [`Callback::save_state`], so a resumed
//! run decides as an uninterrupted one would.
//!
//! A callback of your own, stopping once the training loss is small enough:
//!
//! ```
//! use nn_train::{Callback, Control, FitContext, TrainError};
//! struct StopBelow(f64);
//! impl<T: nn_tensor::Element> Callback<T> for StopBelow {
//!     fn name(&self) -> &str {
//!         "stop_below"
//!     }
//!     fn on_epoch_end(&mut self, ctx: &mut FitContext<'_, T>, control: &mut Control) -> Result<(), TrainError> {
//!         if ctx.monitored("train_loss")? < self.0 {
//!             control.stop();
//!         }
//!         Ok(())
//!     }
//! }
//! ```

use std::path::PathBuf;

use nn_layers::Module;
use nn_tensor::Element;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::history::History;
use crate::optimizer::TrainOptimizer;
use crate::TrainError;

/// What a hook sees of the run.
pub struct FitContext<'a, T: Element> {
    /// The model being trained.
    pub model: &'a dyn Module<T>,
    /// The optimiser (its learning rates through [`nn_optim::LearningRates`]).
    pub optimizer: &'a mut dyn TrainOptimizer<T>,
    /// Every epoch recorded so far; at the end of an epoch, its last entry
    /// is that epoch.
    pub history: &'a History,
    /// The current epoch, numbered from 1 (0 before the first one starts).
    pub epoch: usize,
    /// The last epoch of the run.
    pub epochs: usize,
    /// Training batches per epoch (on this rank).
    pub batches: usize,
    /// True on the process that reports, logs and writes files: always in
    /// a single-process run, on rank 0 in a distributed one.
    pub is_root: bool,
}

impl<T: Element> FitContext<'_, T> {
    /// The value of `name` (e.g. `"val_loss"`) in the last epoch's record,
    /// or a [`TrainError::Config`] listing what the epoch did record.
    pub fn monitored(&self, name: &str) -> Result<f64, TrainError> {
        let Some(last) = self.history.epochs.last() else {
            return Err(TrainError::Config(format!(
                "`{name}` is monitored before any epoch was recorded"
            )));
        };
        last.metrics.get(name).copied().ok_or_else(|| {
            let known: Vec<&String> = last.metrics.keys().collect();
            TrainError::Config(format!(
                "`{name}` is monitored but not recorded (recorded: {known:?}); validation metrics need a validation loader"
            ))
        })
    }
}

/// How far an epoch's training pass has come, for progress displays.
#[derive(Clone, Copy, Debug)]
pub struct BatchProgress {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The batch just done, from 1.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// The mean training loss over the epoch's samples so far.
    pub mean_loss: f64,
    /// Samples trained on so far in this epoch.
    pub samples: usize,
    /// Seconds since the epoch started.
    pub seconds: f64,
}

/// What callbacks ask of the loop at the end of an epoch.
#[derive(Clone, Debug, Default)]
pub struct Control {
    stop: bool,
    checkpoints: Vec<PathBuf>,
}

impl Control {
    /// Ends the run after this epoch.
    pub fn stop(&mut self) {
        self.stop = true;
    }

    /// True once some callback asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop
    }

    /// Writes a training checkpoint to `path` after this epoch (once every
    /// callback has run, so it holds their final state).
    pub fn save_checkpoint(&mut self, path: impl Into<PathBuf>) {
        let path = path.into();
        if !self.checkpoints.contains(&path) {
            self.checkpoints.push(path);
        }
    }

    /// The checkpoints asked for so far.
    pub fn checkpoints(&self) -> &[PathBuf] {
        &self.checkpoints
    }
}

/// A hook into [`Trainer::fit`](crate::Trainer::fit). Every method has a
/// default that does nothing, so a callback implements only what it uses.
///
/// Order in a run: [`load_state`](Callback::load_state) (when resuming),
/// [`on_fit_start`](Callback::on_fit_start); per epoch
/// [`on_epoch_start`](Callback::on_epoch_start),
/// [`on_batch_end`](Callback::on_batch_end) after each optimiser step,
/// [`on_epoch_end`](Callback::on_epoch_end) once the epoch is in the
/// history; finally [`on_fit_end`](Callback::on_fit_end). Callbacks run in
/// the order they were added.
pub trait Callback<T: Element> {
    /// A short name, also the key of the callback's state in checkpoints
    /// (`callback.<name>.…`).
    fn name(&self) -> &str;

    /// Before the first epoch of the run (after a resume's state is loaded).
    fn on_fit_start(&mut self, _ctx: &mut FitContext<'_, T>) -> Result<(), TrainError> {
        Ok(())
    }

    /// Before the training pass of `ctx.epoch` (learning rates set here are
    /// the epoch's, and the history records them as `lr`).
    fn on_epoch_start(&mut self, _ctx: &mut FitContext<'_, T>) -> Result<(), TrainError> {
        Ok(())
    }

    /// After each optimiser step.
    fn on_batch_end(&mut self, _progress: &BatchProgress) {}

    /// After the epoch's training and validation, once its record is the
    /// last entry of `ctx.history`.
    fn on_epoch_end(
        &mut self,
        _ctx: &mut FitContext<'_, T>,
        _control: &mut Control,
    ) -> Result<(), TrainError> {
        Ok(())
    }

    /// After the last epoch (or the stop); may fill in the report.
    fn on_fit_end(
        &mut self,
        _ctx: &mut FitContext<'_, T>,
        _report: &mut crate::FitReport,
    ) -> Result<(), TrainError> {
        Ok(())
    }

    /// Writes what this callback must remember across a resume into
    /// `ckpt`, under keys starting with `prefix`.
    fn save_state(&self, _ckpt: &mut Checkpoint<T>, _prefix: &str) {}

    /// Restores the state written by [`Callback::save_state`].
    fn load_state(&mut self, _ckpt: &Checkpoint<T>, _prefix: &str) -> Result<(), CheckpointError> {
        Ok(())
    }
}
