//! [`BatchNorm1d`]: batch normalisation for `[N, C]` and `[N, C, L]` inputs.

use nn_autograd::{no_grad, Parameter, Var};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::functional::{self, RunningStats};
use crate::module::{Buffer, BufferKind, Forward, Module, TrainFlag};

/// How to build a [`BatchNorm1d`]; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// The number of channels C.
    pub num_features: usize,
    /// Added to the variance before the square root (default 1e-5), > 0.
    pub eps: f64,
    /// Weight of the new batch statistic in the running average (default
    /// 0.1); `None` uses a cumulative average (`1 / num_batches_tracked`).
    pub momentum: Option<f64>,
    /// Learn a per-channel scale `weight` and shift `bias` (default `true`).
    pub affine: bool,
    /// Keep running statistics for evaluation (default `true`).
    pub track_running_stats: bool,
}

impl BatchNormConfig {
    /// Batch norm over `num_features` channels with PyTorch's defaults.
    pub fn new(num_features: usize) -> Self {
        BatchNormConfig {
            num_features,
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }

    /// With another `eps`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// With another momentum (`None`: cumulative average).
    pub fn with_momentum(mut self, momentum: Option<f64>) -> Self {
        self.momentum = momentum;
        self
    }

    /// Checks the settings (shared with the 2-d variant in `nn-conv`).
    pub fn validate(&self, op: &'static str) -> Result<()> {
        if self.num_features == 0 {
            return Err(TensorError::invalid(op, "num_features = 0 must be > 0"));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(TensorError::invalid(
                op,
                format!("eps = {} must be > 0", self.eps),
            ));
        }
        if let Some(m) = self.momentum.filter(|m| !(0.0..=1.0).contains(m)) {
            return Err(TensorError::invalid(
                op,
                format!("momentum = {m} is outside [0, 1]"),
            ));
        }
        Ok(())
    }

    /// Builds the layer: weight 1, bias 0, running mean 0, running var 1.
    /// Nothing is random, so `_rng` is unused: every layer's `init` takes
    /// one, so that building any model reads the same.
    pub fn init<T: Element>(&self, _rng: &mut Rng) -> Result<BatchNorm1d<T>> {
        self.validate("BatchNormConfig")?;
        let c = [self.num_features];
        let (weight, bias) = if self.affine {
            (
                Some(Parameter::new(Tensor::ones(&c))),
                Some(Parameter::new(Tensor::zeros(&c))),
            )
        } else {
            (None, None)
        };
        let running = self.track_running_stats.then(|| RunningBuffers {
            mean: Buffer::new(Tensor::zeros(&c)),
            var: Buffer::new(Tensor::ones(&c)),
            num_batches_tracked: Buffer::with_kind(Tensor::zeros(&[]), BufferKind::Count),
        });
        Ok(BatchNorm1d {
            config: *self,
            weight,
            bias,
            running,
            training: TrainFlag::default(),
        })
    }
}

/// BatchNorm's running statistics (`running_mean`, `running_var`, `num_batches_tracked`).
#[derive(Debug)]
pub struct RunningBuffers<T: Element> {
    /// `[C]`.
    pub mean: Buffer<T>,
    /// `[C]`, unbiased.
    pub var: Buffer<T>,
    /// A scalar count of training batches seen.
    pub num_batches_tracked: Buffer<T>,
}

/// Batch normalisation (`torch.nn.BatchNorm1d`).
///
/// * input `[N, C]` or `[N, C, L]`, output the same shape;
/// * parameters `weight [C]`, `bias [C]`; buffers `running_mean [C]`,
///   `running_var [C]`, `num_batches_tracked []`;
/// * training mode normalises with the batch statistics (gradients flow
///   through them) and updates the running ones; eval mode uses the running ones.
///
/// ```
/// use nn_layers::prelude::*;
/// let bn = BatchNormConfig::new(2).init::<f64>(&mut Rng::seed_from(0)).unwrap();
/// let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]);
/// let y = bn.forward(&x);
/// assert!((y.value().get(&[0, 0]) + 1.0).abs() < 1e-4);
/// assert!((bn.running_mean().unwrap().get(&[1]) - 2.0).abs() < 1e-12); // 0.9·0 + 0.1·20
/// ```
#[derive(Debug)]
pub struct BatchNorm1d<T: Element> {
    config: BatchNormConfig,
    /// Per-channel scale γ, if affine.
    pub weight: Option<Parameter<T>>,
    /// Per-channel shift β, if affine.
    pub bias: Option<Parameter<T>>,
    running: Option<RunningBuffers<T>>,
    training: TrainFlag,
}

impl<T: Element> BatchNorm1d<T> {
    /// The settings it was built with.
    pub fn config(&self) -> &BatchNormConfig {
        &self.config
    }

