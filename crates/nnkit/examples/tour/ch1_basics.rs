//! Chapter 1, machine-learning basics: linear regression, logistic
//! regression and softmax regression, each a single `Linear` layer trained by
//! gradient descent; only the loss differs. Then the two hyper-parameters
//! the course warns about (1.2.3): a learning-rate sweep (too small is slow,
//! too large oscillates, then diverges) and a capacity sweep (under- and
//! over-fitting), each with its training and validation curves.

use nnkit::data::{breast_cancer, diabetes, digits, iris, SplitFractions};
use nnkit::optim::SgdConfig;
use nnkit::prelude::*;

use crate::common::{self, Ctx, Res, Step, StepResult};

/// Runs the chapter's steps.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let mut out = vec![
        linear_regression(ctx)?,
        logistic_regression(ctx)?,
        softmax_regression(ctx, "iris", 0.93)?,
        softmax_regression(ctx, "digits", 0.94)?,
    ];
    out.extend(learning_rate_sweep(ctx)?);
    out.extend(capacity_sweep(ctx)?);
    Ok(out)
}

/// A text table of curves: one row per epoch in `at`, one column per curve.
fn curve_table(title: &str, names: &[String], curves: &[&[f64]], at: &[usize]) -> String {
    let mut t = format!("{title}\n| epoch |");
    for n in names {
        t += &format!(" {n} |");
    }
    t += "\n|---:|";
    t += &"---:|".repeat(names.len());
    for &e in at {
        t += &format!("\n| {e} |");
        for c in curves {
            match c.get(e) {
                Some(v) if v.abs() < 1e6 => t += &format!(" {v:.4} |"),
                Some(_) => t += " > 1e6 |",
                None => t += " – |",
            }
        }
    }
    t + "\n"
}

/// Prints a table and writes it beside the figures (`name`.md), with the
/// curves drawn in `name`.png; values above `cap` are drawn at `cap`, so a
/// diverging curve leaves the others readable.
fn publish(ctx: &Ctx, name: &str, table: &str, curves: &[&[f64]], cap: f64) -> Res<()> {
    println!("{table}");
    std::fs::write(ctx.figure(&format!("{name}.md"))?, table)?;
    let capped: Vec<Vec<f64>> = curves
        .iter()
        .map(|c| c.iter().map(|v| v.min(cap)).collect())
        .collect();
    let series: Vec<&[f64]> = capped.iter().map(Vec::as_slice).collect();
    nnkit::train::figures::save_line_chart(ctx.figure(&format!("{name}.png"))?, &series)?;
    Ok(())
}

/// The largest eigenvalue and its eigenvector of a symmetric matrix (power
/// iteration; `m` is `n × n`, row-major).
fn top_eigen(m: &[f64], n: usize) -> (f64, Vec<f64>) {
    let mut v = vec![1.0 / (n as f64).sqrt(); n];
    let mut lambda = 0.0;
    for _ in 0..500 {
        let w: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| m[i * n + j] * v[j]).sum())
            .collect();
        lambda = w.iter().map(|a| a * a).sum::<f64>().sqrt();
        v = w.into_iter().map(|a| a / lambda).collect();
    }
    (lambda, v)
}

/// Every parameter of `model`, flattened in one vector.
fn flat_parameters<M: Module<f32>>(model: &M) -> Vec<f64> {
    model
        .parameters()
        .iter()
        .flat_map(|p| p.value().to_vec())
        .map(f64::from)
        .collect()
}

