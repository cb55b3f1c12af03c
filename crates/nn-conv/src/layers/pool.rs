//! Pooling layers: [`MaxPool1d`], [`MaxPool2d`], [`AvgPool1d`],
//! [`AvgPool2d`], [`AdaptiveAvgPool2d`]. They hold no parameters.

use nn_autograd::Var;
use nn_layers::{Forward, Module};
use nn_tensor::{Element, Result, Rng, TensorError};

use crate::options::{setters, AvgPoolOptions, IntoSpatial, MaxPoolOptions};
use crate::{
    try_adaptive_avg_pool2d, try_avg_pool1d, try_avg_pool2d, try_max_pool1d_with_indices,
    try_max_pool2d_with_indices,
};

/// Max pooling (`torch.nn.MaxPool1d` / `MaxPool2d`): input `[N, C, spatial…]`,
/// output `[N, C, pooled…]` (see [`crate::pool_output_size`]).
///
/// ```
/// use nn_conv::layers::MaxPool2dConfig;
/// use nn_layers::prelude::*;
/// let pool = MaxPool2dConfig::new(2).init(&mut Rng::seed_from(0))?;
/// let y = Forward::<f32>::forward(&pool, &Tensor::zeros(&[1, 6, 28, 28]));
/// assert_eq!(y.shape(), &[1, 6, 14, 14]);
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool<const D: usize> {
    /// Kernel, stride, padding, dilation, ceil mode.
    pub options: MaxPoolOptions<D>,
}

/// 1-d max pooling.
pub type MaxPool1d = MaxPool<1>;
/// 2-d max pooling.
pub type MaxPool2d = MaxPool<2>;

/// An error unless every window size, stride and dilation is at least 1,
/// naming the layer, the setting and its value.
fn require_positive<const D: usize>(
    layer: &'static str,
    settings: &[(&str, [usize; D])],
) -> Result<()> {
    for (name, values) in settings {
        if values.contains(&0) {
            return Err(TensorError::invalid(
                layer,
                format!("{name} = {values:?}, expected every value at least 1"),
            ));
        }
    }
    Ok(())
}

/// How to build a [`MaxPool1d`] or [`MaxPool2d`]: PyTorch's defaults
/// (stride = kernel size, padding 0, dilation 1, floor mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolConfig<const D: usize> {
    /// Kernel, stride, padding, dilation, ceil mode.
    pub options: MaxPoolOptions<D>,
}

/// Config of [`MaxPool1d`].
pub type MaxPool1dConfig = MaxPoolConfig<1>;
/// Config of [`MaxPool2d`].
pub type MaxPool2dConfig = MaxPoolConfig<2>;

impl<const D: usize> MaxPoolConfig<D> {
    /// A pool with this window and the stride equal to it.
    pub fn new(kernel_size: impl IntoSpatial<D>) -> Self {
        MaxPoolConfig {
            options: MaxPoolOptions::new(kernel_size),
        }
    }
    setters! {
        /// With a stride.
        with_stride(s: impl IntoSpatial<D>) => options.stride = s.into_spatial();
        /// With a padding (implicit -∞ on both sides).
        with_padding(p: impl IntoSpatial<D>) => options.padding = p.into_spatial();
        /// With a dilation.
        with_dilation(d: impl IntoSpatial<D>) => options.dilation = d.into_spatial();
        /// With ceil mode (a partial last window kept).
        with_ceil_mode(c: bool) => options.ceil_mode = c;
    }

    /// The layer. A pool holds no weights, so `_rng` is unused: every
    /// layer's `init` takes one, so that building any model reads the same.
    ///
    /// # Errors
    /// If a kernel size, stride or dilation is 0.
    pub fn init(&self, _rng: &mut Rng) -> Result<MaxPool<D>> {
        let o = &self.options;
        let layer = if D == 1 { "MaxPool1d" } else { "MaxPool2d" };
        require_positive(
            layer,
            &[
                ("kernel_size", o.kernel_size),
                ("stride", o.stride),
                ("dilation", o.dilation),
            ],
        )?;
        Ok(MaxPool { options: *o })
    }
}

impl<T: Element, const D: usize> Module<T> for MaxPool<D> {
    /// Pooling compares or adds; it does no multiply-accumulates.
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        Some(0)
    }
    fn type_name(&self) -> &'static str {
        if D == 1 {
            "MaxPool1d"
        } else {
            "MaxPool2d"
        }
    }
}

impl<T: Element> Forward<T> for MaxPool<1> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            Ok(try_max_pool1d_with_indices(x, &self.options)?.0)
        })
    }
}

impl<T: Element> Forward<T> for MaxPool<2> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            Ok(try_max_pool2d_with_indices(x, &self.options)?.0)
        })
    }
}

/// Average pooling (`torch.nn.AvgPool1d` / `AvgPool2d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool<const D: usize> {
    /// Kernel, stride, padding, ceil mode, count_include_pad.
    pub options: AvgPoolOptions<D>,
}

/// 1-d average pooling.
pub type AvgPool1d = AvgPool<1>;
/// 2-d average pooling.
pub type AvgPool2d = AvgPool<2>;

