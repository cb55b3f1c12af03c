//! # nn-tensor
//!
//! The n-dimensional [`Tensor`] at the bottom of the `nn` deep-learning
//! library: a runtime shape, `f32` or `f64` elements ([`Element`]), and the
//! operations every layer is built from.
//!
//! * [`tensor`]: creation, inspection, conversion;
//! * [`elementwise`]: unary and broadcasting binary ops, comparisons, `where`;
//! * [`reduce`]: sums, means, variances, max/min, arg-max, logsumexp;
//! * [`shape_ops`]: reshape, permute, broadcast, slicing, gather/scatter, concat, pad;
//! * [`matmul`]: matrix products on a fast, run-time dispatched GEMM;
//! * [`random`]: a portable seedable [`Rng`] and random tensors;
//! * [`le_bytes`]: tensors to and from the little-endian bytes of weights files;
//! * `safetensors_io` (feature `safetensors`): that codec over safetensors files;
//! * [`parallel`]: thread count and when work is split;
//! * [`pool`]: the per-thread cache that lets a step reuse the last step's buffers;
//! * [`simd`]: the instruction-set level of the hand-written kernels (`NN_SIMD`)
//!   and the vectorisable f32 math they share.
//!
//! Every op that can fail on user data has a `try_*` form returning
//! [`TensorError`], which names the op and the shapes; the plain form panics
//! with the same message.
//!
//! ```
//! use nn_tensor::{Rng, Tensor};
//! let mut rng = Rng::seed_from(0);
//! let x = Tensor::<f32>::rand_normal(&[4, 3], 0.0, 1.0, &mut rng);
//! let w = Tensor::<f32>::ones(&[3, 2]);
//! let y = x.matmul(&w).add(&Tensor::from_vec(vec![0.5, -0.5], &[2]));
//! assert_eq!(y.shape(), &[4, 2]);
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "openblas")]
pub mod blas;
pub mod dims;
pub mod element;
pub mod elementwise;
pub mod error;
pub mod le_bytes;
pub mod matmul;
pub mod parallel;
pub mod pool;
pub mod random;
pub mod reduce;
#[cfg(feature = "safetensors")]
pub mod safetensors_io;
pub mod shape_ops;
pub mod simd;
pub mod tensor;

pub use dims::{broadcast_shapes, AsDim, IntoShape};
pub use element::Element;
pub use elementwise::sigmoid_scalar;
pub use error::{or_panic, Result, TensorError};
pub use le_bytes::LeDtype;
pub use matmul::{gemm, MatRef};
pub use parallel::{num_threads, set_num_threads};
pub use random::{Rng, RngState};
pub use tensor::Tensor;
