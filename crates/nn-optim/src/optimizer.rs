//! [`Optimizer`]: the one traversal every algorithm shares.

use std::collections::HashSet;

use nn_autograd::{Gradients, Parameter};
use nn_tensor::{Element, Tensor};

use crate::clip::GradClip;
use crate::error::{check, OptimError, Result};
use crate::group::{GroupHyper, ParamGroup};
use crate::rule::UpdateRule;
use nn_tensor::or_panic;

/// One parameter under optimisation, with its step count and state.
#[derive(Clone, Debug)]
pub(crate) struct Slot<T: Element, S> {
    pub(crate) name: String,
    pub(crate) param: Parameter<T>,
    /// Steps taken on this parameter (PyTorch's per-parameter `step`).
    pub(crate) steps: u64,
    /// `None` until the first step.
    pub(crate) state: Option<S>,
}

#[derive(Clone, Debug)]
pub(crate) struct Group<T: Element, S> {
    pub(crate) lr: f64,
    pub(crate) weight_decay: f64,
    pub(crate) slots: Vec<Slot<T, S>>,
}

/// Read and set the learning rate of each parameter group: what a
/// learning-rate schedule needs from an optimiser.
pub trait LearningRates {
    /// The number of parameter groups.
    fn num_groups(&self) -> usize;
    /// The learning rate of group `group`.
    fn group_lr(&self, group: usize) -> f64;
    /// Sets the learning rate of group `group`.
    fn set_group_lr(&mut self, group: usize, lr: f64);
}

/// An optimiser: parameter groups, per-parameter state, and an
/// [`UpdateRule`] that says how one parameter moves.
///
/// [`Optimizer::step`] walks every group; it skips frozen parameters and
/// those without a gradient in the store (their state and step count do
/// not change), clips the remaining gradients if asked to, and hands each
/// parameter to the rule with its own step count.
///
/// Usually built through a config, e.g. [`AdamConfig::init`](crate::AdamConfig::init):
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_optim::{AdamWConfig, GradClip, ParamGroup};
/// use nn_tensor::Tensor;
/// let w = Parameter::new(Tensor::<f32>::ones(&[2, 2]));
/// let b = Parameter::new(Tensor::<f32>::zeros(&[2]));
/// let named = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
/// let mut opt = AdamWConfig::new(1e-2)
///     .init_groups(ParamGroup::split_weight_decay(named, 0.1))
///     .unwrap()
///     .with_grad_clipping(GradClip::Norm { max_norm: 1.0, norm_type: 2.0 })
///     .unwrap();
/// let loss = w.var().sum().add(&b.var().sum());
/// opt.step(&loss.backward());
/// assert_eq!(opt.step_count("w"), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct Optimizer<T: Element, R: UpdateRule<T>> {
    pub(crate) rule: R,
    pub(crate) groups: Vec<Group<T, R::State>>,
    pub(crate) clip: Option<GradClip>,
    pub(crate) last_grad_norm: Option<f64>,
}

impl<T: Element, R: UpdateRule<T>> Optimizer<T, R> {
    /// An optimiser over one group of named parameters with the rule's
    /// learning rate and weight decay.
    pub fn new(rule: R, params: Vec<(String, Parameter<T>)>) -> Result<Self> {
        Self::with_groups(rule, vec![ParamGroup::new(params)])
    }

    /// An optimiser over several parameter groups. Errors on a bad
    /// hyper-parameter, or on a name or parameter that appears twice.
    pub fn with_groups(rule: R, groups: Vec<ParamGroup<T>>) -> Result<Self> {
        rule.validate()?;
        let op = R::DISPLAY;
        let mut names = HashSet::new();
        let mut ids = HashSet::new();
        let mut built = Vec::with_capacity(groups.len());
        for (gi, g) in groups.into_iter().enumerate() {
            let lr = g.lr.unwrap_or(rule.lr());
            let weight_decay = g.weight_decay.unwrap_or(rule.weight_decay());
            check::lr(op, lr)
                .and_then(|_| check::non_negative(op, "weight_decay", weight_decay))
                .map_err(|e| in_group(e, gi))?;
            let mut slots = Vec::with_capacity(g.params.len());
            for (name, param) in g.params {
                if !names.insert(name.clone()) {
                    return Err(OptimError::InvalidParams {
                        op,
                        message: format!("the parameter name `{name}` appears twice"),
                    });
                }
                if !ids.insert(param.id()) {
                    return Err(OptimError::InvalidParams {
                        op,
                        message: format!(
                            "the parameter `{name}` was already given under another name or in another group"
                        ),
                    });
                }
                slots.push(Slot {
                    name,
                    param,
                    steps: 0,
                    state: None,
                });
            }
            built.push(Group {
                lr,
                weight_decay,
                slots,
            });
        }
        Ok(Optimizer {
            rule,
            groups: built,
            clip: None,
            last_grad_norm: None,
        })
    }

    /// Clips the gradients of the parameters being updated before every
    /// step (the caller's gradient store is left as it is).
    pub fn with_grad_clipping(mut self, clip: GradClip) -> Result<Self> {
        clip.validate()?;
        self.clip = Some(clip);
        Ok(self)
    }

