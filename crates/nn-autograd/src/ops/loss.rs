//! Loss functions: each a config holding its options (PyTorch's
//! `nn.CrossEntropyLoss(label_smoothing=…)` is
//! `CrossEntropyLoss::new().with_label_smoothing(…)?`) and a short method
//! on [`Var`] with PyTorch's defaults (`logits.cross_entropy(&y)`), every
//! one taking its target as a [`Target`]; PyTorch's reductions; and the
//! 0-1 loss as a metric.

use nn_tensor::{Element, Result, Tensor, TensorError};

use crate::ops::target::Target;
use crate::Var;
use nn_tensor::or_panic;

mod classification;

pub use classification::{BceLoss, BceWithLogitsLoss, CrossEntropyLoss, NllLoss};

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

fn positive(op: &'static str, name: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(TensorError::invalid(
            op,
            format!("{name} = {v} must be > 0"),
        ))
    }
}

/// The loss of `input` against value targets of the same shape, the
/// target's gradient included (the regression losses' common frame).
fn values_loss<'a, T: Element>(
    op: &'static str,
    input: &Var<T>,
    target: impl Into<Target<'a, T>>,
    per_element: impl FnOnce(&Var<T>) -> Result<Var<T>>,
    reduction: Reduction,
) -> Result<Var<T>> {
    let target = target.into();
    let t = target.values(op, input.shape())?;
    same_shape(op, input, t)?;
    Ok(reduction.apply(per_element(t)?))
}

/// Mean squared error `(input − target)²`, PyTorch's `nn.MSELoss`; both
/// sides get gradients. [`Var::mse_loss`] is its default form.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MseLoss {
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl MseLoss {
    /// PyTorch's defaults: the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `input: [*]` against a target of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        values_loss(
            "mse_loss",
            input,
            target,
            |t| Ok(input.sub(t).square()),
            self.reduction,
        )
    }
    /// Panicking [`MseLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// Mean absolute error `|input − target|`, PyTorch's `nn.L1Loss`; both
/// sides get gradients. [`Var::l1_loss`] is its default form.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct L1Loss {
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl L1Loss {
    /// PyTorch's defaults: the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `input: [*]` against a target of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        values_loss(
            "l1_loss",
            input,
            target,
            |t| Ok(input.sub(t).abs()),
            self.reduction,
        )
    }
    /// Panicking [`L1Loss::try_forward`].
    #[track_caller]
    pub fn forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// The course book's squared loss `½ (target − input)²` (section 1.2.2):
