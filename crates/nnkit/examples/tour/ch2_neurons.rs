//! Chapter 2, neurons and activations: the same small MLP on the digits with
//! each of six non-linearities, and how many ReLU units died.

use nnkit::layers::Initializer;
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;

use crate::common::{self, Ctx, MakeActivation, Res, Step, StepResult};

/// Every activation of the comparison, with its name.
fn activations() -> Vec<(&'static str, MakeActivation)> {
    vec![
        ("ReLU", || Ok(Box::new(Relu))),
        ("LeakyReLU", || Ok(Box::new(LeakyRelu::default()))),
        ("PReLU", || {
            Ok(Box::new(
                PreluConfig::new(64).init::<f32>(&mut Rng::seed_from(0))?,
            ))
        }),
        ("ELU", || Ok(Box::new(Elu::default()))),
        ("sigmoid", || Ok(Box::new(Sigmoid))),
        ("tanh", || Ok(Box::new(Tanh))),
    ]
}

/// Trains `64 → 64 → 64 → 10` with each activation; reports the test
/// accuracy of each and, for ReLU, the fraction of dead hidden units.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let s = common::digits_splits(ctx)?;
    let epochs = ctx.pick(30, 20);
    let mut out = Vec::new();
    let mut curves = Vec::new();
    for (name, act) in activations() {
        let step = Step::start(2, format!("MLP with {name} (digits)"));
        let model = common::mlp(
            &[64, 64, 64, 10],
            act,
            Initializer::PYTORCH_DEFAULT,
            false,
            &mut ctx.rng(21),
        )?;
        let mut opt = AdamConfig::new(1e-3).init(model.named_parameters())?;
        let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.cross_entropy(b.targets());
        let losses = common::train(
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
        let last = losses.last().copied().unwrap_or(f64::NAN);
        curves.push(losses);
        let dead = dead_fraction(&model, s.train.features())?;
        let acc = common::accuracy_on(&model, &s.test)?;
        out.push(step.at_least("test accuracy", acc, 0.9).with_note(format!(
            "final training loss {last:.4}, {:.1}% of hidden units never active",
            100.0 * dead
        )));
        if name == "ReLU" {
            out.push(
                Step::start(2, "dead ReLU units")
                    .at_most("fraction of hidden units", dead, 0.25)
                    .with_note("units whose pre-activation is ≤ 0 on every training image"),
            );
        }
    }
    let series: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    nnkit::train::figures::save_line_chart(ctx.figure("ch2_activation_losses.png")?, &series)?;
    Ok(out)
}

/// The fraction of hidden units (over every hidden `Linear`) whose
/// pre-activation is ≤ 0 for every row of `x`: for ReLU these units pass no
/// gradient and can never recover ("dead").
pub fn dead_fraction(model: &Sequential<f32>, x: &Tensor<f32>) -> Res<f64> {
    let (mut dead, mut total) = (0usize, 0usize);
    let mut h = Var::from(x);
    let layers: Vec<&dyn Forward<f32>> = model.iter().collect();
    no_grad(|| -> Res<()> {
        for (i, l) in layers.iter().enumerate() {
            h = l.try_forward(&h)?;
            let is_hidden_linear = l.type_name() == "Linear" && i + 1 < layers.len();
            if is_hidden_linear {
                let (n, w) = (h.shape()[0], h.shape()[1]);
                let v = h.value().to_vec();
                for unit in 0..w {
                    if (0..n).all(|r| v[r * w + unit] <= 0.0) {
                        dead += 1;
                    }
                }
                total += w;
            }
        }
        Ok(())
    })?;
    Ok(dead as f64 / total.max(1) as f64)
}
