//! The training loop: [`Trainer::fit`].
//!
//! One loop serves every model of the course. The caller supplies the model
//! (any [`Module`]), an [`Optimizer`], the data loaders, and two closures:
//! a *step* that computes the training loss of a batch, and an *evaluation*
//! that computes the loss and the output on which [`Metric`]s are measured.
//! Classification, regression and custom losses (a VAE's, a weighted sum)
//! are all just different closures.
//!
//! Each epoch: set the learning rate from the schedule; for every batch,
//! compute the loss, stop with [`TrainError::Diverged`] if it is not finite,
//! back-propagate, clip the gradients, step the optimiser; then evaluate on
//! the validation loader, record the epoch in the [`History`], consult
//! early stopping, and write a checkpoint when one is due.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use nn_autograd::{no_grad, Var};
use nn_data::{Batch, BatchDataset, DataLoader};
use nn_layers::Module;
use nn_optim::{clip_grad_norm_with, clip_grad_value, GradClip, LearningRates, LrSchedule};
use nn_optim::{Optimizer, UpdateRule};
use nn_tensor::{Element, Rng, Tensor};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::early_stopping::{Decision, EarlyStopping};
use crate::history::History;
use crate::metrics::Metric;
use crate::progress::Progress;
use crate::state::{self, f64s_from_string, f64s_to_string};
use crate::{check_finite, TrainError};

const FORMAT: &str = "nn-train/1";

/// What the step closure gets besides the model and the batch.
pub struct StepContext<'a> {
    /// The epoch, from 0.
    pub epoch: usize,
    /// The batch within the epoch, from 0.
    pub batch: usize,
    /// The trainer's generator, for anything random in a step (noise,
    /// augmentation, sampling). Its state is saved in checkpoints, so a
    /// resumed run draws the same numbers.
    pub rng: &'a mut Rng,
}

/// What the evaluation closure returns for one batch.
#[derive(Clone, Debug)]
pub struct Evaluation<T: Element> {
    /// The batch's mean loss.
    pub loss: f64,
    /// The model's output, on which the metrics are measured (logits,
    /// predictions, reconstructions, …).
    pub output: Tensor<T>,
}

impl<T: Element> Evaluation<T> {
    /// From a scalar loss and the output that produced it.
    #[track_caller]
    pub fn new(loss: &Var<T>, output: &Var<T>) -> Self {
        Evaluation {
            loss: loss.value().item().to_f64_lossless(),
            output: output.value().clone(),
        }
    }
}

/// How a [`Trainer::fit`] run ended.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Every epoch's metrics, including those of a resumed-from run.
    pub history: History,
    /// The number of epochs completed (the last epoch index + 1).
    pub epochs_run: usize,
    /// The epoch early stopping stopped at, if it did.
    pub stopped_epoch: Option<usize>,
    /// The best epoch of the monitored metric, if early stopping was on.
    pub best_epoch: Option<usize>,
    /// True when the best weights were put back into the model at the end.
    pub restored_best: bool,
}

