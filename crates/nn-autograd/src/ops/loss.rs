//! Loss functions, with PyTorch's reductions, and the 0-1 loss as a metric.

use nn_tensor::{Element, Result, Tensor, TensorError};

use crate::ops::activation::softmax_tensor;
use crate::Var;
use nn_tensor::or_panic;

/// How a per-element loss becomes the returned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Keep the per-element (per-sample) losses.
    None,
    /// The average over all elements (PyTorch's default).
    #[default]
    Mean,
    /// The sum over all elements.
    Sum,
    /// The sum divided by the batch size (dim 0): the VAE's per-example KL.
    BatchMean,
}

impl Reduction {
    /// Parses PyTorch's names: `"none"`, `"mean"`, `"sum"`, `"batch_mean"` / `"batchmean"`.
    pub fn parse(s: &str) -> Option<Reduction> {
        match s {
            "none" => Some(Reduction::None),
            "mean" => Some(Reduction::Mean),
            "sum" => Some(Reduction::Sum),
            "batch_mean" | "batchmean" => Some(Reduction::BatchMean),
            _ => None,
        }
    }

    /// Applies the reduction to a var of per-element losses.
    pub fn apply<T: Element>(self, v: Var<T>) -> Var<T> {
        match self {
            Reduction::None => v,
            Reduction::Mean => v.mean(),
            Reduction::Sum => v.sum(),
            Reduction::BatchMean => {
                let n = v.shape().first().copied().unwrap_or(1).max(1);
                v.sum().mul_scalar(T::one() / T::from_usize(n).unwrap())
            }
        }
    }
}

fn same_shape<T: Element>(op: &'static str, a: &Var<T>, b: &Var<T>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(TensorError::shapes(
            op,
            a.shape(),
            b.shape(),
            "input and target must have the same shape",
        ));
    }
    Ok(())
}

/// Checks class-index targets against logits `[N, C, d1, …]` and returns C.
fn check_class_targets<T: Element>(
    op: &'static str,
    input: &Var<T>,
    target: &[usize],
) -> Result<usize> {
    if input.ndim() < 2 {
        return Err(TensorError::invalid(
            op,
            format!("input of shape {:?} needs a class dim 1", input.shape()),
        ));
    }
    let c = input.shape()[1];
    let expected = input.value().numel() / c.max(1);
    if target.len() != expected {
        return Err(TensorError::invalid(
            op,
            format!(
                "{} targets for input of shape {:?}, which has {expected} positions",
                target.len(),
                input.shape()
            ),
        ));
    }
    if let Some(&bad) = target.iter().find(|&&t| t >= c) {
        return Err(TensorError::invalid(
            op,
            format!("target class {bad} is out of range for {c} classes"),
        ));
    }
    Ok(c)
}

/// The shape of per-position losses for logits `[N, C, d1, …]`: `[N, d1, …]`.
fn position_shape(shape: &[usize]) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.remove(1);
    s
}

impl<T: Element> Var<T> {
    /// Mean squared error `(input − target)²`; both sides get gradients.
    pub fn try_mse_loss(&self, target: &Var<T>, reduction: Reduction) -> Result<Var<T>> {
        same_shape("mse_loss", self, target)?;
        Ok(reduction.apply(self.sub(target).square()))
    }

    /// Panicking [`Var::try_mse_loss`].
    #[track_caller]
    pub fn mse_loss(&self, target: &Var<T>, reduction: Reduction) -> Var<T> {
        or_panic(self.try_mse_loss(target, reduction))
    }

    /// The course book's squared loss `½ (target − input)²` (section 1.2.2),
    /// reduced like [`Var::try_mse_loss`]: it is exactly half of `mse_loss`
    /// with the same reduction, so its gradient `input − target` has no
    /// factor 2. Both sides get gradients.
    ///
    /// ```
    /// use nn_autograd::{Reduction, Var};
    /// use nn_tensor::Tensor;
    /// let f = Var::leaf(Tensor::<f64>::from_vec(vec![3.0], &[1]));
    /// let y = Var::constant(Tensor::from_vec(vec![1.0], &[1]));
    /// let loss = f.squared_loss(&y, Reduction::Sum);
    /// assert_eq!(loss.value().item(), 2.0); // ½·(1 − 3)²
    /// assert_eq!(loss.backward().get(&f).unwrap().to_vec(), vec![2.0]); // f − y
    /// ```
    pub fn try_squared_loss(&self, target: &Var<T>, reduction: Reduction) -> Result<Var<T>> {
        same_shape("squared_loss", self, target)?;
        let half = T::one() / T::from_usize(2).unwrap();
        Ok(reduction.apply(target.sub(self).square().mul_scalar(half)))
    }

