//! Residual networks: [`BasicBlock`], [`Bottleneck`] (identity or
//! projection shortcut) and a small [`ResNet`] builder.
//!
//! `state_dict` names follow the course's residual block:
//! `conv1`, `bn1`, `conv2`, `bn2` (`conv3`, `bn3` in a bottleneck) and
//! `shortcut.conv`, `shortcut.bn` for a projection; a network names its
//! stem `conv1`/`bn1`, its stages `layer1`, `layer2`, … and its classifier `fc`.

use nn_autograd::Var;
use nn_layers::init::{FanMode, Nonlinearity};
use nn_layers::{BatchNormConfig, Forward, Initializer, Linear, LinearConfig, Module};
use nn_tensor::{Element, Result, Rng, TensorError};

use super::batch_norm::{BatchNorm2d, BatchNorm2dConfig};
use super::conv::{Conv2d, Conv2dConfig};
use super::pool::{MaxPool2d, MaxPool2dConfig};
use crate::try_global_avg_pool2d;

/// A projection shortcut: a strided 1×1 convolution and a batch norm that
/// bring the input to the block's output shape.
#[derive(Module)]
pub struct Projection<T: Element> {
    /// 1×1 convolution, no bias.
    pub conv: Conv2d<T>,
    /// Its batch norm.
    pub bn: BatchNorm2d<T>,
}

impl<T: Element> Forward<T> for Projection<T> {
    /// `x: [N, C_in, H, W]` → `[N, C_out, H_out, W_out]`, the shape of the block's main path.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        self.bn.try_forward(&self.conv.try_forward(x)?)
    }
}

/// Settings shared by both block kinds: what [`BasicBlockConfig`] and
/// [`BottleneckConfig`] hold (set them through those configs' `with_*`
/// methods).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockOptions {
    /// Input channels.
    pub in_channels: usize,
    /// Channels of the inner 3×3 convolution (a basic block's output; a
    /// bottleneck outputs `4 ×` this).
    pub channels: usize,
    /// Stride of the block's 3×3 convolution (and of its projection); default 1.
    pub stride: usize,
    /// `Some(true)` forces a projection shortcut, `Some(false)` an identity
    /// (an error if the shapes differ); `None` (default) picks a projection
    /// exactly when the stride or the channel count changes.
    pub projection: Option<bool>,
    /// Template for every batch norm (eps, momentum); its `num_features` is ignored.
    pub batch_norm: BatchNormConfig,
    /// How convolution weights start (default PyTorch's conv default).
    pub initializer: Initializer,
}

/// The `with_*` setters of the block configs (they hold a [`BlockOptions`]
/// in their `options` field).
macro_rules! block_option_setters {
    () => {
        /// With a stride of the 3×3 convolution and of the projection (default 1).
        pub fn with_stride(mut self, stride: usize) -> Self {
            self.options.stride = stride;
            self
        }
        /// Forces a projection (`true`) or an identity (`false`) shortcut.
        pub fn with_projection(mut self, projection: bool) -> Self {
            self.options.projection = Some(projection);
            self
        }
        /// With batch norms built like `bn` (eps, momentum).
        pub fn with_batch_norm(mut self, bn: BatchNormConfig) -> Self {
            self.options.batch_norm = bn;
            self
        }
        /// With another convolution initialiser.
        pub fn with_initializer(mut self, init: Initializer) -> Self {
            self.options.initializer = init;
            self
        }
    };
}

/// How to build a [`BasicBlock`] (torchvision's `BasicBlock(inplanes,
/// planes, stride=1)`): two 3×3 convolutions, output `channels`.
///
/// ```
/// use nn_conv::layers::BasicBlockConfig;
/// use nn_layers::prelude::*;
/// let block = BasicBlockConfig::new(16, 32)
///     .with_stride(2)
///     .init::<f32>(&mut Rng::seed_from(0))?;
/// let y = block.forward(&Tensor::ones(&[2, 16, 8, 8]));
/// assert_eq!(y.shape(), &[2, 32, 4, 4]);
///
/// let err = BasicBlockConfig::new(16, 32).with_projection(false).init::<f32>(&mut Rng::seed_from(0));
/// assert!(err.err().unwrap().to_string().starts_with("BasicBlock: an identity shortcut needs"));
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BasicBlockConfig {
    /// The settings.
    pub options: BlockOptions,
}

impl BasicBlockConfig {
    /// A block from `in_channels` to `channels`, stride 1.
    pub fn new(in_channels: usize, channels: usize) -> Self {
        BasicBlockConfig {
            options: BlockOptions::new(in_channels, channels),
        }
    }

