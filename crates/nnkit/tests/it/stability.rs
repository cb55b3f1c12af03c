//! Numerical stability at extreme inputs, through the public API: every
//! value and gradient must be finite where the mathematics is finite, and
//! equal to the exact answer (computed by hand below) within rounding.
//!
//! Each case runs in f32 (where overflow bites first) and f64.

use nnkit::autograd::ops::loss::gaussian_kl;
use nnkit::optim::{Optimizer, UpdateRule};
use nnkit::prelude::*;

/// Asserts `got` matches `want` element-wise within `tol` (absolute, or
/// relative for large values) and that everything in `got` is finite.
#[track_caller]
fn assert_close<T: Element>(what: &str, got: &Tensor<T>, want: &[f64], tol: f64) {
    let got: Vec<f64> = got.to_vec().iter().map(|x| x.to_f64_lossless()).collect();
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] = {g} is not finite");
        let scale = w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}] = {g}, expected {w} (tol {tol})"
        );
    }
}

fn t<T: Element>(v: &[f64], shape: &[usize]) -> Tensor<T> {
    Tensor::from_vec(v.iter().map(|&x| T::of(x)).collect(), shape)
}

/// Tolerance for the element type: a few ulps of the type's epsilon.
fn tol<T: Element>() -> f64 {
    if T::DTYPE == "float64" {
        1e-12
    } else {
        1e-5
    }
}

/// `Σ w ⊙ y` as a scalar loss, so each output gets a distinct upstream gradient.
fn weighted_sum<T: Element>(y: &Var<T>, w: &[f64]) -> Var<T> {
    y.mul_tensor(&t(w, y.shape())).sum()
}

fn softmax_case<T: Element>() {
    // Shift invariance: softmax([1e4, 1e4 − 1, −1e4]) = softmax([1, 0, −2e4]).
    let x = Var::leaf(t::<T>(&[1e4, 1e4 - 1.0, -1e4], &[1, 3]));
    let y = x.softmax(1);
    let (e1, e0) = (1f64.exp(), 1.0);
    let p = [e1 / (e1 + e0), e0 / (e1 + e0), 0.0];
    assert_close("softmax", y.as_tensor(), &p, tol::<T>());
    // d/dx Σ w·softmax = p ⊙ (w − Σ p·w)
    let w = [1.0, -2.0, 3.0];
    let pw: f64 = p.iter().zip(&w).map(|(a, b)| a * b).sum();
    let want: Vec<f64> = p.iter().zip(&w).map(|(p, w)| p * (w - pw)).collect();
    let g = weighted_sum(&y, &w).backward();
    assert_close("softmax grad", g.get(&x).unwrap(), &want, tol::<T>());

    // All logits at −1e4: a uniform distribution, not 0/0.
    let y = Var::constant(t::<T>(&[-1e4, -1e4], &[2])).softmax(0);
    assert_close(
        "softmax of equal −1e4",
        y.as_tensor(),
        &[0.5, 0.5],
        tol::<T>(),
    );
}

#[test]
fn softmax_at_logits_of_1e4() {
    softmax_case::<f32>();
    softmax_case::<f64>();
}

fn log_softmax_case<T: Element>() {
    let x = Var::leaf(t::<T>(&[1e4, -1e4, 1e4, 1e4 - 1.0], &[2, 2]));
    let y = x.log_softmax(1);
    let lse1 = (1.0 + (-1f64).exp()).ln(); // log(e^0 + e^−1)
    let want = [0.0, -2e4, -lse1, -1.0 - lse1];
    assert_close("log_softmax", y.as_tensor(), &want, tol::<T>());
    // d/dx Σ w·log_softmax = w − softmax ⊙ Σ w (per row)
    let w = [1.0, 2.0, -1.0, 0.5];
    let p = [1.0, 0.0, (-lse1).exp(), (-1.0 - lse1).exp()];
    let want = [
        w[0] - p[0] * (w[0] + w[1]),
        w[1] - p[1] * (w[0] + w[1]),
        w[2] - p[2] * (w[2] + w[3]),
        w[3] - p[3] * (w[2] + w[3]),
    ];
    let g = weighted_sum(&y, &w).backward();
    assert_close("log_softmax grad", g.get(&x).unwrap(), &want, tol::<T>());
}

#[test]
fn log_softmax_at_logits_of_1e4() {
    log_softmax_case::<f32>();
    log_softmax_case::<f64>();
}

