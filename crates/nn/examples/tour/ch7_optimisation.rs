//! Chapter 7, optimisation: SGD vs momentum vs Adam on one model; zero vs
//! Xavier vs He initialisation; a deep sigmoid network with and without
//! batch normalisation.

use nn::layers::init::{FanMode, Nonlinearity};
use nn::layers::Initializer;
use nn::optim::{AdamConfig, Optimizer, SgdConfig, UpdateRule};
use nn::prelude::*;

use crate::common::{self, Ctx, MakeActivation, Res, Step, StepResult};

const RELU: MakeActivation = || Ok(Box::new(Relu));
const SIGMOID: MakeActivation = || Ok(Box::new(Sigmoid));

/// Trains `model` with `opt` on the digits for `epochs`; returns the
/// per-epoch loss and the test accuracy.
fn fit<R: UpdateRule<f32>>(
    ctx: &Ctx,
    label: &str,
    model: &Sequential<f32>,
    mut opt: Optimizer<f32, R>,
    epochs: usize,
) -> Res<(Vec<f64>, f64)> {
    let s = common::digits_splits(ctx)?;
    let ce = |o: &Var<f32>, b: &nn::data::Batch<f32>| common::cross_entropy(o, b.classes());
    let losses = common::train(
        ctx,
        label,
        model,
        &mut opt,
        &s.train,
        64,
        epochs,
        ce,
        |_, _| Ok(true),
    )?;
    Ok((losses, common::accuracy_on(model, &s.test)?))
}

/// Runs the three comparisons.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let mut out = optimisers(ctx)?;
    out.extend(initialisations(ctx)?);
    out.extend(batch_norm(ctx)?);
    Ok(out)
}

/// The same `64 → 64 → 64 → 10` ReLU network and budget for each optimiser.
fn optimisers(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let epochs = ctx.pick(15, 12);
    let widths = [64, 64, 64, 10];
    let mut out = Vec::new();
    let mut curves = Vec::new();
    let runs: [(&str, f64); 3] = [("SGD", 0.5), ("SGD + momentum", 0.9), ("Adam", 0.9)];
    for (name, floor) in runs {
        let step = Step::start(7, format!("{name} (digits MLP)"));
        let model = common::mlp(
            &widths,
            RELU,
            Initializer::PYTORCH_DEFAULT,
            false,
            &mut ctx.rng(71),
        )?;
        let params = model.named_parameters();
        let (losses, acc) = match name {
            "SGD" => fit(
                ctx,
                step.name(),
                &model,
                SgdConfig::new(0.01).init(params)?,
                epochs,
            )?,
            "SGD + momentum" => fit(
                ctx,
                step.name(),
                &model,
                SgdConfig::new(0.01).with_momentum(0.9).init(params)?,
                epochs,
            )?,
            _ => fit(
                ctx,
                step.name(),
                &model,
                AdamConfig::new(1e-3).init(params)?,
                epochs,
            )?,
        };
        let last = losses.last().copied().unwrap_or(f64::NAN);
        out.push(
            step.at_least("test accuracy", acc, floor)
                .with_note(format!("final training loss {last:.4}")),
        );
        curves.push(losses);
    }
    let series: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    nn_train::figures::save_line_chart(ctx.figure("ch7_optimisers.png")?, &series)?;
    Ok(out)
}

/// A deeper ReLU network (five hidden layers) from three initialisations:
/// all zeros never breaks the symmetry between units, so it barely learns.
fn initialisations(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let epochs = ctx.pick(15, 12);
    let widths = [64, 64, 64, 64, 64, 64, 10];
    let he = Initializer::KaimingNormal {
        mode: FanMode::FanIn,
        nonlinearity: Nonlinearity::Relu,
    };
    let runs = [
        ("zero init", Initializer::Zeros),
        ("Xavier init", Initializer::XavierUniform { gain: 1.0 }),
        ("He init", he),
    ];
    let mut out = Vec::new();
    for (name, init) in runs {
        let step = Step::start(7, format!("{name} (6-layer ReLU MLP)"));
        let model = common::mlp(&widths, RELU, init, false, &mut ctx.rng(72))?;
        let opt = SgdConfig::new(0.01)
            .with_momentum(0.9)
            .init(model.named_parameters())?;
        let (_, acc) = fit(ctx, step.name(), &model, opt, epochs)?;
        out.push(if matches!(init, Initializer::Zeros) {
            step.at_most("test accuracy", acc, 0.5)
                .with_note("symmetric units: every hidden layer learns one feature")
        } else {
            step.at_least("test accuracy", acc, 0.9)
        });
    }
    Ok(out)
}

/// A deep sigmoid network trained with plain SGD for a few epochs, with and
/// without `BatchNorm1d` before each activation.
fn batch_norm(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let epochs = ctx.pick(10, 8);
    let widths = [64, 64, 64, 64, 64, 64, 10];
    let mut out = Vec::new();
    for (name, bn) in [("without batch norm", false), ("with batch norm", true)] {
        let step = Step::start(7, format!("6-layer sigmoid MLP {name}"));
        let model = common::mlp(
            &widths,
            SIGMOID,
            Initializer::PYTORCH_DEFAULT,
            bn,
            &mut ctx.rng(73),
        )?;
        let opt = SgdConfig::new(0.1)
            .with_momentum(0.9)
            .init(model.named_parameters())?;
        let (losses, acc) = fit(ctx, step.name(), &model, opt, epochs)?;
        let last = losses.last().copied().unwrap_or(f64::NAN);
        let note = format!("final training loss {last:.4}");
        // The point of the demo: without normalisation the deep sigmoid
        // network is still at chance after the same budget.
        out.push(if bn {
            step.at_least("test accuracy", acc, 0.9).with_note(note)
        } else {
            step.at_most("test accuracy", acc, 0.5).with_note(note)
        });
    }
    Ok(out)
}
