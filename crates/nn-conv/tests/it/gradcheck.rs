//! Finite-difference gradient checks (f64) of every op in the crate, over
//! random small shapes and hyper-parameters: stride, padding, dilation,
//! groups, output padding, ceil mode, count_include_pad.

use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
use nn_autograd::Var;
use nn_conv::*;
use nn_tensor::{Rng, Tensor};
use proptest::prelude::*;

fn randn(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, rng)
}

/// Distinct values at least 0.05 apart, so no max-pool window has a tie
/// that a finite-difference step could flip.
fn distinct(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    let perm = rng.permutation(n);
    Tensor::from_vec(perm.iter().map(|&i| i as f64 * 0.05 - 1.0).collect(), shape)
}

/// An input length for which a kernel spanning `span` fits with padding `p`.
fn fit(span: usize, p: usize, extra: usize) -> usize {
    (span + extra).saturating_sub(2 * p).max(1)
}

fn assert_passes(f: impl Fn(&[Var<f64>]) -> Var<f64>, inputs: &[Tensor<f64>]) {
    let r = check_gradients(f, inputs, GradCheckConfig::default());
    assert!(r.passed, "{r}");
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(24)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_gradients(
        seed in any::<u64>(), n in 1usize..3, groups in 1usize..3, cig in 1usize..3, cog in 1usize..3,
        kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..4, ph in 0usize..3, pw in 0usize..2,
        dh in 1usize..3, dw in 1usize..3, eh in 0usize..4, ew in 0usize..4, bias in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let (h, w) = (fit(dh * (kh - 1) + 1, ph, eh), fit(dw * (kw - 1) + 1, pw, ew));
        let x = randn(&[n, cig * groups, h, w], &mut rng);
        let wt = randn(&[cog * groups, cig, kh, kw], &mut rng);
        let b = randn(&[cog * groups], &mut rng);
        let o = ConvOptions::default().stride([sh, sw]).padding([ph, pw]).dilation([dh, dw]).groups(groups);
        if bias {
            assert_passes(|v| conv2d(&v[0], &v[1], Some(&v[2]), &o), &[x, wt, b]);
        } else {
            assert_passes(|v| conv2d(&v[0], &v[1], None, &o), &[x, wt]);
        }
    }

    #[test]
    fn conv1d_gradients(
        seed in any::<u64>(), n in 1usize..3, groups in 1usize..4, cig in 1usize..3, cog in 1usize..3,
        k in 1usize..5, s in 1usize..4, p in 0usize..3, d in 1usize..3, e in 0usize..5, same in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let l = fit(d * (k - 1) + 1, p, e);
        let x = randn(&[n, cig * groups, l], &mut rng);
        let wt = randn(&[cog * groups, cig, k], &mut rng);
        let b = randn(&[cog * groups], &mut rng);
        let mut o = ConvOptions::default().stride(s).padding(p).dilation(d).groups(groups);
        if same {
            o = o.stride(1).padding(Padding::Same);
        }
        assert_passes(|v| conv1d(&v[0], &v[1], Some(&v[2]), &o), &[x, wt, b]);
    }

    #[test]
    fn convolve2d_gradients(
        seed in any::<u64>(), groups in 1usize..3, cog in 1usize..3, kh in 1usize..4, kw in 1usize..4,
        s in 1usize..3, p in 0usize..2, d in 1usize..3, e in 0usize..3,
    ) {
        let mut rng = Rng::seed_from(seed);
        let (h, w) = (fit(d * (kh - 1) + 1, p, e), fit(d * (kw - 1) + 1, p, e + 1));
        let x = randn(&[1, groups, h, w], &mut rng);
        let wt = randn(&[cog * groups, 1, kh, kw], &mut rng);
        let b = randn(&[cog * groups], &mut rng);
        let o = ConvOptions::default().stride(s).padding(p).dilation(d).groups(groups);
        assert_passes(|v| convolve2d(&v[0], &v[1], Some(&v[2]), &o), &[x, wt, b]);
    }

    #[test]
    fn convolve1d_gradients(
        seed in any::<u64>(), n in 1usize..3, cig in 1usize..3, cog in 1usize..3,
        k in 1usize..5, s in 1usize..3, p in 0usize..3, d in 1usize..3, e in 0usize..4,
    ) {
        let mut rng = Rng::seed_from(seed);
        let l = fit(d * (k - 1) + 1, p, e);
        let x = randn(&[n, cig, l], &mut rng);
        let wt = randn(&[cog, cig, k], &mut rng);
        let o = ConvOptions::default().stride(s).padding(p).dilation(d);
        assert_passes(|v| convolve1d(&v[0], &v[1], None, &o), &[x, wt]);
    }

    #[test]
    fn conv_transpose2d_gradients(
        seed in any::<u64>(), n in 1usize..3, groups in 1usize..3, cig in 1usize..3, cog in 1usize..3,
        h in 1usize..4, w in 1usize..4, kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..4,
        dh in 1usize..3, dw in 1usize..3, oph in 0usize..3, opw in 0usize..3, ph in 0usize..3, pw in 0usize..3,
        bias in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let (oph, opw) = (oph % sh.max(dh), opw % sw.max(dw));
        let full = |i: usize, k: usize, s: usize, d: usize, op: usize| (i - 1) * s + d * (k - 1) + op + 1;
        let ph = ph.min((full(h, kh, sh, dh, oph) - 1) / 2);
        let pw = pw.min((full(w, kw, sw, dw, opw) - 1) / 2);
        let x = randn(&[n, cig * groups, h, w], &mut rng);
        let wt = randn(&[cig * groups, cog, kh, kw], &mut rng);
        let b = randn(&[cog * groups], &mut rng);
        let o = ConvTransposeOptions::default()
            .stride([sh, sw]).padding([ph, pw]).output_padding([oph, opw]).dilation([dh, dw]).groups(groups);
        if bias {
            assert_passes(|v| conv_transpose2d(&v[0], &v[1], Some(&v[2]), &o), &[x, wt, b]);
        } else {
            assert_passes(|v| conv_transpose2d(&v[0], &v[1], None, &o), &[x, wt]);
        }
    }

    #[test]
    fn conv_transpose1d_gradients(
        seed in any::<u64>(), n in 1usize..3, groups in 1usize..3, cig in 1usize..3, cog in 1usize..3,
        l in 1usize..5, k in 1usize..4, s in 1usize..4, d in 1usize..3, op in 0usize..3, p in 0usize..3,
    ) {
        let mut rng = Rng::seed_from(seed);
        let op = op % s.max(d);
        let p = p.min(((l - 1) * s + d * (k - 1) + op) / 2);
        let x = randn(&[n, cig * groups, l], &mut rng);
        let wt = randn(&[cig * groups, cog, k], &mut rng);
        let b = randn(&[cog * groups], &mut rng);
        let o = ConvTransposeOptions::default().stride(s).padding(p).output_padding(op).dilation(d).groups(groups);
        assert_passes(|v| conv_transpose1d(&v[0], &v[1], Some(&v[2]), &o), &[x, wt, b]);
    }

    #[test]
    fn max_pool2d_gradients(
        seed in any::<u64>(), n in 1usize..3, c in 1usize..3, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..3, sw in 1usize..4, dh in 1usize..3, dw in 1usize..3, ph in 0usize..3, pw in 0usize..3,
        eh in 0usize..4, ew in 0usize..4, ceil in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let (sph, spw) = (dh * (kh - 1) + 1, dw * (kw - 1) + 1);
        let (ph, pw) = (ph.min(sph / 2), pw.min(spw / 2));
        let x = distinct(&[n, c, fit(sph, ph, eh), fit(spw, pw, ew)], &mut rng);
        let o = MaxPoolOptions::new([kh, kw]).stride([sh, sw]).padding([ph, pw]).dilation([dh, dw]).ceil_mode(ceil);
        // With dilation a window can hold only padding taps: its output is
        // -inf (as in PyTorch) and has no derivative to check.
        prop_assume!(max_pool2d(&Var::constant(x.clone()), &o).value().all_finite());
        assert_passes(|v| max_pool2d(&v[0], &o), &[x]);
    }

    #[test]
    fn max_pool1d_gradients(
        seed in any::<u64>(), n in 1usize..3, c in 1usize..3, k in 1usize..4, s in 1usize..4,
        d in 1usize..3, p in 0usize..3, e in 0usize..5, ceil in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let span = d * (k - 1) + 1;
        let p = p.min(span / 2);
        let x = distinct(&[n, c, fit(span, p, e)], &mut rng);
        let o = MaxPoolOptions::new(k).stride(s).padding(p).dilation(d).ceil_mode(ceil);
        prop_assume!(max_pool1d(&Var::constant(x.clone()), &o).value().all_finite());
        assert_passes(|v| max_pool1d(&v[0], &o), &[x]);
    }

    #[test]
    fn avg_pool2d_gradients(
        seed in any::<u64>(), n in 1usize..3, c in 1usize..3, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..3, sw in 1usize..4, ph in 0usize..2, pw in 0usize..2, eh in 0usize..4, ew in 0usize..4,
        ceil in any::<bool>(), include in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let (ph, pw) = (ph.min(kh / 2), pw.min(kw / 2));
        let x = randn(&[n, c, fit(kh, ph, eh), fit(kw, pw, ew)], &mut rng);
        let o = AvgPoolOptions::new([kh, kw]).stride([sh, sw]).padding([ph, pw]).ceil_mode(ceil).count_include_pad(include);
        assert_passes(|v| avg_pool2d(&v[0], &o), &[x]);
    }

    #[test]
    fn avg_pool1d_gradients(
        seed in any::<u64>(), n in 1usize..3, c in 1usize..3, k in 1usize..4, s in 1usize..4,
        p in 0usize..2, e in 0usize..5, ceil in any::<bool>(), include in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let p = p.min(k / 2);
        let x = randn(&[n, c, fit(k, p, e)], &mut rng);
        let o = AvgPoolOptions::new(k).stride(s).padding(p).ceil_mode(ceil).count_include_pad(include);
        assert_passes(|v| avg_pool1d(&v[0], &o), &[x]);
    }

    #[test]
    fn adaptive_and_global_avg_pool_gradients(
        seed in any::<u64>(), n in 1usize..3, c in 1usize..3, h in 1usize..7, w in 1usize..7,
        oh in 1usize..5, ow in 1usize..5,
    ) {
        let mut rng = Rng::seed_from(seed);
        let x = randn(&[n, c, h, w], &mut rng);
        assert_passes(|v| adaptive_avg_pool2d(&v[0], [oh, ow]), std::slice::from_ref(&x));
        assert_passes(|v| global_avg_pool2d(&v[0]), &[x]);
    }
}

