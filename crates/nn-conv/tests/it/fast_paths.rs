//! Gradients on shapes that take the fast stride-1 paths (at least 16
//! channels per group: shifted GEMMs, planar or channel-last, for the
//! forward pass and the input gradient, and shifted GEMMs on a channel-last
//! input for the weight gradient), which the finite-difference checks, on a
//! few channels, never reach.
//!
//! A convolution is linear in its input and in its weight, so for any
//! directions `U` and `V` the gradients of `L = Σ conv(X, W) ⊙ G` satisfy
//! `⟨∂L/∂W, V⟩ = Σ conv(X, V) ⊙ G` and `⟨∂L/∂X, U⟩ = Σ conv(U, W) ⊙ G`.
//! With random `U`, `V` and the forward pass checked against the definition
//! (unit tests of `conv2d`), a wrong gradient element fails these.

use nn_autograd::{no_grad, Var};
use nn_conv::*;
use nn_tensor::{Rng, Tensor};

fn randn(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, rng)
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.mul(b).sum_all().item()
}

/// Checks both identities for `f(x, w)`, a map linear in each argument.
fn check_adjoints(
    f: impl Fn(&Var<f64>, &Var<f64>) -> Var<f64>,
    x_shape: &[usize],
    w_shape: &[usize],
    seed: u64,
) {
    let mut rng = Rng::seed_from(seed);
    let (x, w) = (randn(x_shape, &mut rng), randn(w_shape, &mut rng));
    let (xv, wv) = (Var::leaf(x.clone()), Var::leaf(w.clone()));
    let y = f(&xv, &wv);
    let g = randn(y.shape(), &mut rng);
    let grads = y.mul(&Var::constant(g.clone())).sum().backward();
    let (dx, dw) = (grads.get(&xv).unwrap(), grads.get(&wv).unwrap());
    let (u, v) = (randn(x_shape, &mut rng), randn(w_shape, &mut rng));
    let apply = |a: &Tensor<f64>, b: &Tensor<f64>| {
        no_grad(|| f(&Var::constant(a.clone()), &Var::constant(b.clone())))
            .value()
            .clone()
    };
    let want_w = dot(&apply(&x, &v), &g);
    let want_x = dot(&apply(&u, &w), &g);
    let (got_w, got_x) = (dot(dw, &v), dot(dx, &u));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
    assert!(
        close(got_w, want_w),
        "weight gradient: {got_w} vs {want_w}, x {x_shape:?} w {w_shape:?}"
    );
    assert!(
        close(got_x, want_x),
        "input gradient: {got_x} vs {want_x}, x {x_shape:?} w {w_shape:?}"
    );
}

/// Input shape, weight shape, padding, dilation, and groups (or, for a
/// transposed convolution, output padding).
struct Case([usize; 4], [usize; 4], [usize; 2], [usize; 2], usize);

#[test]
fn conv2d_gradients_on_the_shifted_paths() {
    // (x shape, w shape, padding, dilation, groups). Maps of at least 256
    // output columns with at least 32 output channels take the channel-last
    // forward pass, smaller ones the planar one; the weight gradient takes
    // the shifted GEMMs from 128 columns, im2col below. Covered: 64 output
    // channels (weight-gradient GEMM blocks of 48 and 16), 40 (not a
    // multiple of 16), non-square kernels with uneven padding and dilation,
    // two groups, and maps spanning several output tiles.
    let cases = [
        Case([2, 32, 18, 17], [64, 32, 3, 3], [1, 1], [1, 1], 1),
        Case([3, 16, 9, 11], [40, 16, 3, 3], [1, 1], [1, 1], 1),
        Case([2, 24, 20, 22], [32, 24, 3, 2], [2, 0], [2, 1], 1),
        Case([2, 24, 10, 12], [32, 24, 3, 2], [2, 0], [2, 1], 1),
        Case([2, 64, 18, 19], [64, 32, 3, 3], [0, 0], [1, 1], 2),
        Case([2, 32, 8, 9], [32, 16, 3, 3], [0, 0], [1, 1], 2),
        Case([1, 32, 17, 18], [32, 32, 5, 5], [3, 1], [1, 2], 1),
        Case([1, 16, 7, 8], [16, 16, 5, 5], [3, 1], [1, 2], 1),
        Case([1, 16, 50, 90], [16, 16, 3, 3], [1, 1], [1, 1], 1),
        Case([1, 32, 100, 90], [32, 32, 3, 3], [1, 1], [1, 1], 1),
    ];
    for (i, Case(xs, ws, p, d, g)) in cases.into_iter().enumerate() {
        let o = ConvOptions::default().padding(p).dilation(d).groups(g);
        check_adjoints(|x, w| conv2d(x, w, None, &o), &xs, &ws, 10 + i as u64);
    }
}

