//! Adagrad, with learning-rate decay and an initial accumulator.

use nn_tensor::{Element, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::group::GroupHyper;
use crate::optimizer::Optimizer;
use crate::rule::{config_methods, required, rule_basics, UpdateRule};

/// An Adagrad optimiser: [`Optimizer`] running the [`AdagradConfig`] rule.
pub type Adagrad<T> = Optimizer<T, AdagradConfig>;

/// The hyper-parameters of Adagrad, with PyTorch's defaults (`torch.optim.Adagrad`).
///
/// Per step: `g ← g + weight_decay·p`; `clr = lr / (1 + (t−1)·lr_decay)`;
/// `sum ← sum + g²` (starting at `initial_accumulator_value`);
/// `p ← p − clr·g/(sqrt(sum) + eps)`.
///
/// ```
/// use nn_optim::AdagradConfig;
/// let cfg = AdagradConfig::new(0.1).with_lr_decay(0.01);
/// assert_eq!(cfg.eps, 1e-10);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdagradConfig {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Learning-rate decay per step (default 0).
    pub lr_decay: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// Starting value of the squared-gradient sum (default 0).
    pub initial_accumulator_value: f64,
    /// Added to the denominator for stability (default 1e-10).
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

config_methods!(AdagradConfig, Adagrad);

impl AdagradConfig {
    /// Sets the learning-rate decay.
    pub fn with_lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }

    /// Sets the weight decay (L2 penalty).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the starting value of the accumulator.
    pub fn with_initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }

    /// Sets eps.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

/// The per-parameter state of Adagrad.
#[derive(Clone, Debug)]
pub struct AdagradState<T: Element> {
    /// The sum of squared gradients (`sum`).
    pub sum: Tensor<T>,
}

impl<T: Element> UpdateRule<T> for AdagradConfig {
    rule_basics!("adagrad", "Adagrad", AdagradState<T>);

    fn validate(&self) -> Result<()> {
        let op = <Self as UpdateRule<T>>::DISPLAY;
        check::lr(op, self.lr)?;
        check::non_negative(op, "lr_decay", self.lr_decay)?;
        check::non_negative(op, "weight_decay", self.weight_decay)?;
        check::non_negative(
            op,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        check::non_negative(op, "eps", self.eps)
    }

    fn init_state(&self, param: &Tensor<T>) -> AdagradState<T> {
        AdagradState {
            sum: Tensor::full(param.shape(), T::of(self.initial_accumulator_value)),
        }
    }

    fn update(
        &self,
        param: &mut Tensor<T>,
        grad: &Tensor<T>,
        state: &mut AdagradState<T>,
        h: GroupHyper,
        t: u64,
    ) {
        let clr = T::of(h.lr / (1.0 + (t - 1) as f64 * self.lr_decay));
        let (wd, eps) = (T::of(h.weight_decay), T::of(self.eps));
        let p = param.as_mut_slice();
        let sum = state.sum.as_mut_slice();
        for (i, &g) in grad.as_slice().iter().enumerate() {
            let g = g + wd * p[i];
            sum[i] += g * g;
            p[i] -= clr * g / (sum[i].sqrt() + eps);
        }
    }

    fn state_tensors(&self, state: &AdagradState<T>) -> Vec<(&'static str, Tensor<T>)> {
        vec![("sum", state.sum.clone())]
    }

    fn state_from_tensors(
        &self,
        _param: &Tensor<T>,
        take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
    ) -> Result<AdagradState<T>> {
        Ok(AdagradState {
            sum: required(take, <Self as UpdateRule<T>>::DISPLAY, "sum")?,
        })
    }
}
