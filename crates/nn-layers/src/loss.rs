//! Loss modules: the losses of `nn-autograd` with their settings held in a
//! value, as in `torch.nn.MSELoss(reduction=…)`. They have no parameters
//! but are [`Module`]s so a summary can list them. Each has `try_forward`
//! (an error names the loss and the shapes) and a panicking `forward`.

use nn_autograd::ops::loss::try_gaussian_kl;
use nn_autograd::{Reduction, Var};
use nn_tensor::{or_panic, Element, Result, Tensor, TensorError};

use crate::module::Module;

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

/// Mean squared error. Input and target: the same shape.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MseLoss {
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl MseLoss {
    /// With the given reduction.
    pub fn new(reduction: Reduction) -> Self {
        MseLoss { reduction }
    }
    /// The loss of `input: [*]` against `target` of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.try_mse_loss(target, self.reduction)
    }
    /// Panicking [`MseLoss::try_forward`].
    #[track_caller]
    pub fn forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// The course book's squared loss `½ (target − input)²`: half of
/// [`MseLoss`] with the same reduction, so its gradient has no factor 2.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SquaredLoss {
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl SquaredLoss {
    /// With the given reduction.
    pub fn new(reduction: Reduction) -> Self {
        SquaredLoss { reduction }
    }
    /// The loss of `input: [*]` against `target` of the same shape: a scalar
    /// `[]` when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.try_squared_loss(target, self.reduction)
    }
    /// Panicking [`SquaredLoss::try_forward`].
    #[track_caller]
    pub fn forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// Cross-entropy of logits `[N, C]` (or `[N, C, d…]`) against class indices.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropyLoss {
    /// Reduction (default mean).
    pub reduction: Reduction,
    /// Label smoothing in `[0, 1]` (default 0).
    pub label_smoothing: f64,
}

impl CrossEntropyLoss {
    /// With the given reduction and label smoothing; errors outside `[0, 1]`.
    pub fn new(reduction: Reduction, label_smoothing: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&label_smoothing) {
            return Err(TensorError::invalid(
                "CrossEntropyLoss",
                format!("label_smoothing = {label_smoothing} is outside [0, 1]"),
            ));
        }
        Ok(CrossEntropyLoss {
            reduction,
            label_smoothing,
        })
    }
    /// The loss of `logits: [N, C]` (or `[N, C, d1, …]`) against `target`
    /// classes, `N` (or `N·d1·…`) of them: a scalar `[]` when reduced,
    /// `[N]` (or `[N, d1, …]`) with [`Reduction::None`].
    pub fn try_forward<T: Element>(&self, logits: &Var<T>, target: &[usize]) -> Result<Var<T>> {
        logits.try_cross_entropy(target, self.reduction, T::of(self.label_smoothing))
    }
    /// Panicking [`CrossEntropyLoss::try_forward`].
    #[track_caller]
    pub fn forward<T: Element>(&self, logits: &Var<T>, target: &[usize]) -> Var<T> {
        or_panic(self.try_forward(logits, target))
    }
}

/// Negative log-likelihood of log-probabilities `[N, C]` against class
/// indices, with optional class weights `[C]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NllLoss<T: Element> {
    /// Per-class weights.
    pub weight: Option<Tensor<T>>,
    /// Reduction (default mean: divided by the total target weight).
    pub reduction: Reduction,
}

impl<T: Element> NllLoss<T> {
    /// With optional class weights and a reduction.
    pub fn new(weight: Option<Tensor<T>>, reduction: Reduction) -> Self {
        NllLoss { weight, reduction }
    }
    /// The loss of `log_probs: [N, C]` (or `[N, C, d1, …]`) against `target`
    /// classes, one per position: a scalar `[]` when reduced, `[N]` (or
    /// `[N, d1, …]`) with [`Reduction::None`].
    pub fn try_forward(&self, log_probs: &Var<T>, target: &[usize]) -> Result<Var<T>> {
        log_probs.try_nll_loss(target, self.weight.as_ref(), self.reduction)
    }
    /// Panicking [`NllLoss::try_forward`].
    #[track_caller]
    pub fn forward(&self, log_probs: &Var<T>, target: &[usize]) -> Var<T> {
        or_panic(self.try_forward(log_probs, target))
    }
}

/// Binary cross-entropy on logits (stable for large logits), with an
/// optional weight for positives broadcasting along the last dim.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BceWithLogitsLoss<T: Element> {
    /// Weight of positive examples.
    pub pos_weight: Option<Tensor<T>>,
    /// Reduction (default mean).
    pub reduction: Reduction,
}

impl<T: Element> BceWithLogitsLoss<T> {
    /// With an optional positive weight and a reduction.
    pub fn new(pos_weight: Option<Tensor<T>>, reduction: Reduction) -> Self {
        BceWithLogitsLoss {
            pos_weight,
            reduction,
        }
    }
    /// The loss of `logits` against targets in `[0, 1]` of the same shape.
    pub fn try_forward(&self, logits: &Var<T>, target: &Tensor<T>) -> Result<Var<T>> {
        logits.try_binary_cross_entropy_with_logits(
            target,
            self.pos_weight.as_ref(),
            self.reduction,
        )
    }
    /// Panicking [`BceWithLogitsLoss::try_forward`].
    #[track_caller]
    pub fn forward(&self, logits: &Var<T>, target: &Tensor<T>) -> Var<T> {
        or_panic(self.try_forward(logits, target))
    }
}

