//! Activation modules: the non-linearities as layers for [`Sequential`](crate::Sequential).
//! Each keeps the input's shape; only [`Prelu`] has parameters.

use nn_autograd::{Parameter, Var};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::{Forward, Module};

macro_rules! stateless_activation {
    ($(#[$doc:meta])* $name:ident, |$s:ident, $x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name;

        impl<T: Element> Module<T> for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }
            fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
                Some(0)
            }
        }

        impl<T: Element> Forward<T> for $name {
            /// Elementwise: `x: [*]` → the same shape.
            fn try_forward(&self, $x: &Var<T>) -> Result<Var<T>> {
                let $s = self;
                let _ = $s;
                Ok($body)
            }
        }
    };
}

stateless_activation!(
    /// `max(0, x)`.
    Relu, |s, x| x.relu()
);
stateless_activation!(
    /// The logistic function `1 / (1 + e^−x)`.
    Sigmoid, |s, x| x.sigmoid()
);
stateless_activation!(
    /// The hyperbolic tangent.
    Tanh, |s, x| x.tanh()
);

/// Activations count as no multiply-accumulates (elementwise work, as in
/// the course's and torchinfo's convention).
const ZERO_MACS: Option<u64> = Some(0);

fn finite(op: &'static str, name: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(TensorError::invalid(
            op,
            format!("{name} = {v} is not finite"),
        ))
    }
}

/// `x` for positive x, `negative_slope·x` otherwise (default slope 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// The slope for negative inputs.
    pub negative_slope: f64,
}

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu {
            negative_slope: 0.01,
        }
    }
}

impl LeakyRelu {
    /// Leaky ReLU with the given slope; errors if it is not finite.
    pub fn new(negative_slope: f64) -> Result<Self> {
        finite("LeakyRelu", "negative_slope", negative_slope)?;
        Ok(LeakyRelu { negative_slope })
    }
}

impl<T: Element> Module<T> for LeakyRelu {
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        ZERO_MACS
    }
}

impl<T: Element> Forward<T> for LeakyRelu {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        Ok(x.leaky_relu(T::of(self.negative_slope)))
    }
}

/// `x` for positive x, `alpha·(eˣ − 1)` otherwise (default alpha 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu {
    /// The saturation level for negative inputs.
    pub alpha: f64,
}

impl Default for Elu {
    fn default() -> Self {
        Elu { alpha: 1.0 }
    }
}

impl Elu {
    /// ELU with the given alpha; errors if it is not finite.
    pub fn new(alpha: f64) -> Result<Self> {
        finite("Elu", "alpha", alpha)?;
        Ok(Elu { alpha })
    }
}

impl<T: Element> Module<T> for Elu {
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        ZERO_MACS
    }
}

impl<T: Element> Forward<T> for Elu {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        Ok(x.elu(T::of(self.alpha)))
    }
}

/// Which GELU formula.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GeluApproximation {
    /// The exact `x·Φ(x)` (PyTorch's default, `approximate='none'`).
    #[default]
    None,
    /// The tanh approximation (`approximate='tanh'`).
    Tanh,
}

/// The Gaussian error linear unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gelu {
    /// Exact or tanh approximation.
    pub approximate: GeluApproximation,
}

impl<T: Element> Module<T> for Gelu {
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        ZERO_MACS
    }
}

impl<T: Element> Forward<T> for Gelu {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        Ok(match self.approximate {
            GeluApproximation::None => x.gelu(),
            GeluApproximation::Tanh => x.gelu_tanh(),
        })
    }
}

/// `ln(1 + e^{βx}) / β`, linear above `threshold` (defaults β = 1, threshold 20).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softplus {
    /// β.
    pub beta: f64,
    /// Above `β·x > threshold` the output is `x`.
    pub threshold: f64,
}

impl Default for Softplus {
    fn default() -> Self {
        Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }
}