/// The training loop and its settings, built like a config:
///
/// ```
/// use nn_data::{DataLoader, TensorDataset};
/// use nn_layers::prelude::*;
/// use nn_optim::SgdConfig;
/// use nn_train::{Accuracy, EarlyStopping, Evaluation, Mode, Trainer};
/// let mut rng = Rng::seed_from(0);
/// // Two separable blobs.
/// let x = Tensor::<f32>::rand_normal(&[64, 2], 0.0, 1.0, &mut rng);
/// let y: Vec<usize> = x.as_slice().chunks(2).map(|r| usize::from(r[0] + r[1] > 0.0)).collect();
/// let data = TensorDataset::classification(x, y).unwrap();
/// let model = LinearConfig::new(2, 2).init::<f32>(&mut rng).unwrap();
/// let mut opt = SgdConfig::new(0.5).init(model.named_parameters()).unwrap();
/// let train = DataLoader::new(&data, 16).unwrap().shuffle(1);
/// let val = DataLoader::new(&data, 64).unwrap();
/// let loss = CrossEntropyLoss::default();
/// let report = Trainer::new(20)
///     .metric(Accuracy::new())
///     .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 3, 0.0), true)
///     .quiet()
///     .fit(
///         &model, &mut opt, &train, Some(&val),
///         |m, b, _| loss.forward(&m.forward(&Var::constant(b.features.clone())), b.classes()),
///         |m, b| {
///             let out = m.forward(&Var::constant(b.features.clone()));
///             Evaluation::new(&loss.forward(&out, b.classes()), &out)
///         },
///     )
///     .unwrap();
/// assert!(report.history.last("val_accuracy").unwrap() > 0.9);
/// ```
pub struct Trainer<T: Element> {
    epochs: usize,
    seed: u64,
    metrics: Vec<Box<dyn Metric<T>>>,
    schedule: Option<Box<dyn LrSchedule>>,
    grad_clip: Option<GradClip>,
    early_stopping: Option<EarlyStopping>,
    restore_best: bool,
    checkpoint: Option<(PathBuf, usize)>,
    resume_from: Option<PathBuf>,
    history_path: Option<PathBuf>,
    show_progress: bool,
}

impl<T: Element> Trainer<T> {
    /// A loop of `epochs` epochs, seed 0, no metrics besides the losses.
    pub fn new(epochs: usize) -> Self {
        Trainer {
            epochs,
            seed: 0,
            metrics: Vec::new(),
            schedule: None,
            grad_clip: None,
            early_stopping: None,
            restore_best: false,
            checkpoint: None,
            resume_from: None,
            history_path: None,
            show_progress: true,
        }
    }

