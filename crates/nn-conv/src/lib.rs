//! # nn-conv
//!
//! Convolutional networks for the `nn` library (chapter 4 of the course):
//!
//! * [`arithmetic`]: output sizes of convolution, transposed convolution and
//!   pooling (`conv_output_size`, ...), `"same"`/`"valid"` padding;
//! * [`options`]: the hyper-parameters of every op, with PyTorch's defaults;
//! * [`conv`]: `conv1d`, `conv2d` (stride, padding, dilation, groups, bias),
//!   on GEMMs (1×1, shifted, pitched or im2col), and the true convolutions
//!   `convolve1d`, `convolve2d` (kernel turned by 180°, as the course book);
//! * [`algorithm`]: which of those GEMM algorithms computes each pass, chosen
//!   once per geometry and pass, and the override tests use to reach each one;
//! * [`conv_transpose`]: `conv_transpose1d`, `conv_transpose2d`, the adjoint
//!   of the convolution, on the same kernels;
//! * [`pool`]: max pooling (with indices) and average pooling, 1-d and 2-d;
//! * [`adaptive`]: adaptive and global average pooling;
//! * [`layers`]: the layer modules (`Conv2d`, `ConvTranspose2d`, `MaxPool2d`,
//!   `BatchNorm2d`, ...), residual networks (`BasicBlock`, `Bottleneck`,
//!   `ResNet`) and the course's `LeNet5`, with PyTorch's defaults and
//!   `state_dict` names.
//!
//! Every op is differentiable (a `Var` in, a `Var` out) and has a fallible
//! `try_*` twin whose error names the op and the shapes. Layouts are
//! PyTorch's: NCHW inputs, `[C_out, C_in/G, kH, kW]` weights.
//!
//! ```
//! use nn_autograd::Var;
//! use nn_conv::{conv2d, max_pool2d, ConvOptions, MaxPoolOptions};
//! use nn_tensor::{Rng, Tensor};
//! let mut rng = Rng::seed_from(0);
//! let x = Var::constant(Tensor::<f32>::rand_normal(&[2, 1, 28, 28], 0.0, 1.0, &mut rng));
//! let w = Var::leaf(Tensor::rand_normal(&[6, 1, 5, 5], 0.0, 0.2, &mut rng));
//! let h = conv2d(&x, &w, None, &ConvOptions::default().padding(2)).relu();
//! let y = max_pool2d(&h, &MaxPoolOptions::new(2));
//! assert_eq!(y.shape(), &[2, 6, 14, 14]);
//! let grads = y.sum().backward();
//! assert_eq!(grads.get(&w).unwrap().shape(), &[6, 1, 5, 5]);
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod adaptive;
pub mod algorithm;
pub mod arithmetic;
pub mod conv;
pub mod conv_transpose;
mod direct;
mod im2col;
mod kernels;
pub mod layers;
pub mod options;
mod pitched;
pub mod pool;
mod shifted;
mod transpose;

pub use adaptive::{
    adaptive_avg_pool2d, global_avg_pool2d, try_adaptive_avg_pool2d, try_global_avg_pool2d,
};
pub use algorithm::{with_conv_algorithm, ConvAlgorithm};
pub use arithmetic::{
    conv_output_size, conv_output_size_asym, conv_transpose_output_size, pool_output_size,
    same_padding, valid_padding, Padding,
};
pub use conv::{
    conv1d, conv2d, convolve1d, convolve2d, try_conv1d, try_conv2d, try_convolve1d, try_convolve2d,
};
// The layers at the crate's root (`nn_conv::Conv2d`), beside the functions.
pub use conv_transpose::{
    conv_transpose1d, conv_transpose2d, try_conv_transpose1d, try_conv_transpose2d,
};
pub use layers::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool, AvgPool1d, AvgPool1dConfig, AvgPool2d,
    AvgPool2dConfig, AvgPoolConfig, BasicBlock, BasicBlockConfig, BatchNorm2d, BatchNorm2dConfig,
    BlockKind, BlockOptions, Bottleneck, BottleneckConfig, Conv, Conv1d, Conv1dConfig, Conv2d,
    Conv2dConfig, ConvConfig, ConvTranspose, ConvTranspose1d, ConvTranspose1dConfig,
    ConvTranspose2d, ConvTranspose2dConfig, ConvTransposeConfig, LeNet5, LeNet5Config, MaxPool,
    MaxPool1d, MaxPool1dConfig, MaxPool2d, MaxPool2dConfig, MaxPoolConfig, Projection, ResNet,
    ResNetConfig, ResidualBlock, Stem,
};
pub use options::{AvgPoolOptions, ConvOptions, ConvTransposeOptions, IntoSpatial, MaxPoolOptions};
pub use pool::{
    avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, try_avg_pool1d, try_avg_pool2d,
    try_max_pool1d_with_indices, try_max_pool2d_with_indices,
};
