//! Chapter 4, convolutional networks: a small CNN on the 8×8 digits, its
//! summary table (shapes, parameters, multiply-accumulates), and its learned
//! first-layer filters as a picture.

use nnkit::conv::layers::{Conv2dConfig, MaxPool2dConfig};
use nnkit::data::TensorDataset;
use nnkit::layers::summary;
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;

use crate::common::{self, Ctx, Res, Step, StepResult};

/// `[N, 64]` rows as `[N, 1, 8, 8]` images (the layout a convolution reads).
fn as_images(data: &TensorDataset<f32>) -> Res<TensorDataset<f32>> {
    let n = data.len();
    Ok(data.with_features(data.features().reshape([n, 1, 8, 8]))?)
}

/// The CNN: two 3×3 "same" convolutions (16 and 32 kernels) with ReLU and
/// 2×2 max pooling, then a linear classifier on the 32×2×2 features.
pub fn cnn(rng: &mut Rng) -> Res<Sequential<f32>> {
    Ok(Sequential::new()
        .append(
            Conv2dConfig::new(1, 16, 3)
                .with_padding(1)
                .init::<f32>(rng)?,
        )
        .append(Relu)
        .append(MaxPool2dConfig::new(2).init(rng)?)
        .append(
            Conv2dConfig::new(16, 32, 3)
                .with_padding(1)
                .init::<f32>(rng)?,
        )
        .append(Relu)
        .append(MaxPool2dConfig::new(2).init(rng)?)
        .append(Flatten::new(1, -1))
        .append(LinearConfig::new(32 * 2 * 2, 10).init(rng)?))
}

/// Trains the CNN with Adam; prints its summary; saves the 16 first-layer filters.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let step = Step::start(4, "CNN (digits 8×8)");
    let s = common::digits_splits(ctx)?;
    let (train, test) = (as_images(&s.train)?, as_images(&s.test)?);
    let model = cnn(&mut ctx.rng(41))?;
    let table = summary(&model, &[1, 1, 8, 8])?;
    if ctx.progress {
        println!("{table}");
    }
    let mut opt = AdamConfig::new(2e-3).init(model.named_parameters())?;
    let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.cross_entropy(b.targets());
    let epochs = ctx.pick(25, 6);
    let losses = common::train(
        ctx,
        step.name(),
        &model,
        &mut opt,
        &train,
        32,
        epochs,
        ce,
        |_, _| Ok(true),
    )?;
    nnkit::train::figures::save_line_chart(ctx.figure("ch4_cnn_loss.png")?, &[&losses])?;
    let filters = model.parameters()[0].value(); // conv1.weight [16, 1, 3, 3]
    nnkit::train::figures::save_image_grid(ctx.figure("ch4_cnn_filters.png")?, &filters, 8, 16)?;
    let acc = common::accuracy_on(&model, &test)?;
    Ok(vec![step
        .at_least("test accuracy", acc, ctx.pick(0.96, 0.9))
        .with_note(format!(
            "{} parameters, {} MACs per image",
            table.total_parameters, table.total_macs
        ))])
}