/// Linear regression on the diabetes data (features and target
/// standardised) by full-batch gradient descent on the mean squared error,
/// whose Hessian `2·AᵀA/n` (A = [X 1]) is constant: gradient descent
/// converges for learning rates below `2/λ_max` and diverges above. The
/// sweep sets the learning rate to `c/λ_max`: c = 0.02 crawls, c = 1 is
/// fast, c = 1.9 overshoots the sharpest direction at every step (the
/// update along it flips sign: oscillation), c = 2.1 diverges.
fn learning_rate_sweep(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let data = diabetes().cast::<f32>().to_dataset();
    let s =
        common::split_standardised(&data, SplitFractions::train_test(0.8, 0.2), ctx.seed, false)?;
    let standardise =
        |d: &nnkit::data::TensorDataset<f32>, mean: f64, std: f64| -> Res<Tensor<f32>> {
            let y = d.targets().values().ok_or("diabetes has value targets")?;
            Ok(y.map(|v| ((f64::from(v) - mean) / std) as f32))
        };
    let y_train = s
        .train
        .targets()
        .values()
        .ok_or("diabetes has value targets")?
        .to_vec();
    let mean = y_train.iter().map(|&v| f64::from(v)).sum::<f64>() / y_train.len() as f64;
    let std = (y_train
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / y_train.len() as f64)
        .sqrt();
    let (x, y) = (s.train.features(), standardise(&s.train, mean, std)?);
    let (xv, yv) = (s.test.features(), standardise(&s.test, mean, std)?);
    // The Hessian of the mean squared error in (w, b): 2·AᵀA/n.
    let (n, f) = (s.train.len(), 10);
    let a = s.train.features().to_vec();
    let mut h = vec![0.0; (f + 1) * (f + 1)];
    for r in 0..n {
        let row: Vec<f64> = a[r * f..(r + 1) * f]
            .iter()
            .map(|&v| f64::from(v))
            .chain([1.0])
            .collect();
        for i in 0..=f {
            for j in 0..=f {
                h[i * (f + 1) + j] += 2.0 * row[i] * row[j] / n as f64;
            }
        }
    }
    let (lambda, top) = top_eigen(&h, f + 1);
    let epochs = 100;
    let runs = [0.02, 1.0, 1.9, 2.1];
    let (mut curves, mut flips, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for c in runs {
        let model = LinearConfig::new(f, 1).init::<f32>(&mut ctx.rng(14))?;
        let mut opt = SgdConfig::new(c / lambda).init(model.named_parameters())?;
        let (mut train, mut val) = (Vec::new(), Vec::new());
        // The update projected on the sharpest direction, step after step.
        let mut along = Vec::new();
        for _ in 0..=epochs {
            let loss = model.forward(x).mse_loss(&y);
            train.push(f64::from(loss.value().item()));
            val.push(f64::from(
                no_grad(|| model.forward(xv).mse_loss(&yv)).value().item(),
            ));
            if train
                .last()
                .is_some_and(|l| !l.is_finite() || l.abs() >= 1e6)
            {
                break;
            }
            let before = flat_parameters(&model);
            opt.step(&loss.backward());
            let after = flat_parameters(&model);
            // Parameters are [weight (10), bias (1)], the Hessian's order.
            along.push(
                after
                    .iter()
                    .zip(&before)
                    .zip(&top)
                    .map(|((a, b), v)| (a - b) * v)
                    .sum::<f64>(),
            );
        }
        // Over the first 30 steps, before the sharp component is rounding noise.
        let early = &along[..along.len().min(30)];
        let flipped = early.windows(2).filter(|w| w[0] * w[1] < 0.0).count();
        flips.push(flipped as f64 / (early.len() - 1) as f64);
        names.push(format!("train {c}/λ"));
        names.push(format!("val {c}/λ"));
        curves.push(train);
        curves.push(val);
    }
    let series: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    let title = format!("Learning-rate sweep: linear regression (diabetes, standardised), full-batch GD at c/λ_max, λ_max = {lambda:.3}; MSE per epoch");
    publish(
        ctx,
        "ch1_learning_rate",
        &curve_table(&title, &names, &series, &[0, 1, 2, 5, 10, 20, 50, 100]),
        &series,
        1.5,
    )?;
    let last = |i: usize| curves[i].last().copied().unwrap_or(f64::NAN);
    let mut out = Vec::new();
    let step = Step::start(1, "learning rate 0.02/λ_max (too small)");
    out.push(
        step.at_least(
            "final training loss ÷ that of 1/λ_max",
            last(0) / last(2),
            1.2,
        )
        .with_note(format!(
            "training MSE {:.4} vs {:.4} after {epochs} epochs",
            last(0),
            last(2)
        )),
    );
    let step = Step::start(1, "learning rate 1/λ_max");
    out.push(step.at_most("validation MSE (standardised)", last(3), 0.7));
    let step = Step::start(1, "learning rate 1.9/λ_max (oscillates)");
    out.push(
        step.at_least(
            "sign flips of the update along the sharpest direction",
            flips[2],
            0.9,
        )
        .with_note(format!(
            "0.02/λ_max: {:.2}; still converges, to MSE {:.4}",
            flips[0],
            last(4)
        )),
    );
    let step = Step::start(1, "learning rate 2.1/λ_max (diverges)");
    out.push(
        step.at_least(
            "training loss growth (last ÷ first)",
            last(6) / curves[6][0],
            100.0,
        )
        .with_note(format!("{} epochs", curves[6].len() - 1)),
    );
    Ok(out)
}

/// y = sin(πx) + noise at 12 evenly spaced points of [−1, 1], fitted by
/// polynomials of growing degree (a `Linear` layer on the Chebyshev
/// features T₁(x)…T_d(x), well conditioned for gradient descent) with the
/// same full-batch Adam budget: a line cannot bend (under-fits: training and
/// validation errors both high), degree 5 follows the curve, degree 11 has
/// as many parameters as points and threads the noise (over-fits: training
/// error near zero, validation error far above).
fn capacity_sweep(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let mut rng = ctx.rng(15);
    let noise = 0.3;
    let max_degree = 11;
    // [n, max_degree] Chebyshev features and [n, 1] noisy targets.
    let sample = |n: usize, rng: &mut Rng| {
        let x: Vec<f64> = (0..n)
            .map(|i| 2.0 * (i as f64 + 0.5) / n as f64 - 1.0)
            .collect();
        let mut features = Vec::with_capacity(n * max_degree);
        for &x in &x {
            let (mut prev, mut cur) = (1.0, x);
            for _ in 0..max_degree {
                features.push(cur as f32);
                (prev, cur) = (cur, 2.0 * x * cur - prev);
            }
        }
        let y: Vec<f32> = x
            .iter()
            .map(|&x| ((std::f64::consts::PI * x).sin() + noise * rng.normal_f64()) as f32)
            .collect();
        (
            Tensor::from_vec(features, &[n, max_degree]),
            Tensor::from_vec(y, &[n, 1]),
        )
    };
    let (x, y) = sample(12, &mut rng);
    let (xv, yv) = sample(200, &mut rng);
    let epochs = 3000;
    let degrees = [1, 5, 11];
    let (mut curves, mut names) = (Vec::new(), Vec::new());
    for d in degrees {
        let (x, xv) = (x.narrow(1, 0, d), xv.narrow(1, 0, d));
        let model = LinearConfig::new(d, 1).init::<f32>(&mut ctx.rng(16))?;
        let mut opt = nnkit::optim::AdamConfig::new(0.01).init(model.named_parameters())?;
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for _ in 0..=epochs {
            let loss = model.forward(&x).mse_loss(&y);
            train.push(f64::from(loss.value().item()));
            val.push(f64::from(
                no_grad(|| model.forward(&xv).mse_loss(&yv)).value().item(),
            ));
            opt.step(&loss.backward());
        }
        names.push(format!("train degree {d}"));
        names.push(format!("val degree {d}"));
        curves.push(train);
        curves.push(val);
    }
    let series: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    let title = format!("Capacity sweep: y = sin(πx) + N(0, {noise}²), 12 training and 200 validation points in [−1, 1], polynomials of degree 1, 5, 11 (Chebyshev features), full-batch Adam 0.01; MSE per epoch");
    publish(
        ctx,
        "ch1_capacity",
        &curve_table(
            &title,
            &names,
            &series,
            &[0, 10, 100, 300, 1000, 2000, 3000],
        ),
        &series,
        1.5,
    )?;
    let last = |i: usize| curves[i].last().copied().unwrap_or(f64::NAN);
    let step = Step::start(1, "capacity: degree 1 (under-fits)");
    let under = step
        .at_least("training MSE", last(0), 0.1)
        .with_note(format!("validation MSE {:.4}", last(1)));
    let step = Step::start(1, "capacity: degree 5");
    let fits = step
        .at_most("validation MSE", last(3), 0.25)
        .with_note(format!(
            "training MSE {:.4}; the noise alone scores {:.2}",
            last(2),
            noise * noise
        ));
    let step = Step::start(1, "capacity: degree 11 (over-fits)");
    let over = step
        .at_least("validation MSE − training MSE", last(5) - last(4), 0.3)
        .with_note(format!(
            "training MSE {:.4}, validation MSE {:.4} (degree 5: {:.4})",
            last(4),
            last(5),
            last(3)
        ));
    Ok(vec![under, fits, over])
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
    let mse = |out: &Var<f32>, b: &nnkit::data::Batch<f32>| out.mse_loss(b.values());
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
        out.binary_cross_entropy_with_logits(&t)
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
        .filter(|&(&z, &c)| (z > 0.0) == (c == 1))
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
    let ce = |out: &Var<f32>, b: &nnkit::data::Batch<f32>| out.cross_entropy(b.targets());
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