fn cross_entropy_case<T: Element>() {
    let x = Var::leaf(t::<T>(&[1e4, -1e4, -1e4, 1e4], &[2, 2]));
    // Both rows confidently wrong: each costs 2e4.
    let l = x.cross_entropy(&[1, 0]);
    assert_close("cross_entropy wrong", l.as_tensor(), &[2e4], tol::<T>());
    let g = l.backward();
    // (softmax − onehot)/N
    assert_close(
        "cross_entropy wrong grad",
        g.get(&x).unwrap(),
        &[0.5, -0.5, -0.5, 0.5],
        tol::<T>(),
    );
    // Both rows confidently right: zero loss, zero gradient.
    let l = CrossEntropyLoss::new()
        .with_reduction(Reduction::Sum)
        .forward(&x, &[0, 1]);
    assert_close("cross_entropy right", l.as_tensor(), &[0.0], tol::<T>());
    let g = l.backward();
    assert_close(
        "cross_entropy right grad",
        g.get(&x).unwrap(),
        &[0.0; 4],
        tol::<T>(),
    );
    // Label smoothing ε = 0.1 on a right row: −(ε/2)·(0 + (−2e4)) = 1000.
    let row = Var::leaf(t::<T>(&[1e4, -1e4], &[1, 2]));
    let l = CrossEntropyLoss::new()
        .with_label_smoothing(0.1)
        .unwrap()
        .forward(&row, &[0]);
    assert_close(
        "cross_entropy smoothed",
        l.as_tensor(),
        &[1000.0],
        tol::<T>(),
    );
    let g = l.backward();
    assert_close(
        "cross_entropy smoothed grad",
        g.get(&row).unwrap(),
        &[1.0 - 0.95, -0.05],
        tol::<T>(),
    );
}

#[test]
fn cross_entropy_at_logits_of_1e4() {
    cross_entropy_case::<f32>();
    cross_entropy_case::<f64>();
}

fn bce_case<T: Element>() {
    let x = Var::leaf(t::<T>(&[1e4, 1e4, -1e4, -1e4], &[4]));
    let target = t::<T>(&[0.0, 1.0, 1.0, 0.0], &[4]);
    let l = BceWithLogitsLoss::new()
        .with_reduction(Reduction::None)
        .forward(&x, &target);
    assert_close("bce", l.as_tensor(), &[1e4, 0.0, 1e4, 0.0], tol::<T>());
    let g = weighted_sum(&l, &[1.0, 1.0, 1.0, 1.0]).backward();
    // σ(x) − t
    assert_close(
        "bce grad",
        g.get(&x).unwrap(),
        &[1.0, 0.0, -1.0, 0.0],
        tol::<T>(),
    );
    // pos_weight 3 scales the positive term: −3·t·log σ(x).
    let pw = t::<T>(&[3.0], &[1]);
    let l = BceWithLogitsLoss::new()
        .with_pos_weight(pw)
        .with_reduction(Reduction::Sum)
        .forward(&x, &target);
    assert_close("bce pos_weight", l.as_tensor(), &[1e4 + 3e4], tol::<T>());
    let g = l.backward();
    assert_close(
        "bce pos_weight grad",
        g.get(&x).unwrap(),
        &[1.0, 0.0, -3.0, 0.0],
        tol::<T>(),
    );
}

#[test]
fn bce_with_logits_at_logits_of_1e4() {
    bce_case::<f32>();
    bce_case::<f64>();
}

fn sigmoid_tanh_case<T: Element>() {
    let x = Var::leaf(t::<T>(&[-1000.0, 1000.0, 0.0], &[3]));
    let s = x.sigmoid();
    assert_close("sigmoid", s.as_tensor(), &[0.0, 1.0, 0.5], tol::<T>());
    let g = s.sum().backward();
    assert_close(
        "sigmoid grad",
        g.get(&x).unwrap(),
        &[0.0, 0.0, 0.25],
        tol::<T>(),
    );
    let th = x.tanh();
    assert_close("tanh", th.as_tensor(), &[-1.0, 1.0, 0.0], tol::<T>());
    let g = th.sum().backward();
    assert_close(
        "tanh grad",
        g.get(&x).unwrap(),
        &[0.0, 0.0, 1.0],
        tol::<T>(),
    );
    // The tensor-level sigmoid shares the stable formula.
    assert_close(
        "Tensor::sigmoid",
        &x.value().sigmoid(),
        &[0.0, 1.0, 0.5],
        tol::<T>(),
    );
}

#[test]
fn sigmoid_and_tanh_at_1000() {
    sigmoid_tanh_case::<f32>();
    sigmoid_tanh_case::<f64>();
}

