//! [`Likelihood`]: how a decoder's output scores the data, in nats.

use nn_autograd::{Reduction, Var};
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
            Likelihood::Bernoulli => {
                output.try_binary_cross_entropy_with_logits(target, None, Reduction::None)?
            }
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
            .reshape(&[n, output.value().numel() / n.max(1)])
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

#[cfg(test)]
mod tests {
    use super::*;

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
