//! [`LeNet5`]: the course's LeNet-5 for 28×28 digits, optionally with batch
//! normalisation after each convolution.
//!
//! ```text
//! conv1 (C_in→6, 5×5, padding 2) [bn1] relu maxpool 2   [N, 6, 14, 14]
//! conv2 (6→16, 5×5)              [bn2] relu maxpool 2   [N, 16, 5, 5]
//! flatten                                               [N, 400]
//! fc1 400→120 relu, fc2 120→84 relu, fc3 84→classes     [N, classes]
//! ```
//!
//! The field names are the `state_dict` prefixes of the usual PyTorch
//! definition (`conv1.weight`, `bn1.running_mean`, `fc3.bias`, ...), so a
//! PyTorch LeNet's weights load directly.

use nn_autograd::Var;
use nn_layers::summary::Recorder;
use nn_layers::{AsModule, Forward, Linear, LinearConfig, Module, TrainFlag};
use nn_tensor::{Element, Result, Rng, TensorError};

use super::{BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig};
use crate::options::MaxPoolOptions;
use crate::try_max_pool2d_with_indices;

/// How to build a [`LeNet5`]: input channels, classes, batch norm or not.
///
/// ```
/// use nn_conv::layers::LeNet5Config;
/// use nn_layers::prelude::*;
/// let net = LeNet5Config::new(1, 10).with_batch_norm(true).init::<f32>(&mut Rng::seed_from(0)).unwrap();
/// let y = net.forward(&Tensor::zeros(&[2, 1, 28, 28]));
/// assert_eq!(y.shape(), &[2, 10]);
/// // 156 + 12 + 2416 + 32 + 48120 + 10164 + 850 learnable numbers
/// assert_eq!(net.num_parameters(), 61_750);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeNet5Config {
    /// Channels of the input images (1 for MNIST).
    pub in_channels: usize,
    /// Number of classes (the width of the logits).
    pub num_classes: usize,
    /// A `BatchNorm2d` after each convolution (before the ReLU).
    pub batch_norm: bool,
}

impl LeNet5Config {
    /// LeNet-5 without batch norm.
    pub fn new(in_channels: usize, num_classes: usize) -> Self {
        LeNet5Config {
            in_channels,
            num_classes,
            batch_norm: false,
        }
    }

    /// Adds (or removes) the batch-norm layers `bn1` and `bn2`.
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Builds the network with PyTorch's default initialisation, drawing
    /// from `rng` layer by layer in the order conv1, conv2, fc1, fc2, fc3.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<LeNet5<T>> {
        if self.in_channels == 0 || self.num_classes == 0 {
            return Err(TensorError::invalid(
                "LeNet5Config",
                format!(
                    "in_channels ({}) and num_classes ({}) must be positive",
                    self.in_channels, self.num_classes
                ),
            ));
        }
        let bn = |c, rng: &mut Rng| -> Result<Option<BatchNorm2d<T>>> {
            if self.batch_norm {
                Ok(Some(BatchNorm2dConfig::new(c).init(rng)?))
            } else {
                Ok(None)
            }
        };
        Ok(LeNet5 {
            conv1: Conv2dConfig::new(self.in_channels, 6, 5)
                .with_padding(2)
                .init(rng)?,
            bn1: bn(6, rng)?,
            conv2: Conv2dConfig::new(6, 16, 5).init(rng)?,
            bn2: bn(16, rng)?,
            fc1: LinearConfig::new(16 * 5 * 5, 120).init(rng)?,
            fc2: LinearConfig::new(120, 84).init(rng)?,
            fc3: LinearConfig::new(84, self.num_classes).init(rng)?,
            mode: TrainFlag::default(),
        })
    }
}

/// LeNet-5 (see the [module docs](self)): input `[N, C_in, 28, 28]`, output
/// logits `[N, classes]`. Its `state_dict` keys follow PyTorch's
/// definition order (`conv1`, `bn1`, `conv2`, …), absent norms leaving none.
#[derive(Module)]
pub struct LeNet5<T: Element> {
    /// First convolution, `[6, C_in, 5, 5]`, padding 2.
    pub conv1: Conv2d<T>,
    /// Batch norm over conv1's 6 channels, if configured.
    pub bn1: Option<BatchNorm2d<T>>,
    /// Second convolution, `[16, 6, 5, 5]`.
    pub conv2: Conv2d<T>,
    /// Batch norm over conv2's 16 channels, if configured.
    pub bn2: Option<BatchNorm2d<T>>,
    /// 400 → 120.
    pub fc1: Linear<T>,
    /// 120 → 84.
    pub fc2: Linear<T>,
    /// 84 → classes.
    pub fc3: Linear<T>,
    mode: TrainFlag,
}

