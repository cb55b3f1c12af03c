//! Learning-rate schedules with closed forms: step, multi-step, exponential,
//! cosine annealing and linear warm-up, driven by a [`Scheduler`].

use std::fmt::Debug;

use crate::error::{OptimError, Result};
use crate::optimizer::LearningRates;

/// A learning rate as a function of the epoch (or step) number, given the
/// group's base learning rate: PyTorch's closed forms.
///
/// A schedule is a pure function; a [`Scheduler`] drives one over an
/// optimiser, as PyTorch's `scheduler.step()` does. Attach it with
/// [`LrSchedule::scheduler`] (or [`Scheduler::new`]):
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_optim::{LearningRates, LrSchedule, SgdConfig, StepLr};
/// use nn_tensor::Tensor;
/// # fn main() -> nn_optim::Result<()> {
/// let w = Parameter::new(Tensor::<f64>::zeros(&[1]));
/// let mut opt = SgdConfig::new(0.1).init(vec![("w".into(), w)])?;
/// let mut sched = StepLr::new(1, 0.5)?.scheduler(&mut opt);
/// for _epoch in 0..2 {
///     // ... one epoch of opt.step(&loss.backward()) ...
///     sched.step(&mut opt);
/// }
/// assert_eq!(opt.lr(), 0.025);
/// # Ok(())
/// # }
/// ```
#[doc(alias = "lr_scheduler")]
pub trait LrSchedule: Debug + Send + Sync {
    /// The learning rate at `epoch` (counting from 0) for a group whose
    /// initial learning rate is `base_lr`.
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64;

    /// A [`Scheduler`] driving this schedule over `opt`, which it sets to
    /// the epoch-0 rates; call its `step(&mut opt)` once per epoch.
    fn scheduler(self, opt: &mut impl LearningRates) -> Scheduler<Self>
    where
        Self: Sized,
    {
        Scheduler::new(self, opt)
    }
}

fn positive_gamma(op: &'static str, gamma: f64) -> Result<()> {
    if gamma.is_finite() && gamma > 0.0 {
        Ok(())
    } else {
        Err(OptimError::invalid(
            op,
            "gamma",
            gamma,
            "a finite value > 0",
        ))
    }
}

/// Multiplies the learning rate by `gamma` every `step_size` epochs
/// (`torch.optim.lr_scheduler.StepLR`):
/// `lr = base · gamma^⌊epoch / step_size⌋`.
///
/// Like every schedule, it runs over an optimiser through a [`Scheduler`]
/// (`StepLr::new(2, 0.5)?.scheduler(&mut opt)`, then `sched.step(&mut opt)`
/// each epoch; see [`LrSchedule`]); `lr_at` is its closed form.
///
/// ```
/// use nn_optim::{LrSchedule, StepLr};
/// let s = StepLr::new(2, 0.5).unwrap();
/// assert_eq!([0, 1, 2, 3, 4].map(|e| s.lr_at(1.0, e)), [1.0, 1.0, 0.5, 0.5, 0.25]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StepLr {
    step_size: u64,
    gamma: f64,
}

impl StepLr {
    /// Decay by `gamma` every `step_size` epochs (`step_size > 0`, `gamma > 0`).
    pub fn new(step_size: u64, gamma: f64) -> Result<Self> {
        if step_size == 0 {
            return Err(OptimError::invalid("StepLr", "step_size", 0, "a value > 0"));
        }
        positive_gamma("StepLr", gamma)?;
        Ok(StepLr { step_size, gamma })
    }
}

impl LrSchedule for StepLr {
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        base_lr * self.gamma.powf((epoch / self.step_size) as f64)
    }
}

/// Multiplies the learning rate by `gamma` at each milestone
/// (`MultiStepLR`): `lr = base · gamma^(number of milestones ≤ epoch)`.
///
/// ```
/// use nn_optim::{LrSchedule, MultiStepLr};
/// let s = MultiStepLr::new(vec![2, 5], 0.1).unwrap();
/// assert_eq!(s.lr_at(1.0, 1), 1.0);
/// assert_eq!(s.lr_at(1.0, 2), 0.1);
/// assert!((s.lr_at(1.0, 5) - 0.01).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    milestones: Vec<u64>,
    gamma: f64,
}

impl MultiStepLr {
    /// Decay by `gamma` at each of the strictly increasing `milestones`.
    pub fn new(milestones: Vec<u64>, gamma: f64) -> Result<Self> {
        if milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(OptimError::invalid(
                "MultiStepLr",
                "milestones",
                format!("{milestones:?}"),
                "a strictly increasing list",
            ));
        }
        positive_gamma("MultiStepLr", gamma)?;
        Ok(MultiStepLr { milestones, gamma })
    }
}

impl LrSchedule for MultiStepLr {
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        base_lr * self.gamma.powf(passed as f64)
    }
}

/// Multiplies the learning rate by `gamma` every epoch (`ExponentialLR`):
/// `lr = base · gamma^epoch`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLr {
    gamma: f64,
}

impl ExponentialLr {
    /// Decay by `gamma > 0` every epoch.
    pub fn new(gamma: f64) -> Result<Self> {
        positive_gamma("ExponentialLr", gamma)?;
        Ok(ExponentialLr { gamma })
    }
}

impl LrSchedule for ExponentialLr {
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        base_lr * self.gamma.powf(epoch as f64)
    }
}

/// Cosine annealing from the base rate down to `eta_min` over `t_max`
/// epochs (`CosineAnnealingLR`'s closed form):
/// `lr = eta_min + (base − eta_min)·(1 + cos(π·epoch/t_max))/2`.
/// Past `t_max` the cosine carries on, climbing back up, as in PyTorch.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    t_max: u64,
    eta_min: f64,
}