/// Huber loss: quadratic within `delta`, linear beyond (default delta 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HuberLoss {
    /// Where quadratic turns linear, > 0.
    pub delta: f64,
    /// Reduction (default mean).
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
    /// With `delta > 0` and a reduction.
    pub fn new(delta: f64, reduction: Reduction) -> Result<Self> {
        positive("HuberLoss", "delta", delta)?;
        Ok(HuberLoss { delta, reduction })
    }
    /// The loss of `input: [*]` against `target` (same shape): a scalar `[]`
    /// when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.try_huber_loss(target, T::of(self.delta), self.reduction)
    }
    /// Panicking [`HuberLoss::try_forward`].
    #[track_caller]
    pub fn forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// Smooth L1 loss: Huber divided by `beta` (default beta 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmoothL1Loss {
    /// Where quadratic turns linear, > 0.
    pub beta: f64,
    /// Reduction (default mean).
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
    /// With `beta > 0` and a reduction.
    pub fn new(beta: f64, reduction: Reduction) -> Result<Self> {
        positive("SmoothL1Loss", "beta", beta)?;
        Ok(SmoothL1Loss { beta, reduction })
    }
    /// The loss of `input: [*]` against `target` (same shape): a scalar `[]`
    /// when reduced, `[*]` with [`Reduction::None`].
    pub fn try_forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.try_smooth_l1_loss(target, T::of(self.beta), self.reduction)
    }
    /// Panicking [`SmoothL1Loss::try_forward`].
    #[track_caller]
    pub fn forward<T: Element>(&self, input: &Var<T>, target: &Var<T>) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}

/// The VAE's KL divergence of `N(mu, exp(logvar))` from `N(0, I)`, per
/// sample over dim 1 of `[N, D]` inputs; mean means per-sample mean.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GaussianKl {
    /// Reduction (default mean over the batch).
    pub reduction: Reduction,
}

impl GaussianKl {
    /// With the given reduction.
    pub fn new(reduction: Reduction) -> Self {
        GaussianKl { reduction }
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

macro_rules! parameterless_module {
    ($($name:ident $(<$g:ident>)?),+) => {
        $(
            impl<T: Element> Module<T> for $name $(<$g>)? {
                fn type_name(&self) -> &'static str {
                    stringify!($name)
                }
            }
        )+
    };
}

parameterless_module!(
    MseLoss,
    SquaredLoss,
    CrossEntropyLoss,
    NllLoss<T>,
    BceWithLogitsLoss<T>,
    HuberLoss,
    SmoothL1Loss,
    GaussianKl
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_modules_match_the_functional_losses_and_validate() {
        let x = Var::constant(Tensor::<f64>::from_vec(vec![0.0, 3.0], &[1, 2]));
        let t = Var::constant(Tensor::<f64>::from_vec(vec![1.0, 0.0], &[1, 2]));
        assert_eq!(MseLoss::default().forward(&x, &t).value().item(), 5.0);
        assert_eq!(SquaredLoss::default().forward(&x, &t).value().item(), 2.5);
        assert!(SquaredLoss::new(Reduction::Sum)
            .try_forward(&x, &Var::constant(Tensor::zeros(&[2])))
            .is_err());
        let h = HuberLoss::new(1.0, Reduction::Sum).unwrap().forward(&x, &t);
        assert_eq!(h.value().item(), 0.5 + 2.5);
        let ce = CrossEntropyLoss::default().forward(&x, &[1]).value().item();
        assert!((ce - (1.0 + (-3.0f64).exp()).ln()).abs() < 1e-12);
        assert!(HuberLoss::new(0.0, Reduction::Mean).is_err());
        assert!(SmoothL1Loss::new(-1.0, Reduction::Mean).is_err());
        assert!(CrossEntropyLoss::new(Reduction::Mean, 1.5).is_err());
        assert!(MseLoss::default()
            .try_forward(&x, &Var::constant(Tensor::zeros(&[2])))
            .is_err());
        let nll = NllLoss::<f64>::default()
            .forward(&x.log_softmax(1), &[1])
            .value()
            .item();
        assert!((nll - ce).abs() < 1e-12);
        let kl = GaussianKl::default().forward(&x, &Var::constant(Tensor::zeros(&[1, 2])));
        assert!((kl.value().item() - 4.5).abs() < 1e-12);
        let bce = BceWithLogitsLoss::<f64>::default()
            .forward(&x, &Tensor::from_vec(vec![1.0, 0.0], &[1, 2]));
        assert!(bce.value().item() > 0.0);
        assert_eq!(
            <MseLoss as Module<f32>>::type_name(&MseLoss::default()),
            "MseLoss"
        );
    }
}