    /// The running mean, if tracked.
    pub fn running_mean(&self) -> Option<Tensor<T>> {
        self.running.as_ref().map(|r| r.mean.value())
    }

    /// The running (unbiased) variance, if tracked.
    pub fn running_var(&self) -> Option<Tensor<T>> {
        self.running.as_ref().map(|r| r.var.value())
    }

    /// The number of training batches seen, if tracked.
    pub fn num_batches_tracked(&self) -> Option<u64> {
        self.running
            .as_ref()
            .map(|r| r.num_batches_tracked.value().item().to_u64().unwrap_or(0))
    }

    /// Normalises any `[N, C, …]` input (the 2-d variant reuses this with
    /// its own rank check); `op` names the layer in errors.
    pub fn forward_any_rank(&self, x: &Var<T>, op: &'static str) -> Result<Var<T>> {
        let c = self.config.num_features;
        if x.ndim() < 2 || x.shape()[1] != c {
            return Err(TensorError::invalid(
                op,
                format!(
                    "input of shape {:?} must have C = {c} channels in dim 1",
                    x.shape()
                ),
            ));
        }
        let training = self.training.get();
        let (w, b) = (
            self.weight.as_ref().map(|p| p.var()),
            self.bias.as_ref().map(|p| p.var()),
        );
        let (rm, rv) = match &self.running {
            Some(r) => (Some(r.mean.value()), Some(r.var.value())),
            None => (None, None),
        };
        let momentum = match (&self.running, self.config.momentum) {
            (_, Some(m)) => m,
            // Cumulative average: the new batch gets weight 1/(batches so far + 1).
            (Some(r), None) => 1.0 / (r.num_batches_tracked.value().item().to_f64_lossless() + 1.0),
            (None, None) => 0.0,
        };
        let running = match (&rm, &rv) {
            (Some(mean), Some(var)) => Some(RunningStats {
                mean,
                var,
                momentum,
            }),
            _ => None,
        };
        let (y, updated) = functional::batch_norm(
            x,
            w.as_ref(),
            b.as_ref(),
            running,
            training,
            self.config.eps,
        )
        .map_err(|e| TensorError::invalid(op, e.to_string()))?;
        if let (Some(r), Some((m, v))) = (&self.running, updated) {
            no_grad(|| {
                r.mean.set_value(m);
                r.var.set_value(v);
                let n = r.num_batches_tracked.value().item();
                r.num_batches_tracked
                    .set_value(Tensor::scalar(n + T::one()));
            });
        }
        Ok(y)
    }
}

impl<T: Element> Module<T> for BatchNorm1d<T> {
    /// One scale-and-shift per output element (statistics not counted).
    fn macs(&self, _: &[usize], output_shape: &[usize]) -> Option<u64> {
        Some(output_shape.iter().product::<usize>() as u64)
    }
    fn type_name(&self) -> &'static str {
        "BatchNorm1d"
    }
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &nn_autograd::Parameter<T>)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f("weight", w);
            f("bias", b);
        }
    }
    fn visit_local_buffers(&self, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        if let Some(r) = &self.running {
            f("running_mean", &r.mean);
            f("running_var", &r.var);
            f("num_batches_tracked", &r.num_batches_tracked);
        }
    }
    fn train_flag(&self) -> Option<&TrainFlag> {
        Some(&self.training)
    }
}

impl<T: Element> Forward<T> for BatchNorm1d<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            if !(x.ndim() == 2 || x.ndim() == 3) {
                return Err(TensorError::invalid(
                    "BatchNorm1d",
                    format!("expected input [N, C] or [N, C, L], got {:?}", x.shape()),
                ));
            }
            self.forward_any_rank(x, "BatchNorm1d")
        })
    }
}
