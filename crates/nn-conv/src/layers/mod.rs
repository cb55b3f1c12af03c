//! Layer modules on top of the functional ops, with `nn-layers`' [`Module`](nn_layers::Module)
//! and [`Forward`](nn_layers::Forward) traits, PyTorch's defaults and `state_dict` names.

pub mod batch_norm;
pub mod conv;
pub mod lenet;
pub mod pool;
pub mod resnet;

pub use batch_norm::{BatchNorm2d, BatchNorm2dConfig};
pub use conv::{
    Conv, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvConfig, ConvTranspose, ConvTranspose1d,
    ConvTranspose1dConfig, ConvTranspose2d, ConvTranspose2dConfig, ConvTransposeConfig,
};
pub use lenet::{LeNet5, LeNet5Config};
pub use pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool, AvgPool1d, AvgPool1dConfig, AvgPool2d,
    AvgPool2dConfig, AvgPoolConfig, MaxPool, MaxPool1d, MaxPool1dConfig, MaxPool2d,
    MaxPool2dConfig, MaxPoolConfig,
};
pub use resnet::{
    BasicBlock, BasicBlockConfig, BlockKind, BlockOptions, Bottleneck, BottleneckConfig,
    Projection, ResNet, ResNetConfig, ResidualBlock, Stem,
};