/// Large enough for the tiled im2col and the batch-parallel path: the
/// gradients must still be right there (checked on a few entries' worth of
/// cost by comparing against a run on one sample at a time).
#[test]
fn batched_gradients_equal_per_sample_gradients() {
    let mut rng = Rng::seed_from(11);
    let x = randn(&[4, 6, 30, 40], &mut rng);
    let w = randn(&[8, 3, 3, 3], &mut rng);
    let o = ConvOptions::default().padding(1).stride([1, 2]).groups(2);
    let (xv, wv) = (Var::leaf(x.clone()), Var::leaf(w.clone()));
    let y = conv2d(&xv, &wv, None, &o);
    let gy = randn(y.shape(), &mut rng);
    let g = y.backward_with(gy.clone());
    let mut dw_sum = Tensor::<f64>::zeros(w.shape());
    for i in 0..4 {
        let xi = Var::leaf(x.narrow(0, i, 1));
        let wi = Var::leaf(w.clone());
        let yi = conv2d(&xi, &wi, None, &o);
        let gi = yi.backward_with(gy.narrow(0, i, 1));
        assert!(
            gi.get(&xi)
                .unwrap()
                .max_abs_diff(&g.get(&xv).unwrap().narrow(0, i, 1))
                < 1e-12
        );
        dw_sum = dw_sum.add(gi.get(&wi).unwrap());
    }
    assert!(dw_sum.max_abs_diff(g.get(&wv).unwrap()) < 1e-10);
}

