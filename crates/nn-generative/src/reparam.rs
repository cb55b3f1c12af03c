//! The reparameterisation trick: a Gaussian sample that gradients can flow
//! through.
//!
//! Sampling `z ~ N(mu, exp(logvar))` directly has no derivative in `mu` or
//! `logvar`. Writing the sample as `z = mu + exp(½·logvar)·eps` with
//! `eps ~ N(0, I)` drawn outside the graph moves the randomness into a
//! constant, so `z` is an ordinary differentiable function of the encoder's
//! outputs (Kingma & Welling, 2014).

use nn_autograd::Var;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use nn_tensor::or_panic;

/// `z = mu + exp(½·logvar) ⊙ eps` for a given noise sample `eps`, all three
/// of the same shape (usually `[batch, latent]`).
///
/// `mu` and `logvar` get gradients (`∂z/∂mu = 1`,
/// `∂z/∂logvar = ½·exp(½·logvar)·eps`); `eps` is a constant. The forward and
/// backward passes are each one fused loop, since this sits in every VAE
/// training step.
///
/// ```
/// use nn_autograd::Var;
/// use nn_generative::try_reparameterize;
/// use nn_tensor::Tensor;
/// let mu = Var::leaf(Tensor::<f64>::from_vec(vec![1.0, -1.0], &[1, 2]));
/// let logvar = Var::leaf(Tensor::from_vec(vec![0.0, 2.0f64.ln() * 2.0], &[1, 2]));
/// let eps = Tensor::from_vec(vec![0.5, 0.5], &[1, 2]);
/// let z = try_reparameterize(&mu, &logvar, &eps).unwrap();
/// // std = 1 and 2
/// assert!((z.value().to_vec()[0] - 1.5).abs() < 1e-12);
/// assert!((z.value().to_vec()[1] - 0.0).abs() < 1e-12);
/// ```
pub fn try_reparameterize<T: Element>(
    mu: &Var<T>,
    logvar: &Var<T>,
    eps: &Tensor<T>,
) -> Result<Var<T>> {
    if mu.shape() != logvar.shape() {
        return Err(TensorError::shapes(
            "reparameterize",
            mu.shape(),
            logvar.shape(),
            "mu and logvar must have the same shape",
        ));
    }
    if mu.shape() != eps.shape() {
        return Err(TensorError::shapes(
            "reparameterize",
            mu.shape(),
            eps.shape(),
            "eps must have the shape of mu",
        ));
    }
    let half = T::of(0.5);
    // std is needed by both passes; compute it once.
    let std: Vec<T> = logvar
        .value()
        .as_slice()
        .iter()
        .map(|&lv| (half * lv).exp())
        .collect();
    let z: Vec<T> = mu
        .value()
        .as_slice()
        .iter()
        .zip(&std)
        .zip(eps.as_slice())
        .map(|((&m, &s), &e)| m + s * e)
        .collect();
    let shape = mu.shape().to_vec();
    let value = Tensor::from_vec(z, &shape);
    if !Var::records(&[mu, logvar]) {
        return Ok(Var::constant(value));
    }
    let eps = eps.clone();
    let need_logvar = logvar.requires_grad();
    Ok(Var::from_op(
        "reparameterize",
        value,
        vec![mu.clone(), logvar.clone()],
        move |g| {
            let d_logvar = need_logvar.then(|| {
                let d: Vec<T> = g
                    .as_slice()
                    .iter()
                    .zip(&std)
                    .zip(eps.as_slice())
                    .map(|((&g, &s), &e)| g * half * s * e)
                    .collect();
                Tensor::from_vec(d, &shape)
            });
            vec![Some(g.clone()), d_logvar]
        },
    ))
}

/// Panicking [`try_reparameterize`].
#[track_caller]
pub fn reparameterize<T: Element>(mu: &Var<T>, logvar: &Var<T>, eps: &Tensor<T>) -> Var<T> {
    or_panic(try_reparameterize(mu, logvar, eps))
}

