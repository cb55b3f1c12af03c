//! [`LayerNorm`]: normalisation over each sample's trailing dims.

use nn_autograd::{Parameter, Var};
use nn_tensor::{Element, Result, Tensor, TensorError};

use crate::functional;
use crate::module::{Forward, Module};

/// How to build a [`LayerNorm`]; the defaults are PyTorch's.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// The trailing dims normalised over (e.g. `[d_model]`).
    pub normalized_shape: Vec<usize>,
    /// Added to the variance (default 1e-5), > 0.
    pub eps: f64,
    /// Learn `weight` (starts at 1) and `bias` (starts at 0) (default `true`).
    pub elementwise_affine: bool,
    /// Learn the `bias` when affine (default `true`).
    pub bias: bool,
}

impl LayerNormConfig {
    /// Layer norm over `normalized_shape` with PyTorch's defaults.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNormConfig {
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
        }
    }

    /// With another `eps`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Builds the layer; errors on an empty or zero-sized shape or `eps <= 0`.
    pub fn init<T: Element>(&self) -> Result<LayerNorm<T>> {
        let s = &self.normalized_shape;
        if s.is_empty() || s.contains(&0) {
            return Err(TensorError::invalid(
                "LayerNormConfig",
                format!("normalized_shape {s:?} must be non-empty with no zero dim"),
            ));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(TensorError::invalid(
                "LayerNormConfig",
                format!("eps = {} must be > 0", self.eps),
            ));
        }
        let affine = self.elementwise_affine;
        Ok(LayerNorm {
            normalized_shape: s.clone(),
            eps: self.eps,
            weight: affine.then(|| Parameter::new(Tensor::ones(s))),
            bias: (affine && self.bias).then(|| Parameter::new(Tensor::zeros(s))),
        })
    }
}

/// Layer normalisation (`torch.nn.LayerNorm`): each sample is normalised
/// over its trailing `normalized_shape` dims, then scaled and shifted.
///
/// * input `[..., *normalized_shape]`, output the same shape;
/// * parameters `weight` and `bias`, shaped `normalized_shape`.
///
/// ```
/// use nn_layers::prelude::*;
/// let ln = LayerNormConfig::new(&[3]).init::<f64>().unwrap();
/// let y = ln.forward(&Var::constant(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3])));
/// assert!(y.value().sum_all().item().abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm<T: Element> {
    normalized_shape: Vec<usize>,
    eps: f64,
    /// Scale, shaped `normalized_shape`.
    pub weight: Option<Parameter<T>>,
    /// Shift, shaped `normalized_shape`.
    pub bias: Option<Parameter<T>>,
}

impl<T: Element> LayerNorm<T> {
    /// The normalised trailing shape.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The `eps` added to the variance.
    pub fn eps(&self) -> f64 {
        self.eps
    }
}

impl<T: Element> Module<T> for LayerNorm<T> {
    /// One scale-and-shift per output element (statistics not counted).
    fn macs(&self, _: &[usize], output_shape: &[usize]) -> Option<u64> {
        Some(output_shape.iter().product::<usize>() as u64)
    }
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        if let Some(w) = &self.weight {
            f("weight", w);
        }
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
}

impl<T: Element> Forward<T> for LayerNorm<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        let w = self.weight.as_ref().map(|p| p.var());
        let b = self.bias.as_ref().map(|p| p.var());
        functional::layer_norm(x, &self.normalized_shape, w.as_ref(), b.as_ref(), self.eps)
            .map_err(|e| TensorError::invalid("LayerNorm", e.to_string()))
    }
}
