//! Chapter 3, feed-forward networks: an MLP on the digits with a
//! train/validation/test split, and early stopping that restores the best
//! weights: on the validation loss, then, as the book does, on the
//! validation error rate (`ZeroOneError`).

use nnkit::data::DataLoader;
use nnkit::layers::Initializer;
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;
use nnkit::train::{Decision, EarlyStopping, Metric, Mode, ZeroOneError};

use crate::common::{self, Ctx, Res, Step, StepResult};

/// What the early stopper watches on the validation split.
#[derive(Clone, Copy, PartialEq)]
enum Watch {
    /// The mean cross-entropy (`val_loss`).
    Loss,
    /// The fraction misclassified (`val_zero_one_error`), the book's choice.
    ErrorRate,
}

/// The MLP with early stopping on each criterion.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    Ok(vec![
        early_stopped_mlp(ctx, Watch::Loss)?,
        early_stopped_mlp(ctx, Watch::ErrorRate)?,
    ])
}

/// The validation error rate of `model`, through the `ZeroOneError` metric
/// the trainer records.
fn zero_one_error(model: &Sequential<f32>, data: &nnkit::data::TensorDataset<f32>) -> Res<f64> {
    let mut metric = ZeroOneError::new();
    for batch in DataLoader::new(data, 256)?.epoch(0) {
        let batch = batch?;
        Metric::<f32>::update(
            &mut metric,
            &common::predict(model, &batch.features)?,
            &batch,
        );
    }
    Ok(metric.value())
}

/// `64 → 128 → 64 → 10` (ReLU, dropout 0.2) trained with Adam until the
/// watched validation figure has not improved for `patience` epochs.
fn early_stopped_mlp(ctx: &Ctx, watch: Watch) -> Res<StepResult> {
    let (name, monitor) = match watch {
        Watch::Loss => ("MLP + early stopping (digits)", "val_loss"),
        Watch::ErrorRate => (
            "MLP + early stopping on the validation error rate (digits)",
            "val_zero_one_error",
        ),
    };
    let step = Step::start(3, name);
    let s = common::digits_splits(ctx)?;
    let mut rng = ctx.rng(31);
    let drop = DropoutConfig::new(0.2);
    let model = Sequential::<f32>::new()
        .append(LinearConfig::new(64, 128).init(&mut rng)?)
        .append(Relu)
        .append(drop.init(&mut rng)?)
        .append(LinearConfig::new(128, 64).init(&mut rng)?)
        .append(Relu)
        .append(drop.init(&mut rng)?)
        .append(
            LinearConfig::new(64, 10)
                .with_initializer(Initializer::PYTORCH_DEFAULT)
                .init(&mut rng)?,
        );
    let mut opt = AdamConfig::new(1e-3).init(model.named_parameters())?;
    // The error rate moves in steps of 1/270: any strict fall is progress.
    let min_delta = if watch == Watch::Loss { 1e-4 } else { 0.0 };
    let mut stopper = EarlyStopping::new(monitor, Mode::Min, ctx.pick(10, 3), min_delta);
    let mut best = common::snapshot(&model);
    let mut val_losses = Vec::new();
    let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.cross_entropy(b.targets());
    let max_epochs = ctx.pick(200, 15);
    let train_losses = common::train(
        ctx,
        step.name(),
        &model,
        &mut opt,
        &s.train,
        32,
        max_epochs,
        ce,
        |epoch, _| {
            val_losses.push(common::loss_on(&model, &s.validation)?);
            let v = match watch {
                Watch::Loss => val_losses[val_losses.len() - 1],
                Watch::ErrorRate => zero_one_error(&model, &s.validation)?,
            };
            Ok(match stopper.update(epoch, v) {
                Decision::Improved => {
                    best = common::snapshot(&model);
                    true
                }
                Decision::Continue => true,
                Decision::Stop => false,
            })
        },
    )?;
    common::restore(&model, &best);
    if watch == Watch::Loss {
        nnkit::train::figures::save_line_chart(
            ctx.figure("ch3_mlp_losses.png")?,
            &[&train_losses, &val_losses],
        )?;
    }
    let acc = common::accuracy_on(&model, &s.test)?;
    let best_epoch = stopper.best_epoch().unwrap_or(0) + 1;
    Ok(step.at_least("test accuracy", acc, 0.95).with_note(format!(
        "stopped after {} epochs, best {monitor} {:.4} at epoch {best_epoch}",
        train_losses.len(),
        stopper.best_value().unwrap_or(f64::NAN)
    )))
}