    block_option_setters!();

    /// The block, its weights drawn from `rng` (`conv1`, `bn1`, `conv2`,
    /// `bn2`, then the projection's).
    ///
    /// # Errors
    /// If a size or the stride is 0, or an identity shortcut is forced
    /// where the shapes change.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<BasicBlock<T>> {
        let o = &self.options;
        o.validate("BasicBlock")?;
        let c = o.channels;
        Ok(BasicBlock {
            conv1: o.conv(o.in_channels, c, 3, o.stride, rng)?,
            bn1: o.bn(c, rng)?,
            conv2: o.conv(c, c, 3, 1, rng)?,
            bn2: o.bn(c, rng)?,
            shortcut: o.shortcut("BasicBlock", c, rng)?,
        })
    }
}

/// How to build a [`Bottleneck`] (torchvision's `Bottleneck(inplanes,
/// planes, stride=1)`): 1×1 down to `channels`, 3×3, 1×1 up to
/// `4 · channels`.
///
/// ```
/// use nn_conv::layers::BottleneckConfig;
/// use nn_layers::prelude::*;
/// let block = BottleneckConfig::new(16, 4).init::<f32>(&mut Rng::seed_from(0))?;
/// let y = block.forward(&Tensor::ones(&[1, 16, 5, 5]));
/// assert_eq!(y.shape(), &[1, 16, 5, 5]);
///
/// let err = BottleneckConfig::new(16, 0).init::<f32>(&mut Rng::seed_from(0)).err().unwrap();
/// assert_eq!(
///     err.to_string(),
///     "Bottleneck: in_channels = 16, channels = 0 and stride = 1 must be > 0"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BottleneckConfig {
    /// The settings.
    pub options: BlockOptions,
}

impl BottleneckConfig {
    /// A block from `in_channels` through `channels` inner channels to
    /// `4 · channels`, stride 1.
    pub fn new(in_channels: usize, channels: usize) -> Self {
        BottleneckConfig {
            options: BlockOptions::new(in_channels, channels),
        }
    }

    block_option_setters!();

    /// The block, its weights drawn from `rng` (`conv1` .. `bn3`, then the
    /// projection's).
    ///
    /// # Errors
    /// As [`BasicBlockConfig::init`].
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Bottleneck<T>> {
        let o = &self.options;
        o.validate("Bottleneck")?;
        let (c, out) = (o.channels, o.channels * Bottleneck::<T>::EXPANSION);
        Ok(Bottleneck {
            conv1: o.conv(o.in_channels, c, 1, 1, rng)?,
            bn1: o.bn(c, rng)?,
            conv2: o.conv(c, c, 3, o.stride, rng)?,
            bn2: o.bn(c, rng)?,
            conv3: o.conv(c, out, 1, 1, rng)?,
            bn3: o.bn(out, rng)?,
            shortcut: o.shortcut("Bottleneck", out, rng)?,
        })
    }
}

impl BlockOptions {
    /// From `in_channels` with `channels` inner channels, stride 1, PyTorch's defaults.
    pub fn new(in_channels: usize, channels: usize) -> Self {
        BlockOptions {
            in_channels,
            channels,
            stride: 1,
            projection: None,
            batch_norm: BatchNormConfig::new(1),
            initializer: Initializer::PYTORCH_DEFAULT,
        }
    }

    fn conv<T: Element>(
        &self,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        rng: &mut Rng,
    ) -> Result<Conv2d<T>> {
        Conv2dConfig::new(cin, cout, k)
            .with_stride(stride)
            .with_padding(k / 2)
            .with_bias(false)
            .with_initializer(self.initializer)
            .init(rng)
    }

    fn bn<T: Element>(&self, c: usize, rng: &mut Rng) -> Result<BatchNorm2d<T>> {
        BatchNorm2dConfig::from(BatchNormConfig {
            num_features: c,
            ..self.batch_norm
        })
        .init(rng)
    }

    fn shortcut<T: Element>(
        &self,
        op: &'static str,
        out: usize,
        rng: &mut Rng,
    ) -> Result<Option<Projection<T>>> {
        let needed = self.stride != 1 || self.in_channels != out;
        match self.projection.unwrap_or(needed) {
            true => Ok(Some(Projection {
                conv: self.conv(self.in_channels, out, 1, self.stride, rng)?,
                bn: self.bn(out, rng)?,
            })),
            false if needed => Err(TensorError::invalid(
                op,
                format!(
                    "an identity shortcut needs stride 1 and in_channels = out_channels, got stride {}, {} → {out}",
                    self.stride, self.in_channels
                ),
            )),
            false => Ok(None),
        }
    }