/// exactly half of [`MseLoss`] with the same reduction, so its gradient
/// `input − target` has no factor 2. Both sides get gradients.
/// [`Var::squared_loss`] is its default form (the mean).
///
/// ```
/// use nn_autograd::{Reduction, SquaredLoss, Var};
/// use nn_tensor::Tensor;
/// let f = Var::leaf(Tensor::<f64>::from_vec(vec![3.0], &[1]));
/// let y = Tensor::from_vec(vec![1.0], &[1]);
/// let loss = SquaredLoss::new().with_reduction(Reduction::Sum).forward(&f, &y);
/// assert_eq!(loss.item(), 2.0); // ½·(1 − 3)²
/// assert_eq!(loss.backward().get(&f).unwrap().to_vec(), vec![2.0]); // f − y
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SquaredLoss {
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl SquaredLoss {
    /// The mean, like [`MseLoss`].
    pub fn new() -> Self {
        Self::default()
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `input: [*]` against a target of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        let half = T::one() / T::from_usize(2).unwrap();
        values_loss(
            "squared_loss",
            input,
            target,
            |t| Ok(t.sub(input).square().mul_scalar(half)),
            self.reduction,
        )
    }
    /// Panicking [`SquaredLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// Huber loss, PyTorch's `nn.HuberLoss`: `½d²` for `|d| ≤ delta`, else
/// `delta·(|d| − ½delta)`, with `d = input − target` (default delta 1).
/// [`Var::huber_loss`] is its default form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HuberLoss {
    /// Where quadratic turns linear, > 0 (default 1).
    pub delta: f64,
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl Default for HuberLoss {
    fn default() -> Self {
        HuberLoss {
            delta: 1.0,
            reduction: Reduction::Mean,
        }
    }
}

impl HuberLoss {
    /// PyTorch's defaults: delta 1, the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With another `delta`; errors unless it is finite and > 0.
    pub fn with_delta(mut self, delta: f64) -> Result<Self> {
        positive("HuberLoss", "delta", delta)?;
        self.delta = delta;
        Ok(self)
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `input: [*]` against a target of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        let delta = T::of(self.delta);
        values_loss(
            "huber_loss",
            input,
            target,
            |t| {
                if delta.is_nan() || delta <= T::zero() {
                    return Err(TensorError::invalid(
                        "huber_loss",
                        format!("delta {delta} must be positive"),
                    ));
                }
                let half = T::of(0.5);
                Ok(input.sub(t).map_with_grad(
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
                ))
            },
            self.reduction,
        )
    }
    /// Panicking [`HuberLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// Smooth L1 loss, PyTorch's `nn.SmoothL1Loss`: `½d²/beta` for
/// `|d| < beta`, else `|d| − ½beta` (default beta 1; beta 0 is the L1
/// loss). [`Var::smooth_l1_loss`] is its default form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmoothL1Loss {
    /// Where quadratic turns linear, ≥ 0 (default 1).
    pub beta: f64,
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl Default for SmoothL1Loss {
    fn default() -> Self {
        SmoothL1Loss {
            beta: 1.0,
            reduction: Reduction::Mean,
        }
    }
}

impl SmoothL1Loss {
    /// PyTorch's defaults: beta 1, the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With another `beta`; errors unless it is finite and ≥ 0.
    pub fn with_beta(mut self, beta: f64) -> Result<Self> {
        if !(beta >= 0.0 && beta.is_finite()) {
            return Err(TensorError::invalid(
                "SmoothL1Loss",
                format!("beta = {beta} must be >= 0"),
            ));
        }
        self.beta = beta;
        Ok(self)
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `input: [*]` against a target of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        let beta = T::of(self.beta);
        values_loss(
            "smooth_l1_loss",
            input,
            target,
            |t| {
                if beta.is_nan() || beta < T::zero() {
                    return Err(TensorError::invalid(
                        "smooth_l1_loss",
                        format!("beta {beta} must be >= 0"),
                    ));
                }
                let half = T::of(0.5);
                Ok(input.sub(t).map_with_grad(
                    "smooth_l1",
                    move |x| {
                        if x.abs() < beta {
                            half * x * x / beta
                        } else {
                            x.abs() - half * beta
                        }
                    },
                    move |x, _| if x.abs() < beta { x / beta } else { x.signum() },
                ))
            },
            self.reduction,
        )
    }
    /// Panicking [`SmoothL1Loss::try_forward`].
    #[track_caller]
    pub fn forward<'a, T: Element>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// The VAE's KL divergence of `N(mu, exp(logvar))` from `N(0, I)` as a
/// value holding its reduction: [`try_gaussian_kl`] per sample over dim 1
/// of `[N, D]` inputs; mean means per-sample mean.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GaussianKl {
    /// How per-sample terms are combined (default mean over the batch).
    pub reduction: Reduction,
}

impl GaussianKl {
    /// The per-sample mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The KL term of `mu` and `logvar`, both `[N, D]`: a scalar `[]` when
    /// reduced, `[N]` with [`Reduction::None`].
    pub fn try_forward<T: Element>(&self, mu: &Var<T>, logvar: &Var<T>) -> Result<Var<T>> {
        try_gaussian_kl(mu, logvar, self.reduction)
    }
    /// Panicking [`GaussianKl::try_forward`].
    #[track_caller]
    pub fn forward<T: Element>(&self, mu: &Var<T>, logvar: &Var<T>) -> Var<T> {
        or_panic(self.try_forward(mu, logvar))
    }
}

/// The losses with PyTorch's defaults (the mean, no options): the short
/// forms of the loss configs, each with its `try_` twin. The target is
/// anything that turns into a [`Target`]: `&[usize]` and the like for
/// class indices, `&Tensor` or `&Var` for values.
///
/// ```
/// use nn_autograd::Var;
/// use nn_tensor::Tensor;
/// let pred = Var::leaf(Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2, 1]));
/// let y = Tensor::from_vec(vec![0.0, 1.0], &[2, 1]);
/// assert_eq!(pred.mse_loss(&y).item(), 2.5);
/// assert_eq!(pred.l1_loss(&y).item(), 1.5);
/// assert_eq!(pred.huber_loss(&y).item(), 1.0); // ½·1² and 1·(2 − ½), averaged
/// ```
impl<T: Element> Var<T> {
    /// Mean squared error (PyTorch's `F.mse_loss`): [`MseLoss::new`].
    pub fn try_mse_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        MseLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_mse_loss`].
    #[track_caller]
    pub fn mse_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_mse_loss(target))
    }

    /// Mean absolute error (PyTorch's `F.l1_loss`): [`L1Loss::new`].
    pub fn try_l1_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        L1Loss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_l1_loss`].
    #[track_caller]
    pub fn l1_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_l1_loss(target))
    }

    /// The course book's squared loss `½ (target − input)²`, averaged:
    /// [`SquaredLoss::new`].
    pub fn try_squared_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        SquaredLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_squared_loss`].
    #[track_caller]
    pub fn squared_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_squared_loss(target))
    }

    /// Huber loss with delta 1 (PyTorch's `F.huber_loss`): [`HuberLoss::new`].
    pub fn try_huber_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        HuberLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_huber_loss`].
    #[track_caller]
    pub fn huber_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_huber_loss(target))
    }

    /// Smooth L1 loss with beta 1 (PyTorch's `F.smooth_l1_loss`):
    /// [`SmoothL1Loss::new`].
    pub fn try_smooth_l1_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        SmoothL1Loss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_smooth_l1_loss`].
    #[track_caller]
    pub fn smooth_l1_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_smooth_l1_loss(target))
    }

    /// Cross-entropy of these logits against class indices or class
    /// probabilities, averaged, no label smoothing (PyTorch's
    /// `F.cross_entropy`): [`CrossEntropyLoss::new`].
    ///
    /// ```
    /// use nn_autograd::Var;
    /// use nn_tensor::Tensor;
    /// let logits = Var::leaf(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 2.0], &[2, 2]));
    /// let loss = logits.cross_entropy(&[0, 1]);
    /// assert!((loss.item() - (1.0 + (-2.0f64).exp()).ln()).abs() < 1e-12);
    /// ```
    pub fn try_cross_entropy<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        CrossEntropyLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_cross_entropy`].
    #[track_caller]
    pub fn cross_entropy<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_cross_entropy(target))
    }

    /// Negative log-likelihood of these log-probabilities against class
    /// indices, averaged, no class weights (PyTorch's `F.nll_loss`):
    /// [`NllLoss::new`].
    pub fn try_nll_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        NllLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_nll_loss`].
    #[track_caller]
    pub fn nll_loss<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_nll_loss(target))
    }

    /// Binary cross-entropy of these logits against targets in `[0, 1]`,
    /// averaged (PyTorch's `F.binary_cross_entropy_with_logits`):
    /// [`BceWithLogitsLoss::new`].
    pub fn try_binary_cross_entropy_with_logits<'a>(
        &self,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        BceWithLogitsLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_binary_cross_entropy_with_logits`].
    #[track_caller]
    pub fn binary_cross_entropy_with_logits<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_binary_cross_entropy_with_logits(target))
    }

    /// Binary cross-entropy of these probabilities against targets in
    /// `[0, 1]`, averaged (PyTorch's `F.binary_cross_entropy`):
    /// [`BceLoss::new`].
    pub fn try_binary_cross_entropy<'a>(&self, target: impl Into<Target<'a, T>>) -> Result<Var<T>> {
        BceLoss::new().try_forward(self, target)
    }
    /// Panicking [`Var::try_binary_cross_entropy`].
    #[track_caller]
    pub fn binary_cross_entropy<'a>(&self, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_binary_cross_entropy(target))
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
            x.try_cross_entropy(&[0, 3]).unwrap_err().to_string(),
            "cross_entropy: target class 3 is out of range for 3 classes"
        );
        assert!(x.try_cross_entropy(&[0]).is_err());
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let x = Var::leaf(Tensor::<f32>::from_vec(vec![1e4, -1e4, -1e4, 1e4], &[2, 2]));
        let l = x.cross_entropy(&[1, 0]);
        assert!((l.value().item() - 2e4).abs() < 1.0);
        let g = l.backward();
        assert!(g.get(&x).unwrap().all_finite());
        let b = BceWithLogitsLoss::new()
            .with_reduction(Reduction::Sum)
            .forward(&x, Tensor::from_vec(vec![0., 1., 1., 0.], &[2, 2]));
        assert!(b.value().item().is_finite());
    }

    /// Class probabilities against an independent computation: the same
    /// formula composed of differentiable ops (log-softmax, product, sums),
    /// values and gradients; and one-hot probabilities agree with the class
    /// index form, label smoothing included, as in PyTorch.
    #[test]
    fn cross_entropy_probabilities_match_the_composed_formula() {
        let logits = Tensor::<f64>::from_vec(
            vec![
                0.3, -1.2, 2.0, 0.5, 0.1, -0.4, 1.5, 0.0, -2.0, 0.7, 0.2, 1.1,
            ],
            &[2, 3, 2],
        );
        let probs = Tensor::<f64>::from_vec(
            vec![0.2, 0.5, 0.3, 0.1, 0.5, 0.4, 0.6, 0.0, 0.1, 0.3, 0.3, 0.7],
            &[2, 3, 2],
        );
        for eps in [0.0, 0.2] {
            for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                let (x, t) = (Var::leaf(logits.clone()), Var::leaf(probs.clone()));
                let ce = CrossEntropyLoss::new()
                    .with_reduction(r)
                    .with_label_smoothing(eps)
                    .unwrap();
                let fused = ce.forward(&x, &t);
                let smoothed = t.mul_scalar(1.0 - eps).add_scalar(eps / 3.0);
                let composed = r.apply(smoothed.mul(&x.log_softmax(1)).sum_dims(&[1], false).neg());
                assert_eq!(fused.shape(), composed.shape());
                for (a, b) in fused.to_vec().iter().zip(composed.to_vec()) {
                    assert!((a - b).abs() < 1e-12, "{eps} {r:?}: {a} vs {b}");
                }
                let seed = Tensor::ones(fused.shape());
                let (gf, gc) = (
                    fused.backward_with(seed.clone()),
                    composed.backward_with(seed),
                );
                for v in [&x, &t] {
                    let (a, b) = (gf.get(v).unwrap().to_vec(), gc.get(v).unwrap().to_vec());
                    for (a, b) in a.iter().zip(&b) {
                        assert!((a - b).abs() < 1e-12, "{eps} {r:?}: grad {a} vs {b}");
                    }
                }
            }
            let x = Var::leaf(logits.clone());
            let classes = [2, 0, 1, 1];
            let mut one_hot = vec![0.0; 12];
            for (pos, &y) in classes.iter().enumerate() {
                let (b, i) = (pos / 2, pos % 2);
                one_hot[(b * 3 + y) * 2 + i] = 1.0;
            }
            let ce = CrossEntropyLoss::new().with_label_smoothing(eps).unwrap();
            let hard = ce.forward(&x, &classes).item();
            let soft = ce.forward(&x, Tensor::from_vec(one_hot, &[2, 3, 2])).item();
            assert!((hard - soft).abs() < 1e-12, "{hard} vs {soft}");
        }
        // By hand: logits [0, ln 3] (softmax ¼, ¾) against [½, ½]:
        // −½·ln ¼ − ½·ln ¾.
        let x = Var::leaf(Tensor::<f64>::from_vec(vec![0.0, 3f64.ln()], &[1, 2]));
        let l = x.cross_entropy(Tensor::from_vec(vec![0.5, 0.5], &[1, 2]));
        assert!((l.item() - (-0.5 * 0.25f64.ln() - 0.5 * 0.75f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn accuracy_counts_argmax_hits() {
        let l = Tensor::<f32>::from_vec(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[3, 2]);
        assert!((accuracy(&l, &[0, 1, 1]) - 2.0 / 3.0).abs() < 1e-12);
        assert!((zero_one_loss(&l, &[0, 1, 1]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
