//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use nn_tensor::{Element, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{check, OptimError, Result};
use crate::group::GroupHyper;
use crate::optimizer::Optimizer;
use crate::rule::{config_methods, required, rule_basics, UpdateRule};

/// An SGD optimiser: [`Optimizer`] running the [`SgdConfig`] rule.
pub type Sgd<T> = Optimizer<T, SgdConfig>;

/// The hyper-parameters of SGD, with PyTorch's defaults (`torch.optim.SGD`).
///
/// Per step, with `g` the gradient:
/// `g ← g + weight_decay·p`; with momentum, `buf ← g` on the first step
/// (no dampening) and `buf ← momentum·buf + (1 − dampening)·g` after, then
/// `g ← g + momentum·buf` (Nesterov) or `g ← buf`; finally `p ← p − lr·g`.
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_optim::SgdConfig;
/// use nn_tensor::Tensor;
/// let w = Parameter::new(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
/// let mut opt = SgdConfig::new(0.1).with_momentum(0.9).init(vec![("w".into(), w.clone())]).unwrap();
/// let grads = w.var().square().sum().backward(); // d/dw Σw² = 2w
/// opt.step(&grads);
/// assert_eq!(w.value().to_vec(), vec![0.8, 1.6]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Momentum factor (default 0: plain SGD).
    pub momentum: f64,
    /// Dampening of the gradient in the momentum buffer (default 0).
    pub dampening: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false; needs momentum > 0 and no dampening).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

config_methods!(SgdConfig, Sgd);

impl SgdConfig {
    /// Sets the momentum factor.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening.
    pub fn with_dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Sets the weight decay (L2 penalty).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

/// The per-parameter state of SGD: the momentum buffer, created on the
/// first step when momentum is on.
#[derive(Clone, Debug)]
pub struct SgdState<T: Element> {
    /// `momentum_buffer` in PyTorch; `None` before the first step or without momentum.
    pub momentum_buffer: Option<Tensor<T>>,
}

impl<T: Element> UpdateRule<T> for SgdConfig {
    rule_basics!("sgd", "SGD", SgdState<T>);

    fn validate(&self) -> Result<()> {
        let op = <Self as UpdateRule<T>>::DISPLAY;
        check::lr(op, self.lr)?;
        check::non_negative(op, "momentum", self.momentum)?;
        check::unit_interval(op, "dampening", self.dampening)?;
        check::non_negative(op, "weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::invalid(
                op,
                "nesterov",
                format!(
                    "true (momentum = {}, dampening = {})",
                    self.momentum, self.dampening
                ),
                "momentum > 0 and dampening = 0 for Nesterov momentum",
            ));
        }
        Ok(())
    }

    fn init_state(&self, _param: &Tensor<T>) -> SgdState<T> {
        SgdState {
            momentum_buffer: None,
        }
    }

    fn update(
        &self,
        param: &mut Tensor<T>,
        grad: &Tensor<T>,
        state: &mut SgdState<T>,
        h: GroupHyper,
        _t: u64,
    ) {
        let shape = grad.shape().to_vec();
        let (param, grad) = (param.as_mut_slice(), grad.as_slice());
        let lr = T::of(h.lr);
        let wd = T::of(h.weight_decay);
        let momentum = T::of(self.momentum);
        let keep = T::of(1.0 - self.dampening);
        let decayed = |p: T, g: T| if h.weight_decay != 0.0 { g + wd * p } else { g };
        if self.momentum == 0.0 {
            for (p, &g) in param.iter_mut().zip(grad) {
                *p -= lr * decayed(*p, g);
            }
            return;
        }
        match state.momentum_buffer.as_mut() {
            None => {
                // PyTorch's first step copies the gradient into the buffer
                // undampened.
                let buf: Vec<T> = param
                    .iter()
                    .zip(grad)
                    .map(|(&p, &g)| decayed(p, g))
                    .collect();
                for (p, &b) in param.iter_mut().zip(&buf) {
                    let g = if self.nesterov { b + momentum * b } else { b };
                    *p -= lr * g;
                }
                state.momentum_buffer = Some(Tensor::from_vec(buf, &shape));
            }
            Some(buf) => {
                for ((p, &g), b) in param.iter_mut().zip(grad).zip(buf.as_mut_slice()) {
                    let g = decayed(*p, g);
                    *b = momentum * *b + keep * g;
                    let step = if self.nesterov { g + momentum * *b } else { *b };
                    *p -= lr * step;
                }
            }
        }
    }

    fn state_tensors(&self, state: &SgdState<T>) -> Vec<(&'static str, Tensor<T>)> {
        state
            .momentum_buffer
            .iter()
            .map(|b| ("momentum_buffer", b.clone()))
            .collect()
    }

    fn state_from_tensors(
        &self,
        param: &Tensor<T>,
        take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
    ) -> Result<SgdState<T>> {
        // A missing buffer is legitimate: plain SGD, or no step taken yet.
        let _ = param;
        let buf = if self.momentum != 0.0 {
            Some(required(take, "SGD with momentum", "momentum_buffer")?)
        } else {
            take("momentum_buffer")
        };
        Ok(SgdState {
            momentum_buffer: buf,
        })
    }
}
