//! Chapter 3, feed-forward networks: an MLP on the digits with a
//! train/validation/test split, and early stopping on the validation loss
//! that restores the best weights.

use nnkit::layers::Initializer;
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;
use nnkit::train::{Decision, EarlyStopping, Mode};

use crate::common::{self, Ctx, Res, Step, StepResult};

/// `64 → 128 → 64 → 10` (ReLU, dropout 0.2) trained with Adam until the
/// validation loss has not improved for `patience` epochs.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let step = Step::start(3, "MLP + early stopping (digits)");
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
    let mut stopper = EarlyStopping::new("val_loss", Mode::Min, ctx.pick(10, 3), 1e-4);
    let mut best = common::snapshot(&model);
    let mut val_losses = Vec::new();
    let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| common::cross_entropy(o, b.classes());
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
            let v = common::loss_on(&model, &s.validation)?;
            val_losses.push(v);
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
    nnkit::train::figures::save_line_chart(
        ctx.figure("ch3_mlp_losses.png")?,
        &[&train_losses, &val_losses],
    )?;
    let acc = common::accuracy_on(&model, &s.test)?;
    let best_epoch = stopper.best_epoch().unwrap_or(0) + 1;
    Ok(vec![step.at_least("test accuracy", acc, 0.95).with_note(
        format!(
            "stopped after {} epochs, best validation loss {:.4} at epoch {best_epoch}",
            train_losses.len(),
            stopper.best_value().unwrap_or(f64::NAN)
        ),
    )])
}