#[test]
fn conv_transpose2d_gradients_on_the_shifted_paths() {
    // Stride 1 with dilation 2 allows an output padding of 1, which leaves
    // an input row and column that no window of the adjoint reads.
    let cases = [
        Case([2, 32, 9, 10], [32, 48, 3, 3], [1, 1], [1, 1], 0),
        Case([2, 32, 17, 18], [32, 48, 3, 3], [1, 1], [1, 1], 0),
        Case([2, 16, 8, 8], [16, 32, 3, 3], [1, 1], [2, 2], 1),
        Case([1, 32, 6, 7], [32, 16, 3, 3], [0, 0], [1, 1], 0),
    ];
    for (i, Case(xs, ws, p, d, op)) in cases.into_iter().enumerate() {
        let o = ConvTransposeOptions::default()
            .padding(p)
            .dilation(d)
            .output_padding(op);
        check_adjoints(
            |x, w| conv_transpose2d(x, w, None, &o),
            &xs,
            &ws,
            20 + i as u64,
        );
    }
}

/// Every algorithm that can compute a pass, forced through
/// `with_conv_algorithm`, gives the im2col forward values and gradients that
/// satisfy both adjoint identities, whatever the tuned thresholds would pick
/// for these shapes: few and many channels, uneven padding, dilation,
/// groups, a 1×1 kernel, and stride 2 (im2col only).
#[test]
fn every_forced_algorithm_gives_the_same_convolution() {
    let cases = [
        Case([2, 4, 7, 9], [6, 4, 3, 3], [1, 1], [1, 1], 1),
        Case([2, 24, 10, 12], [32, 24, 3, 2], [2, 0], [2, 1], 1),
        Case([1, 8, 9, 8], [8, 4, 3, 3], [0, 1], [1, 1], 2),
        Case([2, 6, 5, 7], [5, 6, 1, 1], [0, 0], [1, 1], 1),
        Case([1, 16, 8, 8], [16, 16, 5, 5], [3, 1], [1, 2], 1),
    ];
    for (i, Case(xs, ws, p, d, g)) in cases.into_iter().enumerate() {
        let mut rng = Rng::seed_from(40 + i as u64);
        let (x, w) = (randn(&xs, &mut rng), randn(&ws, &mut rng));
        for stride in [1, 2] {
            let o = ConvOptions::default()
                .stride([stride, stride])
                .padding(p)
                .dilation(d)
                .groups(g);
            let conv = |x: &Var<f64>, w: &Var<f64>| conv2d(x, w, None, &o);
            let forward = |a| {
                with_conv_algorithm(a, || {
                    no_grad(|| conv(&Var::constant(x.clone()), &Var::constant(w.clone())))
                        .value()
                        .clone()
                })
            };
            let want = forward(ConvAlgorithm::Im2col);
            for a in ConvAlgorithm::ALL {
                let diff = forward(a).max_abs_diff(&want);
                assert!(
                    diff < 1e-9,
                    "case {i}, stride {stride}, {a:?}: forward off by {diff}"
                );
                with_conv_algorithm(a, || check_adjoints(conv, &xs, &ws, 60 + i as u64));
            }
        }
    }
}