impl CosineAnnealingLr {
    /// Anneal over `t_max > 0` epochs down to `eta_min >= 0`.
    pub fn new(t_max: u64, eta_min: f64) -> Result<Self> {
        if t_max == 0 {
            return Err(OptimError::invalid(
                "CosineAnnealingLr",
                "t_max",
                0,
                "a value > 0",
            ));
        }
        if !(eta_min.is_finite() && eta_min >= 0.0) {
            return Err(OptimError::invalid(
                "CosineAnnealingLr",
                "eta_min",
                eta_min,
                "a finite value >= 0",
            ));
        }
        Ok(CosineAnnealingLr { t_max, eta_min })
    }
}

impl LrSchedule for CosineAnnealingLr {
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let phase = std::f64::consts::PI * epoch as f64 / self.t_max as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }
}

/// A linear warm-up from `start_factor · base` to `base` over `warmup`
/// epochs (PyTorch's `LinearLR` with `end_factor = 1`), optionally followed
/// by another schedule that starts its own epoch count at 0 when the
/// warm-up ends (like `SequentialLR`).
///
/// ```
/// use nn_optim::{CosineAnnealingLr, LinearWarmup, LrSchedule};
/// let s = LinearWarmup::new(4, 0.25)
///     .unwrap()
///     .then(CosineAnnealingLr::new(10, 0.0).unwrap());
/// assert_eq!(s.lr_at(1.0, 0), 0.25);
/// assert_eq!(s.lr_at(1.0, 2), 0.625);
/// assert_eq!(s.lr_at(1.0, 4), 1.0); // cosine at its epoch 0
/// assert!((s.lr_at(1.0, 9) - 0.5).abs() < 1e-15); // cosine at its epoch 5
/// ```
#[derive(Debug)]
pub struct LinearWarmup {
    warmup: u64,
    start_factor: f64,
    after: Option<Box<dyn LrSchedule>>,
}

impl LinearWarmup {
    /// A warm-up over `warmup > 0` epochs starting at `start_factor` in (0, 1].
    pub fn new(warmup: u64, start_factor: f64) -> Result<Self> {
        if warmup == 0 {
            return Err(OptimError::invalid(
                "LinearWarmup",
                "warmup",
                0,
                "a value > 0",
            ));
        }
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(OptimError::invalid(
                "LinearWarmup",
                "start_factor",
                start_factor,
                "a value in (0, 1]",
            ));
        }
        Ok(LinearWarmup {
            warmup,
            start_factor,
            after: None,
        })
    }

    /// Runs `schedule` once the warm-up is over.
    pub fn then(mut self, schedule: impl LrSchedule + 'static) -> Self {
        self.after = Some(Box::new(schedule));
        self
    }
}

impl LrSchedule for LinearWarmup {
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        if epoch < self.warmup {
            let f =
                self.start_factor + (1.0 - self.start_factor) * epoch as f64 / self.warmup as f64;
            return base_lr * f;
        }
        match &self.after {
            Some(s) => s.lr_at(base_lr, epoch - self.warmup),
            None => base_lr,
        }
    }
}

/// Drives a schedule: remembers each group's base learning rate and the
/// epoch, and sets the optimiser's learning rates at every
/// [`Scheduler::step`]. Creating it sets the epoch-0 rates (as PyTorch's
/// constructors do).
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_optim::{LearningRates, Scheduler, SgdConfig, StepLr};
/// use nn_tensor::Tensor;
/// let w = Parameter::new(Tensor::<f64>::zeros(&[1]));
/// let mut opt = SgdConfig::new(0.1).init(vec![("w".into(), w)]).unwrap();
/// let mut sched = Scheduler::new(StepLr::new(1, 0.5).unwrap(), &mut opt);
/// // for epoch in ... { train one epoch with opt.step(...); then: }
/// sched.step(&mut opt);
/// assert_eq!(opt.lr(), 0.05);
/// ```
#[derive(Debug)]
pub struct Scheduler<S: LrSchedule> {
    schedule: S,
    base_lrs: Vec<f64>,
    epoch: u64,
}

impl<S: LrSchedule> Scheduler<S> {
    /// Takes the optimiser's current learning rates as the base rates and
    /// applies the schedule's epoch-0 rates.
    pub fn new(schedule: S, opt: &mut impl LearningRates) -> Self {
        let base_lrs = (0..opt.num_groups()).map(|g| opt.group_lr(g)).collect();
        let s = Scheduler {
            schedule,
            base_lrs,
            epoch: 0,
        };
        s.apply(opt);
        s
    }

    /// Resumes a schedule at `epoch` with known base rates (read them from
    /// [`Scheduler::base_lrs`] when saving). Leaves the optimiser as it is:
    /// its loaded state already holds the current rates.
    pub fn resume(schedule: S, base_lrs: Vec<f64>, epoch: u64) -> Self {
        Scheduler {
            schedule,
            base_lrs,
            epoch,
        }
    }

    /// Advances one epoch (or step) and sets the new learning rates
    /// (PyTorch's `scheduler.step()`).
    pub fn step(&mut self, opt: &mut impl LearningRates) {
        self.epoch += 1;
        self.apply(opt);
    }

    fn apply(&self, opt: &mut impl LearningRates) {
        for (g, &base) in self.base_lrs.iter().enumerate().take(opt.num_groups()) {
            opt.set_group_lr(g, self.schedule.lr_at(base, self.epoch));
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Each group's base learning rate.
    pub fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    /// The learning rates of the current epoch, one per group.
    pub fn current_lrs(&self) -> Vec<f64> {
        self.base_lrs
            .iter()
            .map(|&b| self.schedule.lr_at(b, self.epoch))
            .collect()
    }

    /// The schedule.
    pub fn schedule(&self) -> &S {
        &self.schedule
    }
}
