//! Pooling layers: [`MaxPool1d`], [`MaxPool2d`], [`AvgPool1d`],
//! [`AvgPool2d`], [`AdaptiveAvgPool2d`]. They hold no parameters.

use nn_autograd::Var;
use nn_layers::{Forward, Module};
use nn_tensor::{Element, Result};

use crate::options::{AvgPoolOptions, MaxPoolOptions};
use crate::{
    try_adaptive_avg_pool2d, try_avg_pool1d, try_avg_pool2d, try_max_pool1d_with_indices,
    try_max_pool2d_with_indices,
};

/// Max pooling (`torch.nn.MaxPool1d` / `MaxPool2d`): input `[N, C, spatial…]`,
/// output `[N, C, pooled…]` (see [`crate::pool_output_size`]).
///
/// ```
/// use nn_conv::layers::MaxPool2d;
/// use nn_conv::MaxPoolOptions;
/// use nn_layers::prelude::*;
/// let pool = MaxPool2d::new(MaxPoolOptions::new(2));
/// let y = Forward::<f32>::forward(&pool, &Var::constant(Tensor::zeros(&[1, 6, 28, 28])));
/// assert_eq!(y.shape(), &[1, 6, 14, 14]);
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

impl<const D: usize> MaxPool<D> {
    /// A pool with these options.
    pub fn new(options: MaxPoolOptions<D>) -> Self {
        MaxPool { options }
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
        Ok(try_max_pool1d_with_indices(x, &self.options)?.0)
    }
}

impl<T: Element> Forward<T> for MaxPool<2> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        Ok(try_max_pool2d_with_indices(x, &self.options)?.0)
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

impl<const D: usize> AvgPool<D> {
    /// A pool with these options.
    pub fn new(options: AvgPoolOptions<D>) -> Self {
        AvgPool { options }
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
        try_avg_pool1d(x, &self.options)
    }
}

impl<T: Element> Forward<T> for AvgPool<2> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        try_avg_pool2d(x, &self.options)
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

impl AdaptiveAvgPool2d {
    /// A pool to `output_size`.
    pub fn new(output_size: [usize; 2]) -> Self {
        AdaptiveAvgPool2d { output_size }
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
        try_adaptive_avg_pool2d(x, self.output_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn pools_forward_and_name_themselves() {
        let x = Var::constant(Tensor::<f64>::arange(0.0, 8.0, 1.0).reshape([1, 1, 8]));
        let m = MaxPool1d::new(MaxPoolOptions::new(3).stride(2).ceil_mode(true));
        assert_eq!(m.forward(&x).value().to_vec(), vec![2.0, 4.0, 6.0, 7.0]);
        let a = AvgPool1d::new(AvgPoolOptions::new(4));
        assert_eq!(a.forward(&x).value().to_vec(), vec![1.5, 5.5]);
        assert_eq!(Module::<f64>::type_name(&m), "MaxPool1d");
        assert_eq!(
            Module::<f64>::type_name(&AvgPool2d::new(AvgPoolOptions::new(2))),
            "AvgPool2d"
        );
        let g = AdaptiveAvgPool2d::new([1, 1]);
        let y = g.forward(Var::constant(Tensor::<f64>::ones(&[2, 3, 5, 4])));
        assert_eq!(y.shape(), &[2, 3, 1, 1]);
        assert!(Forward::<f64>::try_forward(&g, &x).is_err());
    }
}
