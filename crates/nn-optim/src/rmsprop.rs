//! RMSprop, plain or centred, with optional momentum.

use nn_tensor::{Element, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::group::GroupHyper;
use crate::optimizer::Optimizer;
use crate::rule::{config_methods, required, rule_basics, UpdateRule};

/// An RMSprop optimiser: [`Optimizer`] running the [`RmsPropConfig`] rule.
pub type RmsProp<T> = Optimizer<T, RmsPropConfig>;

/// The hyper-parameters of RMSprop, with PyTorch's defaults (`torch.optim.RMSprop`).
///
/// Per step: `g ← g + weight_decay·p`; `s ← α·s + (1−α)·g²`; centred:
/// `ḡ ← α·ḡ + (1−α)·g` and `den = sqrt(s − ḡ²) + eps`, else
/// `den = sqrt(s) + eps`; with momentum `buf ← momentum·buf + g/den` and
/// `p ← p − lr·buf`, else `p ← p − lr·g/den`.
///
/// ```
/// use nn_optim::RmsPropConfig;
/// let cfg = RmsPropConfig::new(0.01).with_centered(true).with_momentum(0.9);
/// assert_eq!(cfg.alpha, 0.99);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average (default 0.99).
    pub alpha: f64,
    /// Added to the denominator for stability (default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// Momentum factor (default 0).
    pub momentum: f64,
    /// Normalise by the estimated variance instead of the second moment (default false).
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

config_methods!(RmsPropConfig, RmsProp);

impl RmsPropConfig {
    /// Sets the smoothing constant α.
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets eps.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the weight decay (L2 penalty).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum factor.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns the centred variant on or off.
    pub fn with_centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

/// The per-parameter state of RMSprop.
#[derive(Clone, Debug)]
pub struct RmsPropState<T: Element> {
    /// Running average of squared gradients (`square_avg`).
    pub square_avg: Tensor<T>,
    /// Running average of gradients (`grad_avg`), centred only.
    pub grad_avg: Option<Tensor<T>>,
    /// Momentum buffer (`momentum_buffer`), with momentum only.
    pub momentum_buffer: Option<Tensor<T>>,
}

impl<T: Element> UpdateRule<T> for RmsPropConfig {
    rule_basics!("rmsprop", "RMSprop", RmsPropState<T>);

    fn validate(&self) -> Result<()> {
        let op = <Self as UpdateRule<T>>::DISPLAY;
        check::lr(op, self.lr)?;
        check::non_negative(op, "alpha", self.alpha)?;
        check::non_negative(op, "eps", self.eps)?;
        check::non_negative(op, "weight_decay", self.weight_decay)?;
        check::non_negative(op, "momentum", self.momentum)
    }

    fn init_state(&self, param: &Tensor<T>) -> RmsPropState<T> {
        RmsPropState {
            square_avg: param.zeros_like(),
            grad_avg: self.centered.then(|| param.zeros_like()),
            momentum_buffer: (self.momentum > 0.0).then(|| param.zeros_like()),
        }
    }

    fn update(
        &self,
        param: &mut Tensor<T>,
        grad: &Tensor<T>,
        state: &mut RmsPropState<T>,
        h: GroupHyper,
        _t: u64,
    ) {
        let (lr, wd) = (T::of(h.lr), T::of(h.weight_decay));
        let (alpha, eps, momentum) = (T::of(self.alpha), T::of(self.eps), T::of(self.momentum));
        let one_alpha = T::one() - alpha;
        let p = param.as_mut_slice();
        let s = state.square_avg.as_mut_slice();
        let mut gbar = state.grad_avg.as_mut().map(|t| t.as_mut_slice());
        let mut buf = state.momentum_buffer.as_mut().map(|t| t.as_mut_slice());
        for (i, &g) in grad.as_slice().iter().enumerate() {
            let g = g + wd * p[i];
            s[i] = alpha * s[i] + one_alpha * g * g;
            let den = match gbar.as_deref_mut() {
                Some(ga) => {
                    ga[i] = alpha * ga[i] + one_alpha * g;
                    (s[i] - ga[i] * ga[i]).sqrt() + eps
                }
                None => s[i].sqrt() + eps,
            };
            match buf.as_deref_mut() {
                Some(b) => {
                    b[i] = momentum * b[i] + g / den;
                    p[i] -= lr * b[i];
                }
                None => p[i] -= lr * g / den,
            }
        }
    }

    fn state_tensors(&self, state: &RmsPropState<T>) -> Vec<(&'static str, Tensor<T>)> {
        let mut out = vec![("square_avg", state.square_avg.clone())];
        if let Some(g) = &state.grad_avg {
            out.push(("grad_avg", g.clone()));
        }
        if let Some(b) = &state.momentum_buffer {
            out.push(("momentum_buffer", b.clone()));
        }
        out
    }

    fn state_from_tensors(
        &self,
        _param: &Tensor<T>,
        take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
    ) -> Result<RmsPropState<T>> {
        let rule = <Self as UpdateRule<T>>::DISPLAY;
        Ok(RmsPropState {
            square_avg: required(take, rule, "square_avg")?,
            grad_avg: if self.centered {
                Some(required(take, rule, "grad_avg")?)
            } else {
                None
            },
            momentum_buffer: if self.momentum > 0.0 {
                Some(required(take, rule, "momentum_buffer")?)
            } else {
                None
            },
        })
    }
}
