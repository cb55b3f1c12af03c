//! Reduce-on-plateau: lower the learning rate when a metric stops improving.

use crate::error::{OptimError, Result};
use crate::optimizer::LearningRates;

/// Whether a smaller or a larger metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How `threshold` measures a significant improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Relative: better than `best·(1 ∓ threshold)`.
    Rel,
    /// Absolute: better than `best ∓ threshold`.
    Abs,
}

/// The settings of [`ReduceLrOnPlateau`], with PyTorch's defaults
/// (`torch.optim.lr_scheduler.ReduceLROnPlateau`).
#[derive(Clone, Debug, PartialEq)]
pub struct PlateauConfig {
    /// Min or max (default min).
    pub mode: PlateauMode,
    /// Multiplies the learning rate on a plateau; in [0, 1) (default 0.1).
    pub factor: f64,
    /// Epochs without improvement tolerated before reducing (default 10).
    pub patience: u64,
    /// The smallest significant improvement (default 1e-4).
    pub threshold: f64,
    /// Relative or absolute threshold (default relative).
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a reduction before counting again (default 0).
    pub cooldown: u64,
    /// A floor for every group's learning rate (default 0).
    pub min_lr: f64,
    /// Reductions smaller than this are skipped (default 1e-8).
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

impl PlateauConfig {
    /// Defaults with the given mode.
    pub fn new(mode: PlateauMode) -> Self {
        PlateauConfig {
            mode,
            ..Self::default()
        }
    }

    /// Sets the reduction factor.
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets the patience.
    pub fn with_patience(mut self, patience: u64) -> Self {
        self.patience = patience;
        self
    }

    /// Sets the threshold and its mode.
    pub fn with_threshold(mut self, threshold: f64, mode: ThresholdMode) -> Self {
        self.threshold = threshold;
        self.threshold_mode = mode;
        self
    }

    /// Sets the cooldown.
    pub fn with_cooldown(mut self, cooldown: u64) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets the learning-rate floor.
    pub fn with_min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Checks the settings and builds the scheduler.
    pub fn init(self) -> Result<ReduceLrOnPlateau> {
        let op = "ReduceLrOnPlateau";
        if !(0.0..1.0).contains(&self.factor) {
            return Err(OptimError::invalid(
                op,
                "factor",
                self.factor,
                "a value in [0, 1)",
            ));
        }
        for (name, v) in [
            ("threshold", self.threshold),
            ("min_lr", self.min_lr),
            ("eps", self.eps),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(OptimError::invalid(op, name, v, "a finite value >= 0"));
            }
        }
        let best = match self.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Ok(ReduceLrOnPlateau {
            config: self,
            best,
            bad_epochs: 0,
            cooldown_left: 0,
        })
    }
}

/// Lowers every group's learning rate by `factor` once the metric has not
/// improved for more than `patience` epochs, then waits `cooldown` epochs;
/// never below `min_lr`.
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_optim::{PlateauConfig, PlateauMode, SgdConfig};
/// use nn_tensor::Tensor;
/// let w = Parameter::new(Tensor::<f64>::zeros(&[1]));
/// let mut opt = SgdConfig::new(1.0).init(vec![("w".into(), w)]).unwrap();
/// let mut plateau = PlateauConfig::new(PlateauMode::Min)
///     .with_patience(1)
///     .with_factor(0.5)
///     .init()
///     .unwrap();
/// for loss in [1.0, 1.0, 1.0] {
///     plateau.step(loss, &mut opt);
/// }
/// assert_eq!(opt.lr(), 0.5); // two epochs without improvement > patience 1
/// ```
#[derive(Clone, Debug)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    best: f64,
    bad_epochs: u64,
    cooldown_left: u64,
}

impl ReduceLrOnPlateau {
    fn is_better(&self, a: f64) -> bool {
        let (best, th) = (self.best, self.config.threshold);
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - th),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - th,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (1.0 + th),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + th,
        }
    }

    /// Records the epoch's metric and lowers the learning rates if the
    /// metric has stalled. Returns true when it lowered them. A NaN metric
    /// counts as no improvement.
    pub fn step(&mut self, metric: f64, opt: &mut impl LearningRates) -> bool {
        if self.is_better(metric) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs <= self.config.patience {
            return false;
        }
        let mut reduced = false;
        for g in 0..opt.num_groups() {
            let old = opt.group_lr(g);
            let new = (old * self.config.factor).max(self.config.min_lr);
            if old - new > self.config.eps {
                opt.set_group_lr(g, new);
                reduced = true;
            }
        }
        self.cooldown_left = self.config.cooldown;
        self.bad_epochs = 0;
        reduced
    }

    /// The best metric seen so far.
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Epochs since the last significant improvement (reset by a reduction).
    pub fn bad_epochs(&self) -> u64 {
        self.bad_epochs
    }

    /// Epochs still to wait after the last reduction before counting again.
    pub fn cooldown_left(&self) -> u64 {
        self.cooldown_left
    }

    /// Puts the scheduler back where [`best`](Self::best),
    /// [`bad_epochs`](Self::bad_epochs) and
    /// [`cooldown_left`](Self::cooldown_left) said it was (resuming a run
    /// from a checkpoint).
    pub fn restore(&mut self, best: f64, bad_epochs: u64, cooldown_left: u64) {
        self.best = best;
        self.bad_epochs = bad_epochs;
        self.cooldown_left = cooldown_left;
    }

    /// The settings.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }
}