    fn validate(&self, op: &'static str) -> Result<()> {
        if self.in_channels == 0 || self.channels == 0 || self.stride == 0 {
            return Err(TensorError::invalid(
                op,
                format!(
                    "in_channels = {}, channels = {} and stride = {} must be > 0",
                    self.in_channels, self.channels, self.stride
                ),
            ));
        }
        Ok(())
    }
}

/// The residual block of ResNet-18/34:
/// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, where the
/// shortcut is `x` itself or a [`Projection`].
///
/// ```
/// use nn_conv::layers::BasicBlockConfig;
/// use nn_layers::prelude::*;
/// let block = BasicBlockConfig::new(16, 32).with_stride(2).init::<f32>(&mut Rng::seed_from(0)).unwrap();
/// let y = block.forward(&Tensor::ones(&[2, 16, 8, 8]));
/// assert_eq!(y.shape(), &[2, 32, 4, 4]);
/// assert!(block.named_parameters().iter().any(|(n, _)| n == "shortcut.conv.weight"));
/// ```
#[derive(Module)]
pub struct BasicBlock<T: Element> {
    /// 3×3, stride `stride`.
    pub conv1: Conv2d<T>,
    /// After `conv1`.
    pub bn1: BatchNorm2d<T>,
    /// 3×3, stride 1.
    pub conv2: Conv2d<T>,
    /// After `conv2`.
    pub bn2: BatchNorm2d<T>,
    /// `None` for an identity shortcut.
    pub shortcut: Option<Projection<T>>,
}

fn join_shortcut<T: Element>(
    h: Var<T>,
    x: &Var<T>,
    shortcut: &Option<Projection<T>>,
    op: &'static str,
) -> Result<Var<T>> {
    let s = match shortcut {
        Some(p) => p.try_forward(x)?,
        None => x.clone(),
    };
    h.try_add(&s)
        .map_err(|e| TensorError::invalid(op, format!("residual and shortcut do not add up: {e}")))
        .map(|y| y.relu())
}

impl<T: Element> Forward<T> for BasicBlock<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        let h = self.bn1.try_forward(&self.conv1.try_forward(x)?)?.relu();
        let h = self.bn2.try_forward(&self.conv2.try_forward(&h)?)?;
        join_shortcut(h, x, &self.shortcut, "BasicBlock")
    }
}

/// The residual block of ResNet-50 and deeper: 1×1 reduce, 3×3 (strided),
/// 1×1 expand to `4 ×` the inner channels, plus the shortcut, then ReLU.
#[derive(Module)]
pub struct Bottleneck<T: Element> {
    /// 1×1 reduce.
    pub conv1: Conv2d<T>,
    /// After `conv1`.
    pub bn1: BatchNorm2d<T>,
    /// 3×3, stride `stride`.
    pub conv2: Conv2d<T>,
    /// After `conv2`.
    pub bn2: BatchNorm2d<T>,
    /// 1×1 expand.
    pub conv3: Conv2d<T>,
    /// After `conv3`.
    pub bn3: BatchNorm2d<T>,
    /// `None` for an identity shortcut.
    pub shortcut: Option<Projection<T>>,
}

impl<T: Element> Bottleneck<T> {
    /// Output channels per inner channel.
    pub const EXPANSION: usize = 4;
}

impl<T: Element> Forward<T> for Bottleneck<T> {
    /// `x: [N, C_in, H, W]` → `[N, 4·C_inner, ⌈H/stride⌉, ⌈W/stride⌉]`.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        let h = self.bn1.try_forward(&self.conv1.try_forward(x)?)?.relu();
        let h = self.bn2.try_forward(&self.conv2.try_forward(&h)?)?.relu();
        let h = self.bn3.try_forward(&self.conv3.try_forward(&h)?)?;
        join_shortcut(h, x, &self.shortcut, "Bottleneck")
    }
}

/// Which block a [`ResNet`] stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// [`BasicBlock`] (ResNet-18/34).
    Basic,
    /// [`Bottleneck`] (ResNet-50/101/152).
    Bottleneck,
}

/// One block of a stage (either kind), so a stage is a plain list; as a
/// module it is the block it holds.
#[derive(Module)]
pub enum ResidualBlock<T: Element> {
    /// A basic block.
    Basic(BasicBlock<T>),
    /// A bottleneck block.
    Bottleneck(Bottleneck<T>),
}

impl<T: Element> Forward<T> for ResidualBlock<T> {
    /// `x: [N, C_in, H, W]` → `[N, C_out, ⌈H/stride⌉, ⌈W/stride⌉]`, as the wrapped block.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        match self {
            ResidualBlock::Basic(b) => b.try_forward(x),
            ResidualBlock::Bottleneck(b) => b.try_forward(x),
        }
    }
}