    /// Panicking [`Var::try_squared_loss`].
    #[track_caller]
    pub fn squared_loss(&self, target: &Var<T>, reduction: Reduction) -> Var<T> {
        or_panic(self.try_squared_loss(target, reduction))
    }

    /// Huber loss: `½d²` for `|d| ≤ delta`, else `delta·(|d| − ½delta)`.
    pub fn try_huber_loss(
        &self,
        target: &Var<T>,
        delta: T,
        reduction: Reduction,
    ) -> Result<Var<T>> {
        same_shape("huber_loss", self, target)?;
        if delta.is_nan() || delta <= T::zero() {
            return Err(TensorError::invalid(
                "huber_loss",
                format!("delta {delta} must be positive"),
            ));
        }
        let d = self.sub(target);
        let half = T::of(0.5);
        let l = d.map_with_grad(
            "huber",
            move |x| {
                if x.abs() <= delta {
                    half * x * x
                } else {
                    delta * (x.abs() - half * delta)
                }
            },
            move |x, _| {
                if x.abs() <= delta {
                    x
                } else {
                    delta * x.signum()
                }
            },
        );
        Ok(reduction.apply(l))
    }

    /// Panicking [`Var::try_huber_loss`].
    #[track_caller]
    pub fn huber_loss(&self, target: &Var<T>, delta: T, reduction: Reduction) -> Var<T> {
        or_panic(self.try_huber_loss(target, delta, reduction))
    }

    /// Smooth L1: `½d²/beta` for `|d| < beta`, else `|d| − ½beta`.
    pub fn try_smooth_l1_loss(
        &self,
        target: &Var<T>,
        beta: T,
        reduction: Reduction,
    ) -> Result<Var<T>> {
        same_shape("smooth_l1_loss", self, target)?;
        if beta.is_nan() || beta < T::zero() {
            return Err(TensorError::invalid(
                "smooth_l1_loss",
                format!("beta {beta} must be >= 0"),
            ));
        }
        let d = self.sub(target);
        let half = T::of(0.5);
        let l = d.map_with_grad(
            "smooth_l1",
            move |x| {
                if x.abs() < beta {
                    half * x * x / beta
                } else {
                    x.abs() - half * beta
                }
            },
            move |x, _| if x.abs() < beta { x / beta } else { x.signum() },
        );
        Ok(reduction.apply(l))
    }

    /// Panicking [`Var::try_smooth_l1_loss`].
    #[track_caller]
    pub fn smooth_l1_loss(&self, target: &Var<T>, beta: T, reduction: Reduction) -> Var<T> {
        or_panic(self.try_smooth_l1_loss(target, beta, reduction))
    }

    /// Cross-entropy of logits `[N, C]` or `[N, C, d1, …]` (classes on dim 1)
    /// against class indices (`[N]` or `[N, d1, …]`, flat), with label
    /// smoothing `ε`: each position costs `−(1−ε)·lp[y] − (ε/C)·Σ_c lp[c]`,
    /// `lp = log_softmax(logits)`. Fused: the gradient is `softmax − target
    /// distribution`, computed in one pass.
    ///
    /// ```
    /// use nn_autograd::{Reduction, Var};
    /// use nn_tensor::Tensor;
    /// let logits = Var::leaf(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 2.0], &[2, 2]));
    /// let loss = logits.cross_entropy(&[0, 1], Reduction::Mean, 0.0);
    /// assert!((loss.value().item() - (1.0 + (-2.0f64).exp()).ln()).abs() < 1e-12);
    /// ```
    pub fn try_cross_entropy(
        &self,
        target: &[usize],
        reduction: Reduction,
        label_smoothing: T,
    ) -> Result<Var<T>> {
        let c = check_class_targets("cross_entropy", self, target)?;
        if !(label_smoothing >= T::zero() && label_smoothing <= T::one()) {
            return Err(TensorError::invalid(
                "cross_entropy",
                format!("label_smoothing {label_smoothing} is outside [0, 1]"),
            ));
        }
        let eps = label_smoothing;
        let lp = softmax_tensor(self.as_tensor(), 1, true);
        let shape = self.shape().to_vec();
        let inner: usize = shape[2..].iter().product();
        let n = shape[0];
        let lps = lp.as_slice();
        let cf = T::from_usize(c).unwrap();
        let mut losses = vec![T::zero(); n * inner];
        for b in 0..n {
            for i in 0..inner {
                let at = |k: usize| (b * c + k) * inner + i;
                let y = target[b * inner + i];
                let mut l = -(T::one() - eps) * lps[at(y)];
                if eps > T::zero() {
                    let s: T = (0..c).map(|k| lps[at(k)]).sum();
                    l -= eps / cf * s;
                }
                losses[b * inner + i] = l;
            }
        }
        let per = Tensor::from_vec(losses, &position_shape(&shape));
        let tgt = target.to_vec();
        let out = Var::from_op("cross_entropy", per, vec![self.clone()], move |g| {
            // d loss_pos / d logits = softmax − ((1−ε)·onehot(y) + ε/C)
            let mut d = lp.exp();
            let ds = d.as_mut_slice();
            let gs = g.as_slice();
            for b in 0..n {
                for i in 0..inner {
                    let gp = gs[b * inner + i];
                    let y = tgt[b * inner + i];
                    for k in 0..c {
                        let at = (b * c + k) * inner + i;
                        let mut t = eps / cf;
                        if k == y {
                            t += T::one() - eps;
                        }
                        ds[at] = (ds[at] - t) * gp;
                    }
                }
            }
            vec![Some(d)]
        });
        Ok(reduction.apply(out))
    }