fn softplus_case<T: Element>() {
    let x = Var::leaf(t::<T>(&[1e4, 50.0, -1e4, -50.0], &[4]));
    // PyTorch's default threshold 20: the linear branch above it.
    let y = x.softplus(T::one(), T::of(20.0));
    let tiny = (-50f64).exp();
    assert_close(
        "softplus",
        y.as_tensor(),
        &[1e4, 50.0, 0.0, tiny],
        tol::<T>(),
    );
    let g = y.sum().backward();
    assert_close(
        "softplus grad",
        g.get(&x).unwrap(),
        &[1.0, 1.0, 0.0, tiny],
        tol::<T>(),
    );
    // No linear shortcut (huge threshold): the log1p formula itself must hold.
    let y = x.softplus(T::one(), T::of(1e30));
    assert_close(
        "softplus no threshold",
        y.as_tensor(),
        &[1e4, 50.0, 0.0, tiny],
        tol::<T>(),
    );
    let g = y.sum().backward();
    assert_close(
        "softplus no threshold grad",
        g.get(&x).unwrap(),
        &[1.0, 1.0, 0.0, tiny],
        tol::<T>(),
    );
    // beta = 100 at x = 1e4: beta·x = 1e6, still exactly x.
    let y = x.softplus(T::of(100.0), T::of(1e30));
    assert_close(
        "softplus beta 100",
        y.as_tensor(),
        &[1e4, 50.0, 0.0, 0.0],
        tol::<T>(),
    );
}

#[test]
fn softplus_at_large_inputs() {
    softplus_case::<f32>();
    softplus_case::<f64>();
}

fn constant_variance_case<T: Element>(c: f64) {
    let x = Var::leaf(Tensor::full(&[3, 7], T::of(c)));
    for correction in [0, 1] {
        let v = x.var_dims(&[1], correction, false);
        assert_close("var of a constant", v.as_tensor(), &[0.0; 3], tol::<T>());
        let g = v.sum().backward();
        assert_close(
            "var of a constant grad",
            g.get(&x).unwrap(),
            &[0.0; 21],
            tol::<T>(),
        );
        let vt = x.value().var_dims(&[0, 1], correction, false);
        assert_close("Tensor::var_dims of a constant", &vt, &[0.0], tol::<T>());
    }
    // A single element with the unbiased correction: n − 1 = 0 must not divide by zero.
    let one = Var::leaf(Tensor::full(&[1, 1], T::of(c)));
    let v = one.var_dims(&[1], 1, false);
    assert!(
        v.value().all_finite(),
        "var of one element: {:?}",
        v.value()
    );
}

#[test]
fn variance_of_a_constant_input_is_zero() {
    for c in [0.0, 0.1, -3.7, 1e4, 1e-30] {
        constant_variance_case::<f32>(c);
        constant_variance_case::<f64>(c);
    }
}

/// The KL term and its gradients by hand: per element
/// `−½(1 + lv − mu² − e^lv)`, `d/dmu = mu`, `d/dlv = −½(1 − e^lv)`.
fn kl_case<T: Element>(lvs: &[f64]) {
    let n = lvs.len();
    let mus: Vec<f64> = (0..n).map(|i| i as f64 - 1.0).collect();
    let mu = Var::leaf(t::<T>(&mus, &[n, 1]));
    let lv = Var::leaf(t::<T>(lvs, &[n, 1]));
    let kl = gaussian_kl(&mu, &lv, Reduction::None);
    let want: Vec<f64> = mus
        .iter()
        .zip(lvs)
        .map(|(m, l)| -0.5 * (1.0 + l - m * m - l.exp()))
        .collect();
    assert_close("gaussian_kl", kl.as_tensor(), &want, tol::<T>());
    let g = kl.sum().backward();
    assert_close("gaussian_kl d/dmu", g.get(&mu).unwrap(), &mus, tol::<T>());
    let want: Vec<f64> = lvs.iter().map(|l| -0.5 * (1.0 - l.exp())).collect();
    assert_close(
        "gaussian_kl d/dlogvar",
        g.get(&lv).unwrap(),
        &want,
        tol::<T>(),
    );
    let batch = gaussian_kl(&mu, &lv, Reduction::BatchMean);
    assert!(batch.value().all_finite());
}

#[test]
fn vae_kl_with_large_logvar() {
    // e^50 ≈ 5.2e21 fits f32 (max 3.4e38), so the KL is finite in both types.
    kl_case::<f32>(&[50.0, -50.0, 0.0, -1e4]);
    // In f64 even e^500 is finite.
    kl_case::<f64>(&[50.0, -50.0, 500.0, -500.0, -1e4]);
}

