//! Linear regression on the diabetes data, two ways: gradient descent on the
//! mean squared error, and the closed-form least-squares solution of the
//! normal equations `(AᵀA) w = Aᵀy`. Both minimise the same convex loss, so
//! gradient descent run to convergence must land on the closed form.
//!
//! `cargo run --release -p nnkit --example linear_regression -- [--seed N] [--lr X] [--max-iters N]`

mod common;

use std::time::Instant;

use nnkit::data::{diabetes, SplitFractions, StandardScaler, TensorDataset};
use nnkit::layers::{Forward, LinearConfig, Module};
use nnkit::optim::SgdConfig;
use nnkit::prelude::*;

/// Solves the symmetric positive definite system `m x = b` (`m` is `n×n`,
/// row-major) by Cholesky factorisation `m = L Lᵀ`.
fn cholesky_solve(m: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = m[i * n + i] - s;
                assert!(
                    d > 0.0,
                    "normal equations: the matrix is not positive definite"
                );
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (m[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    // Forward substitution L z = b, then back substitution Lᵀ x = z.
    let mut z = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * z[k]).sum();
        z[i] = (b[i] - s) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (z[i] - s) / l[i * n + i];
    }
    x
}

/// The least-squares weights and bias `[w_1..w_f, b]` from the normal equations.
fn closed_form(x: &Tensor<f64>, y: &Tensor<f64>) -> Vec<f64> {
    let (n, f) = (x.shape()[0], x.shape()[1]);
    let d = f + 1; // a column of ones for the bias
    let row = |i: usize| {
        let r = &x.as_slice()[i * f..(i + 1) * f];
        r.iter().copied().chain(std::iter::once(1.0))
    };
    let mut ata = vec![0.0; d * d];
    let mut aty = vec![0.0; d];
    for i in 0..n {
        let a: Vec<f64> = row(i).collect();
        for p in 0..d {
            aty[p] += a[p] * y.as_slice()[i];
            for q in 0..d {
                ata[p * d + q] += a[p] * a[q];
            }
        }
    }
    cholesky_solve(&ata, &aty, d)
}

fn mse(pred: &[f64], y: &[f64]) -> f64 {
    pred.iter()
        .zip(y)
        .map(|(p, t)| (p - t) * (p - t))
        .sum::<f64>()
        / y.len() as f64
}

fn predict(x: &Tensor<f64>, w: &[f64]) -> Vec<f64> {
    let f = x.shape()[1];
    x.as_slice()
        .chunks(f)
        .map(|r| r.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + w[f])
        .collect()
}

fn main() {
    let args = common::Args::parse("linear_regression", &["lr", "max-iters", "tol"]);
    let seed = args.seed();
    let lr: f64 = args.get("lr", 0.2);
    let max_iters: usize = args.get("max-iters", 200_000);
    let tol: f64 = args.get("tol", 1e-11);

    // 80 % train, 20 % test; features standardised on the training split.
    let data = diabetes().to_dataset();
    let s = data
        .split(SplitFractions::train_test(0.8, 0.2), seed, false)
        .expect("diabetes splits");
    let scaler = StandardScaler::fit(s.train.features()).expect("scaler fits");
    let scale = |d: &TensorDataset<f64>| scaler.transform(d.features()).expect("same columns");
    let (x_train, x_test) = (scale(&s.train), scale(&s.test));
    let (y_train, y_test) = (
        s.train.targets().values().unwrap().clone(),
        s.test.targets().values().unwrap().clone(),
    );
    eprintln!(
        "diabetes: {} training and {} test samples, {} features",
        x_train.shape()[0],
        x_test.shape()[0],
        x_train.shape()[1]
    );

    let w_cf = closed_form(&x_train, &y_train);

    // Full-batch gradient descent on the mean squared error.
    let mut rng = Rng::seed_from(seed);
    let model = LinearConfig::new(x_train.shape()[1], 1)
        .init::<f64>(&mut rng)
        .expect("linear layer");
    let mut opt = SgdConfig::new(lr)
        .init(model.named_parameters())
        .expect("SGD");
    let start = Instant::now();
    let mut iters = 0;
    for it in 0..max_iters {
        let loss = model.forward(&x_train).mse_loss(&y_train);
        let grads = loss.backward();
        // Converged when no coordinate of the gradient is above `tol`.
        let gmax = model
            .parameters()
            .iter()
            .filter_map(|p| grads.get_id(p.id()))
            .flat_map(|g| g.as_slice().iter().map(|v| v.abs()).collect::<Vec<_>>())
            .fold(0.0, f64::max);
        if it % 2000 == 0 {
            eprintln!(
                "iteration {it:>6}: train MSE {:.6}, largest gradient {gmax:.3e}",
                loss.value().item()
            );
        }
        iters = it + 1;
        if gmax < tol {
            break;
        }
        opt.step(&grads);
    }
    let seconds = start.elapsed().as_secs_f64();
    let params = model.parameters();
    let mut w_gd = params[0].value().to_vec();
    w_gd.extend(params[1].value().to_vec());

    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let diff: Vec<f64> = w_gd.iter().zip(&w_cf).map(|(a, b)| a - b).collect();
    let rel = norm(&diff) / norm(&w_cf);
    let test_mse_gd = mse(&predict(&x_test, &w_gd), y_test.as_slice());
    let test_mse_cf = mse(&predict(&x_test, &w_cf), y_test.as_slice());
    eprintln!("gradient descent: {iters} iterations in {seconds:.2} s");
    eprintln!("weights (GD)     : {:.3?}", w_gd.to_vec());
    eprintln!("weights (closed) : {:.3?}", w_cf.to_vec());
    eprintln!("relative difference {rel:.3e}; test MSE {test_mse_gd:.3} (GD) vs {test_mse_cf:.3} (closed form)");
    if rel > 1e-3 {
        eprintln!("FAIL: gradient descent did not reach the closed-form solution (rel diff {rel:.3e} > 1e-3)");
    }
    println!(
        "{}",
        serde_json::json!({
            "example": "linear_regression",
            "seed": seed,
            "gd_vs_closed_form_rel_diff": rel,
            "test_mse_gd": test_mse_gd,
            "test_mse_closed_form": test_mse_cf,
            "iterations": iters,
            "seconds": seconds,
        })
    );
    if rel > 1e-3 {
        std::process::exit(1);
    }
}
