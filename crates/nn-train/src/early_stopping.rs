//! Early stopping: the course's answer to over-fitting.
//!
//! Training error keeps falling while validation error turns back up once
//! the model starts fitting noise. Early stopping watches a validation
//! metric, remembers the best epoch, and stops after `patience` epochs
//! without an improvement larger than `min_delta`; the trainer then restores
//! the weights of the best epoch.
//!
//! [`EarlyStopping`] is the rule alone (usable in a loop of your own);
//! [`EarlyStopper`] is the [`Callback`] that applies it inside
//! [`Trainer`](crate::Trainer), keeps the best weights and saves both in
//! checkpoints. Epochs are numbered from 1, as in the history.

use std::collections::BTreeMap;

use nn_tensor::{Element, Tensor};

use crate::callback::{Callback, Control, FitContext};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::state::{self, f64s_from_string, f64s_to_string};
use crate::{FitReport, TrainError};

/// Whether a smaller or a larger value of the monitored metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Smaller is better (losses, error rates).
    Min,
    /// Larger is better (accuracy).
    Max,
}

/// What [`EarlyStopping::update`] decided for an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A new best value: keep these weights.
    Improved,
    /// No improvement, but patience is not exhausted.
    Continue,
    /// Patience is exhausted: stop training.
    Stop,
}

/// Tracks a monitored metric across epochs.
///
/// ```
/// use nn_train::{Decision, EarlyStopping, Mode};
/// let mut es = EarlyStopping::new("val_loss", Mode::Min, 2, 0.0);
/// assert_eq!(es.update(1, 1.0), Decision::Improved); // epochs numbered from 1
/// assert_eq!(es.update(2, 0.8), Decision::Improved);
/// assert_eq!(es.update(3, 0.9), Decision::Continue);
/// assert_eq!(es.update(4, 0.85), Decision::Stop);
/// assert_eq!(es.best_epoch(), Some(2));
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: String,
    mode: Mode,
    patience: usize,
    min_delta: f64,
    restore_best: bool,
    best: Option<(usize, f64)>,
    bad_epochs: usize,
}

impl EarlyStopping {
    /// Watches the metric named `monitor` (e.g. `"val_loss"`, `"val_accuracy"`).
    ///
    /// # Panics
    /// If `min_delta` is negative or NaN.
    #[track_caller]
    pub fn new(monitor: &str, mode: Mode, patience: usize, min_delta: f64) -> Self {
        assert!(
            min_delta >= 0.0,
            "EarlyStopping: min_delta {min_delta} must be >= 0"
        );
        EarlyStopping {
            monitor: monitor.to_string(),
            mode,
            patience,
            min_delta,
            restore_best: false,
            best: None,
            bad_epochs: 0,
        }
    }

    /// Asks the trainer to end the run with the weights of the best epoch
    /// rather than the last one (Keras's `restore_best_weights`).
    pub fn restore_best_weights(mut self) -> Self {
        self.restore_best = true;
        self
    }

    /// True when the trainer puts the best epoch's weights back at the end.
    pub fn restores_best_weights(&self) -> bool {
        self.restore_best
    }

    /// The monitored metric's name.
    pub fn monitor(&self) -> &str {
        &self.monitor
    }

    /// Records the metric's value after `epoch` (the trainer numbers epochs from 1).
    pub fn update(&mut self, epoch: usize, value: f64) -> Decision {
        let improved = match self.best {
            None => value.is_finite(),
            Some((_, best)) => match self.mode {
                Mode::Min => value < best - self.min_delta,
                Mode::Max => value > best + self.min_delta,
            },
        };
        if improved {
            self.best = Some((epoch, value));
            self.bad_epochs = 0;
            Decision::Improved
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs >= self.patience {
                Decision::Stop
            } else {
                Decision::Continue
            }
        }
    }

    /// The epoch with the best value so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.map(|b| b.0)
    }

    /// The best value so far.
    pub fn best_value(&self) -> Option<f64> {
        self.best.map(|b| b.1)
    }

    /// Whether smaller or larger is better.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Epochs since the last improvement.
    pub fn bad_epochs(&self) -> usize {
        self.bad_epochs
    }

    /// Sets the tracked state, to resume a run from a checkpoint: the best
    /// `(epoch, value)` so far and the epochs since it.
    pub fn restore(&mut self, best: Option<(usize, f64)>, bad_epochs: usize) {
        self.best = best;
        self.bad_epochs = bad_epochs;
    }
}