/// Batch norm (training mode, batch statistics) and layer norm of an input
/// whose normalised slices are constant: the centred input is zero, so the
/// output is the bias (0 at init) and the gradient
/// `(g − mean g − x̂·mean(g·x̂))/√(var + eps)` stays finite at var = 0.
fn constant_norm_case<T: Element>(c: f64) {
    let (n, ch) = (5, 3);
    let x = Var::leaf(Tensor::full(&[n, ch], T::of(c)));
    let w: Vec<f64> = (0..n * ch).map(|i| (i % 4) as f64 - 1.5).collect();
    // 1/√eps with PyTorch's eps = 1e-5.
    let rstd = 1.0 / 1e-5f64.sqrt();
    let tol_out = if T::DTYPE == "float64" { 1e-9 } else { 1e-3 };

    let bn = BatchNormConfig::new(ch)
        .init::<T>(&mut Rng::seed_from(0))
        .unwrap();
    let y = bn.forward(&x);
    assert_close(
        "batch_norm of a constant",
        y.as_tensor(),
        &[0.0; 15],
        tol_out,
    );
    let g = weighted_sum(&y, &w).backward();
    // Per channel (column): (w − mean over the batch)/√eps.
    let want: Vec<f64> = (0..n * ch)
        .map(|i| {
            let col = i % ch;
            let mean = (0..n).map(|r| w[r * ch + col]).sum::<f64>() / n as f64;
            (w[i] - mean) * rstd
        })
        .collect();
    assert_close(
        "batch_norm of a constant grad",
        g.get(&x).unwrap(),
        &want,
        1e-3,
    );
    let rv = bn.running_var().unwrap();
    assert_close("batch_norm running_var", &rv, &[0.9; 3], tol::<T>());

    let ln = LayerNormConfig::new(&[ch])
        .init::<T>(&mut Rng::seed_from(0))
        .unwrap();
    let y = ln.forward(&x);
    assert_close(
        "layer_norm of a constant",
        y.as_tensor(),
        &[0.0; 15],
        tol_out,
    );
    let g = weighted_sum(&y, &w).backward();
    // Per row: (w − mean over the row)/√eps.
    let want: Vec<f64> = (0..n * ch)
        .map(|i| {
            let row = i / ch;
            let mean = (0..ch).map(|k| w[row * ch + k]).sum::<f64>() / ch as f64;
            (w[i] - mean) * rstd
        })
        .collect();
    assert_close(
        "layer_norm of a constant grad",
        g.get(&x).unwrap(),
        &want,
        1e-3,
    );
}

#[test]
fn batch_and_layer_norm_of_a_constant_input() {
    for c in [0.0, 0.1, -3.7, 1e4] {
        constant_norm_case::<f32>(c);
        constant_norm_case::<f64>(c);
    }
}

/// Steps `opt` `times` times, each with the gradient `grad` for `p`.
fn step_with<T: Element, R: UpdateRule<T>>(
    opt: &mut Optimizer<T, R>,
    p: &Parameter<T>,
    grad: &Tensor<T>,
    times: usize,
) {
    for _ in 0..times {
        let mut g = Gradients::new();
        g.insert(p.id(), grad.clone());
        opt.step(&g);
    }
}

/// Adam and AdamW fed zero gradients: m̂ = v̂ = 0 and the step
/// `lr·m̂/(√v̂ + eps)` is 0/eps = 0, not 0/0; with AdamW's decoupled weight
/// decay the weights shrink by exactly `(1 − lr·wd)` per step.
fn adam_zero_grad_case<T: Element>() {
    let start = [1.5, -2.0, 0.0, 1e4];
    let zero = Tensor::<T>::zeros(&[4]);
    let make = || Parameter::new(t::<T>(&start, &[4]));

    for amsgrad in [false, true] {
        let p = make();
        let mut opt = AdamConfig::new(1e-3)
            .with_amsgrad(amsgrad)
            .init(vec![("p".into(), p.clone())])
            .unwrap();
        step_with(&mut opt, &p, &zero, 5);
        assert_close("Adam with zero grads", &p.value(), &start, 0.0);
    }

    // A step with a real gradient, then zero gradients: v̂ decays but stays
    // positive, so the steps stay finite.
    let p = make();
    let mut opt = AdamConfig::new(1e-3)
        .init(vec![("p".into(), p.clone())])
        .unwrap();
    step_with(&mut opt, &p, &t::<T>(&[1.0, -1.0, 0.0, 1e-30], &[4]), 1);
    step_with(&mut opt, &p, &zero, 50);
    assert!(
        p.value().all_finite(),
        "Adam after zero grads: {:?}",
        p.value()
    );

    let p = make();
    let (lr, wd) = (1e-2, 0.1);
    let mut opt = AdamWConfig::new(lr)
        .with_weight_decay(wd)
        .init(vec![("p".into(), p.clone())])
        .unwrap();
    step_with(&mut opt, &p, &zero, 3);
    let shrink = (1.0 - lr * wd).powi(3);
    let want: Vec<f64> = start.iter().map(|x| x * shrink).collect();
    assert_close("AdamW with zero grads", &p.value(), &want, tol::<T>());
}

#[test]
fn adam_with_zero_gradients() {
    adam_zero_grad_case::<f32>();
    adam_zero_grad_case::<f64>();
}
