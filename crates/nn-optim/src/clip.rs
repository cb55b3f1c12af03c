//! Gradient clipping: by global norm and by value.

use std::borrow::Borrow;
use std::collections::HashSet;

use nn_autograd::{Gradients, Parameter, VarId};
use nn_tensor::{Element, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};

/// The small constant PyTorch adds to the total norm before dividing.
const NORM_EPS: f64 = 1e-6;

/// A clipping step an [`Optimizer`](crate::Optimizer) applies to the
/// gradients of its trainable parameters before every update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum GradClip {
    /// Scale all gradients together so that their joint `norm_type`-norm is
    /// at most `max_norm` (see [`clip_grad_norm`]).
    Norm {
        /// The largest allowed total norm.
        max_norm: f64,
        /// The norm's order `p > 0`, or `f64::INFINITY` for the max-norm.
        norm_type: f64,
    },
    /// Clamp every gradient entry to `[-value, value]` (see [`clip_grad_value`]).
    Value(f64),
}

impl GradClip {
    /// Checks the clipping parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            GradClip::Norm {
                max_norm,
                norm_type,
            } => check_norm_args(max_norm, norm_type),
            GradClip::Value(v) => check_value_arg(v),
        }
    }

    /// Clips gradients in place; returns the total norm before clipping
    /// for [`GradClip::Norm`], `None` for [`GradClip::Value`].
    pub(crate) fn apply<T: Element>(&self, grads: &mut [Tensor<T>]) -> Option<f64> {
        match *self {
            GradClip::Norm {
                max_norm,
                norm_type,
            } => Some(clip_norm_tensors(grads, max_norm, norm_type)),
            GradClip::Value(v) => {
                clip_value_tensors(grads, v);
                None
            }
        }
    }
}

fn check_norm_args(max_norm: f64, norm_type: f64) -> Result<()> {
    if norm_type.is_nan() || norm_type <= 0.0 {
        return Err(OptimError::invalid(
            "clip_grad_norm",
            "norm_type",
            norm_type,
            "a value > 0, or f64::INFINITY",
        ));
    }
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(OptimError::invalid(
            "clip_grad_norm",
            "max_norm",
            max_norm,
            "a value >= 0",
        ));
    }
    Ok(())
}

fn check_value_arg(clip_value: f64) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(OptimError::invalid(
            "clip_grad_value",
            "clip_value",
            clip_value,
            "a value >= 0",
        ));
    }
    Ok(())
}