/// How to build an [`AvgPool1d`] or [`AvgPool2d`]: PyTorch's defaults
/// (stride = kernel size, padding 0, floor mode, padding counted in the divisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPoolConfig<const D: usize> {
    /// Kernel, stride, padding, ceil mode, count_include_pad.
    pub options: AvgPoolOptions<D>,
}

/// Config of [`AvgPool1d`].
pub type AvgPool1dConfig = AvgPoolConfig<1>;
/// Config of [`AvgPool2d`].
pub type AvgPool2dConfig = AvgPoolConfig<2>;

impl<const D: usize> AvgPoolConfig<D> {
    /// A pool with this window and the stride equal to it.
    pub fn new(kernel_size: impl IntoSpatial<D>) -> Self {
        AvgPoolConfig {
            options: AvgPoolOptions::new(kernel_size),
        }
    }
    setters! {
        /// With a stride.
        with_stride(s: impl IntoSpatial<D>) => options.stride = s.into_spatial();
        /// With a zero padding.
        with_padding(p: impl IntoSpatial<D>) => options.padding = p.into_spatial();
        /// With ceil mode.
        with_ceil_mode(c: bool) => options.ceil_mode = c;
        /// Whether padded zeros count in the divisor (default true).
        with_count_include_pad(c: bool) => options.count_include_pad = c;
    }

    /// The layer. A pool holds no weights, so `_rng` is unused: every
    /// layer's `init` takes one, so that building any model reads the same.
    ///
    /// # Errors
    /// If a kernel size or stride is 0.
    pub fn init(&self, _rng: &mut Rng) -> Result<AvgPool<D>> {
        let o = &self.options;
        let layer = if D == 1 { "AvgPool1d" } else { "AvgPool2d" };
        require_positive(
            layer,
            &[("kernel_size", o.kernel_size), ("stride", o.stride)],
        )?;
        Ok(AvgPool { options: *o })
    }
}

impl<T: Element, const D: usize> Module<T> for AvgPool<D> {
    /// Pooling compares or adds; it does no multiply-accumulates.
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        Some(0)
    }
    fn type_name(&self) -> &'static str {
        if D == 1 {
            "AvgPool1d"
        } else {
            "AvgPool2d"
        }
    }
}

impl<T: Element> Forward<T> for AvgPool<1> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || try_avg_pool1d(x, &self.options))
    }
}

impl<T: Element> Forward<T> for AvgPool<2> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || try_avg_pool2d(x, &self.options))
    }
}

/// Adaptive average pooling to a fixed `[Oh, Ow]` (`torch.nn.AdaptiveAvgPool2d`):
/// input `[N, C, H, W]`, output `[N, C, Oh, Ow]` whatever H and W.
/// `[1, 1]` is the global average pool of a ResNet head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    /// `[Oh, Ow]`.
    pub output_size: [usize; 2],
}

/// How to build an [`AdaptiveAvgPool2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2dConfig {
    /// `[Oh, Ow]`.
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2dConfig {
    /// A pool to `output_size` (one number for a square output).
    pub fn new(output_size: impl IntoSpatial<2>) -> Self {
        AdaptiveAvgPool2dConfig {
            output_size: output_size.into_spatial(),
        }
    }

    /// The layer; `_rng` is unused (see [`MaxPoolConfig::init`]).
    ///
    /// # Errors
    /// If an output size is 0.
    pub fn init(&self, _rng: &mut Rng) -> Result<AdaptiveAvgPool2d> {
        require_positive("AdaptiveAvgPool2d", &[("output_size", self.output_size)])?;
        Ok(AdaptiveAvgPool2d {
            output_size: self.output_size,
        })
    }
}

impl<T: Element> Module<T> for AdaptiveAvgPool2d {
    /// Pooling compares or adds; it does no multiply-accumulates.
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        Some(0)
    }
}

impl<T: Element> Forward<T> for AdaptiveAvgPool2d {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || try_adaptive_avg_pool2d(x, self.output_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn pools_forward_and_name_themselves() {
        let rng = &mut Rng::seed_from(0);
        let x = Var::constant(Tensor::<f64>::arange(0.0, 8.0, 1.0).reshape([1, 1, 8]));
        let m = MaxPool1dConfig::new(3)
            .with_stride(2)
            .with_ceil_mode(true)
            .init(rng)
            .unwrap();
        assert_eq!(m.forward(&x).value().to_vec(), vec![2.0, 4.0, 6.0, 7.0]);
        let a = AvgPool1dConfig::new(4).init(rng).unwrap();
        assert_eq!(a.forward(&x).value().to_vec(), vec![1.5, 5.5]);
        assert_eq!(Module::<f64>::type_name(&m), "MaxPool1d");
        assert_eq!(
            Module::<f64>::type_name(&AvgPool2dConfig::new(2).init(rng).unwrap()),
            "AvgPool2d"
        );
        let e = MaxPool2dConfig::new(2)
            .with_stride(0)
            .init(rng)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "MaxPool2d: stride = [0, 0], expected every value at least 1"
        );
        let g = AdaptiveAvgPool2dConfig::new(1).init(rng).unwrap();
        let y = g.forward(Var::constant(Tensor::<f64>::ones(&[2, 3, 5, 4])));
        assert_eq!(y.shape(), &[2, 3, 1, 1]);
        assert!(Forward::<f64>::try_forward(&g, &x).is_err());
    }
}
