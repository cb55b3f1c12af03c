//! [`Parameter`]: a learnable tensor that keeps its identity across steps.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use nn_tensor::{or_panic, Element, Result, Tensor, TensorError};

use crate::var::{is_grad_disabled, Var, VarId};

struct Inner<T: Element> {
    id: VarId,
    value: RwLock<Tensor<T>>,
    trainable: AtomicBool,
}

/// A learnable tensor owned by a model (a weight or a bias).
///
/// Each forward pass brings it into the graph with [`Parameter::var`], always
/// under the same [`VarId`], so the [`Gradients`](crate::Gradients) of any
/// backward pass can be looked up by `param.id()`. Cloning a `Parameter`
/// shares it (like a reference in PyTorch): an update through one clone is
/// seen by all. A frozen parameter (`set_trainable(false)`) enters graphs as
/// a constant and gets no gradient, so no optimiser changes it.
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_tensor::Tensor;
/// let w = Parameter::new(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
/// let loss = w.var().square().sum();
/// let grads = loss.backward();
/// let g = grads.get_id(w.id()).unwrap().clone();
/// w.update(|v| *v = v.sub(&g.mul_scalar(0.1))); // one SGD step
/// assert_eq!(w.value().to_vec(), vec![0.8, 1.6]);
/// ```
pub struct Parameter<T: Element> {
    inner: Arc<Inner<T>>,
}

impl<T: Element> Clone for Parameter<T> {
    fn clone(&self) -> Self {
        Parameter {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Element> Parameter<T> {
    /// A new trainable parameter with a fresh id.
    pub fn new(value: Tensor<T>) -> Self {
        Parameter {
            inner: Arc::new(Inner {
                id: VarId::fresh(),
                value: RwLock::new(value),
                trainable: AtomicBool::new(true),
            }),
        }
    }

    /// The id its gradients are stored under.
    pub fn id(&self) -> VarId {
        self.inner.id
    }

    /// The parameter as a leaf of the graph being built. Inside
    /// [`no_grad`](crate::no_grad), or when frozen, it is a constant.
    pub fn var(&self) -> Var<T> {
        let requires = self.is_trainable() && !is_grad_disabled();
        Var::with_id(self.inner.id, self.value(), requires)
    }

    /// The current value (a cheap, shared copy).
    pub fn value(&self) -> Tensor<T> {
        self.inner
            .value
            .read()
            .expect("parameter lock poisoned")
            .clone()
    }

    /// The shape of the value.
    #[doc(alias = "size")]
    pub fn shape(&self) -> Vec<usize> {
        self.inner
            .value
            .read()
            .expect("parameter lock poisoned")
            .shape()
            .to_vec()
    }

    /// The number of scalars in the parameter.
    pub fn numel(&self) -> usize {
        self.inner
            .value
            .read()
            .expect("parameter lock poisoned")
            .numel()
    }

    /// Replaces the value; errors if the shape differs (loading weights
    /// goes through here, so a mismatched file cannot resize a layer).
    pub fn try_set_value(&self, value: Tensor<T>) -> Result<()> {
        let mut v = self.inner.value.write().expect("parameter lock poisoned");
        if v.shape() != value.shape() {
            return Err(TensorError::shapes(
                "Parameter::set_value",
                v.shape(),
                value.shape(),
                "a parameter keeps its shape",
            ));
        }
        *v = value;
        Ok(())
    }

    /// Panicking [`Parameter::try_set_value`].
    #[track_caller]
    pub fn set_value(&self, value: Tensor<T>) {
        or_panic(self.try_set_value(value));
    }

    /// Changes the value in place (optimisers use this). The closure must
    /// keep the shape.
    #[track_caller]
    pub fn update(&self, f: impl FnOnce(&mut Tensor<T>)) {
        let mut v = self.inner.value.write().expect("parameter lock poisoned");
        let shape = v.shape().to_vec();
        f(&mut v);
        assert_eq!(
            v.shape(),
            shape.as_slice(),
            "Parameter::update changed the shape"
        );
    }

    /// False when frozen.
    pub fn is_trainable(&self) -> bool {
        self.inner.trainable.load(Ordering::Relaxed)
    }

    /// Freezes (`false`) or unfreezes (`true`) the parameter.
    pub fn set_trainable(&self, trainable: bool) {
        self.inner.trainable.store(trainable, Ordering::Relaxed)
    }

    /// True when both handles are the same parameter.
    pub fn same_as(&self, other: &Parameter<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<T: Element> fmt::Debug for Parameter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Parameter(id={}, shape={:?}, trainable={})",
            self.id().as_u64(),
            self.shape(),
            self.is_trainable()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::no_grad;

    #[test]
    fn frozen_and_no_grad_parameters_get_no_gradient() {
        let p = Parameter::new(Tensor::<f64>::ones(&[2]));
        p.set_trainable(false);
        assert!(p.var().square().sum().backward().is_empty());
        p.set_trainable(true);
        assert!(!no_grad(|| p.var()).requires_grad());
        assert!(p.try_set_value(Tensor::zeros(&[3])).is_err());
    }
}
