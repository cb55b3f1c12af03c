//! [`Linear`]: the fully connected layer `y = x·Wᵀ + b`.

use nn_autograd::{Parameter, Var};
use nn_tensor::{Element, Result, Rng, TensorError};

use crate::functional;
use crate::init::{self, Initializer};
use crate::{Forward, Module};

/// How to build a [`Linear`]; the defaults are PyTorch's.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConfig {
    /// Size of each input sample.
    pub in_features: usize,
    /// Size of each output sample.
    pub out_features: usize,
    /// Whether to learn an additive bias (default `true`).
    pub bias: bool,
    /// How the weight starts (default PyTorch's `kaiming_uniform(a=√5)`,
    /// i.e. `U(±1/√in_features)`). The bias is `U(±1/√in_features)`, as in PyTorch,
    /// unless [`LinearConfig::bias_initializer`] says otherwise.
    pub initializer: Initializer,
    /// How the bias starts: `None` (the default) is PyTorch's
    /// `U(±1/√in_features)`; a constant such as 0, or 0.01 under ReLU (course
    /// section 7.1), is `Some(Initializer::Constant(0.01))`.
    pub bias_initializer: Option<Initializer>,
}

impl LinearConfig {
    /// A layer from `in_features` to `out_features` with PyTorch's defaults.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
            initializer: Initializer::PYTORCH_DEFAULT,
            bias_initializer: None,
        }
    }

    /// With or without a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// With another weight initialiser.
    pub fn with_initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = initializer;
        self
    }

    /// With a bias initialiser instead of PyTorch's default, e.g. the
    /// constant 0.01 the course suggests under ReLU:
    ///
    /// ```
    /// use nn_layers::{Initializer, LinearConfig};
    /// use nn_tensor::Rng;
    /// let fc = LinearConfig::new(3, 2)
    ///     .with_bias_initializer(Initializer::Constant(0.01))
    ///     .init::<f64>(&mut Rng::seed_from(0))
    ///     .unwrap();
    /// assert_eq!(fc.bias.unwrap().value().to_vec(), vec![0.01, 0.01]);
    /// ```
    pub fn with_bias_initializer(mut self, initializer: Initializer) -> Self {
        self.bias_initializer = Some(initializer);
        self
    }

    /// Builds the layer, drawing its weights from `rng`; errors on a zero size.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Linear<T>> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err(TensorError::invalid(
                "LinearConfig",
                format!(
                    "in_features = {} and out_features = {} must both be > 0",
                    self.in_features, self.out_features
                ),
            ));
        }
        let weight = self
            .initializer
            .init(&[self.out_features, self.in_features], rng)?;
        let bound = 1.0 / (self.in_features as f64).sqrt();
        let bias = match (self.bias, &self.bias_initializer) {
            (false, _) => None,
            (true, Some(b)) => Some(Parameter::new(b.init(&[self.out_features], rng)?)),
            (true, None) => Some(Parameter::new(init::uniform(
                &[self.out_features],
                -bound,
                bound,
                rng,
            )?)),
        };
        Ok(Linear {
            weight: Parameter::new(weight),
            bias,
        })
    }
}

/// A fully connected layer: `y = x·weightᵀ + bias`.
///
/// * input `[..., in_features]` (any leading batch dims);
/// * output `[..., out_features]`;
/// * parameters `weight [out_features, in_features]`, `bias [out_features]`.
///
/// ```
/// use nn_layers::prelude::*;
/// let fc = LinearConfig::new(3, 2).init::<f64>(&mut Rng::seed_from(0)).unwrap();
/// let y = fc.forward(&Tensor::ones(&[5, 3]));
/// assert_eq!(y.shape(), &[5, 2]);
/// assert!(fc.try_forward(&Var::constant(Tensor::ones(&[5, 4]))).is_err());
/// ```
#[derive(Clone, Debug, Module)]
#[module(macs = Self::count_macs)]
pub struct Linear<T: Element> {
    /// `[out_features, in_features]`.
    pub weight: Parameter<T>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Parameter<T>>,
}

impl<T: Element> Linear<T> {
    /// A layer from given tensors (for example loaded weights).
    pub fn from_parameters(weight: Parameter<T>, bias: Option<Parameter<T>>) -> Self {
        Linear { weight, bias }
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }

    /// One multiply-accumulate per weight per output row: `output elements × in_features`.
    fn count_macs(&self, _input_shape: &[usize], output_shape: &[usize]) -> Option<u64> {
        Some(output_shape.iter().product::<usize>() as u64 * self.in_features() as u64)
    }
}

impl<T: Element> Forward<T> for Linear<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let b = self.bias.as_ref().map(|b| b.var());
            functional::linear(x, &self.weight.var(), b.as_ref()).map_err(|e| match e {
                TensorError::ShapeMismatch {
                    lhs, rhs, reason, ..
                } => TensorError::ShapeMismatch {
                    op: "Linear",
                    lhs,
                    rhs,
                    reason,
                },
                e => e,
            })
        })
    }
}
