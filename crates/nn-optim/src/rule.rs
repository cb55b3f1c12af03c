//! [`UpdateRule`]: an optimisation algorithm as a pure per-parameter step.

use std::fmt::Debug;

use nn_tensor::{Element, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;
use crate::group::GroupHyper;

/// One optimisation algorithm, reduced to what it does to a single
/// parameter: given the parameter, its gradient, its state, the group's
/// hyper-parameters and the step number `t` (from 1), update the parameter
/// and the state in place.
///
/// Everything else (walking the parameter groups, skipping frozen
/// parameters and those without a gradient, clipping, counting steps,
/// saving and loading) is done once, by [`Optimizer`](crate::Optimizer).
/// The implementing type is the algorithm's config, so its hyper-parameters
/// are saved with the state and restored on load.
pub trait UpdateRule<T: Element>:
    Clone + Debug + Serialize + DeserializeOwned + Send + Sync
{
    /// The algorithm's name, as stored in state files (`"sgd"`, `"adam"`, ...).
    const NAME: &'static str;
    /// The name used in error messages (`"SGD"`, `"Adam"`, ...).
    const DISPLAY: &'static str;

    /// The state kept for each parameter.
    type State: Clone + Debug + Send + Sync;

    /// The learning rate of groups that do not set their own.
    fn lr(&self) -> f64;

    /// The weight decay of groups that do not set their own.
    fn weight_decay(&self) -> f64;

    /// Checks every hyper-parameter, naming the first bad one and its value.
    fn validate(&self) -> Result<()>;

    /// The state of a parameter before its first step.
    fn init_state(&self, param: &Tensor<T>) -> Self::State;

    /// Applies step `t` (counting from 1) to one parameter. `param` and
    /// `grad` have the same shape, and so has every state tensor.
    fn update(
        &self,
        param: &mut Tensor<T>,
        grad: &Tensor<T>,
        state: &mut Self::State,
        hyper: GroupHyper,
        t: u64,
    );

    /// The state's tensors under PyTorch's keys (`"exp_avg"`, ...), for saving.
    fn state_tensors(&self, state: &Self::State) -> Vec<(&'static str, Tensor<T>)>;

    /// Rebuilds a state from saved tensors. `take(key)` hands out the tensor
    /// saved under `key` (already checked to have the parameter's shape), or
    /// `None`; a key the rule needs but does not find is an error.
    fn state_from_tensors(
        &self,
        param: &Tensor<T>,
        take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
    ) -> Result<Self::State>;
}

/// Takes a required state tensor, or explains which one is missing.
pub(crate) fn required<T: Element>(
    take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
    rule: &str,
    key: &'static str,
) -> Result<Tensor<T>> {
    take(key).ok_or_else(|| {
        crate::OptimError::state(format!(
            "{rule} needs the state tensor `{key}`, which the saved state lacks"
        ))
    })
}

/// The inherent methods that every optimiser config has and that read the
/// same in all of them: `new(lr)` (PyTorch's defaults with that learning
/// rate), `validate` (the rule's own checks, callable without naming an
/// element type), `init` and `init_groups`. `$optimizer` is the config's
/// [`Optimizer`](crate::Optimizer) alias (`Sgd`, `Adam`, ...).
macro_rules! config_methods {
    ($config:ident, $optimizer:ident) => {
        impl $config {
            /// PyTorch's defaults with the given learning rate.
            pub fn new(lr: f64) -> Self {
                $config {
                    lr,
                    ..Self::default()
                }
            }

            /// Checks every hyper-parameter; the error names the first bad one and its value.
            pub fn validate(&self) -> $crate::error::Result<()> {
                <Self as $crate::rule::UpdateRule<f64>>::validate(self)
            }

            /// An optimiser over one group of named parameters.
            pub fn init<T: ::nn_tensor::Element>(
                &self,
                params: Vec<(String, ::nn_autograd::Parameter<T>)>,
            ) -> $crate::error::Result<$optimizer<T>> {
                $crate::optimizer::Optimizer::new(self.clone(), params)
            }

            /// An optimiser over several parameter groups.
            pub fn init_groups<T: ::nn_tensor::Element>(
                &self,
                groups: Vec<$crate::group::ParamGroup<T>>,
            ) -> $crate::error::Result<$optimizer<T>> {
                $crate::optimizer::Optimizer::with_groups(self.clone(), groups)
            }
        }
    };
}
pub(crate) use config_methods;

/// The items of an [`UpdateRule`] impl that only restate the config: the
/// names, the state type, and the config's `lr` and `weight_decay` fields
/// as the defaults of groups that set neither. Used inside the impl block.
macro_rules! rule_basics {
    ($name:literal, $display:literal, $state:ty) => {
        const NAME: &'static str = $name;
        const DISPLAY: &'static str = $display;
        type State = $state;

        fn lr(&self) -> f64 {
            self.lr
        }

        fn weight_decay(&self) -> f64 {
            self.weight_decay
        }
    };
}
pub(crate) use rule_basics;
