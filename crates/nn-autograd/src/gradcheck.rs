//! A finite-difference gradient checker for any function of tensors.
//!
//! The analytic gradient from [`Var::backward`](crate::Var::backward) is
//! compared with central differences `(J(x+h) − J(x−h)) / 2h` for every
//! element of every input, in f64. A non-scalar output `y` is reduced to the
//! scalar `J = Σ y ⊙ w` with fixed pseudo-random weights `w`, so every output
//! element is checked with a distinct upstream gradient.

use std::fmt;

use nn_tensor::{Rng, Tensor};

use crate::Var;

/// Settings of a gradient check.
#[derive(Clone, Copy, Debug)]
pub struct GradCheckConfig {
    /// The finite-difference step `h`.
    pub step: f64,
    /// The largest accepted error `|analytic − numeric| / max(1, |numeric|)`.
    pub tolerance: f64,
}

impl Default for GradCheckConfig {
    fn default() -> Self {
        GradCheckConfig {
            step: 1e-6,
            tolerance: 1e-6,
        }
    }
}

/// The outcome of a gradient check: the worst element and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    /// The largest error found (see [`GradCheckConfig::tolerance`]).
    pub max_error: f64,
    /// Which input holds the worst element.
    pub worst_input: usize,
    /// The worst element's multi-index inside that input.
    pub worst_index: Vec<usize>,
    /// The analytic gradient there.
    pub analytic: f64,
    /// The finite-difference gradient there.
    pub numeric: f64,
    /// Whether `max_error` is within tolerance.
    pub passed: bool,
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradient check {}: worst error {:.3e} at input {} index {:?} (analytic {:.10e}, numeric {:.10e})",
            if self.passed { "passed" } else { "FAILED" },
            self.max_error,
            self.worst_input,
            self.worst_index,
            self.analytic,
            self.numeric
        )
    }
}

fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d].max(1);
        flat /= shape[d].max(1);
    }
    idx
}

/// Checks the gradient of `f` with respect to every input.
///
/// ```
/// use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
/// use nn_tensor::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![0.3, -0.7, 1.1], &[3]);
/// let report = check_gradients(|v| v[0].tanh().mul(&v[0]), &[x], GradCheckConfig::default());
/// assert!(report.passed, "{report}");
/// ```
pub fn check_gradients(
    f: impl Fn(&[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    config: GradCheckConfig,
) -> GradCheckReport {
    // Fixed upstream weights for the output.
    let probe = f(&inputs
        .iter()
        .map(|t| Var::constant(t.clone()))
        .collect::<Vec<_>>());
    let mut rng = Rng::seed_from(0x5eed);
    let w = Tensor::<f64>::rand_uniform(probe.shape(), 0.5, 1.5, &mut rng);
    let objective = |xs: &[Tensor<f64>]| -> f64 {
        let vars: Vec<Var<f64>> = xs.iter().map(|t| Var::constant(t.clone())).collect();
        f(&vars).value().mul(&w).sum_all().item()
    };

    let leaves: Vec<Var<f64>> = inputs.iter().map(|t| Var::leaf(t.clone())).collect();
    let out = f(&leaves);
    let grads = out.backward_with(w.clone());

    let mut report = GradCheckReport {
        max_error: 0.0,
        worst_input: 0,
        worst_index: vec![],
        analytic: 0.0,
        numeric: 0.0,
        passed: true,
    };
    let h = config.step;
    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    for (i, leaf) in leaves.iter().enumerate() {
        let analytic = grads
            .get(leaf)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(leaf.shape()));
        for j in 0..inputs[i].numel() {
            let orig = xs[i].as_slice()[j];
            xs[i].as_mut_slice()[j] = orig + h;
            let plus = objective(&xs);
            xs[i].as_mut_slice()[j] = orig - h;
            let minus = objective(&xs);
            xs[i].as_mut_slice()[j] = orig;
            let numeric = (plus - minus) / (2.0 * h);
            let a = analytic.as_slice()[j];
            let err = (a - numeric).abs() / numeric.abs().max(1.0);
            if err > report.max_error || err.is_nan() {
                report.max_error = err;
                report.worst_input = i;
                report.worst_index = unflatten(j, inputs[i].shape());
                report.analytic = a;
                report.numeric = numeric;
            }
        }
    }
    report.passed = report.max_error <= config.tolerance;
    report
}
