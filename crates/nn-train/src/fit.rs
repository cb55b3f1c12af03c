//! The training loop: [`Trainer`].
//!
//! A trainer holds the model, the optimiser and a [`Task`] (what a step
//! computes), and runs the epoch loop: for every batch it computes the
//! loss, stops with [`TrainError::Diverged`] if it is not finite,
//! back-propagates, clips and steps; after the epoch it evaluates on the
//! validation loader and records the epoch in the [`History`]. Everything
//! else — progress, learning-rate schedules, early stopping, history files,
//! checkpoints — is a [`Callback`], added by the builder methods below or
//! written by you.
//!
//! Epochs and batches are numbered from 1 everywhere: in the progress line
//! (`epoch 3/10`), in the history, in [`FitReport`], in
//! [`TrainError::Diverged`], in [`StepContext`] and in checkpoints (whose
//! `epoch` is the last epoch completed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use nn_autograd::{no_grad, Parameter, Var};
use nn_data::{Batch, BatchDataset, DataLoader, Shard, ShardBatch};
use nn_layers::{Forward, Module};
use nn_optim::{clip_grad_norm_with, clip_grad_value, GradClip, LrSchedule, ReduceLrOnPlateau};
use nn_tensor::{Element, Rng};

use crate::callback::{BatchProgress, Callback, Control, FitContext};
use crate::checkpoint::Checkpoint;
use crate::distributed::{DataParallelism, ReducedGradients};
use crate::early_stopping::{EarlyStopper, EarlyStopping};
use crate::history::{History, HistoryFile};
use crate::lr::{LrScheduler, PlateauScheduler};
use crate::metrics::Metric;
use crate::optimizer::TrainOptimizer;
use crate::progress::ProgressBar;
use crate::resume::{self, CheckpointEvery};
use crate::task::{Classification, CustomTask, Evaluation, Reconstruction, Regression};
use crate::task::{StepContext, Task};
use crate::{check_finite, TrainError};

/// How a [`Trainer::fit`] run ended. Epochs are numbered from 1.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Every epoch's metrics, including those of a resumed-from run.
    pub history: History,
    /// The last epoch completed (the number of epochs run, counting those
    /// before a resume).
    pub epochs_run: usize,
    /// The epoch after which a callback (early stopping) stopped the run.
    pub stopped_epoch: Option<usize>,
    /// The best epoch of the early-stopping metric, if early stopping was on.
    pub best_epoch: Option<usize>,
    /// True when the best epoch's weights were put back into the model.
    pub restored_best: bool,
}

/// The training loop and its settings, built like a config. The common
/// tasks need no code:
///
/// ```
/// use nn_data::{DataLoader, TensorDataset};
/// use nn_layers::prelude::*;
/// use nn_optim::SgdConfig;
/// use nn_train::{EarlyStopping, Mode, Trainer};
/// let mut rng = Rng::seed_from(0);
/// // Two separable blobs.
/// let x = Tensor::<f32>::rand_normal(&[64, 2], 0.0, 1.0, &mut rng);
/// let y: Vec<usize> = x.as_slice().chunks(2).map(|r| usize::from(r[0] + r[1] > 0.0)).collect();
/// let data = TensorDataset::classification(x, y)?;
/// let model = LinearConfig::new(2, 2).init::<f32>(&mut rng)?;
/// let mut opt = SgdConfig::new(0.5).init(model.named_parameters())?;
/// let train = DataLoader::new(&data, 16)?.shuffle(1);
/// let valid = DataLoader::new(&data, 64)?;
/// let report = Trainer::classification(&model, &mut opt)
///     .epochs(20)
///     .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 3, 0.0).restore_best_weights())
///     .quiet()
///     .fit(&train, &valid)?;
/// assert!(report.history.last("val_accuracy").unwrap() > 0.9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A step of your own is two closures (the training loss; the validation
/// loss and output), see [`Trainer::custom`], or a [`Task`].
pub struct Trainer<'a, T: Element, M, K> {
    model: &'a M,
    optimizer: &'a mut dyn TrainOptimizer<T>,
    task: K,
    epochs: usize,
    seed: u64,
    metrics: Vec<Box<dyn Metric<T>>>,
    grad_clip: Option<GradClip>,
    resume_from: Option<PathBuf>,
    /// Run in the order added.
    callbacks: Vec<Box<dyn Callback<T> + 'a>>,
    /// History files and checkpoints: run after `callbacks`, so they see
    /// the epoch's final state and decisions.
    outputs: Vec<Box<dyn Callback<T> + 'a>>,
    /// The data-parallel group of a distributed run.
    distributed: Option<Box<dyn DataParallelism<T> + 'a>>,
}

