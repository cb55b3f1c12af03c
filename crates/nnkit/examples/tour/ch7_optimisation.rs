//! Chapter 7, optimisation: SGD vs momentum vs Adam on one model; zero vs
//! Xavier vs He initialisation; a deep sigmoid network with and without
//! batch normalisation; clipping an exploding RNN; the flat and sharp
//! minima that small- and large-batch SGD find.

use nnkit::layers::init::{FanMode, Nonlinearity};
use nnkit::layers::Initializer;
use nnkit::optim::{total_norm, AdamConfig, GradClip, Optimizer, SgdConfig, UpdateRule};
use nnkit::rnn::Nonlinearity as RnnNonlinearity;

use crate::ch5_rnn::SequenceRegressor;
use nnkit::prelude::*;

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
    let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.cross_entropy(b.targets());
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
    out.extend(clipping(ctx)?);
    out.extend(flat_and_sharp_minima(ctx)?);
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
    nnkit::train::figures::save_line_chart(ctx.figure("ch7_optimisers.png")?, &series)?;
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

/// A ReLU RNN whose recurrent weights are 1.05 times the identity on
/// 40-step adding problems: every active unit carries its gradient back
/// through time multiplied by 1.05 a step, so the gradient explodes
/// whatever the seed (doubling the random initial weights instead left the
/// spectral radius near one, and seeds 1 and 2 did not explode; a larger
/// factor blows up the forward state too, and the clipped run then cannot
/// come back in its 10 epochs). Without clipping SGD overflows within a few
/// batches; clipping the global gradient norm to 1 keeps the same run
/// finite. The step is cheap, so `--quick` runs it in full.
fn clipping(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let len = 40;
    let mut rng = ctx.rng(74);
    let train = common::adding_problem(2000, len, &mut rng)?;
    let test = common::adding_problem(500, len, &mut rng)?;
    let epochs = 10;
    let exploding = || -> Res<SequenceRegressor> {
        let m = SequenceRegressor::new("RNN", 32, RnnNonlinearity::Relu, &mut ctx.rng(75))?;
        for (name, p) in m.named_parameters() {
            if name.contains("weight_hh") {
                p.update(|w| *w = Tensor::eye(w.shape()[0]) * 1.05);
            }
        }
        Ok(m)
    };

    let step = Step::start(7, "exploding RNN (T = 40): gradient norm at init");
    let model = exploding()?;
    let x = train.features().narrow(0, 0, 64);
    let y = train
        .targets()
        .values()
        .ok_or("regression")?
        .narrow(0, 0, 64);
    let grads = model.forward(&x)?.mse_loss(&y).backward();
    let g: Vec<Tensor<f32>> = model
        .named_parameters()
        .iter()
        .filter_map(|(_, p)| grads.get_id(p.id()).cloned())
        .collect();
    let norm0 = total_norm(&g, 2.0);
    let mut out = vec![step.at_least("gradient norm", norm0, 10.0)];

    let step = Step::start(7, "exploding RNN without clipping");
    let mut opt = SgdConfig::new(0.01).init(model.named_parameters())?;
    let outcome = model.train(ctx, step.name(), &mut opt, &train, epochs);
    let (diverged, note) = match outcome {
        Err(e) => (1.0, format!("{e}")),
        Ok(l) => (
            0.0,
            format!(
                "final training loss {:.4}",
                l.last().copied().unwrap_or(f64::NAN)
            ),
        ),
    };
    out.push(
        step.at_least("diverged (1 = yes)", diverged, 1.0)
            .with_note(note),
    );

    let step = Step::start(7, "exploding RNN with clip_grad_norm(1.0)");
    let model = exploding()?;
    let clip = GradClip::Norm {
        max_norm: 1.0,
        norm_type: 2.0,
    };
    let mut opt = SgdConfig::new(0.01)
        .init(model.named_parameters())?
        .with_grad_clipping(clip)?;
    let losses = model.train(ctx, step.name(), &mut opt, &train, epochs)?;
    let test_mse = model.test_mse(&test)?;
    // The lesson is stability: the same run that overflowed now stays finite
    // and near the predict-the-mean level (learning the task itself takes
    // gated cells, chapter 5).
    out.push(step.at_most("test MSE", test_mse, 0.25).with_note(format!(
        "final training loss {:.4}, finite; predicting the mean scores 0.1667",
        losses.last().copied().unwrap_or(f64::NAN)
    )));
    Ok(out)
}

/// A random direction in parameter space, normalised filter by filter (Li
/// et al., 2018): each row of a weight matrix gets a Gaussian direction
/// rescaled to that row's norm, so a step of α moves every unit by the same
/// fraction α of its own weights (a ReLU network's loss does not change when
/// a unit's incoming weights are scaled up and its outgoing ones down, so an
/// unnormalised direction would compare the scales, not the shapes, of two
/// minima). Biases stay fixed (zero direction).
fn filter_normalised_direction(weights: &[Tensor<f32>], rng: &mut Rng) -> Vec<Tensor<f32>> {
    weights
        .iter()
        .map(|w| {
            let shape = w.shape().to_vec();
            if shape.len() < 2 {
                return Tensor::zeros(&shape);
            }
            let cols = shape[1..].iter().product::<usize>();
            let d = Tensor::<f32>::rand_normal(&shape, 0.0, 1.0, rng).to_vec();
            let w = w.to_vec();
            let mut out = Vec::with_capacity(d.len());
            for (dr, wr) in d.chunks(cols).zip(w.chunks(cols)) {
                let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
                let scale = norm(wr) / norm(dr).max(f32::MIN_POSITIVE);
                out.extend(dr.iter().map(|a| a * scale));
            }
            Tensor::from_vec(out, &shape)
        })
        .collect()
}