/// Wide enough (≥ 16 channels per group) for the shifted-GEMM forward and
/// the flipped-kernel input gradient, with groups, dilation, asymmetric
/// "same" padding and a bias.
#[test]
fn shifted_path_gradients() {
    // Convolutions are linear in each input, so a large step is exact for
    // central differences and keeps the rounding of these long sums out.
    fn assert_passes(f: impl Fn(&[Var<f64>]) -> Var<f64>, inputs: &[Tensor<f64>]) {
        let config = GradCheckConfig {
            step: 1e-2,
            tolerance: 1e-8,
        };
        let r = check_gradients(f, inputs, config);
        assert!(r.passed, "{r}");
    }
    let mut rng = Rng::seed_from(21);
    let x = randn(&[2, 32, 6, 7], &mut rng);
    let w = randn(&[32, 16, 3, 2], &mut rng);
    let b = randn(&[32], &mut rng);
    let o = ConvOptions::default()
        .padding([2, 1])
        .dilation([2, 1])
        .groups(2);
    assert_passes(|v| conv2d(&v[0], &v[1], Some(&v[2]), &o), &[x, w, b]);
    let x = randn(&[1, 16, 5, 4], &mut rng);
    let w = randn(&[16, 16, 2, 2], &mut rng);
    let o = ConvOptions::default().padding(Padding::Same);
    assert_passes(|v| conv2d(&v[0], &v[1], None, &o), &[x.clone(), w.clone()]);
    let t = ConvTransposeOptions::default().padding(1);
    let w3 = randn(&[16, 16, 3, 3], &mut rng);
    assert_passes(|v| conv_transpose2d(&v[0], &v[1], None, &t), &[x, w3]);
}
