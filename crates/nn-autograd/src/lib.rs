//! # nn-autograd
//!
//! Reverse-mode automatic differentiation over [`nn_tensor::Tensor`].
//!
//! * [`Var`] is a tensor in the graph; ops on vars record how to
//!   differentiate them (define-by-run, like PyTorch).
//! * [`Var::backward`] returns a [`Gradients`] store keyed by [`VarId`]:
//!   nothing is hidden on the vars.
//! * [`no_grad`] and [`Var::detach`] stop recording.
//! * [`ops`] holds the differentiable functions: arithmetic, reductions,
//!   shape ops, matmul, activations and losses.
//! * [`gradcheck`] compares analytic gradients with finite differences.
//!
//! ```
//! use nn_autograd::Var;
//! use nn_tensor::Tensor;
//! let w = Var::leaf(Tensor::<f64>::from_vec(vec![0.5, -1.0], &[2, 1]));
//! let x = Var::constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
//! let loss = x.matmul(&w).relu().sum();
//! let grads = loss.backward();
//! assert_eq!(grads.get(&w).unwrap().shape(), &[2, 1]);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod gradcheck;
pub mod graph;
pub mod ops;
pub mod parameter;
pub mod trace;
pub mod var;

pub use graph::Gradients;
pub use nn_tensor;
pub use ops::loss::{
    BceLoss, BceWithLogitsLoss, CrossEntropyLoss, GaussianKl, HuberLoss, L1Loss, MseLoss, NllLoss,
    Reduction, SmoothL1Loss, SquaredLoss,
};
pub use ops::target::Target;
pub use parameter::Parameter;
pub use var::{is_grad_disabled, no_grad, BackwardFn, NoGradGuard, Var, VarId};