    /// Panicking [`Var::try_cross_entropy`].
    #[track_caller]
    pub fn cross_entropy(
        &self,
        target: &[usize],
        reduction: Reduction,
        label_smoothing: T,
    ) -> Var<T> {
        or_panic(self.try_cross_entropy(target, reduction, label_smoothing))
    }

    /// Negative log-likelihood of log-probabilities `[N, C]` (or
    /// `[N, C, d1, …]`) with optional class weights `[C]`. With
    /// [`Reduction::Mean`] the sum is divided by the total weight of the
    /// targets, as PyTorch does.
    pub fn try_nll_loss(
        &self,
        target: &[usize],
        weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Result<Var<T>> {
        let c = check_class_targets("nll_loss", self, target)?;
        if let Some(w) = weight
            && w.shape() != [c]
        {
            return Err(TensorError::shapes(
                "nll_loss",
                self.shape(),
                w.shape(),
                format!("class weights must have shape [{c}]"),
            ));
        }
        let shape = self.shape().to_vec();
        let inner: usize = shape[2..].iter().product();
        let n = shape[0];
        let wv: Vec<T> = weight
            .map(|w| w.to_vec())
            .unwrap_or_else(|| vec![T::one(); c]);
        // Gather −w[y]·input[y] with gather so the gradient is a scatter.
        let mut idx = Vec::with_capacity(n * inner);
        let mut coef = Vec::with_capacity(n * inner);
        for b in 0..n {
            for i in 0..inner {
                let y = target[b * inner + i];
                idx.push(y);
                coef.push(-wv[y]);
            }
        }
        let mut gshape = shape.clone();
        gshape[1] = 1;
        let picked = self
            .gather(1, &idx, &gshape)
            .reshape(position_shape(&shape));
        let per = picked.mul_tensor(&Tensor::from_vec(coef.clone(), &position_shape(&shape)));
        Ok(match reduction {
            Reduction::Mean => {
                let total: T = coef.iter().map(|&c| -c).sum();
                per.sum().mul_scalar(T::one() / total)
            }
            r => r.apply(per),
        })
    }

    /// Panicking [`Var::try_nll_loss`].
    #[track_caller]
    pub fn nll_loss(
        &self,
        target: &[usize],
        weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Var<T> {
        or_panic(self.try_nll_loss(target, weight, reduction))
    }

    /// Binary cross-entropy of logits against targets in `[0, 1]`, with an
    /// optional `pos_weight` broadcast along the last dim. Computed as
    /// `(1−t)·x + (1 + (p−1)·t)·softplus(−x)`, finite for logits of ±1e4.
    pub fn try_binary_cross_entropy_with_logits(
        &self,
        target: &Tensor<T>,
        pos_weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Result<Var<T>> {
        if self.shape() != target.shape() {
            return Err(TensorError::shapes(
                "binary_cross_entropy_with_logits",
                self.shape(),
                target.shape(),
                "input and target must have the same shape",
            ));
        }
        let p = match pos_weight {
            Some(p) => p.try_broadcast_to(self.shape()).map_err(|_| {
                TensorError::shapes(
                    "binary_cross_entropy_with_logits",
                    self.shape(),
                    p.shape(),
                    "pos_weight must broadcast along the last dim",
                )
            })?,
            None => Tensor::ones(self.shape()),
        };
        let x = self.value().clone();
        let softplus = |z: T| z.max(T::zero()) + (-z.abs()).exp().ln_1p();
        let (xs, ts, ps) = (x.as_slice(), target.as_slice(), p.as_slice());
        let l: Vec<T> = (0..xs.len())
            .map(|i| {
                (T::one() - ts[i]) * xs[i]
                    + (T::one() + (ps[i] - T::one()) * ts[i]) * softplus(-xs[i])
            })
            .collect();
        let t = target.clone();
        let per = Var::from_op(
            "bce_with_logits",
            Tensor::from_vec(l, x.shape()),
            vec![self.clone()],
            move |g| {
                // d/dx = (1−t) − (1 + (p−1)t)·σ(−x)
                let (xs, ts, ps, gs) = (x.as_slice(), t.as_slice(), p.as_slice(), g.as_slice());
                let d: Vec<T> = (0..xs.len())
                    .map(|i| {
                        gs[i]
                            * ((T::one() - ts[i])
                                - (T::one() + (ps[i] - T::one()) * ts[i])
                                    * nn_tensor::sigmoid_scalar(-xs[i]))
                    })
                    .collect();
                vec![Some(Tensor::from_vec(d, x.shape()))]
            },
        );
        Ok(reduction.apply(per))
    }

    /// Panicking [`Var::try_binary_cross_entropy_with_logits`].
    #[track_caller]
    pub fn binary_cross_entropy_with_logits(
        &self,
        target: &Tensor<T>,
        pos_weight: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Var<T> {
        or_panic(self.try_binary_cross_entropy_with_logits(target, pos_weight, reduction))
    }
}

/// The VAE's KL term `KL(N(mu, exp(logvar)) ‖ N(0, I))` per sample:
/// `−½·Σ_j (1 + logvar − mu² − exp(logvar))` over dim 1 of `[N, D]` inputs.
/// [`Reduction::None`] gives `[N]`; `BatchMean` divides the sum by N.
pub fn try_gaussian_kl<T: Element>(
    mu: &Var<T>,
    logvar: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    if mu.shape() != logvar.shape() || mu.ndim() != 2 {
        return Err(TensorError::shapes(
            "gaussian_kl",
            mu.shape(),
            logvar.shape(),
            "mu and logvar must both be [N, D]",
        ));
    }
    let inner = logvar
        .add_scalar(T::one())
        .sub(&mu.square())
        .sub(&logvar.exp());
    let per = inner.sum_dims(&[1], false).mul_scalar(T::of(-0.5));
    Ok(match reduction {
        Reduction::Mean => Reduction::BatchMean.apply(per),
        r => r.apply(per),
    })
}

/// Panicking [`try_gaussian_kl`].
#[track_caller]
pub fn gaussian_kl<T: Element>(mu: &Var<T>, logvar: &Var<T>, reduction: Reduction) -> Var<T> {
    or_panic(try_gaussian_kl(mu, logvar, reduction))
}

/// The fraction of rows of `logits` (`[N, C]`) whose arg-max is the target.
#[track_caller]
pub fn accuracy<T: Element>(logits: &Tensor<T>, target: &[usize]) -> f64 {
    let pred = logits.argmax(1);
    assert_eq!(
        pred.len(),
        target.len(),
        "accuracy: {} predictions for {} targets",
        pred.len(),
        target.len()
    );
    if pred.is_empty() {
        return 0.0;
    }
    pred.iter().zip(target).filter(|(p, t)| p == t).count() as f64 / pred.len() as f64
}

/// The 0-1 loss: the fraction of misclassified rows, `1 − accuracy`.
#[track_caller]
pub fn zero_one_loss<T: Element>(logits: &Tensor<T>, target: &[usize]) -> f64 {
    1.0 - accuracy(logits, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_rejects_bad_targets() {
        let x = Var::leaf(Tensor::<f64>::zeros(&[2, 3]));
        assert_eq!(
            x.try_cross_entropy(&[0, 3], Reduction::Mean, 0.0)
                .unwrap_err()
                .to_string(),
            "cross_entropy: target class 3 is out of range for 3 classes"
        );
        assert!(x.try_cross_entropy(&[0], Reduction::Mean, 0.0).is_err());
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let x = Var::leaf(Tensor::<f32>::from_vec(vec![1e4, -1e4, -1e4, 1e4], &[2, 2]));
        let l = x.cross_entropy(&[1, 0], Reduction::Mean, 0.0);
        assert!((l.value().item() - 2e4).abs() < 1.0);
        let g = l.backward();
        assert!(g.get(&x).unwrap().all_finite());
        let b = x.binary_cross_entropy_with_logits(
            &Tensor::from_vec(vec![0., 1., 1., 0.], &[2, 2]),
            None,
            Reduction::Sum,
        );
        assert!(b.value().item().is_finite());
    }

    #[test]
    fn accuracy_counts_argmax_hits() {
        let l = Tensor::<f32>::from_vec(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[3, 2]);
        assert!((accuracy(&l, &[0, 1, 1]) - 2.0 / 3.0).abs() < 1e-12);
        assert!((zero_one_loss(&l, &[0, 1, 1]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
