//! Learning-rate callbacks: [`LrScheduler`] sets each epoch's rate from a
//! fixed [`LrSchedule`]; [`PlateauScheduler`] lowers it when a monitored
//! metric stalls ([`ReduceLrOnPlateau`]). Both keep what they need for an
//! exact resume in checkpoints.

use nn_optim::{LearningRates, LrSchedule, ReduceLrOnPlateau};
use nn_tensor::Element;

use crate::callback::{Callback, Control, FitContext};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::state::{self, f64s_from_string, f64s_to_string};
use crate::TrainError;

/// Sets every parameter group's learning rate at the start of epoch `e`
/// (numbered from 1) to `schedule.lr_at(initial_lr, e - 1)`: the schedule
/// counts epochs from 0, as PyTorch's schedulers do, so the first epoch
/// runs at the initial rate. The initial rates are read from the optimiser
/// when the run starts and kept in checkpoints.
/// [`Trainer::schedule`](crate::Trainer::schedule) adds one.
#[derive(Debug)]
pub struct LrScheduler {
    schedule: Box<dyn LrSchedule>,
    base_lrs: Option<Vec<f64>>,
}

impl LrScheduler {
    /// Applies `schedule`.
    pub fn new(schedule: impl LrSchedule + 'static) -> Self {
        LrScheduler {
            schedule: Box::new(schedule),
            base_lrs: None,
        }
    }
}

impl<T: Element> Callback<T> for LrScheduler {
    fn name(&self) -> &str {
        "lr_schedule"
    }

    fn on_fit_start(&mut self, ctx: &mut FitContext<'_, T>) -> Result<(), TrainError> {
        if self.base_lrs.is_none() {
            let opt = &*ctx.optimizer;
            self.base_lrs = Some((0..opt.num_groups()).map(|g| opt.group_lr(g)).collect());
        }
        Ok(())
    }

    fn on_epoch_start(&mut self, ctx: &mut FitContext<'_, T>) -> Result<(), TrainError> {
        let index = ctx.epoch.saturating_sub(1) as u64;
        for (g, &base) in self.base_lrs.iter().flatten().enumerate() {
            ctx.optimizer
                .set_group_lr(g, self.schedule.lr_at(base, index));
        }
        Ok(())
    }

    fn save_state(&self, ckpt: &mut Checkpoint<T>, prefix: &str) {
        if let Some(b) = &self.base_lrs {
            ckpt.metadata
                .insert(format!("{prefix}base_lrs"), f64s_to_string(b));
        }
    }

    fn load_state(&mut self, ckpt: &Checkpoint<T>, prefix: &str) -> Result<(), CheckpointError> {
        let text = state::metadata(ckpt, &format!("{prefix}base_lrs"))?;
        self.base_lrs = Some(f64s_from_string(text)?);
        Ok(())
    }
}

/// Applies [`ReduceLrOnPlateau`] to a recorded metric after every epoch
/// (e.g. `"val_loss"`): once it has not improved for `patience` epochs,
/// every group's learning rate is multiplied by the factor, from the next
/// epoch on. [`Trainer::reduce_lr_on_plateau`](crate::Trainer::reduce_lr_on_plateau)
/// adds one.
///
/// Combined with an [`LrScheduler`], the schedule wins: it sets every
/// epoch's rate from the initial one.
#[derive(Clone, Debug)]
pub struct PlateauScheduler {
    monitor: String,
    plateau: ReduceLrOnPlateau,
}

impl PlateauScheduler {
    /// Applies `plateau` to the metric named `monitor`.
    pub fn new(monitor: &str, plateau: ReduceLrOnPlateau) -> Self {
        PlateauScheduler {
            monitor: monitor.to_string(),
            plateau,
        }
    }

    /// The scheduler and its state.
    pub fn plateau(&self) -> &ReduceLrOnPlateau {
        &self.plateau
    }
}

/// `LearningRates` for a trait object: the plateau's `step` takes a sized type.
struct Rates<'a, T: Element>(&'a mut dyn crate::TrainOptimizer<T>);

impl<T: Element> LearningRates for Rates<'_, T> {
    fn num_groups(&self) -> usize {
        self.0.num_groups()
    }
    fn group_lr(&self, group: usize) -> f64 {
        self.0.group_lr(group)
    }
    fn set_group_lr(&mut self, group: usize, lr: f64) {
        self.0.set_group_lr(group, lr)
    }
}

impl<T: Element> Callback<T> for PlateauScheduler {
    fn name(&self) -> &str {
        "reduce_lr_on_plateau"
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut FitContext<'_, T>,
        _control: &mut Control,
    ) -> Result<(), TrainError> {
        let value = ctx.monitored(&self.monitor)?;
        self.plateau.step(value, &mut Rates(&mut *ctx.optimizer));
        Ok(())
    }

    fn save_state(&self, ckpt: &mut Checkpoint<T>, prefix: &str) {
        let p = &self.plateau;
        ckpt.metadata.insert(
            format!("{prefix}state"),
            format!(
                "{};{};{}",
                f64s_to_string(&[p.best()]),
                p.bad_epochs(),
                p.cooldown_left()
            ),
        );
    }

    fn load_state(&mut self, ckpt: &Checkpoint<T>, prefix: &str) -> Result<(), CheckpointError> {
        let text = state::metadata(ckpt, &format!("{prefix}state"))?;
        let parse = || -> Option<(f64, u64, u64)> {
            let mut parts = text.split(';');
            let best = *f64s_from_string(parts.next()?).ok()?.first()?;
            let bad = parts.next()?.parse().ok()?;
            let cooldown = parts.next()?.parse().ok()?;
            parts.next().is_none().then_some((best, bad, cooldown))
        };
        let (best, bad, cooldown) = parse().ok_or_else(|| {
            CheckpointError::Format(format!("bad plateau-scheduler state `{text}`"))
        })?;
        self.plateau.restore(best, bad, cooldown);
        Ok(())
    }
}