/// Training loss of `model` at `θ + α·d` for every α of `alphas`, averaged
/// over `directions`; the weights are put back afterwards.
fn loss_along(
    model: &Sequential<f32>,
    data: &nnkit::data::TensorDataset<f32>,
    directions: &[Vec<Tensor<f32>>],
    alphas: &[f64],
) -> Res<Vec<f64>> {
    let theta = common::snapshot(model);
    let mut curve = vec![0.0; alphas.len()];
    for d in directions {
        for (c, &a) in curve.iter_mut().zip(alphas) {
            let moved: Vec<Tensor<f32>> = theta
                .iter()
                .zip(d)
                .map(|(w, d)| w.add(&d.mul_scalar(a as f32)))
                .collect();
            common::restore(model, &moved);
            *c += common::loss_on(model, data)? / directions.len() as f64;
        }
    }
    common::restore(model, &theta);
    Ok(curve)
}

/// Chapter 7's flat and sharp minima (Keskar et al., 2017): the same MLP
/// trained by SGD (lr 0.1) with batches of 8 and with the whole training set
/// as one batch, each stopped at the first epoch whose training loss is at
/// most the same target, then the training loss along five random
/// filter-normalised directions around each minimum. Compared at the same
/// training loss, the large-batch minimum's loss rises faster: it sits in a
/// sharper valley.
fn flat_and_sharp_minima(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let s = common::digits_splits(ctx)?;
    let widths = [64, 64, 64, 10];
    let alphas: Vec<f64> = (0..=20).map(|i| f64::from(i - 10) / 10.0).collect();
    let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.cross_entropy(b.targets());
    // The quick run stops earlier (a higher target), where the full batch
    // needs 2.5 times fewer epochs.
    let target = ctx.pick(0.01, 0.03);
    let full = s.train.len();
    let mut curves = Vec::new();
    let mut out = Vec::new();
    for (batch, max_epochs) in [(8, 100), (full, 3000)] {
        let label = if batch == full {
            format!("full batch ({full})")
        } else {
            format!("batch {batch}")
        };
        let step = Step::start(7, format!("SGD, {label}: epochs to training loss {target}"));
        let model = common::mlp(
            &widths,
            RELU,
            Initializer::PYTORCH_DEFAULT,
            false,
            &mut ctx.rng(76),
        )?;
        let mut opt = SgdConfig::new(0.1).init(model.named_parameters())?;
        let losses = common::train(
            ctx,
            step.name(),
            &model,
            &mut opt,
            &s.train,
            batch,
            max_epochs,
            ce,
            |_, _| Ok(common::loss_on(&model, &s.train)? > target),
        )?;
        let train_loss = common::loss_on(&model, &s.train)?;
        let test_acc = common::accuracy_on(&model, &s.test)?;
        let weights = common::snapshot(&model);
        let mut rng = ctx.rng(77);
        let directions: Vec<Vec<Tensor<f32>>> = (0..5)
            .map(|_| filter_normalised_direction(&weights, &mut rng))
            .collect();
        let curve = loss_along(&model, &s.train, &directions, &alphas)?;
        out.push(
            step.at_most("training loss", train_loss, target)
                .with_note(format!(
                    "{} epochs; test accuracy {test_acc:.4}; loss at α = −0.5, +0.5: {:.4}, {:.4}",
                    losses.len(),
                    curve[5],
                    curve[15]
                )),
        );
        curves.push(curve);
    }
    // How much the loss rises half a filter norm away, beyond its value at
    // the minimum, averaged over both sides.
    let rise = |c: &[f64]| (c[5] + c[15]) / 2.0 - c[10];
    let step = Step::start(7, "sharp (full batch) vs flat (batch 8) minimum");
    out.push(
        step.at_least(
            "loss rise at α = ±0.5, full batch ÷ batch 8",
            rise(&curves[1]) / rise(&curves[0]),
            1.2,
        )
        .with_note(format!(
            "rise {:.4} (full batch) vs {:.4} (batch 8)",
            rise(&curves[1]),
            rise(&curves[0])
        )),
    );
    let names = ["batch 8".to_string(), format!("full batch ({full})")];
    let mut table = format!(
        "Training loss along 5 random filter-normalised directions (mean), SGD lr 0.1 stopped at training loss ≤ {target}\n| α | {} | {} |\n|---:|---:|---:|",
        names[0], names[1]
    );
    for (i, a) in alphas.iter().enumerate().step_by(2) {
        table += &format!("\n| {a:.1} | {:.4} | {:.4} |", curves[0][i], curves[1][i]);
    }
    println!("{table}\n");
    std::fs::write(ctx.figure("ch7_flat_sharp.md")?, table + "\n")?;
    let series: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    nnkit::train::figures::save_line_chart(ctx.figure("ch7_flat_sharp.png")?, &series)?;
    Ok(out)
}
