//! What a loss compares its input with: a [`Target`], class indices or
//! values.
//!
//! Every loss takes `impl Into<Target>`, so the target is written as it
//! is at hand: `&[usize]`, `&Vec<usize>` or `&[usize; N]` for class indices;
//! `&Tensor`, `Tensor`, `&Var` or `Var` for values (a target var that
//! requires a gradient gets one, as in PyTorch), and a data batch's targets
//! (`nn_data::Targets`) either way.
//!
//! ```
//! use nn_autograd::Var;
//! use nn_tensor::Tensor;
//! let logits = Var::leaf(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 2.0], &[2, 2]));
//! let hard = logits.cross_entropy(&[0, 1]);
//! let soft = logits.cross_entropy(&Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]));
//! assert!((hard.item() - soft.item()).abs() < 1e-12);
//! ```

use std::borrow::Cow;

use nn_tensor::{Element, Result, Tensor, TensorError};

use crate::Var;

/// A loss's target: one class index per position (cross-entropy,
/// negative log-likelihood) or a tensor of values (regression losses,
/// binary cross-entropy, and cross-entropy's class probabilities).
#[derive(Clone, Debug)]
pub enum Target<'a, T: Element> {
    /// Class indices, flat: one per position of the input without its
    /// class dimension (`[N]` for logits `[N, C]`, `N·d1·…` for `[N, C, d1, …]`).
    Classes(Cow<'a, [usize]>),
    /// Values, a var so that a target that requires a gradient gets one.
    Values(Var<T>),
}

impl<'a, T: Element> Target<'a, T> {
    /// The class indices, or an error naming `op` and what it got instead.
    pub fn classes(&self, op: &'static str) -> Result<&[usize]> {
        match self {
            Target::Classes(c) => Ok(c),
            Target::Values(v) => Err(TensorError::invalid(
                op,
                format!(
                    "expects class indices as target, got a tensor of shape {:?}",
                    v.shape()
                ),
            )),
        }
    }

    /// The values, or an error naming `op`, the input's shape and the
    /// number of class indices it got instead.
    pub fn values(&self, op: &'static str, input: &[usize]) -> Result<&Var<T>> {
        match self {
            Target::Values(v) => Ok(v),
            Target::Classes(c) => Err(TensorError::invalid(
                op,
                format!(
                    "expects a target tensor like the input {input:?}, got {} class indices",
                    c.len()
                ),
            )),
        }
    }
}

impl<'a, T: Element> From<&'a [usize]> for Target<'a, T> {
    fn from(c: &'a [usize]) -> Self {
        Target::Classes(Cow::Borrowed(c))
    }
}

impl<'a, T: Element, const N: usize> From<&'a [usize; N]> for Target<'a, T> {
    fn from(c: &'a [usize; N]) -> Self {
        Target::Classes(Cow::Borrowed(c))
    }
}

impl<'a, T: Element> From<&'a Vec<usize>> for Target<'a, T> {
    fn from(c: &'a Vec<usize>) -> Self {
        Target::Classes(Cow::Borrowed(c))
    }
}

impl<T: Element> From<Vec<usize>> for Target<'_, T> {
    fn from(c: Vec<usize>) -> Self {
        Target::Classes(Cow::Owned(c))
    }
}

impl<T: Element> From<&Tensor<T>> for Target<'_, T> {
    /// A constant (the tensor's storage is shared, not copied).
    fn from(t: &Tensor<T>) -> Self {
        Target::Values(Var::constant(t.clone()))
    }
}

impl<T: Element> From<Tensor<T>> for Target<'_, T> {
    /// A constant.
    fn from(t: Tensor<T>) -> Self {
        Target::Values(Var::constant(t))
    }
}

impl<T: Element> From<&Var<T>> for Target<'_, T> {
    /// The same var: the loss's gradient reaches it if it requires one.
    fn from(v: &Var<T>) -> Self {
        Target::Values(v.clone())
    }
}

impl<T: Element> From<Var<T>> for Target<'_, T> {
    fn from(v: Var<T>) -> Self {
        Target::Values(v)
    }
}

impl<'a, 'b: 'a, T: Element> From<&'a Target<'b, T>> for Target<'a, T> {
    /// A borrowed copy (class indices are not copied; a var is a handle).
    fn from(t: &'a Target<'b, T>) -> Self {
        match t {
            Target::Classes(c) => Target::Classes(Cow::Borrowed(c)),
            Target::Values(v) => Target::Values(v.clone()),
        }
    }
}
