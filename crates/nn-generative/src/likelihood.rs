//! [`Likelihood`]: how a decoder's output scores the data, in nats.

use nn_autograd::Var;
use nn_tensor::simd::{self, math, SimdLevel};
use nn_tensor::{Element, Result, Tensor, TensorError};

/// The decoder's output distribution `p(x | z)`, which fixes the
/// reconstruction term of a VAE (and, with [`Likelihood::Bernoulli`], of a
/// BCE autoencoder).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Likelihood {
    /// Independent Bernoulli pixels: the decoder outputs **logits** `l` and
    /// `−log p(x | z) = Σ BCE-with-logits(l, x)`, which accepts grey levels
    /// `x ∈ [0, 1]` as soft targets (PyTorch's VAE example on MNIST). The
    /// mean image is `sigmoid(l)`.
    Bernoulli,
    /// Independent Gaussian pixels of fixed standard deviation `std`: the
    /// decoder outputs the mean `m` and
    /// `−log p(x | z) = Σ [(x − m)²/(2·std²) + ½·ln(2π·std²)]`, a scaled sum
    /// of squared errors plus a constant that makes it a true log-density.
    Gaussian {
        /// The pixel noise's standard deviation (positive).
        std: f64,
    },
}

impl Likelihood {
    /// `−log p(x | z)` per example: the output and target are `[N, ...]`
    /// (same shape), the result is `[N]`, summed over every other dimension.
    pub fn try_negative_log_likelihood<T: Element>(
        &self,
        output: &Var<T>,
        target: &Tensor<T>,
    ) -> Result<Var<T>> {
        if output.shape() != target.shape() || output.ndim() < 2 {
            return Err(TensorError::shapes(
                "Likelihood::negative_log_likelihood",
                output.shape(),
                target.shape(),
                "the decoder output and the data must have the same shape [N, ...]",
            ));
        }
        let per_element = match *self {
            Likelihood::Bernoulli => return Ok(bernoulli_nll_rows(output, target)),
            Likelihood::Gaussian { std } => {
                if !(std > 0.0 && std.is_finite()) {
                    return Err(TensorError::invalid(
                        "Likelihood::negative_log_likelihood",
                        format!("Gaussian std must be positive and finite, got {std}"),
                    ));
                }
                let log_norm = 0.5 * (2.0 * std::f64::consts::PI * std * std).ln();
                output
                    .sub(&Var::constant(target.clone()))
                    .square()
                    .mul_scalar(T::of(0.5 / (std * std)))
                    .add_scalar(T::of(log_norm))
            }
        };
        let n = output.shape()[0];
        Ok(per_element
            .reshape([n, output.value().numel() / n.max(1)])
            .sum_dims(&[1], false))
    }

    /// The mean of `p(x | z)` given the decoder's output: `sigmoid` of the
    /// logits for Bernoulli pixels, the output itself for Gaussian ones.
    pub fn mean<T: Element>(&self, output: &Tensor<T>) -> Tensor<T> {
        match self {
            Likelihood::Bernoulli => output.sigmoid(),
            Likelihood::Gaussian { .. } => output.clone(),
        }
    }
}

/// `Σ_j BCE-with-logits(l[n, j], x[n, j])` per row of `[N, ...]` logits and
/// targets (same shape, checked by the caller), as one graph op.
///
/// Written out instead of composed from `binary_cross_entropy_with_logits`,
/// a reshape and a row sum because it runs on every pixel of every VAE
/// step: one pass computes each term `max(l, 0) − l·x + ln(1 + e^{−|l|})`
/// and keeps `σ(l)`, so the backward `g[n]·(σ(l) − x)` is one more pass with
/// no transcendental function and no `[N, ...]` intermediate is broadcast.
fn bernoulli_nll_rows<T: Element>(logits: &Var<T>, target: &Tensor<T>) -> Var<T> {
    let n = logits.shape()[0];
    let cols = logits.value().numel() / n.max(1);
    let (ls, xs) = (logits.as_tensor().as_slice(), target.as_slice());
    let record = Var::records(&[logits]);
    let mut sigma = if record {
        vec![T::zero(); ls.len()]
    } else {
        Vec::new()
    };
    let mut per_row = vec![T::zero(); n];
    let level = simd::level();
    for (r, total) in per_row.iter_mut().enumerate() {
        let span = r * cols..(r + 1) * cols;
        let sig = if record {
            &mut sigma[span.clone()]
        } else {
            &mut [][..]
        };
        *total = bernoulli_row_at(level, &ls[span.clone()], &xs[span], sig);
    }
    let value = Tensor::from_vec(per_row, &[n]);
    if !record {
        return Var::constant(value);
    }
    let (x, shape) = (target.clone(), logits.shape().to_vec());
    Var::from_op("bernoulli_nll", value, vec![logits.clone()], move |g| {
        let gs = g.as_slice();
        let xs = x.as_slice();
        let mut d = Vec::with_capacity(sigma.len());
        for (r, &gr) in gs.iter().enumerate() {
            let span = r * cols..(r + 1) * cols;
            d.extend(
                sigma[span.clone()]
                    .iter()
                    .zip(&xs[span])
                    .map(|(&s, &t)| gr * (s - t)),
            );
        }
        vec![Some(Tensor::from_vec(d, &shape))]
    })
}

