//! What every chapter of the tour shares: the run settings, the result of a
//! step, a mini-batch training loop and evaluation helpers.

use std::path::PathBuf;
use std::time::Instant;

use nnkit::data::{DataLoader, SplitFractions, Splits, StandardScaler, TensorDataset};
use nnkit::optim::{Optimizer, UpdateRule};
use nnkit::prelude::*;
use nnkit::train::Progress;

/// Any error a chapter can hit (data, shapes, optimiser, files).
pub type Error = Box<dyn std::error::Error>;
/// A chapter's result type.
pub type Res<T> = std::result::Result<T, Error>;

/// The run's settings (from the command line, or set by the test).
#[derive(Clone, Debug)]
pub struct Ctx {
    /// A shorter run (fewer epochs, smaller problems) for the integration test.
    pub quick: bool,
    /// The seed every chapter derives its generators from.
    pub seed: u64,
    /// Where the figures go.
    pub out: PathBuf,
    /// Show progress bars (off in the test).
    pub progress: bool,
}

impl Ctx {
    /// `full` epochs, or `quick` in a quick run.
    pub fn pick<V>(&self, full: V, quick: V) -> V {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// A progress display labelled `label` for `total` units.
    pub fn progress(&self, label: &str, total: u64) -> Progress {
        if self.progress {
            Progress::new(label, total)
        } else {
            Progress::hidden()
        }
    }

    /// The path of figure `name` in the output folder (created on demand).
    pub fn figure(&self, name: &str) -> Res<PathBuf> {
        std::fs::create_dir_all(&self.out)?;
        Ok(self.out.join(name))
    }

    /// A generator for one step, so steps do not depend on each other's draws.
    pub fn rng(&self, step: u64) -> Rng {
        Rng::seed_from(self.seed.wrapping_mul(1000).wrapping_add(step))
    }
}

/// One measured result of the tour, with the floor it must meet.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// The course chapter (1–8).
    pub chapter: usize,
    /// What ran (`"softmax regression (digits)"`).
    pub step: String,
    /// What was measured (`"test accuracy"`).
    pub metric: &'static str,
    /// The measured value.
    pub value: f64,
    /// The floor (a minimum, or a maximum when `higher_is_better` is false).
    pub floor: f64,
    /// Whether larger values are better.
    pub higher_is_better: bool,
    /// Extra detail for the one-line report (`"stopped at epoch 23"`).
    pub note: String,
    /// Wall time of the step in seconds.
    pub seconds: f64,
}

impl StepResult {
    /// True when the value meets its floor.
    pub fn passes(&self) -> bool {
        if self.higher_is_better {
            self.value >= self.floor
        } else {
            self.value <= self.floor
        }
    }

    /// The one line a step prints.
    pub fn line(&self) -> String {
        let cmp = if self.higher_is_better { ">=" } else { "<=" };
        let mark = if self.passes() { "ok" } else { "BELOW FLOOR" };
        let note = if self.note.is_empty() {
            String::new()
        } else {
            format!("; {}", self.note)
        };
        format!(
            "[ch{}] {}: {} = {:.4} ({} {} {}){} [{:.1} s]",
            self.chapter,
            self.step,
            self.metric,
            self.value,
            mark,
            cmp,
            self.floor,
            note,
            self.seconds
        )
    }
}

/// Builds [`StepResult`]s with the chapter number and a start time.
pub struct Step {
    chapter: usize,
    name: String,
    start: Instant,
}

