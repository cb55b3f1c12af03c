//! End to end: every optimiser fits y = 3x − 1 with a (weight, bias) pair,
//! gradients coming from the autograd graph.

use nn_autograd::{Parameter, Var};
use nn_optim::{
    AdagradConfig, AdamConfig, AdamWConfig, Optimizer, RmsPropConfig, SgdConfig, UpdateRule,
};
use nn_tensor::Tensor;

/// Trains for `steps` full-batch steps; returns the first and last losses.
fn fit<R: UpdateRule<f64>>(rule: R, steps: usize) -> (f64, f64) {
    let xs = Tensor::<f64>::linspace(-1.0, 1.0, 21).reshape([21, 1]);
    let ys = xs.map(|x| 3.0 * x - 1.0);
    let (x, y) = (Var::constant(xs), Var::constant(ys));
    let w = Parameter::new(Tensor::<f64>::zeros(&[1, 1]));
    let b = Parameter::new(Tensor::<f64>::zeros(&[1]));
    let mut opt = Optimizer::new(
        rule,
        vec![("weight".into(), w.clone()), ("bias".into(), b.clone())],
    )
    .unwrap();
    let mut losses = vec![];
    for _ in 0..steps {
        let pred = x.matmul(&w.var()).add(&b.var());
        let loss = pred.sub(&y).square().mean();
        losses.push(loss.value().item());
        opt.step(&loss.backward());
    }
    (losses[0], *losses.last().unwrap())
}

fn assert_fits<R: UpdateRule<f64>>(rule: R, steps: usize) {
    let name = R::DISPLAY;
    let (first, last) = fit(rule, steps);
    assert!(last < 1e-3, "{name}: final loss {last} (first {first})");
    assert!(last < first / 100.0, "{name}: {first} -> {last}");
}

#[test]
fn sgd_fits_a_line() {
    assert_fits(SgdConfig::new(0.1), 200);
}

#[test]
fn sgd_with_nesterov_momentum_fits_a_line() {
    assert_fits(
        SgdConfig::new(0.05).with_momentum(0.9).with_nesterov(true),
        200,
    );
}

#[test]
fn adam_fits_a_line() {
    assert_fits(AdamConfig::new(0.05), 500);
}

#[test]
fn adam_amsgrad_fits_a_line() {
    assert_fits(AdamConfig::new(0.05).with_amsgrad(true), 500);
}

#[test]
fn adamw_fits_a_line() {
    assert_fits(AdamWConfig::new(0.05), 500);
}

#[test]
fn rmsprop_fits_a_line() {
    assert_fits(RmsPropConfig::new(0.01), 800);
}

#[test]
fn centered_rmsprop_with_momentum_fits_a_line() {
    assert_fits(
        RmsPropConfig::new(0.005)
            .with_centered(true)
            .with_momentum(0.5),
        800,
    );
}

#[test]
fn adagrad_fits_a_line() {
    assert_fits(AdagradConfig::new(0.5), 500);
}