/// [`bernoulli_row`] in the build of `level`: the library is built for the
/// target's baseline (4-wide SSE on x86-64), so the row loop is compiled
/// once per [`SimdLevel`] and chosen at run time. The 16 partial sums and
/// the absence of fused multiply-adds make every level give the same bits.
fn bernoulli_row_at<T: Element>(level: SimdLevel, ls: &[T], xs: &[T], sig: &mut [T]) -> T {
    simd::dispatch(
        level,
        #[inline(always)]
        || bernoulli_row(ls, xs, sig),
    )
}

/// One row of [`bernoulli_nll_rows`]: returns the row's loss and, when `sig`
/// is not empty, fills it with `σ(l)`. The sum runs in 16 interleaved
/// partial sums so the loop vectorises (a single running sum would force
/// one addition after another).
#[inline(always)]
fn bernoulli_row<T: Element>(ls: &[T], xs: &[T], sig: &mut [T]) -> T {
    const LANES: usize = 16;
    let term = |l: T, x: T| {
        let u = math::exp(-l.abs());
        let loss = l.max(T::zero()) - l * x + math::ln_1p_unit(u);
        let inv = T::one() / (T::one() + u);
        let s = if l >= T::zero() { inv } else { u * inv };
        (loss, s)
    };
    let mut acc = [T::zero(); LANES];
    let whole = ls.len() / LANES * LANES;
    if sig.is_empty() {
        for (lc, xc) in ls[..whole]
            .chunks_exact(LANES)
            .zip(xs[..whole].chunks_exact(LANES))
        {
            for k in 0..LANES {
                acc[k] += term(lc[k], xc[k]).0;
            }
        }
    } else {
        let chunks = ls[..whole]
            .chunks_exact(LANES)
            .zip(xs[..whole].chunks_exact(LANES))
            .zip(sig[..whole].chunks_exact_mut(LANES));
        for ((lc, xc), sc) in chunks {
            for k in 0..LANES {
                let (loss, s) = term(lc[k], xc[k]);
                acc[k] += loss;
                sc[k] = s;
            }
        }
    }
    let mut total = T::zero();
    for i in whole..ls.len() {
        let (loss, s) = term(ls[i], xs[i]);
        total += loss;
        if !sig.is_empty() {
            sig[i] = s;
        }
    }
    acc.iter().fold(total, |a, &b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
    use nn_autograd::{BceWithLogitsLoss, Reduction};
    use proptest::prelude::{prop_assert, proptest, Just, ProptestConfig, Strategy};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// The fused Bernoulli term agrees with finite differences, over
        /// shapes whose rows are shorter and longer than the 16 partial sums.
        #[test]
        fn bernoulli_gradients_match_finite_differences(
            (rows, cols, l, x) in (1usize..4, 1usize..40).prop_flat_map(|(r, c)| {
                (Just(r), Just(c),
                 proptest::collection::vec(-6.0f64..6.0, r * c),
                 proptest::collection::vec(0.0f64..1.0, r * c))
            })
        ) {
            let x = Tensor::<f64>::from_vec(x, &[rows, cols]);
            let report = check_gradients(
                |v| Likelihood::Bernoulli.try_negative_log_likelihood(&v[0], &x).unwrap(),
                &[Tensor::from_vec(l, &[rows, cols])],
                GradCheckConfig::default(),
            );
            prop_assert!(report.passed, "{report}");
        }
    }

    #[test]
    fn fused_bernoulli_agrees_with_binary_cross_entropy_in_f32() {
        // Against the generic op in f32 and in f64, on logits from the
        // saturated ends to 0, rows of 784 pixels as in MNIST.
        let mut rng = nn_tensor::Rng::seed_from(5);
        let l = Tensor::<f32>::rand_uniform(&[3, 784], -30.0, 30.0, &mut rng);
        let x = Tensor::<f32>::rand_uniform(&[3, 784], 0.0, 1.0, &mut rng);
        let lv = Var::leaf(l.clone());
        let fused = Likelihood::Bernoulli
            .try_negative_log_likelihood(&lv, &x)
            .unwrap();
        let d_fused = fused.sum().backward().get(&lv).unwrap().to_vec();
        let l64 = Var::leaf(Tensor::<f64>::from_vec(l.to_f64_vec(), &[3, 784]));
        let x64 = Tensor::<f64>::from_vec(x.to_f64_vec(), &[3, 784]);
        let reference = BceWithLogitsLoss::new()
            .with_reduction(Reduction::None)
            .forward(&l64, &x64)
            .sum_dims(&[1], false);
        let d_ref = reference.sum().backward().get(&l64).unwrap().to_vec();
        for (f, r) in fused
            .value()
            .to_vec()
            .iter()
            .zip(reference.value().to_vec())
        {
            assert!(
                ((*f as f64) - r).abs() < 1e-5 * r.abs().max(1.0),
                "{f} vs {r}"
            );
        }
        for (f, r) in d_fused.iter().zip(d_ref) {
            assert!(((*f as f64) - r).abs() < 1e-6, "{f} vs {r}");
        }
    }

    #[test]
    fn every_level_gives_the_portable_bits() {
        let mut rng = nn_tensor::Rng::seed_from(8);
        // 789: no multiple of the 16 partial sums, so the tail runs too.
        let l = Tensor::<f32>::rand_uniform(&[789], -30.0, 30.0, &mut rng).to_vec();
        let x = Tensor::<f32>::rand_uniform(&[789], 0.0, 1.0, &mut rng).to_vec();
        let run = |level| {
            let mut sig = vec![0.0f32; l.len()];
            let total = bernoulli_row_at(level, &l, &x, &mut sig);
            let no_sig = bernoulli_row_at(level, &l, &x, &mut []);
            (
                total.to_bits(),
                no_sig.to_bits(),
                sig.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            )
        };
        let want = run(SimdLevel::Portable);
        for level in simd::available_levels() {
            assert!(run(level) == want, "{level}");
        }
    }

    #[test]
    fn bernoulli_is_summed_binary_cross_entropy() {
        let logits = Var::leaf(Tensor::<f64>::from_vec(vec![0.0, 2.0, -1.0, 0.5], &[2, 2]));
        let x = Tensor::from_vec(vec![1.0, 0.25, 0.0, 1.0], &[2, 2]);
        let nll = Likelihood::Bernoulli
            .try_negative_log_likelihood(&logits, &x)
            .unwrap();
        let bce = |l: f64, t: f64| {
            let p = 1.0 / (1.0 + (-l).exp());
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        };
        let want = [
            bce(0.0, 1.0) + bce(2.0, 0.25),
            bce(-1.0, 0.0) + bce(0.5, 1.0),
        ];
        for (g, w) in nll.value().to_vec().iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
    }

    #[test]
    fn gaussian_is_a_log_density() {
        let m = Var::leaf(Tensor::<f64>::from_vec(vec![0.0, 1.0], &[1, 2]));
        let x = Tensor::from_vec(vec![0.5, 1.0], &[1, 2]);
        let std = 0.5f64;
        let nll = Likelihood::Gaussian { std }
            .try_negative_log_likelihood(&m, &x)
            .unwrap();
        let logpdf =
            |d: f64| -0.5 * (d / std).powi(2) - (std * (2.0 * std::f64::consts::PI).sqrt()).ln();
        let want = -(logpdf(0.5) + logpdf(0.0));
        assert!((nll.value().item() - want).abs() < 1e-12);
        assert!(Likelihood::Gaussian { std: 0.0 }
            .try_negative_log_likelihood(&m, &x)
            .is_err());
    }

    #[test]
    fn mismatched_shapes_are_rejected() {
        let out = Var::leaf(Tensor::<f32>::zeros(&[2, 3]));
        let e = Likelihood::Bernoulli
            .try_negative_log_likelihood(&out, &Tensor::zeros(&[2, 4]))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Likelihood::negative_log_likelihood: shapes [2, 3] and [2, 4]"),
            "{e}"
        );
    }
}