/// The `norm_type`-norm of all the tensors seen as one long vector.
/// Accumulated in f64 so that f32 gradients neither overflow nor lose
/// precision in the sum.
pub fn total_norm<T: Element>(grads: &[Tensor<T>], norm_type: f64) -> f64 {
    let values = grads
        .iter()
        .flat_map(|g| g.as_slice())
        .map(|x| x.to_f64_lossless().abs());
    if norm_type == f64::INFINITY {
        values.fold(0.0, f64::max)
    } else if norm_type == 2.0 {
        values.map(|x| x * x).sum::<f64>().sqrt()
    } else if norm_type == 1.0 {
        values.sum()
    } else {
        values
            .map(|x| x.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    }
}

fn clip_norm_tensors<T: Element>(grads: &mut [Tensor<T>], max_norm: f64, norm_type: f64) -> f64 {
    let total = total_norm(grads, norm_type);
    let coef = max_norm / (total + NORM_EPS);
    if coef < 1.0 {
        let c = T::of(coef);
        for g in grads.iter_mut() {
            g.as_mut_slice().iter_mut().for_each(|x| *x *= c);
        }
    }
    total
}

fn clip_value_tensors<T: Element>(grads: &mut [Tensor<T>], clip_value: f64) {
    let (lo, hi) = (T::of(-clip_value), T::of(clip_value));
    for g in grads.iter_mut() {
        g.as_mut_slice()
            .iter_mut()
            .for_each(|x| *x = x.max(lo).min(hi));
    }
}

/// The gradients in `grads` that belong to `params`, each parameter once.
fn selected_ids<T: Element, P: Borrow<Parameter<T>>>(
    grads: &Gradients<T>,
    params: impl IntoIterator<Item = P>,
) -> Vec<VarId> {
    let mut seen = HashSet::new();
    params
        .into_iter()
        .map(|p| p.borrow().id())
        .filter(|id| grads.get_id(*id).is_some() && seen.insert(*id))
        .collect()
}

/// Runs `f` on the selected gradients taken out of the store, then puts them back.
fn with_selected<T: Element, P: Borrow<Parameter<T>>, R>(
    grads: &mut Gradients<T>,
    params: impl IntoIterator<Item = P>,
    f: impl FnOnce(&mut [Tensor<T>]) -> R,
) -> R {
    let ids = selected_ids(grads, params);
    let mut taken: Vec<Tensor<T>> = ids.iter().filter_map(|id| grads.remove(*id)).collect();
    let out = f(&mut taken);
    for (id, g) in ids.into_iter().zip(taken) {
        grads.insert(id, g);
    }
    out
}

/// Scales the gradients of `params` in `grads` so that their total 2-norm
/// is at most `max_norm`, like `torch.nn.utils.clip_grad_norm_` with its
/// default `norm_type=2` (see [`clip_grad_norm_with`] for another norm).
///
/// `params` may be borrowed or owned (`model.parameters()`, `&params`,
/// `[&p]`). The total norm treats every gradient as part of one long
/// vector. When `coef = max_norm / (total + 1e-6)` is below 1, every
/// gradient is multiplied by it. Parameters without a gradient are ignored.
/// Returns the total norm before clipping (NaN or infinite if a gradient is).
///
/// ```
/// use nn_autograd::{Gradients, Parameter};
/// use nn_optim::clip_grad_norm;
/// use nn_tensor::Tensor;
/// let p = Parameter::new(Tensor::<f64>::zeros(&[2]));
/// let mut grads = Gradients::new();
/// grads.insert(p.id(), Tensor::from_vec(vec![3.0, 4.0], &[2]));
/// let norm = clip_grad_norm(&mut grads, vec![p.clone()], 1.0).unwrap();
/// assert_eq!(norm, 5.0);
/// let g = grads.get_id(p.id()).unwrap().to_vec();
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// ```
#[doc(alias = "clip_grad_norm_")]
pub fn clip_grad_norm<T: Element, P: Borrow<Parameter<T>>>(
    grads: &mut Gradients<T>,
    params: impl IntoIterator<Item = P>,
    max_norm: f64,
) -> Result<T> {
    clip_grad_norm_with(grads, params, max_norm, 2.0)
}

/// [`clip_grad_norm`] with the norm's order: `(Σ|g|^p)^(1/p)` for
/// `norm_type = p > 0`, or `max|g|` when `norm_type` is `f64::INFINITY`.
///
/// ```
/// use nn_autograd::{Gradients, Parameter};
/// use nn_optim::clip_grad_norm_with;
/// use nn_tensor::Tensor;
/// let p = Parameter::new(Tensor::<f64>::zeros(&[2]));
/// let mut grads = Gradients::new();
/// grads.insert(p.id(), Tensor::from_vec(vec![3.0, -4.0], &[2]));
/// let norm = clip_grad_norm_with(&mut grads, [&p], 2.0, f64::INFINITY).unwrap();
/// assert_eq!(norm, 4.0);
/// ```
pub fn clip_grad_norm_with<T: Element, P: Borrow<Parameter<T>>>(
    grads: &mut Gradients<T>,
    params: impl IntoIterator<Item = P>,
    max_norm: f64,
    norm_type: f64,
) -> Result<T> {
    check_norm_args(max_norm, norm_type)?;
    let total = with_selected(grads, params, |g| clip_norm_tensors(g, max_norm, norm_type));
    Ok(T::of(total))
}

/// Clamps every entry of the gradients of `params` in `grads` to
/// `[-clip_value, clip_value]`, like `torch.nn.utils.clip_grad_value_`.
///
/// ```
/// use nn_autograd::{Gradients, Parameter};
/// use nn_optim::clip_grad_value;
/// use nn_tensor::Tensor;
/// let p = Parameter::new(Tensor::<f32>::zeros(&[3]));
/// let mut grads = Gradients::new();
/// grads.insert(p.id(), Tensor::from_vec(vec![-2.0, 0.5, 3.0], &[3]));
/// clip_grad_value(&mut grads, [&p], 1.0).unwrap();
/// assert_eq!(grads.get_id(p.id()).unwrap().to_vec(), vec![-1.0, 0.5, 1.0]);
/// ```
#[doc(alias = "clip_grad_value_")]
pub fn clip_grad_value<T: Element, P: Borrow<Parameter<T>>>(
    grads: &mut Gradients<T>,
    params: impl IntoIterator<Item = P>,
    clip_value: f64,
) -> Result<()> {
    check_value_arg(clip_value)?;
    with_selected(grads, params, |g| clip_value_tensors(g, clip_value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(values: &[&[f64]]) -> (Vec<Parameter<f64>>, Gradients<f64>) {
        let mut grads = Gradients::new();
        let params = values
            .iter()
            .map(|v| {
                let p = Parameter::new(Tensor::zeros(&[v.len()]));
                grads.insert(p.id(), Tensor::from_f64s(v, &[v.len()]));
                p
            })
            .collect();
        (params, grads)
    }

    #[test]
    fn p_norms_of_several_tensors() {
        let (ps, mut grads) = store(&[&[3.0, -4.0], &[12.0]]);
        // L1 = 19, L2 = 13, L3 = (27 + 64 + 1728)^(1/3), inf = 12.
        assert_eq!(
            clip_grad_norm_with(&mut grads, &ps, 100.0, 1.0).unwrap(),
            19.0
        );
        assert_eq!(clip_grad_norm(&mut grads, &ps, 100.0).unwrap(), 13.0);
        let l3 = clip_grad_norm_with(&mut grads, &ps, 100.0, 3.0).unwrap();
        assert!((l3 - 1819f64.powf(1.0 / 3.0)).abs() < 1e-12);
        let inf = clip_grad_norm_with(&mut grads, &ps, 100.0, f64::INFINITY).unwrap();
        assert_eq!(inf, 12.0);
        // Nothing was clipped: every norm was under 100.
        assert_eq!(grads.get_id(ps[1].id()).unwrap().to_vec(), vec![12.0]);
    }

    #[test]
    fn clipping_scales_only_the_listed_parameters() {
        let (ps, mut grads) = store(&[&[3.0, 4.0], &[10.0]]);
        let n = clip_grad_norm(&mut grads, &ps[..1], 0.5).unwrap();
        assert_eq!(n, 5.0);
        let c = 0.5 / (5.0 + 1e-6);
        assert_eq!(
            grads.get_id(ps[0].id()).unwrap().to_vec(),
            vec![3.0 * c, 4.0 * c]
        );
        assert_eq!(grads.get_id(ps[1].id()).unwrap().to_vec(), vec![10.0]);
    }

    #[test]
    fn a_parameter_listed_twice_counts_once() {
        let (ps, mut grads) = store(&[&[3.0, 4.0]]);
        let n = clip_grad_norm(&mut grads, [&ps[0], &ps[0]], 10.0).unwrap();
        assert_eq!(n, 5.0);
    }

    #[test]
    fn bad_clipping_arguments_are_errors() {
        let (ps, mut grads) = store(&[&[1.0]]);
        let e = clip_grad_norm_with(&mut grads, &ps, 1.0, 0.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "clip_grad_norm: invalid norm_type = 0, expected a value > 0, or f64::INFINITY"
        );
        assert!(clip_grad_norm_with(&mut grads, &ps, 1.0, f64::NAN).is_err());
        let e = clip_grad_norm(&mut grads, &ps, -1.0).unwrap_err();
        assert!(e.to_string().contains("max_norm = -1"), "{e}");
        let e = clip_grad_value(&mut grads, &ps, -0.5).unwrap_err();
        assert!(e.to_string().contains("clip_value = -0.5"), "{e}");
        assert!(GradClip::Value(f64::NAN).validate().is_err());
    }
}