impl Step {
    /// Starts timing step `name` of `chapter`.
    pub fn start(chapter: usize, name: impl Into<String>) -> Self {
        Step {
            chapter,
            name: name.into(),
            start: Instant::now(),
        }
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A result that must be at least `floor`.
    pub fn at_least(&self, metric: &'static str, value: f64, floor: f64) -> StepResult {
        self.result(metric, value, floor, true)
    }

    /// A result that must be at most `ceiling`.
    pub fn at_most(&self, metric: &'static str, value: f64, ceiling: f64) -> StepResult {
        self.result(metric, value, ceiling, false)
    }

    fn result(&self, metric: &'static str, value: f64, floor: f64, higher: bool) -> StepResult {
        StepResult {
            chapter: self.chapter,
            step: self.name.clone(),
            metric,
            value,
            floor,
            higher_is_better: higher,
            note: String::new(),
            seconds: self.start.elapsed().as_secs_f64(),
        }
    }
}

impl StepResult {
    /// Adds a note to the one-line report.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// A classification set split (stratified) and standardised on its training
/// part only.
pub fn split_standardised(
    data: &TensorDataset<f32>,
    fractions: SplitFractions,
    seed: u64,
    stratify: bool,
) -> Res<Splits<f32>> {
    let s = data.split(fractions, seed, stratify)?;
    let scaler = StandardScaler::fit(s.train.features())?;
    Ok(Splits {
        train: s
            .train
            .with_features(scaler.transform(s.train.features())?)?,
        validation: if s.validation.is_empty() {
            s.validation
        } else {
            s.validation
                .with_features(scaler.transform(s.validation.features())?)?
        },
        test: s.test.with_features(scaler.transform(s.test.features())?)?,
    })
}

/// Runs `epochs` epochs of mini-batch training of `model` with
/// `loss_fn(model output, batch)`; see [`train_with`].
#[allow(clippy::too_many_arguments)]
pub fn train<R, M, L, A>(
    ctx: &Ctx,
    label: &str,
    model: &M,
    opt: &mut Optimizer<f32, R>,
    data: &TensorDataset<f32>,
    batch_size: usize,
    epochs: usize,
    loss_fn: L,
    after_epoch: A,
) -> Res<Vec<f64>>
where
    R: UpdateRule<f32>,
    M: Forward<f32> + ?Sized,
    L: Fn(&Var<f32>, &nnkit::data::Batch<f32>) -> Var<f32>,
    A: FnMut(usize, f64) -> Res<bool>,
{
    // Back to training mode before every batch: `after_epoch` may have
    // evaluated the model (which switches dropout and batch norm to eval).
    let forward = |x: &Var<f32>| -> Res<Var<f32>> {
        model.train();
        Ok(model.try_forward(x)?)
    };
    let losses = train_with(
        ctx,
        label,
        forward,
        opt,
        data,
        batch_size,
        epochs,
        loss_fn,
        after_epoch,
    );
    model.eval();
    losses
}

/// The training loop every chapter shares: shuffled mini-batches (seeded),
/// `loss_fn(forward(batch features), batch)`, one optimiser step per batch,
/// a progress bar, and a stop with an error if the loss stops being finite.
/// After each epoch `after_epoch(epoch, mean loss)` may stop the run by
/// returning `false`. Returns the mean training loss per epoch.
#[allow(clippy::too_many_arguments)]
pub fn train_with<R, F, L, A>(
    ctx: &Ctx,
    label: &str,
    forward: F,
    opt: &mut Optimizer<f32, R>,
    data: &TensorDataset<f32>,
    batch_size: usize,
    epochs: usize,
    loss_fn: L,
    mut after_epoch: A,
) -> Res<Vec<f64>>
where
    R: UpdateRule<f32>,
    F: Fn(&Var<f32>) -> Res<Var<f32>>,
    L: Fn(&Var<f32>, &nnkit::data::Batch<f32>) -> Var<f32>,
    A: FnMut(usize, f64) -> Res<bool>,
{
    let loader = DataLoader::new(data, batch_size)?.shuffle(ctx.seed);
    let mut bar = ctx.progress(label, (epochs * loader.num_batches()) as u64);
    let mut losses = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let (mut sum, mut n) = (0.0, 0usize);
        for (b, batch) in loader.epoch(epoch as u64).enumerate() {
            let batch = batch?;
            let out = forward(&batch.inputs())?;
            let loss = loss_fn(&out, &batch);
            let l = loss.value().item() as f64;
            nnkit::train::check_finite(l, epoch, b)?;
            opt.try_step(&loss.backward())?;
            sum += l * batch.len() as f64;
            n += batch.len();
            bar.advance(
                1,
                &format!("epoch {} loss {:.4}", epoch + 1, sum / n as f64),
            );
        }
        losses.push(sum / n as f64);
        if !after_epoch(epoch, sum / n as f64)? {
            break;
        }
    }
    bar.finish(&format!(
        "{label}: {} epochs, final loss {:.4}",
        losses.len(),
        losses.last().copied().unwrap_or(f64::NAN)
    ));
    Ok(losses)
}

/// The model's outputs on all of `x`, in evaluation mode without a graph.
pub fn predict<M: Forward<f32> + ?Sized>(model: &M, x: &Tensor<f32>) -> Res<Tensor<f32>> {
    model.eval();
    let y = no_grad(|| model.try_forward(&x.into()))?;
    Ok(y.value().clone())
}

/// Classification accuracy of `model` on `data`.
pub fn accuracy_on<M: Forward<f32> + ?Sized>(model: &M, data: &TensorDataset<f32>) -> Res<f64> {
    let logits = predict(model, data.features())?;
    let classes = data
        .classes()
        .ok_or("accuracy_on: a data set with class targets")?;
    Ok(accuracy(&logits, classes))
}

/// Mean cross-entropy of `model` on `data`.
pub fn loss_on<M: Forward<f32> + ?Sized>(model: &M, data: &TensorDataset<f32>) -> Res<f64> {
    model.eval();
    let logits = no_grad(|| model.try_forward(&data.features().into()))?;
    let loss = logits.try_cross_entropy(data.targets())?;
    Ok(f64::from(loss.item()))
}

/// The current values of every parameter (to restore the best weights).
pub fn snapshot<M: Module<f32> + ?Sized>(model: &M) -> Vec<Tensor<f32>> {
    model.parameters().iter().map(|p| p.value()).collect()
}

/// Puts back the values taken by [`snapshot`].
pub fn restore<M: Module<f32> + ?Sized>(model: &M, values: &[Tensor<f32>]) {
    for (p, v) in model.parameters().iter().zip(values) {
        p.set_value(v.clone());
    }
}

/// How to build a hidden layer's non-linearity.
pub type MakeActivation = fn() -> Res<Box<dyn Forward<f32>>>;

/// A multi-layer perceptron `widths[0] → … → widths[last]` with `act`
/// after every hidden layer, weights from `init`, and a `BatchNorm1d`
/// before each activation when `batch_norm` is set.
pub fn mlp(
    widths: &[usize],
    act: MakeActivation,
    init: nnkit::layers::Initializer,
    batch_norm: bool,
    rng: &mut Rng,
) -> Res<Sequential<f32>> {
    let mut model = Sequential::new();
    for (i, w) in widths.windows(2).enumerate() {
        let layer = LinearConfig::new(w[0], w[1])
            .with_initializer(init)
            .init::<f32>(rng)?;
        model.push_boxed(Box::new(layer));
        if i + 2 < widths.len() {
            if batch_norm {
                model.push_boxed(Box::new(BatchNormConfig::new(w[1]).init::<f32>(rng)?));
            }
            model.push_boxed(act()?);
        }
    }
    Ok(model)
}

/// The digits, split 70/15/15 (stratified) and standardised.
pub fn digits_splits(ctx: &Ctx) -> Res<Splits<f32>> {
    let data = nnkit::data::digits().cast::<f32>().to_dataset();
    split_standardised(&data, SplitFractions::new(0.7, 0.15, 0.15), ctx.seed, true)
}

/// The adding problem (Hochreiter & Schmidhuber): `n` sequences of `len`
/// steps, each step `[value in U(0,1), marker]`; exactly two markers are 1
/// and the target is the sum of the two marked values. Predicting the mean
/// (1.0) scores an MSE of 1/6, so anything well below that has learned to
/// remember across the sequence. Features `[n, len, 2]`, targets `[n, 1]`.
pub fn adding_problem(n: usize, len: usize, rng: &mut Rng) -> Res<TensorDataset<f32>> {
    let mut x = vec![0f32; n * len * 2];
    let mut y = vec![0f32; n];
    for i in 0..n {
        let a = rng.below(len / 2);
        let b = len / 2 + rng.below(len - len / 2);
        for t in 0..len {
            let v = rng.uniform_f64() as f32;
            x[(i * len + t) * 2] = v;
            if t == a || t == b {
                x[(i * len + t) * 2 + 1] = 1.0;
                y[i] += v;
            }
        }
    }
    Ok(TensorDataset::regression(
        Tensor::from_vec(x, &[n, len, 2]),
        Tensor::from_vec(y, &[n, 1]),
    )?)
}

/// Mean squared error of predictions against `[N, 1]` targets.
pub fn mse(pred: &Tensor<f32>, data: &TensorDataset<f32>) -> Res<f64> {
    let t = data
        .targets()
        .values()
        .ok_or("mse: a data set with value targets")?;
    let (p, t) = (pred.to_vec(), t.to_vec());
    Ok(p.iter()
        .zip(&t)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        / t.len().max(1) as f64)
}