impl<T: Element> LeNet5<T> {
    /// The forward pass, with every layer called through `layer(name, layer,
    /// input)`: plainly by [`Forward::try_forward`], or traced for a summary.
    fn run(
        &self,
        x: &Var<T>,
        mut layer: impl FnMut(&str, &dyn Forward<T>, &Var<T>) -> Result<Var<T>>,
    ) -> Result<Var<T>> {
        if x.ndim() != 4 || x.shape()[2] != 28 || x.shape()[3] != 28 {
            return Err(TensorError::invalid(
                "LeNet5",
                format!("expected input [N, C, 28, 28], got {:?}", x.shape()),
            ));
        }
        let pool = MaxPoolOptions::new(2);
        let mut h = x.clone();
        let stages = [
            ("conv1", &self.conv1, "bn1", &self.bn1),
            ("conv2", &self.conv2, "bn2", &self.bn2),
        ];
        for (conv_name, conv, bn_name, bn) in stages {
            h = layer(conv_name, conv, &h)?;
            if let Some(bn) = bn {
                h = layer(bn_name, bn, &h)?;
            }
            h = try_max_pool2d_with_indices(&h.relu(), &pool)?.0;
        }
        let n = h.shape()[0];
        let h = h.try_reshape([n, 16 * 5 * 5])?;
        let h = layer("fc1", &self.fc1, &h)?.relu();
        let h = layer("fc2", &self.fc2, &h)?.relu();
        layer("fc3", &self.fc3, &h)
    }
}

impl<T: Element> Forward<T> for LeNet5<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        self.run(x, |_, l, h| l.try_forward(h))
    }

    /// One row for the model, then one per layer with parameters (ReLU and
    /// pooling have no parameters and no multiply-accumulates, so they are
    /// not listed).
    fn try_forward_traced(&self, x: &Var<T>, recorder: &mut Recorder) -> Result<Var<T>> {
        let handle = recorder.enter(self.as_module());
        let y = self.run(x, |name, l, h| {
            recorder.child(name, |r| l.try_forward_traced(h, r))
        })?;
        recorder.exit(handle, y.shape());
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn state_dict_names_follow_pytorch() {
        let net = LeNet5Config::new(1, 10)
            .with_batch_norm(true)
            .init::<f32>(&mut Rng::seed_from(1))
            .unwrap();
        let names: Vec<String> = net.state_dict().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 20);
        assert_eq!(names[0], "conv1.weight");
        assert!(names.contains(&"bn2.num_batches_tracked".to_string()));
        let plain = LeNet5Config::new(1, 10)
            .init::<f32>(&mut Rng::seed_from(1))
            .unwrap();
        assert_eq!(plain.num_parameters(), 61_706);
        assert!(plain.state_dict().iter().all(|(n, _)| !n.starts_with("bn")));
    }

    #[test]
    fn eval_mode_reaches_the_batch_norms() {
        let net = LeNet5Config::new(1, 10)
            .with_batch_norm(true)
            .init::<f64>(&mut Rng::seed_from(2))
            .unwrap();
        net.eval();
        let x = Var::constant(Tensor::rand_normal(
            &[3, 1, 28, 28],
            0.0,
            1.0,
            &mut Rng::seed_from(3),
        ));
        net.forward(&x);
        // Eval mode leaves the running statistics untouched.
        assert_eq!(net.bn1.as_ref().unwrap().num_batches_tracked(), Some(0));
        net.train();
        net.forward(&x);
        assert_eq!(net.bn1.as_ref().unwrap().num_batches_tracked(), Some(1));
        let e = net
            .try_forward(&Var::constant(Tensor::zeros(&[1, 1, 32, 32])))
            .unwrap_err();
        assert!(e.to_string().contains("LeNet5"), "{e}");
    }

    /// The numbers `docs/ch4-cnn.md` computes by hand for LeNet-5 on one
    /// 1×28×28 image: parameters = kernel size × input channels × kernels +
    /// biases (in × out + out for a linear layer), MACs = output positions ×
    /// K² × C_in × C_out (outputs × in for a linear layer). Literals, not
    /// formulas, so a miscount in `summary` or in a layer's `macs` fails here.
    #[test]
    fn summary_matches_the_hand_count_of_the_chapter_4_page() {
        let net = LeNet5Config::new(1, 10)
            .init::<f32>(&mut Rng::seed_from(0))
            .unwrap();
        let s = nn_layers::summary(&net, &[1, 1, 28, 28]).unwrap();
        let hand: [(&str, &[usize], usize, u64); 5] = [
            ("conv1", &[1, 6, 28, 28], 156, 117_600),
            ("conv2", &[1, 16, 10, 10], 2_416, 240_000),
            ("fc1", &[1, 120], 48_120, 48_000),
            ("fc2", &[1, 84], 10_164, 10_080),
            ("fc3", &[1, 10], 850, 840),
        ];
        assert_eq!(s.rows.len(), 1 + hand.len());
        assert_eq!(
            (s.rows[0].name.as_str(), s.rows[0].type_name),
            ("", "LeNet5")
        );
        for (row, (name, shape, params, macs)) in s.rows[1..].iter().zip(hand) {
            assert_eq!(row.name, name);
            assert_eq!(row.output_shape, shape, "{name}");
            assert_eq!(row.parameters, params, "{name}");
            assert_eq!(row.macs, Some(macs), "{name}");
        }
        assert_eq!(s.total_parameters, 61_706);
        assert_eq!(s.total_macs, 416_520);
        assert_eq!(s.rows_without_macs, 0);
        // The table printed in the page is this summary's, character for character.
        let page = include_str!("../../../../docs/ch4-cnn.md");
        let table = s.to_string();
        assert!(
            page.contains(table.trim_end()),
            "docs/ch4-cnn.md does not show the current LeNet-5 summary:\n{table}"
        );
    }
}