impl<'a, T: Element, M: Forward<T>> Trainer<'a, T, M, Classification> {
    /// Classification: cross-entropy between the model's logits and the
    /// batch's classes, accuracy recorded as `val_accuracy`.
    pub fn classification(model: &'a M, optimizer: &'a mut dyn TrainOptimizer<T>) -> Self {
        Trainer::new(model, optimizer, Classification::new())
    }
}

impl<'a, T: Element, M: Forward<T>> Trainer<'a, T, M, Regression> {
    /// Regression: mean squared error against the batch's value targets,
    /// the mean absolute error recorded as `val_mae`.
    pub fn regression(model: &'a M, optimizer: &'a mut dyn TrainOptimizer<T>) -> Self {
        Trainer::new(model, optimizer, Regression)
    }
}

impl<'a, T: Element, M: Forward<T>> Trainer<'a, T, M, Reconstruction> {
    /// Autoencoding: mean squared error between the model's output and its input.
    pub fn reconstruction(model: &'a M, optimizer: &'a mut dyn TrainOptimizer<T>) -> Self {
        Trainer::new(model, optimizer, Reconstruction)
    }
}

impl<'a, T, M, S, E> Trainer<'a, T, M, CustomTask<S, E>>
where
    T: Element,
    M: Module<T>,
    S: FnMut(&M, &Batch<T>, &mut StepContext<'_>) -> Var<T>,
    E: FnMut(&M, &Batch<T>) -> Evaluation<T>,
{
    /// A step of your own: `step(model, batch, ctx)` returns the scalar
    /// training loss of a batch (built in training mode, with a graph);
    /// `evaluate(model, batch)` the loss and output of a validation batch
    /// (in evaluation mode, without a graph), on which metrics are measured.
    pub fn custom(
        model: &'a M,
        optimizer: &'a mut dyn TrainOptimizer<T>,
        step: S,
        evaluate: E,
    ) -> Self {
        Trainer::new(model, optimizer, CustomTask::new(step, evaluate))
    }
}

impl<'a, T: Element, M: Module<T>, K: Task<T, M>> Trainer<'a, T, M, K> {
    /// A trainer of `model` with `optimizer` on `task`: one epoch, seed 0,
    /// the task's metrics, a progress display.
    pub fn new(model: &'a M, optimizer: &'a mut dyn TrainOptimizer<T>, task: K) -> Self {
        Trainer {
            model,
            optimizer,
            metrics: task.metrics(),
            task,
            epochs: 1,
            seed: 0,
            grad_clip: None,
            resume_from: None,
            callbacks: vec![Box::new(ProgressBar::new())],
            outputs: Vec::new(),
            distributed: None,
        }
    }
}

/// The settings: usable whatever the task, so that a mistake in a custom
/// step's closures is reported at `fit`, next to its cause.
impl<'a, T: Element, M, K> Trainer<'a, T, M, K> {
    /// Trains until epoch `epochs` (numbered from 1; a resumed run counts
    /// the epochs before the resume).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Seeds the generator handed to each step ([`StepContext::rng`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Adds a metric, recorded as `val_<name>` after every epoch; it
    /// replaces a metric of the same name (one of the task's).
    pub fn metric(mut self, metric: impl Metric<T> + 'static) -> Self {
        self.metrics.retain(|m| m.name() != metric.name());
        self.metrics.push(Box::new(metric));
        self
    }

    /// Adds a callback; callbacks run in the order added.
    pub fn callback(mut self, callback: impl Callback<T> + 'a) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Sets each parameter group's learning rate at the start of every
    /// epoch from `schedule` (see [`LrScheduler`]).
    pub fn schedule(self, schedule: impl LrSchedule + 'static) -> Self {
        self.callback(LrScheduler::new(schedule))
    }

    /// Lowers the learning rates when the recorded metric `monitor` (such
    /// as `"val_loss"`) stalls (see [`PlateauScheduler`]).
    pub fn reduce_lr_on_plateau(self, monitor: &str, plateau: ReduceLrOnPlateau) -> Self {
        self.callback(PlateauScheduler::new(monitor, plateau))
    }

    /// Clips the gradients of the model's parameters before every step.
    pub fn grad_clip(mut self, clip: GradClip) -> Self {
        self.grad_clip = Some(clip);
        self
    }

    /// Stops when `rule`'s metric (a history name such as `"val_loss"` or
    /// `"val_accuracy"`) stops improving (see [`EarlyStopper`]).
    pub fn early_stopping(self, rule: EarlyStopping) -> Self {
        self.callback(EarlyStopper::new(rule))
    }

    /// Writes a training checkpoint to `path` (atomically) after every
    /// `every` epochs, after the last one and when the run stops early
    /// (see [`CheckpointEvery`]).
    pub fn checkpoint(mut self, path: impl Into<PathBuf>, every: usize) -> Self {
        self.outputs
            .push(Box::new(CheckpointEvery::new(path, every)));
        self
    }

    /// Saves the history after every epoch (see [`HistoryFile`]).
    pub fn save_history(mut self, path: impl Into<PathBuf>) -> Self {
        self.outputs.push(Box::new(HistoryFile::new(path)));
        self
    }

    /// Starts from a checkpoint written by a run with the same settings:
    /// model, optimiser, epoch, generators, history and every callback's
    /// state are restored, so the run continues as if it had never stopped.
    ///
    /// Exactness covers every random choice the loop and the task make:
    /// shuffling (a function of the loader's seed and the epoch),
    /// [`StepContext::rng`], and the private generators of layers such as
    /// `Dropout` (every generator the model lists through
    /// [`Module::visit_rngs`]).
    pub fn resume_from(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume_from = Some(path.into());
        self
    }

    /// No progress display.
    pub fn quiet(mut self) -> Self {
        self.callbacks.retain(|c| c.name() != "progress");
        self
    }

    /// Trains data-parallel across the ranks of `group` (see
    /// [`crate::distributed`]): each global batch of the training loader is
    /// split into micro-batches shared out among the ranks, whose gradients
    /// are averaged before every step. Rank 0 decides when to stop and
    /// writes checkpoints and history files; every rank stops after the same
    /// epoch. The result does not depend on the number of ranks (for the
    /// same micro-batch count), so a run can resume from a checkpoint
    /// written with another number of ranks.
    ///
    /// In a distributed run [`StepContext::rng`] is a generator of its own
    /// for each micro-batch (derived from the seed, the epoch, the batch and
    /// the micro-batch's index), so what a step draws does not depend on
    /// which rank runs it.
    pub fn with_distributed(mut self, group: impl DataParallelism<T> + 'a) -> Self {
        self.distributed = Some(Box::new(group));
        self
    }

    /// True on the process that reports and writes files: always, except on
    /// the ranks other than 0 of a distributed run.
    fn is_root(&self) -> bool {
        self.distributed.as_ref().is_none_or(|d| d.rank() == 0)
    }
}

impl<'a, T: Element, M: Module<T>, K: Task<T, M>> Trainer<'a, T, M, K> {
    /// Trains on `train`, evaluating on `validation` after every epoch
    /// (recorded as `val_loss` and `val_<metric>`).
    ///
    /// Errors: [`TrainError::Diverged`] at the first non-finite loss (the
    /// parameters keep their values from before that batch, and the last
    /// checkpoint file is untouched); the model's or the loss's errors;
    /// data, optimiser and checkpoint errors; [`TrainError::Config`] for a
    /// monitored metric that is never recorded.
    pub fn fit<D, V>(
        &mut self,
        train: &DataLoader<D>,
        validation: &DataLoader<V>,
    ) -> Result<FitReport, TrainError>
    where
        D: BatchDataset<Batch = Batch<T>>,
        V: BatchDataset<Batch = Batch<T>>,
    {
        self.run(train, Some(validation))
    }

    /// [`Trainer::fit`] without a validation pass: only training metrics
    /// are recorded.
    pub fn fit_without_validation<D>(
        &mut self,
        train: &DataLoader<D>,
    ) -> Result<FitReport, TrainError>
    where
        D: BatchDataset<Batch = Batch<T>>,
    {
        self.run::<D, D>(train, None)
    }

    /// Evaluates the model over every batch of `loader` in evaluation mode
    /// and without a graph: the sample-weighted mean loss as `"loss"`, and
    /// each metric under its name. The model is left in evaluation mode.
    pub fn evaluate<V>(
        &mut self,
        loader: &DataLoader<V>,
    ) -> Result<BTreeMap<String, f64>, TrainError>
    where
        V: BatchDataset<Batch = Batch<T>>,
    {
        let model = self.model;
        model.eval();
        self.metrics.iter_mut().for_each(|m| m.reset());
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for batch in loader.epoch(0) {
            let batch = batch?;
            let ev = no_grad(|| self.task.evaluate(model, &batch))?;
            loss_sum += ev.loss * batch.len() as f64;
            seen += batch.len();
            for m in self.metrics.iter_mut() {
                m.update(&ev.output, &batch);
            }
        }
        let mut out = BTreeMap::new();
        out.insert("loss".to_string(), loss_sum / seen.max(1) as f64);
        for m in &self.metrics {
            out.insert(m.name().to_string(), m.value());
        }
        Ok(out)
    }

    fn run<D, V>(
        &mut self,
        train: &DataLoader<D>,
        validation: Option<&DataLoader<V>>,
    ) -> Result<FitReport, TrainError>
    where
        D: BatchDataset<Batch = Batch<T>>,
        V: BatchDataset<Batch = Batch<T>>,
    {
        let (mut history, mut rng) = (History::new(), Rng::seed_from(self.seed));
        if let Some(path) = &self.resume_from {
            let ckpt = Checkpoint::<T>::load(path)?;
            let callbacks = self.callbacks.iter_mut().chain(self.outputs.iter_mut());
            let r = resume::restore(
                &ckpt,
                self.model,
                &mut *self.optimizer,
                callbacks.map(|c| &mut **c as &mut dyn Callback<T>),
            )?;
            (history, rng) = (r.history, r.rng);
        }
        if let Some(group) = &mut self.distributed {
            // Every replica starts from rank 0's weights (a fresh model or
            // the checkpoint, read by every rank).
            group.broadcast_parameters();
        }
        let done = history.epochs.last().map_or(0, |e| e.epoch);
        let batches = train.num_batches();
        self.each_callback(&history, done, batches, |c, ctx| c.on_fit_start(ctx))?;
        let mut report = FitReport {
            history: History::new(),
            epochs_run: done,
            stopped_epoch: None,
            best_epoch: None,
            restored_best: false,
        };
        for epoch in done + 1..=self.epochs {
            self.each_callback(&history, epoch, batches, |c, ctx| c.on_epoch_start(ctx))?;
            let mut record = self.train_epoch(train, epoch, &mut rng)?;
            if let Some(v) = validation {
                for (k, x) in self.evaluate(v)? {
                    record.insert(format!("val_{k}"), x);
                }
            }
            history.push(epoch, record);
            report.epochs_run = epoch;
            let mut control = Control::default();
            self.each_callback(&history, epoch, batches, |c, ctx| {
                c.on_epoch_end(ctx, &mut control)
            })?;
            let (stop, save) = self.agree(&control);
            if save && self.is_root() {
                for path in control.checkpoints() {
                    self.snapshot(epoch, &rng, &history).save(path)?;
                }
            }
            if let (true, Some(group)) = (save, &self.distributed) {
                // No rank moves on before the checkpoint is complete.
                group.barrier();
            }
            if stop {
                report.stopped_epoch = Some(epoch);
                break;
            }
        }
        let end = report.epochs_run;
        self.each_callback(&history, end, batches, |c, ctx| {
            c.on_fit_end(ctx, &mut report)
        })?;
        report.history = history;
        Ok(report)
    }

    /// Whether to stop and whether to write the checkpoints asked for: the
    /// root's decision, broadcast to every rank of a distributed run.
    fn agree(&self, control: &Control) -> (bool, bool) {
        let mut flags = [
            u8::from(control.stopping()),
            u8::from(!control.checkpoints().is_empty()),
        ];
        if let Some(group) = &self.distributed {
            group.broadcast_from_root(&mut flags);
        }
        (flags[0] == 1, flags[1] == 1)
    }

    /// One training pass; returns the epoch's record so far (`lr`,
    /// `train_loss`, `seconds`, `samples_per_second`).
    fn train_epoch<D>(
        &mut self,
        train: &DataLoader<D>,
        epoch: usize,
        rng: &mut Rng,
    ) -> Result<BTreeMap<String, f64>, TrainError>
    where
        D: BatchDataset<Batch = Batch<T>>,
    {
        let mut record = BTreeMap::new();
        record.insert("lr".to_string(), self.optimizer.group_lr(0));
        let model = self.model;
        model.train();
        let params = model.parameters();
        let started = Instant::now();
        let batches = train.num_batches();
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        let mut report = |callbacks: &mut [Box<dyn Callback<T> + 'a>], number, loss: f64, rows| {
            loss_sum += loss * rows as f64;
            seen += rows;
            let progress = BatchProgress {
                epoch,
                batch: number,
                batches,
                mean_loss: loss_sum / seen as f64,
                samples: seen,
                seconds: started.elapsed().as_secs_f64(),
            };
            callbacks.iter_mut().for_each(|c| c.on_batch_end(&progress));
        };
        // The loader's permutations are indexed from 0.
        let index = epoch as u64 - 1;
        if let Some(mut group) = self.distributed.take() {
            let shard = group.shard();
            let result = (|| {
                for (i, batch) in train.epoch_shard(index, shard).enumerate() {
                    let (batch, number) = (batch?, i + 1);
                    let reduced = self.reduce(&mut *group, &batch, &shard, epoch, number)?;
                    let loss = self.step(reduced, &params)?;
                    report(&mut self.callbacks, number, loss, batch.global_len);
                }
                Ok::<_, TrainError>(())
            })();
            self.distributed = Some(group);
            result?;
        } else {
            for (i, batch) in train.epoch(index).enumerate() {
                let (batch, number) = (batch?, i + 1);
                let mut ctx = StepContext {
                    epoch,
                    batch: number,
                    rng: &mut *rng,
                };
                let loss = self.task.loss(model, &batch, &mut ctx)?;
                let reduced = Self::backward(loss, epoch, number)?;
                let loss = self.step(reduced, &params)?;
                report(&mut self.callbacks, number, loss, batch.len());
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        record.insert("train_loss".into(), loss_sum / seen.max(1) as f64);
        record.insert("seconds".into(), seconds);
        record.insert("samples_per_second".into(), seen as f64 / seconds.max(1e-9));
        Ok(record)
    }

    /// A single process's gradients of a batch's loss.
    fn backward(
        loss: Var<T>,
        epoch: usize,
        batch: usize,
    ) -> Result<ReducedGradients<T>, TrainError> {
        if loss.value().numel() != 1 {
            return Err(TrainError::Config(format!(
                "fit: the training loss must be a scalar, got shape {:?}",
                loss.shape()
            )));
        }
        let value = loss.value().as_slice()[0].to_f64_lossless();
        check_finite(value, epoch, batch)?;
        Ok(ReducedGradients {
            gradients: loss.backward(),
            loss: value,
        })
    }

    /// A distributed batch's gradients, averaged over the group; each
    /// micro-batch's step gets a generator of its own (see
    /// [`Trainer::with_distributed`]).
    fn reduce(
        &mut self,
        group: &mut dyn DataParallelism<T>,
        batch: &ShardBatch<Batch<T>>,
        shard: &Shard,
        epoch: usize,
        number: usize,
    ) -> Result<ReducedGradients<T>, TrainError> {
        // The group calls `loss` for the rank's non-empty micro-batches in order.
        let indices: Vec<usize> = shard
            .owned()
            .zip(&batch.micro_batches)
            .filter_map(|(i, m)| m.as_ref().map(|_| i))
            .collect();
        let (model, seed) = (self.model, self.seed);
        let task = &mut self.task;
        let mut calls = indices.into_iter();
        let mut loss = |b: &Batch<T>| {
            let micro = calls.next().unwrap_or(usize::MAX);
            let mut rng = micro_batch_rng(seed, epoch, number, micro);
            let mut ctx = StepContext {
                epoch,
                batch: number,
                rng: &mut rng,
            };
            task.loss(model, b, &mut ctx).map_err(|e| e.to_string())
        };
        let reduced = group
            .reduce_gradients(batch, &mut loss)
            .map_err(TrainError::Distributed)?;
        check_finite(reduced.loss, epoch, number)?;
        Ok(reduced)
    }

    /// Clips the gradients and steps; returns the batch's loss.
    fn step(
        &mut self,
        reduced: ReducedGradients<T>,
        params: &[Parameter<T>],
    ) -> Result<f64, TrainError> {
        let ReducedGradients {
            mut gradients,
            loss,
        } = reduced;
        match self.grad_clip {
            Some(GradClip::Norm {
                max_norm,
                norm_type,
            }) => {
                clip_grad_norm_with(&mut gradients, params, max_norm, norm_type)?;
            }
            Some(GradClip::Value(v)) => clip_grad_value(&mut gradients, params, v)?,
            None => {}
        }
        self.optimizer.try_step(&gradients)?;
        Ok(loss)
    }

    /// Calls `hook` on every callback, in order, each with a fresh context.
    fn each_callback(
        &mut self,
        history: &History,
        epoch: usize,
        batches: usize,
        mut hook: impl FnMut(&mut dyn Callback<T>, &mut FitContext<'_, T>) -> Result<(), TrainError>,
    ) -> Result<(), TrainError> {
        let (epochs, is_root) = (self.epochs, self.is_root());
        for c in self.callbacks.iter_mut().chain(self.outputs.iter_mut()) {
            let mut ctx = FitContext {
                model: self.model,
                optimizer: &mut *self.optimizer,
                history,
                epoch,
                epochs,
                batches,
                is_root,
            };
            hook(c.as_mut(), &mut ctx)?;
        }
        Ok(())
    }

    fn snapshot(&self, epoch: usize, rng: &Rng, history: &History) -> Checkpoint<T> {
        let callbacks = self.callbacks.iter().chain(self.outputs.iter());
        resume::snapshot(
            self.model,
            &*self.optimizer,
            callbacks.map(|c| &**c as &dyn Callback<T>),
            epoch,
            rng,
            history,
        )
    }
}

/// The generator of micro-batch `micro` of batch `batch` in epoch `epoch`
/// of a distributed run: the same whichever rank computes that micro-batch.
fn micro_batch_rng(seed: u64, epoch: usize, batch: usize, micro: usize) -> Rng {
    // SplitMix64's finaliser over the four numbers, so nearby indices give
    // unrelated seeds.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut h = mix(seed);
    for x in [epoch, batch, micro] {
        h = mix(h ^ (x as u64).wrapping_add(0x9e37_79b9_7f4a_7c15));
    }
    Rng::seed_from(h)
}
