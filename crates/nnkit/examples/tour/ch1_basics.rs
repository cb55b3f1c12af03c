//! Chapter 1, machine-learning basics: linear regression, logistic
//! regression and softmax regression, each a single `Linear` layer trained by
//! gradient descent; only the loss differs.

use nnkit::data::{breast_cancer, diabetes, digits, iris, SplitFractions};
use nnkit::optim::SgdConfig;
use nnkit::prelude::*;

use crate::common::{self, Ctx, Res, Step, StepResult};

/// Runs the chapter's four steps.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    Ok(vec![
        linear_regression(ctx)?,
        logistic_regression(ctx)?,
        softmax_regression(ctx, "iris", 0.93)?,
        softmax_regression(ctx, "digits", 0.94)?,
    ])
}

/// Diabetes progression from 10 standardised features with the mean squared
/// error: full-batch gradient descent. Reports the test R² (1 − MSE / variance).
fn linear_regression(ctx: &Ctx) -> Res<StepResult> {
    let step = Step::start(1, "linear regression (diabetes)");
    let data = diabetes().cast::<f32>().to_dataset();
    let s =
        common::split_standardised(&data, SplitFractions::train_test(0.8, 0.2), ctx.seed, false)?;
    let model = LinearConfig::new(10, 1).init::<f32>(&mut ctx.rng(11))?;
    let mut opt = SgdConfig::new(0.1).init(model.named_parameters())?;
    let epochs = ctx.pick(500, 200);
    let mse = |out: &Var<f32>, b: &nnkit::data::Batch<f32>| {
        out.mse_loss(&Var::constant(b.values().clone()), Reduction::Mean)
    };
    let n = s.train.len();
    common::train(
        ctx,
        step.name(),
        &model,
        &mut opt,
        &s.train,
        n,
        epochs,
        mse,
        |_, _| Ok(true),
    )?;
    let pred = common::predict(&model, s.test.features())?;
    let y = s
        .test
        .targets()
        .values()
        .ok_or("diabetes has value targets")?;
    let (p, t) = (pred.to_vec(), y.to_vec());
    let mse: f64 = p
        .iter()
        .zip(&t)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        / t.len() as f64;
    let mean = t.iter().map(|&v| v as f64).sum::<f64>() / t.len() as f64;
    let var = t.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / t.len() as f64;
    Ok(step
        .at_least("test R²", 1.0 - mse / var, 0.35)
        .with_note(format!("test MSE {mse:.0}")))
}

/// Malignant or benign from 30 standardised measurements: one logit and the
/// binary cross-entropy.
fn logistic_regression(ctx: &Ctx) -> Res<StepResult> {
    let step = Step::start(1, "logistic regression (breast cancer)");
    let data = breast_cancer().cast::<f32>().to_dataset();
    let s =
        common::split_standardised(&data, SplitFractions::train_test(0.8, 0.2), ctx.seed, true)?;
    let model = LinearConfig::new(30, 1).init::<f32>(&mut ctx.rng(12))?;
    let mut opt = SgdConfig::new(0.1).init(model.named_parameters())?;
    let bce = |out: &Var<f32>, b: &nnkit::data::Batch<f32>| {
        let t: Vec<f32> = b.classes().iter().map(|&c| c as f32).collect();
        let t = Tensor::from_vec(t, &[b.len(), 1]);
        out.binary_cross_entropy_with_logits(&t, None, Reduction::Mean)
    };
    let n = s.train.len();
    let epochs = ctx.pick(300, 150);
    common::train(
        ctx,
        step.name(),
        &model,
        &mut opt,
        &s.train,
        n,
        epochs,
        bce,
        |_, _| Ok(true),
    )?;
    let logits = common::predict(&model, s.test.features())?.to_vec();
    let classes = s.test.classes().ok_or("breast cancer has classes")?;
    let correct = logits
        .iter()
        .zip(classes)
        .filter(|(z, &c)| (**z > 0.0) == (c == 1))
        .count();
    Ok(step.at_least("test accuracy", correct as f64 / classes.len() as f64, 0.95))
}

/// Softmax regression: one `Linear` to as many logits as classes, trained
/// with the cross-entropy in mini-batches.
fn softmax_regression(ctx: &Ctx, which: &str, floor: f64) -> Res<StepResult> {
    let step = Step::start(1, format!("softmax regression ({which})"));
    let set = if which == "iris" { iris() } else { digits() };
    let (f, k) = (set.features.shape()[1], set.num_classes());
    let data = set.cast::<f32>().to_dataset();
    let s =
        common::split_standardised(&data, SplitFractions::train_test(0.8, 0.2), ctx.seed, true)?;
    let model = LinearConfig::new(f, k).init::<f32>(&mut ctx.rng(13))?;
    let mut opt = SgdConfig::new(0.1)
        .with_momentum(0.9)
        .init(model.named_parameters())?;
    let ce = |out: &Var<f32>, b: &nnkit::data::Batch<f32>| common::cross_entropy(out, b.classes());
    let epochs = ctx.pick(60, 20);
    common::train(
        ctx,
        step.name(),
        &model,
        &mut opt,
        &s.train,
        32,
        epochs,
        ce,
        |_, _| Ok(true),
    )?;
    Ok(step.at_least(
        "test accuracy",
        common::accuracy_on(&model, &s.test)?,
        floor,
    ))
}