impl Softplus {
    /// Softplus with given β (> 0) and threshold.
    pub fn new(beta: f64, threshold: f64) -> Result<Self> {
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(TensorError::invalid(
                "Softplus",
                format!("beta = {beta} must be > 0"),
            ));
        }
        finite("Softplus", "threshold", threshold)?;
        Ok(Softplus { beta, threshold })
    }
}

impl<T: Element> Module<T> for Softplus {
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        ZERO_MACS
    }
}

impl<T: Element> Forward<T> for Softplus {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        Ok(x.softplus(T::of(self.beta), T::of(self.threshold)))
    }
}

/// Softmax along `dim` (may be negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    /// The dim that sums to one.
    pub dim: isize,
}

impl Softmax {
    /// Softmax along `dim`.
    pub fn new(dim: isize) -> Self {
        Softmax { dim }
    }
}

impl<T: Element> Module<T> for Softmax {
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        ZERO_MACS
    }
}

impl<T: Element> Forward<T> for Softmax {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_tensor::AsDim::resolve(self.dim, "Softmax", x.ndim())?;
        Ok(x.softmax(self.dim))
    }
}

/// Log-softmax along `dim` (may be negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSoftmax {
    /// The dim normalised over.
    pub dim: isize,
}

impl LogSoftmax {
    /// Log-softmax along `dim`.
    pub fn new(dim: isize) -> Self {
        LogSoftmax { dim }
    }
}

impl<T: Element> Module<T> for LogSoftmax {
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        ZERO_MACS
    }
}

impl<T: Element> Forward<T> for LogSoftmax {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_tensor::AsDim::resolve(self.dim, "LogSoftmax", x.ndim())?;
        Ok(x.log_softmax(self.dim))
    }
}

/// How to build a [`Prelu`]; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreluConfig {
    /// 1 (one shared slope) or the number of channels (dim 1 of the input).
    pub num_parameters: usize,
    /// The starting slope (default 0.25).
    pub init: f64,
}

impl Default for PreluConfig {
    fn default() -> Self {
        PreluConfig {
            num_parameters: 1,
            init: 0.25,
        }
    }
}

impl PreluConfig {
    /// `num_parameters` slopes starting at 0.25.
    pub fn new(num_parameters: usize) -> Self {
        PreluConfig {
            num_parameters,
            ..Self::default()
        }
    }

    /// Builds the layer; errors on zero slopes or a non-finite start. The
    /// slopes start at a constant, so `_rng` is unused: every layer's `init`
    /// takes one, so that building any model reads the same.
    pub fn init<T: Element>(&self, _rng: &mut Rng) -> Result<Prelu<T>> {
        if self.num_parameters == 0 {
            return Err(TensorError::invalid(
                "PreluConfig",
                "num_parameters = 0 must be > 0",
            ));
        }
        finite("PreluConfig", "init", self.init)?;
        Ok(Prelu {
            weight: Parameter::new(Tensor::full(&[self.num_parameters], T::of(self.init))),
        })
    }
}

/// Parametric ReLU: `x` for positive x, `a·x` otherwise, with learnable
/// slopes `weight [num_parameters]`, one per channel (dim 1) or one shared.
#[derive(Debug, Module)]
#[module(name = "PReLU", macs = crate::summary::zero_macs)]
pub struct Prelu<T: Element> {
    /// The slopes, `[1]` or `[C]`.
    pub weight: Parameter<T>,
}

impl<T: Element> Forward<T> for Prelu<T> {
    /// `x: [N, C, *]` (or any shape with one shared slope) → the same shape.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let n = self.weight.numel();
            let channels = if x.ndim() >= 2 { x.shape()[1] } else { 1 };
            if n != 1 && n != channels {
                return Err(TensorError::shapes(
                    "PReLU",
                    x.shape(),
                    &[n],
                    format!("{n} slopes need {n} channels in dim 1"),
                ));
            }
            Ok(x.prelu(&self.weight.var()))
        })
    }
}