    /// Seeds the generator handed to the step closure ([`StepContext::rng`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Adds a metric, recorded as `val_<name>` after every epoch.
    pub fn metric(mut self, metric: impl Metric<T> + 'static) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// Sets each parameter group's learning rate at the start of epoch `e`
    /// to `schedule.lr_at(initial_lr, e)`.
    pub fn schedule(mut self, schedule: impl LrSchedule + 'static) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Clips the gradients of the model's parameters before every step.
    pub fn grad_clip(mut self, clip: GradClip) -> Self {
        self.grad_clip = Some(clip);
        self
    }

    /// Stops when `early_stopping`'s metric (a history name such as
    /// `"val_loss"` or `"val_accuracy"`) stops improving; with
    /// `restore_best`, the model ends with the weights of the best epoch.
    pub fn early_stopping(mut self, early_stopping: EarlyStopping, restore_best: bool) -> Self {
        self.early_stopping = Some(early_stopping);
        self.restore_best = restore_best;
        self
    }

    /// Writes a checkpoint to `path` (atomically) after every `every` epochs.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>, every: usize) -> Self {
        self.checkpoint = Some((path.into(), every.max(1)));
        self
    }

    /// Starts from a checkpoint written by a run with the same settings:
    /// model, optimiser, epoch, generator, history and early-stopping state
    /// are restored, so the run continues as if it had never stopped.
    ///
    /// Exactness covers every random choice the loop and the step closure
    /// make: shuffling (a function of the loader's seed and the epoch),
    /// [`StepContext::rng`], and the private generators of layers such as
    /// `Dropout` (every generator the model lists through
    /// [`Module::visit_rngs`], saved as `rng.model.{name}` metadata).
    pub fn resume_from(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume_from = Some(path.into());
        self
    }

    /// Saves the history after every epoch (JSON if the path ends in `.json`, else CSV).
    pub fn save_history(mut self, path: impl Into<PathBuf>) -> Self {
        self.history_path = Some(path.into());
        self
    }

    /// No progress display.
    pub fn quiet(mut self) -> Self {
        self.show_progress = false;
        self
    }

    /// Trains `model`. `step(model, batch, ctx)` returns the scalar training
    /// loss of a batch (the graph is built in training mode);
    /// `evaluate(model, batch)` returns the loss and the output of a
    /// validation batch (run in evaluation mode, without a graph).
    ///
    /// Errors: [`TrainError::Diverged`] at the first non-finite loss (the
    /// parameters keep their values from before that batch, and the last
    /// checkpoint file is untouched); data, optimiser and checkpoint errors;
    /// [`TrainError::Config`] for an early-stopping metric that is never recorded.
    #[allow(clippy::too_many_arguments)]
    pub fn fit<M, R, D, V, S, E>(
        &mut self,
        model: &M,
        optimizer: &mut Optimizer<T, R>,
        train: &DataLoader<D>,
        validation: Option<&DataLoader<V>>,
        mut step: S,
        mut evaluate: E,
    ) -> Result<FitReport, TrainError>
    where
        M: Module<T> + ?Sized,
        R: UpdateRule<T>,
        D: BatchDataset<Batch = Batch<T>>,
        V: BatchDataset<Batch = Batch<T>>,
        S: FnMut(&M, &Batch<T>, &mut StepContext<'_>) -> Var<T>,
        E: FnMut(&M, &Batch<T>) -> Evaluation<T>,
    {
        let mut rng = Rng::seed_from(self.seed);
        let mut history = History::new();
        let mut start = 0;
        let mut best: Option<BTreeMap<String, Tensor<T>>> = None;
        let mut base_lrs: Vec<f64> = (0..optimizer.num_groups())
            .map(|g| optimizer.group_lr(g))
            .collect();
        if let Some(path) = &self.resume_from {
            let ckpt = Checkpoint::<T>::load(path)?;
            let r = self.restore(&ckpt, model, optimizer)?;
            (start, history, rng, base_lrs, best) = (r.epoch, r.history, r.rng, r.base_lrs, r.best);
        }
        let params = model.parameters();
        let mut stopped_epoch = None;
        let mut epochs_run = start;
        for epoch in start..self.epochs {
            if let Some(s) = &self.schedule {
                for (g, &base) in base_lrs.iter().enumerate() {
                    optimizer.set_group_lr(g, s.lr_at(base, epoch as u64));
                }
            }
            let mut record = BTreeMap::new();
            record.insert("lr".to_string(), optimizer.group_lr(0));
            let started = Instant::now();
            model.train();
            let mut progress = if self.show_progress {
                Progress::new(
                    &format!("epoch {}/{}", epoch + 1, self.epochs),
                    train.num_batches() as u64,
                )
            } else {
                Progress::hidden()
            };
            let (mut loss_sum, mut seen) = (0.0, 0usize);
            let n_batches = train.num_batches();
            for (b, batch) in train.epoch(epoch as u64).enumerate() {
                let batch = batch?;
                let mut ctx = StepContext {
                    epoch,
                    batch: b,
                    rng: &mut rng,
                };
                let loss = step(model, &batch, &mut ctx);
                if loss.value().numel() != 1 {
                    return Err(TrainError::Config(format!(
                        "fit: the step closure must return a scalar loss, got shape {:?}",
                        loss.shape()
                    )));
                }
                let l = loss.value().as_slice()[0].to_f64_lossless();
                check_finite(l, epoch, b)?;
                let mut grads = loss.backward();
                drop(loss);
                match self.grad_clip {
                    Some(GradClip::Norm {
                        max_norm,
                        norm_type,
                    }) => {
                        clip_grad_norm_with(&mut grads, &params, max_norm, norm_type)?;
                    }
                    Some(GradClip::Value(v)) => clip_grad_value(&mut grads, &params, v)?,
                    None => {}
                }
                optimizer.try_step(&grads)?;
                loss_sum += l * batch.len() as f64;
                seen += batch.len();
                // Formatting a message per batch would cost more than a
                // stochastic-gradient step on a small model.
                if b % 20 == 0 || b + 1 == n_batches {
                    let rate = seen as f64 / progress.elapsed().max(1e-9);
                    progress.advance(
                        1,
                        &format!("loss {:.4} | {rate:.0} samples/s", loss_sum / seen as f64),
                    );
                } else {
                    progress.tick(1);
                }
            }
            let train_secs = started.elapsed().as_secs_f64();
            record.insert("train_loss".into(), loss_sum / seen.max(1) as f64);
            record.insert("seconds".into(), train_secs);
            record.insert(
                "samples_per_second".into(),
                seen as f64 / train_secs.max(1e-9),
            );
            if let Some(val) = validation {
                let scores = evaluate_with(model, val, &mut evaluate, &mut self.metrics)?;
                for (k, v) in scores {
                    record.insert(format!("val_{k}"), v);
                }
            }
            let mut summary = record
                .iter()
                .filter(|(k, _)| k.starts_with("train_") || k.starts_with("val_"))
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect::<Vec<_>>()
                .join(" | ");
            summary.push_str(&format!(" | {:.0} samples/s", record["samples_per_second"]));
            progress.finish(&summary);
            history.push(epoch, record);
            epochs_run = epoch + 1;

            let mut stop = false;
            if let Some(es) = &mut self.early_stopping {
                let name = es.monitor().to_string();
                let value = history.epochs.last().and_then(|e| e.metrics.get(&name));
                let Some(&value) = value else {
                    let known: Vec<&String> = history.epochs[history.epochs.len() - 1]
                        .metrics
                        .keys()
                        .collect();
                    return Err(TrainError::Config(format!(
                        "early stopping monitors `{name}`, which is not recorded (recorded: {known:?})"
                    )));
                };
                match es.update(epoch, value) {
                    Decision::Improved if self.restore_best => {
                        best = Some(state::model_tensors(model, ""));
                    }
                    Decision::Stop => stop = true,
                    _ => {}
                }
            }
            if let Some(path) = &self.history_path {
                history.save(path).map_err(CheckpointError::Io)?;
            }
            if let Some((path, every)) = &self.checkpoint {
                if epochs_run % every == 0 || stop || epochs_run == self.epochs {
                    self.snapshot(
                        model, optimizer, epochs_run, &rng, &history, &base_lrs, &best,
                    )
                    .save(path)?;
                }
            }
            if stop {
                stopped_epoch = Some(epoch);
                break;
            }
        }
        let restored_best = match (&best, self.restore_best) {
            (Some(b), true) => {
                state::load_model_tensors(model, b, "")?;
                true
            }
            _ => false,
        };
        Ok(FitReport {
            history,
            epochs_run,
            stopped_epoch,
            best_epoch: self.early_stopping.as_ref().and_then(|e| e.best_epoch()),
            restored_best,
        })
    }

    /// Everything a resumed run needs, as one checkpoint.
    #[allow(clippy::too_many_arguments)]
    fn snapshot<M: Module<T> + ?Sized, R: UpdateRule<T>>(
        &self,
        model: &M,
        optimizer: &Optimizer<T, R>,
        epochs_done: usize,
        rng: &Rng,
        history: &History,
        base_lrs: &[f64],
        best: &Option<BTreeMap<String, Tensor<T>>>,
    ) -> Checkpoint<T> {
        let mut c = Checkpoint::new();
        c.tensors = state::model_tensors(model, "model.");
        if let Some(b) = best {
            c.tensors
                .extend(b.iter().map(|(k, t)| (format!("best.{k}"), t.clone())));
        }
        state::save_optimizer(optimizer, &mut c);
        state::save_model_rngs(model, &mut c, "rng.model.");
        let m = &mut c.metadata;
        m.insert("format".into(), FORMAT.into());
        m.insert("epoch".into(), epochs_done.to_string());
        m.insert("rng".into(), state::rng_to_string(rng));
        m.insert("base_lrs".into(), f64s_to_string(base_lrs));
        m.insert("history".into(), history.to_json().to_string());
        if let Some(es) = &self.early_stopping {
            let best = match (es.best_epoch(), es.best_value()) {
                (Some(e), Some(v)) => format!("{e}:{}", f64s_to_string(&[v])),
                _ => "-".into(),
            };
            m.insert(
                "early_stopping".into(),
                format!("{best};{}", es.bad_epochs()),
            );
        }
        c
    }

    fn restore<M: Module<T> + ?Sized, R: UpdateRule<T>>(
        &mut self,
        ckpt: &Checkpoint<T>,
        model: &M,
        optimizer: &mut Optimizer<T, R>,
    ) -> Result<Restored<T>, CheckpointError> {
        let bad = |m: String| CheckpointError::Format(m);
        let meta = |k: &str| {
            ckpt.metadata.get(k).ok_or_else(|| {
                bad(format!(
                    "the metadata lacks `{k}` (not a training checkpoint?)"
                ))
            })
        };
        if meta("format")? != FORMAT {
            return Err(bad(format!(
                "format `{}`, expected `{FORMAT}`",
                meta("format")?
            )));
        }
        let epoch_text = meta("epoch")?;
        let epoch: usize = epoch_text
            .parse()
            .map_err(|_| bad(format!("bad epoch `{epoch_text}`")))?;
        let rng = state::rng_from_string(meta("rng")?)?;
        let base_lrs = f64s_from_string(meta("base_lrs")?)?;
        let history_json: serde_json::Value =
            serde_json::from_str(meta("history")?).map_err(|e| bad(format!("history: {e}")))?;
        let history = History::from_json(&history_json).map_err(bad)?;
        if let Some(es) = &mut self.early_stopping {
            let text = meta("early_stopping")?;
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
            let (b, n) = parse().ok_or_else(|| bad(format!("bad early_stopping `{text}`")))?;
            es.restore(b, n);
        }
        let best_tensors: BTreeMap<String, Tensor<T>> = ckpt
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix("best.").map(|k| (k.to_string(), t.clone())))
            .collect();
        // Generators first: they are checked before anything changes, so a
        // failure here leaves the model as it was.
        state::load_model_rngs(model, ckpt, "rng.model.")?;
        state::load_model_tensors(model, &ckpt.tensors, "model.")?;
        state::load_optimizer(optimizer, ckpt)?;
        Ok(Restored {
            epoch,
            history,
            rng,
            base_lrs,
            best: (!best_tensors.is_empty()).then_some(best_tensors),
        })
    }
}

struct Restored<T: Element> {
    epoch: usize,
    history: History,
    rng: Rng,
    base_lrs: Vec<f64>,
    best: Option<BTreeMap<String, Tensor<T>>>,
}

/// Evaluates `model` over every batch of `loader` in evaluation mode and
/// without a graph: the sample-weighted mean loss as `"loss"`, and each
/// metric under its name. The model is left in evaluation mode.
pub fn evaluate<T, M, D, E>(
    model: &M,
    loader: &DataLoader<D>,
    mut evaluate: E,
    metrics: &mut [Box<dyn Metric<T>>],
) -> Result<BTreeMap<String, f64>, TrainError>
where
    T: Element,
    M: Module<T> + ?Sized,
    D: BatchDataset<Batch = Batch<T>>,
    E: FnMut(&M, &Batch<T>) -> Evaluation<T>,
{
    evaluate_with(model, loader, &mut evaluate, metrics)
}

fn evaluate_with<T, M, D, E>(
    model: &M,
    loader: &DataLoader<D>,
    evaluate: &mut E,
    metrics: &mut [Box<dyn Metric<T>>],
) -> Result<BTreeMap<String, f64>, TrainError>
where
    T: Element,
    M: Module<T> + ?Sized,
    D: BatchDataset<Batch = Batch<T>>,
    E: FnMut(&M, &Batch<T>) -> Evaluation<T>,
{
    model.eval();
    metrics.iter_mut().for_each(|m| m.reset());
    let (mut loss_sum, mut seen) = (0.0, 0usize);
    for batch in loader.epoch(0) {
        let batch = batch?;
        let ev = no_grad(|| evaluate(model, &batch));
        loss_sum += ev.loss * batch.len() as f64;
        seen += batch.len();
        for m in metrics.iter_mut() {
            m.update(&ev.output, &batch);
        }
    }
    let mut out = BTreeMap::new();
    out.insert("loss".to_string(), loss_sum / seen.max(1) as f64);
    for m in metrics.iter() {
        out.insert(m.name().to_string(), m.value());
    }
    Ok(out)
}