/// The first layers of a [`ResNet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stem {
    /// 3×3 convolution, stride 1, no max pool: for small images (MNIST, CIFAR).
    Small,
    /// 7×7 convolution, stride 2, then a 3×3 max pool with stride 2 (ImageNet).
    ImageNet,
}

/// How to build a [`ResNet`].
///
/// ```
/// use nn_conv::layers::{BlockKind, ResNetConfig};
/// use nn_layers::prelude::*;
/// let net = ResNetConfig::new(BlockKind::Basic, vec![1, 1], 1, 10)
///     .with_base_channels(8)
///     .init::<f32>(&mut Rng::seed_from(0))
///     .unwrap();
/// let logits = net.forward(&Tensor::zeros(&[2, 1, 28, 28]));
/// assert_eq!(logits.shape(), &[2, 10]);
/// assert!(net.named_parameters().iter().any(|(n, _)| n == "layer2.0.shortcut.bn.weight"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Block kind.
    pub block: BlockKind,
    /// Blocks per stage (`[2, 2, 2, 2]` is ResNet-18). Stage `i` has
    /// `base_channels · 2^i` inner channels and halves the size (except stage 0).
    pub blocks_per_stage: Vec<usize>,
    /// Image channels.
    pub in_channels: usize,
    /// Classes of the final linear layer.
    pub num_classes: usize,
    /// Channels of the stem and of stage 0 (64 in torchvision).
    pub base_channels: usize,
    /// The stem.
    pub stem: Stem,
    /// Batch-norm template (eps, momentum).
    pub batch_norm: BatchNormConfig,
}

impl ResNetConfig {
    /// A ResNet with a small stem and 64 base channels.
    pub fn new(
        block: BlockKind,
        blocks_per_stage: Vec<usize>,
        in_channels: usize,
        num_classes: usize,
    ) -> Self {
        ResNetConfig {
            block,
            blocks_per_stage,
            in_channels,
            num_classes,
            base_channels: 64,
            stem: Stem::Small,
            batch_norm: BatchNormConfig::new(1),
        }
    }
    /// ResNet-18 for ImageNet-sized inputs.
    pub fn resnet18(in_channels: usize, num_classes: usize) -> Self {
        Self::new(BlockKind::Basic, vec![2, 2, 2, 2], in_channels, num_classes)
            .with_stem(Stem::ImageNet)
    }
    /// ResNet-50 for ImageNet-sized inputs.
    pub fn resnet50(in_channels: usize, num_classes: usize) -> Self {
        Self::new(
            BlockKind::Bottleneck,
            vec![3, 4, 6, 3],
            in_channels,
            num_classes,
        )
        .with_stem(Stem::ImageNet)
    }
    /// With another base width.
    pub fn with_base_channels(mut self, c: usize) -> Self {
        self.base_channels = c;
        self
    }
    /// With another stem.
    pub fn with_stem(mut self, stem: Stem) -> Self {
        self.stem = stem;
        self
    }

    /// Builds the network. Convolutions start from torchvision's
    /// `kaiming_normal(fan_out, relu)`; batch norms at weight 1, bias 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<ResNet<T>> {
        if self.blocks_per_stage.is_empty()
            || self.blocks_per_stage.contains(&0)
            || self.base_channels == 0
        {
            return Err(TensorError::invalid(
                "ResNetConfig",
                format!(
                    "blocks_per_stage {:?} must be non-empty and positive, base_channels {} > 0",
                    self.blocks_per_stage, self.base_channels
                ),
            ));
        }
        let init = Initializer::KaimingNormal {
            mode: FanMode::FanOut,
            nonlinearity: Nonlinearity::Relu,
        };
        let (k, s) = match self.stem {
            Stem::Small => (3, 1),
            Stem::ImageNet => (7, 2),
        };
        let conv1 = Conv2dConfig::new(self.in_channels, self.base_channels, k)
            .with_stride(s)
            .with_padding(k / 2)
            .with_bias(false)
            .with_initializer(init)
            .init(rng)?;
        let bn1 = BatchNorm2dConfig::from(BatchNormConfig {
            num_features: self.base_channels,
            ..self.batch_norm
        })
        .init(rng)?;
        let maxpool = match self.stem {
            Stem::ImageNet => Some(
                MaxPool2dConfig::new(3)
                    .with_stride(2)
                    .with_padding(1)
                    .init(rng)?,
            ),
            Stem::Small => None,
        };
        let mut cin = self.base_channels;
        let mut stages = Vec::new();
        for (i, &n) in self.blocks_per_stage.iter().enumerate() {
            let c = self.base_channels << i;
            let mut blocks = Vec::new();
            for b in 0..n {
                let stride = if i > 0 && b == 0 { 2 } else { 1 };
                let options = BlockOptions {
                    stride,
                    batch_norm: self.batch_norm,
                    initializer: init,
                    ..BlockOptions::new(cin, c)
                };
                let block = match self.block {
                    BlockKind::Basic => {
                        ResidualBlock::Basic(BasicBlockConfig { options }.init(rng)?)
                    }
                    BlockKind::Bottleneck => {
                        ResidualBlock::Bottleneck(BottleneckConfig { options }.init(rng)?)
                    }
                };
                cin = match self.block {
                    BlockKind::Basic => c,
                    BlockKind::Bottleneck => c * Bottleneck::<T>::EXPANSION,
                };
                blocks.push(block);
            }
            stages.push(blocks);
        }
        let fc = LinearConfig::new(cin, self.num_classes).init(rng)?;
        Ok(ResNet {
            conv1,
            bn1,
            maxpool,
            stages,
            fc,
        })
    }
}

