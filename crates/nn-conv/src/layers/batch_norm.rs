//! [`BatchNorm2d`]: batch normalisation of `[N, C, H, W]` feature maps,
//! statistics per channel over batch and space.

use nn_autograd::{Parameter, Var};
use nn_layers::{BatchNorm1d, BatchNormConfig, Buffer, Forward, Module, TrainFlag};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

/// Batch normalisation for images (`torch.nn.BatchNorm2d`), built from a
/// [`BatchNormConfig`] (PyTorch's defaults: eps 1e-5, momentum 0.1, affine,
/// running statistics tracked).
///
/// * input `[N, C, H, W]`, output the same shape;
/// * parameters `weight [C]`, `bias [C]`; buffers `running_mean [C]`,
///   `running_var [C]`, `num_batches_tracked []`.
///
/// It shares `nn-layers`' batch-norm code (training statistics with the full
/// backward, running-statistics update, eval mode) and adds the 4-d check.
///
/// ```
/// use nn_conv::layers::BatchNorm2dConfig;
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// let bn = BatchNorm2dConfig::new(3).init::<f64>(&mut rng).unwrap();
/// let y = bn.forward(Tensor::rand_normal(&[4, 3, 5, 5], 2.0, 3.0, &mut rng));
/// assert!(y.value().mean_all().item().abs() < 1e-12);
/// assert_eq!(bn.num_batches_tracked(), Some(1));
/// ```
pub struct BatchNorm2d<T: Element> {
    inner: BatchNorm1d<T>,
}

/// How to build a [`BatchNorm2d`]: the settings of nn-layers'
/// [`BatchNormConfig`], PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm2dConfig {
    /// Channels, eps, momentum, affine, running statistics.
    pub batch_norm: BatchNormConfig,
}

impl BatchNorm2dConfig {
    /// Batch norm over `num_features` channels with PyTorch's defaults.
    pub fn new(num_features: usize) -> Self {
        BatchNorm2dConfig {
            batch_norm: BatchNormConfig::new(num_features),
        }
    }

    /// With another `eps`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.batch_norm.eps = eps;
        self
    }

    /// With another momentum (`None`: cumulative average).
    pub fn with_momentum(mut self, momentum: Option<f64>) -> Self {
        self.batch_norm.momentum = momentum;
        self
    }

    /// Builds the layer: weight 1, bias 0, running mean 0, running var 1;
    /// `rng` is unused (see [`BatchNormConfig::init`]).
    ///
    /// # Errors
    /// If `num_features` is 0, `eps` is not positive or `momentum` is outside `[0, 1]`.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<BatchNorm2d<T>> {
        self.batch_norm.validate("BatchNorm2d")?;
        Ok(BatchNorm2d {
            inner: self.batch_norm.init(rng)?,
        })
    }
}

impl From<BatchNormConfig> for BatchNorm2dConfig {
    fn from(batch_norm: BatchNormConfig) -> Self {
        BatchNorm2dConfig { batch_norm }
    }
}

impl<T: Element> BatchNorm2d<T> {
    /// The settings it was built with.
    pub fn config(&self) -> &BatchNormConfig {
        self.inner.config()
    }

    /// The running mean, if tracked.
    pub fn running_mean(&self) -> Option<Tensor<T>> {
        self.inner.running_mean()
    }

    /// The running (unbiased) variance, if tracked.
    pub fn running_var(&self) -> Option<Tensor<T>> {
        self.inner.running_var()
    }

    /// The number of training batches seen, if tracked.
    pub fn num_batches_tracked(&self) -> Option<u64> {
        self.inner.num_batches_tracked()
    }
}

impl<T: Element> Module<T> for BatchNorm2d<T> {
    /// One scale-and-shift per output element.
    fn macs(&self, _: &[usize], output_shape: &[usize]) -> Option<u64> {
        Some(output_shape.iter().product::<usize>() as u64)
    }
    fn type_name(&self) -> &'static str {
        "BatchNorm2d"
    }
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        self.inner.visit_local_parameters(f)
    }
    fn visit_local_buffers(&self, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        self.inner.visit_local_buffers(f)
    }
    fn train_flag(&self) -> Option<&TrainFlag> {
        self.inner.train_flag()
    }
}

impl<T: Element> Forward<T> for BatchNorm2d<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            if x.ndim() != 4 {
                return Err(TensorError::invalid(
                    "BatchNorm2d",
                    format!("expected input [N, C, H, W], got {:?}", x.shape()),
                ));
            }
            self.inner.forward_any_rank(x, "BatchNorm2d")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rank_check() {
        let rng = &mut Rng::seed_from(0);
        let bn = BatchNorm2dConfig::new(2).init::<f32>(rng).unwrap();
        let names: Vec<String> = bn.state_dict().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "weight",
                "bias",
                "running_mean",
                "running_var",
                "num_batches_tracked"
            ]
        );
        let e = bn
            .try_forward(&Var::constant(Tensor::zeros(&[2, 2, 3])))
            .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("BatchNorm2d: expected input [N, C, H, W]"));
        assert!(BatchNorm2dConfig::new(0).init::<f32>(rng).is_err());
    }
}
