//! # nn-layers
//!
//! Modules, layers, initialisers and weights files: the kit every model of
//! the course is built from.
//!
//! * [`module`]: the [`Module`] trait (named parameters and buffers,
//!   children, train/eval, freezing, counts, `state_dict`), [`Forward`] for
//!   single-input layers, and `#[derive(Module)]` (from `nn-derive`) to
//!   compose custom modules;
//! * layers, each built from a config with PyTorch's defaults:
//!   [`Linear`], [`Embedding`], [`Sequential`], [`Flatten`], [`Dropout`],
//!   [`BatchNorm1d`], [`LayerNorm`], the [`activation`] modules and the
//!   [`loss`] modules;
//! * [`functional`]: the stateless forms (`linear`, `batch_norm`, `layer_norm`, `embedding`);
//! * [`init`]: `torch.nn.init`'s initialisers, and why zeros fail;
//! * [`serialize`]: safetensors weights files with PyTorch's names, written
//!   with [`atomic_write`] (temporary file, fsync, rename);
//! * [`summary`](mod@summary): the per-layer table (shapes, parameters, MACs, memory).
//!
//! ```
//! use nn_layers::prelude::*;
//! let mut rng = Rng::seed_from(42);
//! let model = Sequential::<f32>::new()
//!     .append(LinearConfig::new(4, 8).init(&mut rng).unwrap())
//!     .append(BatchNormConfig::new(8).init(&mut rng).unwrap())
//!     .append(Relu)
//!     .append(DropoutConfig::new(0.1).init(&mut rng).unwrap())
//!     .append(LinearConfig::new(8, 3).init(&mut rng).unwrap());
//! let x = Tensor::rand_normal(&[16, 4], 0.0, 1.0, &mut rng);
//! let loss = model.forward(&x).cross_entropy(&[0; 16]);
//! let grads = loss.backward();
//! assert!(model.parameters().iter().all(|p| grads.get_id(p.id()).is_some()));
//! assert_eq!(model.num_parameters(), 4 * 8 + 8 + 8 + 8 + 8 * 3 + 3);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

// `#[derive(Module)]` writes paths as `::nn_layers::…`, which must resolve
// inside this crate too (its own layers use the derive).
extern crate self as nn_layers;

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// What `#[derive(Module)]` refuses, each case a compile error (doc tests
/// only). The control compiles:
///
/// ```
/// use nn_layers::prelude::*;
/// #[derive(Module)]
/// struct Net<T: Element> {
///     fc: Linear<T>,
///     #[module(skip)]
///     width: usize,
/// }
/// ```
///
/// A plain field must be marked `#[module(skip)]`: the error says `usize`
/// is not a `Module`, at the field.
///
/// ```compile_fail,E0277
/// use nn_layers::prelude::*;
/// #[derive(Module)]
/// struct Net<T: Element> {
///     fc: Linear<T>,
///     width: usize,
/// }
/// ```
///
/// A module has one train/eval flag.
///
/// ```compile_fail
/// use nn_layers::prelude::*;
/// use nn_layers::TrainFlag;
/// #[derive(Module)]
/// struct Net<T: Element> {
///     fc: Linear<T>,
///     training: TrainFlag,
///     also_training: TrainFlag,
/// }
/// ```
///
/// An unknown option is an error, not ignored.
///
/// ```compile_fail
/// use nn_layers::prelude::*;
/// #[derive(Module)]
/// struct Net<T: Element> {
///     #[module(skipp)]
///     fc: Linear<T>,
/// }
/// ```
///
/// An enum variant holds exactly one module.
///
/// ```compile_fail
/// use nn_layers::prelude::*;
/// #[derive(Module)]
/// enum Net<T: Element> {
///     A(Linear<T>, Linear<T>),
/// }
/// ```
///
/// A generic sub-module must be a module of the same element type.
///
/// ```compile_fail,E0277
/// use nn_layers::prelude::*;
/// #[derive(Module)]
/// struct Net<T: Element, E> {
///     encoder: E,
///     head: Linear<T>,
/// }
/// fn names(n: &Net<f32, Linear<f64>>) -> usize { n.num_parameters() }
/// ```
#[cfg(doctest)]
pub struct DeriveModuleRefuses;

pub mod activation;
pub mod atomic_file;
pub mod batch_norm;
pub mod dropout;
pub mod embedding;
pub mod flatten;
pub mod functional;
pub mod init;
pub mod layer_norm;
pub mod layer_rng;
pub mod linear;
pub mod loss;
pub mod module;
pub mod sequential;
pub mod serialize;
pub mod summary;

pub use activation::{
    Elu, Gelu, GeluApproximation, LeakyRelu, LogSoftmax, Prelu, PreluConfig, Relu, Sigmoid,
    Softmax, Softplus, Tanh,
};
pub use atomic_file::atomic_write;
pub use batch_norm::{BatchNorm1d, BatchNormConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use embedding::{Embedding, EmbeddingConfig};
pub use flatten::Flatten;
pub use init::Initializer;
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use layer_rng::LayerRng;
pub use linear::{Linear, LinearConfig};
pub use loss::{
    BceLoss, BceWithLogitsLoss, CrossEntropyLoss, GaussianKl, HuberLoss, L1Loss, MseLoss, NllLoss,
    SmoothL1Loss, SquaredLoss,
};
pub use module::{AsModule, Buffer, BufferKind, Forward, Module, TrainFlag};
/// `#[derive(Module)]`: see [the module docs](module#deriving-module).
pub use nn_derive::Module;
pub use sequential::Sequential;
pub use serialize::{LoadMode, LoadReport, SerializeError};
pub use summary::{summary, Summary, SummaryRow};

/// What the code generated by `#[derive(Module)]` names besides the
/// crate's root items; not part of the API.
#[doc(hidden)]
pub mod __derive {
    pub use nn_autograd::Parameter;
    pub use nn_tensor::Element;
}

/// Everything a model definition needs, plus the tensor and autograd basics.
pub mod prelude {
    pub use crate::activation::*;
    pub use crate::{
        BatchNorm1d, BatchNormConfig, BceLoss, BceWithLogitsLoss, CrossEntropyLoss, Dropout,
        DropoutConfig, Embedding, EmbeddingConfig, Flatten, Forward, GaussianKl, HuberLoss,
        Initializer, L1Loss, LayerNorm, LayerNormConfig, Linear, LinearConfig, LoadMode, Module,
        MseLoss, NllLoss, Sequential, SmoothL1Loss, SquaredLoss,
    };
    pub use nn_autograd::{no_grad, Parameter, Reduction, Target, Var};
    pub use nn_tensor::{Element, Rng, Tensor, TensorError};
}