/// The [`Callback`] that applies an [`EarlyStopping`] rule: after each
/// epoch it reads the monitored metric, asks for a stop when patience runs
/// out, keeps a copy of the best epoch's weights when the rule says
/// [`EarlyStopping::restore_best_weights`], and puts them back at the end.
/// [`Trainer::early_stopping`](crate::Trainer::early_stopping) adds one.
#[derive(Clone, Debug)]
pub struct EarlyStopper<T: Element> {
    rule: EarlyStopping,
    best_weights: Option<BTreeMap<String, Tensor<T>>>,
}

impl<T: Element> EarlyStopper<T> {
    /// Applies `rule`.
    pub fn new(rule: EarlyStopping) -> Self {
        EarlyStopper {
            rule,
            best_weights: None,
        }
    }

    /// The rule and its state.
    pub fn rule(&self) -> &EarlyStopping {
        &self.rule
    }
}

impl<T: Element> Callback<T> for EarlyStopper<T> {
    fn name(&self) -> &str {
        "early_stopping"
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut FitContext<'_, T>,
        control: &mut Control,
    ) -> Result<(), TrainError> {
        let value = ctx.monitored(&self.rule.monitor)?;
        match self.rule.update(ctx.epoch, value) {
            Decision::Improved if self.rule.restore_best => {
                self.best_weights = Some(state::model_tensors(ctx.model, ""));
            }
            Decision::Stop => control.stop(),
            _ => {}
        }
        Ok(())
    }

    fn on_fit_end(
        &mut self,
        ctx: &mut FitContext<'_, T>,
        report: &mut FitReport,
    ) -> Result<(), TrainError> {
        report.best_epoch = self.rule.best_epoch();
        if let (true, Some(best)) = (self.rule.restore_best, &self.best_weights) {
            state::load_model_tensors(ctx.model, best, "")?;
            report.restored_best = true;
        }
        Ok(())
    }

    fn save_state(&self, ckpt: &mut Checkpoint<T>, prefix: &str) {
        let best = match self.rule.best {
            Some((e, v)) => format!("{e}:{}", f64s_to_string(&[v])),
            None => "-".into(),
        };
        ckpt.metadata.insert(
            format!("{prefix}state"),
            format!("{best};{}", self.rule.bad_epochs),
        );
        if let Some(w) = &self.best_weights {
            ckpt.tensors.extend(
                w.iter()
                    .map(|(k, t)| (format!("{prefix}best.{k}"), t.clone())),
            );
        }
    }

    fn load_state(&mut self, ckpt: &Checkpoint<T>, prefix: &str) -> Result<(), CheckpointError> {
        let text = state::metadata(ckpt, &format!("{prefix}state"))?;
        let parse = || -> Option<(Option<(usize, f64)>, usize)> {
            let (best, bad_epochs) = text.split_once(';')?;
            let best = match best {
                "-" => None,
                b => {
                    let (e, v) = b.split_once(':')?;
                    Some((e.parse().ok()?, *f64s_from_string(v).ok()?.first()?))
                }
            };
            Some((best, bad_epochs.parse().ok()?))
        };
        let (best, bad) = parse()
            .ok_or_else(|| CheckpointError::Format(format!("bad early-stopping state `{text}`")))?;
        self.rule.restore(best, bad);
        let key = format!("{prefix}best.");
        let weights: BTreeMap<String, Tensor<T>> = ckpt
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(&key).map(|k| (k.to_string(), t.clone())))
            .collect();
        self.best_weights = (!weights.is_empty()).then_some(weights);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_mode_with_min_delta() {
        let mut es = EarlyStopping::new("acc", Mode::Max, 2, 0.01);
        assert_eq!(es.update(0, 0.5), Decision::Improved);
        assert_eq!(es.update(1, 0.505), Decision::Continue); // below min_delta
        assert_eq!(es.update(2, 0.6), Decision::Improved);
        assert_eq!(es.update(3, 0.6), Decision::Continue);
        assert_eq!(es.update(4, 0.59), Decision::Stop);
        assert_eq!(es.best_value(), Some(0.6));
    }

    #[test]
    fn nan_never_counts_as_best() {
        let mut es = EarlyStopping::new("loss", Mode::Min, 0, 0.0);
        assert_eq!(es.update(0, f64::NAN), Decision::Stop);
        assert_eq!(es.best_epoch(), None);
    }
}