/// A residual network: stem, stages of residual blocks, global average
/// pool, linear classifier. Input `[N, C, H, W]`, output logits `[N, classes]`.
///
/// Its `Module` is written by hand rather than derived: the stages are one
/// field but PyTorch names them `layer1`, `layer2`, … at the top level.
pub struct ResNet<T: Element> {
    /// Stem convolution.
    pub conv1: Conv2d<T>,
    /// Stem batch norm.
    pub bn1: BatchNorm2d<T>,
    /// Stem max pool (ImageNet stem only).
    pub maxpool: Option<MaxPool2d>,
    /// The stages, named `layer1`, `layer2`, ….
    pub stages: Vec<Vec<ResidualBlock<T>>>,
    /// Classifier.
    pub fc: Linear<T>,
}

impl<T: Element> Module<T> for ResNet<T> {
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        f("conv1", &self.conv1);
        f("bn1", &self.bn1);
        if let Some(m) = &self.maxpool {
            f("maxpool", m);
        }
        for (i, stage) in self.stages.iter().enumerate() {
            f(&format!("layer{}", i + 1), stage);
        }
        f("fc", &self.fc);
    }
}

impl<T: Element> Forward<T> for ResNet<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        let mut h = self.bn1.try_forward(&self.conv1.try_forward(x)?)?.relu();
        if let Some(m) = &self.maxpool {
            h = m.try_forward(&h)?;
        }
        for block in self.stages.iter().flatten() {
            h = block.try_forward(&h)?;
        }
        self.fc.try_forward(&try_global_avg_pool2d(&h)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn block_names_and_shortcut_rules() {
        let mut rng = Rng::seed_from(0);
        let b = BasicBlockConfig::new(8, 8).init::<f32>(&mut rng).unwrap();
        let names: Vec<String> = b.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "conv1.weight",
                "bn1.weight",
                "bn1.bias",
                "conv2.weight",
                "bn2.weight",
                "bn2.bias"
            ]
        );
        let e = BasicBlockConfig::new(8, 16)
            .with_projection(false)
            .init::<f32>(&mut rng);
        assert!(e
            .err()
            .unwrap()
            .to_string()
            .contains("identity shortcut needs"));
        let p = BottleneckConfig::new(8, 8)
            .with_projection(true)
            .init::<f32>(&mut rng)
            .unwrap();
        assert!(p
            .named_buffers()
            .iter()
            .any(|(n, _)| n == "shortcut.bn.running_var"));
        let y = p.forward(Var::constant(Tensor::ones(&[2, 8, 5, 5])));
        assert_eq!(y.shape(), &[2, 32, 5, 5]);
        let e = BottleneckConfig::new(8, 2)
            .with_stride(0)
            .init::<f32>(&mut rng)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "Bottleneck: in_channels = 8, channels = 2 and stride = 0 must be > 0"
        );
    }

    #[test]
    fn resnet18_shapes_and_parameter_count() {
        let net = ResNetConfig::resnet18(3, 1000)
            .init::<f32>(&mut Rng::seed_from(0))
            .unwrap();
        // torchvision's resnet18 has 11,689,512 parameters.
        assert_eq!(net.num_parameters(), 11_689_512);
        let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"layer4.1.bn2.bias".to_string()));
        assert!(names.contains(&"layer2.0.shortcut.conv.weight".to_string()));
        assert_eq!(names.last().unwrap(), "fc.bias");
    }
}
