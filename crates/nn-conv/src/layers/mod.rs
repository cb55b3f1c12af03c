//! Layer modules on top of the functional ops, with `nn-layers`' [`Module`](nn_layers::Module)
//! and [`Forward`](nn_layers::Forward) traits, PyTorch's defaults and `state_dict` names.

pub mod batch_norm;
pub mod conv;
pub mod lenet;
pub mod pool;
pub mod resnet;

pub use batch_norm::BatchNorm2d;
pub use conv::{
    Conv, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvConfig, ConvTranspose, ConvTranspose1d,
    ConvTranspose1dConfig, ConvTranspose2d, ConvTranspose2dConfig, ConvTransposeConfig,
};
pub use lenet::{LeNet5, LeNet5Config};
pub use pool::{AdaptiveAvgPool2d, AvgPool, AvgPool1d, AvgPool2d, MaxPool, MaxPool1d, MaxPool2d};
pub use resnet::{
    BasicBlock, BlockConfig, BlockKind, Bottleneck, Projection, ResNet, ResNetConfig,
    ResidualBlock, Stem,
};