/// Draws `eps ~ N(0, I)` of `mu`'s shape from `rng` and returns
/// `mu + exp(½·logvar) ⊙ eps`: one sample from `N(mu, diag(exp(logvar)))`
/// per row, differentiable in `mu` and `logvar`.
///
/// ```
/// use nn_autograd::Var;
/// use nn_generative::try_sample_reparameterized;
/// use nn_tensor::{Rng, Tensor};
/// let mu = Var::leaf(Tensor::<f32>::zeros(&[4, 2]));
/// let logvar = Var::leaf(Tensor::zeros(&[4, 2]));
/// let z = try_sample_reparameterized(&mu, &logvar, &mut Rng::seed_from(0)).unwrap();
/// let grads = z.sum().backward();
/// assert_eq!(grads.get(&mu).unwrap().to_vec(), vec![1.0; 8]);
/// ```
pub fn try_sample_reparameterized<T: Element>(
    mu: &Var<T>,
    logvar: &Var<T>,
    rng: &mut Rng,
) -> Result<Var<T>> {
    let eps = Tensor::rand_normal(mu.shape(), 0.0, 1.0, rng);
    try_reparameterize(mu, logvar, &eps)
}

/// Panicking [`try_sample_reparameterized`].
#[track_caller]
pub fn sample_reparameterized<T: Element>(mu: &Var<T>, logvar: &Var<T>, rng: &mut Rng) -> Var<T> {
    or_panic(try_sample_reparameterized(mu, logvar, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
    use proptest::prelude::{prop_assert, proptest, Just, ProptestConfig, Strategy};

    fn values(n: usize, lo: f64, hi: f64) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(lo..hi, n)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The fused backward agrees with finite differences in mu and
        /// logvar over random shapes, values and noise.
        #[test]
        fn gradients_match_finite_differences(
            (rows, cols, mu, logvar, eps) in (1usize..5, 1usize..6).prop_flat_map(|(r, c)| {
                (Just(r), Just(c), values(r * c, -2.0, 2.0), values(r * c, -3.0, 3.0), values(r * c, -2.5, 2.5))
            })
        ) {
            let shape = [rows, cols];
            let eps = Tensor::<f64>::from_vec(eps, &shape);
            let report = check_gradients(
                |v| reparameterize(&v[0], &v[1], &eps),
                &[Tensor::from_vec(mu, &shape), Tensor::from_vec(logvar, &shape)],
                GradCheckConfig::default(),
            );
            prop_assert!(report.passed, "{report}");
        }
    }

    #[test]
    fn shape_errors_name_the_op_and_shapes() {
        let mu = Var::leaf(Tensor::<f64>::zeros(&[2, 3]));
        let bad = Var::leaf(Tensor::<f64>::zeros(&[2, 4]));
        let e = try_reparameterize(&mu, &bad, &Tensor::zeros(&[2, 3])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reparameterize: shapes [2, 3] and [2, 4] do not match: mu and logvar must have the same shape"
        );
        let e = try_reparameterize(&mu, &mu, &Tensor::zeros(&[3, 2])).unwrap_err();
        assert!(
            e.to_string().contains("eps must have the shape of mu"),
            "{e}"
        );
    }

    #[test]
    fn only_logvar_can_be_frozen() {
        // A constant logvar (fixed variance) still passes the gradient to mu.
        let mu = Var::leaf(Tensor::<f64>::zeros(&[1, 2]));
        let logvar = Var::constant(Tensor::zeros(&[1, 2]));
        let z = reparameterize(&mu, &logvar, &Tensor::ones(&[1, 2]));
        let grads = z.sum().backward();
        assert_eq!(grads.get(&mu).unwrap().to_vec(), vec![1.0, 1.0]);
        assert!(grads.get(&logvar).is_none());
    }

    #[test]
    fn samples_have_the_requested_moments() {
        // 20 000 draws of N(1.5, e^{-1}) in one column: mean and variance
        // within a few standard errors.
        let n = 20_000;
        let mu = Var::constant(Tensor::<f64>::full(&[n, 1], 1.5));
        let logvar = Var::constant(Tensor::full(&[n, 1], -1.0));
        let z = sample_reparameterized(&mu, &logvar, &mut Rng::seed_from(3));
        let v = z.value().to_vec();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let true_var = (-1.0f64).exp();
        assert!(
            (mean - 1.5).abs() < 4.0 * (true_var / n as f64).sqrt(),
            "mean {mean}"
        );
        assert!((var - true_var).abs() < 0.03, "variance {var}");
    }
}
