//! Early stopping: the course's answer to over-fitting.
//!
//! Training error keeps falling while validation error turns back up once
//! the model starts fitting noise. Early stopping watches a validation
//! metric, remembers the best epoch, and stops after `patience` epochs
//! without an improvement larger than `min_delta`; the trainer then restores
//! the weights of the best epoch.

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
/// assert_eq!(es.update(0, 1.0), Decision::Improved);
/// assert_eq!(es.update(1, 0.8), Decision::Improved);
/// assert_eq!(es.update(2, 0.9), Decision::Continue);
/// assert_eq!(es.update(3, 0.85), Decision::Stop);
/// assert_eq!(es.best_epoch(), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: String,
    mode: Mode,
    patience: usize,
    min_delta: f64,
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
            best: None,
            bad_epochs: 0,
        }
    }

    /// The monitored metric's name.
    pub fn monitor(&self) -> &str {
        &self.monitor
    }

    /// Records the metric's value after `epoch`.
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
