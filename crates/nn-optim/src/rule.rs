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
