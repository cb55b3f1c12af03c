//! Parameter groups: which parameters share a learning rate and a weight decay.

use nn_autograd::Parameter;
use nn_tensor::Element;

/// A set of named parameters that share a learning rate and a weight decay,
/// like one entry of PyTorch's `param_groups`.
///
/// A value left unset takes the optimiser config's value. The usual use is
/// to exempt biases and normalisation scales from weight decay:
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_optim::ParamGroup;
/// use nn_tensor::Tensor;
/// let named = vec![
///     ("fc.weight".to_string(), Parameter::new(Tensor::<f32>::zeros(&[2, 3]))),
///     ("fc.bias".to_string(), Parameter::new(Tensor::<f32>::zeros(&[2]))),
/// ];
/// let groups = ParamGroup::split_weight_decay(named, 0.01);
/// assert_eq!(groups[0].weight_decay(), Some(0.01)); // fc.weight
/// assert_eq!(groups[1].weight_decay(), Some(0.0)); // fc.bias
/// ```
#[derive(Clone, Debug)]
pub struct ParamGroup<T: Element> {
    pub(crate) params: Vec<(String, Parameter<T>)>,
    pub(crate) lr: Option<f64>,
    pub(crate) weight_decay: Option<f64>,
}

impl<T: Element> ParamGroup<T> {
    /// A group of named parameters (what `module.named_parameters()` returns),
    /// using the config's learning rate and weight decay.
    pub fn new(params: Vec<(String, Parameter<T>)>) -> Self {
        ParamGroup {
            params,
            lr: None,
            weight_decay: None,
        }
    }

    /// Sets this group's learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = Some(lr);
        self
    }

    /// Sets this group's weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = Some(weight_decay);
        self
    }

    /// The learning rate set on this group, if any.
    pub fn lr(&self) -> Option<f64> {
        self.lr
    }

    /// The weight decay set on this group, if any.
    pub fn weight_decay(&self) -> Option<f64> {
        self.weight_decay
    }

    /// The named parameters of the group.
    pub fn params(&self) -> &[(String, Parameter<T>)] {
        &self.params
    }

    /// Splits parameters into two groups: matrices and kernels (two or more
    /// dimensions) decay with `weight_decay`; vectors and scalars (biases,
    /// normalisation weights and biases) do not. Decaying those only pulls
    /// shifts and scales towards zero, which hurts more than it regularises.
    /// Either group may be empty.
    pub fn split_weight_decay(params: Vec<(String, Parameter<T>)>, weight_decay: f64) -> Vec<Self> {
        let (decay, no_decay): (Vec<_>, Vec<_>) =
            params.into_iter().partition(|(_, p)| p.shape().len() >= 2);
        vec![
            ParamGroup::new(decay).with_weight_decay(weight_decay),
            ParamGroup::new(no_decay).with_weight_decay(0.0),
        ]
    }
}

/// The per-group hyper-parameters a rule receives at each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupHyper {
    /// The group's current learning rate.
    pub lr: f64,
    /// The group's weight decay.
    pub weight_decay: f64,
}
