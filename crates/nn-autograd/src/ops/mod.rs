//! Differentiable operations on [`Var`](crate::Var), one file per family.
//! Each op computes its value with `nn-tensor` and records a backward rule.

pub mod activation;
pub mod arith;
pub mod loss;
pub mod matmul;
pub mod reduce;
pub mod shape;
pub mod target;