    /// The rule and its hyper-parameters.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    /// The gradient clipping applied at each step, if any.
    pub fn grad_clipping(&self) -> Option<GradClip> {
        self.clip
    }

    /// The total gradient norm before clipping at the last step, when
    /// clipping by norm (useful to log).
    pub fn last_grad_norm(&self) -> Option<f64> {
        self.last_grad_norm
    }

    /// Updates every trainable parameter that has a gradient in `grads`.
    ///
    /// All gradients are checked before any parameter changes, so an error
    /// leaves the optimiser and the parameters as they were.
    pub fn try_step(&mut self, grads: &Gradients<T>) -> Result<()> {
        // (group, slot, gradient) for every parameter to update.
        let mut todo: Vec<(usize, usize)> = Vec::new();
        let mut todo_grads: Vec<Tensor<T>> = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            for (si, slot) in g.slots.iter().enumerate() {
                if !slot.param.is_trainable() {
                    continue;
                }
                let Some(grad) = grads.get_id(slot.param.id()) else {
                    continue;
                };
                let shape = slot.param.shape();
                if grad.shape() != shape.as_slice() {
                    return Err(OptimError::ShapeMismatch {
                        op: R::DISPLAY,
                        param: slot.name.clone(),
                        param_shape: shape,
                        grad_shape: grad.shape().to_vec(),
                    });
                }
                todo.push((gi, si));
                todo_grads.push(grad.clone());
            }
        }
        if let Some(clip) = self.clip {
            self.last_grad_norm = clip.apply(&mut todo_grads);
        }
        for ((gi, si), grad) in todo.into_iter().zip(todo_grads) {
            let group = &mut self.groups[gi];
            let hyper = GroupHyper {
                lr: group.lr,
                weight_decay: group.weight_decay,
            };
            let slot = &mut group.slots[si];
            let rule = &self.rule;
            slot.steps += 1;
            let t = slot.steps;
            let state = slot
                .state
                .get_or_insert_with(|| rule.init_state(&slot.param.value()));
            slot.param
                .update(|p| rule.update(p, &grad, state, hyper, t));
        }
        Ok(())
    }

    /// Panicking [`Optimizer::try_step`].
    #[track_caller]
    pub fn step(&mut self, grads: &Gradients<T>) {
        or_panic(self.try_step(grads))
    }

    /// The learning rate of the first group (the only one, usually).
    pub fn lr(&self) -> f64 {
        self.groups.first().map_or(self.rule.lr(), |g| g.lr)
    }

    /// Sets the learning rate of every group.
    pub fn set_lr(&mut self, lr: f64) {
        self.groups.iter_mut().for_each(|g| g.lr = lr);
    }

    /// The weight decay of group `group`.
    #[track_caller]
    pub fn group_weight_decay(&self, group: usize) -> f64 {
        self.group(group).weight_decay
    }

    /// Sets the weight decay of group `group`.
    #[track_caller]
    pub fn set_group_weight_decay(&mut self, group: usize, weight_decay: f64) {
        self.group_mut(group).weight_decay = weight_decay;
    }

    /// The names of the parameters of group `group`, in order.
    #[track_caller]
    pub fn group_param_names(&self, group: usize) -> Vec<&str> {
        self.group(group)
            .slots
            .iter()
            .map(|s| s.name.as_str())
            .collect()
    }

    /// The number of steps taken on a parameter, or `None` for an unknown name.
    pub fn step_count(&self, name: &str) -> Option<u64> {
        self.slot(name).map(|s| s.steps)
    }

    /// A parameter's state tensors under PyTorch's keys (empty before its
    /// first step), or `None` for an unknown name.
    pub fn param_state(&self, name: &str) -> Option<Vec<(&'static str, Tensor<T>)>> {
        self.slot(name).map(|s| {
            s.state
                .as_ref()
                .map_or_else(Vec::new, |st| self.rule.state_tensors(st))
        })
    }

    pub(crate) fn slot(&self, name: &str) -> Option<&Slot<T, R::State>> {
        self.groups
            .iter()
            .flat_map(|g| &g.slots)
            .find(|s| s.name == name)
    }

    #[track_caller]
    fn group(&self, group: usize) -> &Group<T, R::State> {
        let n = self.groups.len();
        self.groups
            .get(group)
            .unwrap_or_else(|| panic!("{}: no parameter group {group} (there are {n})", R::DISPLAY))
    }

    #[track_caller]
    fn group_mut(&mut self, group: usize) -> &mut Group<T, R::State> {
        let n = self.groups.len();
        self.groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("{}: no parameter group {group} (there are {n})", R::DISPLAY))
    }
}

impl<T: Element, R: UpdateRule<T>> LearningRates for Optimizer<T, R> {
    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    #[track_caller]
    fn group_lr(&self, group: usize) -> f64 {
        self.group(group).lr
    }

    #[track_caller]
    fn set_group_lr(&mut self, group: usize, lr: f64) {
        self.group_mut(group).lr = lr;
    }
}

fn in_group(e: OptimError, group: usize) -> OptimError {
    match e {
        OptimError::InvalidArgument {
            op,
            argument,
            value,
            expected,
        } => OptimError::InvalidArgument {
            op,
            argument: format!("param group {group} {argument}"),
            value,
            expected,
        },
        other => other,
    }
}
