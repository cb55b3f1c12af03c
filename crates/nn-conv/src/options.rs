//! Hyper-parameters of the functional ops, with PyTorch's defaults.
//!
//! `D` is the number of spatial dims (1 for `conv1d`, 2 for `conv2d`). Every
//! per-dim setter takes either one number for all dims or an array:
//!
//! ```
//! use nn_conv::{ConvOptions, MaxPoolOptions};
//! let o = ConvOptions::<2>::default().stride(2).padding([1, 0]);
//! assert_eq!(o.stride, [2, 2]);
//! let p = MaxPoolOptions::<2>::new(3).stride(2).ceil_mode(true);
//! assert_eq!((p.kernel_size, p.stride), ([3, 3], [2, 2]));
//! ```

use crate::arithmetic::Padding;

/// One number for every spatial dim, or one per dim.
pub trait IntoSpatial<const D: usize> {
    /// The per-dim values.
    fn into_spatial(self) -> [usize; D];
}

impl<const D: usize> IntoSpatial<D> for usize {
    fn into_spatial(self) -> [usize; D] {
        [self; D]
    }
}

impl<const D: usize> IntoSpatial<D> for [usize; D] {
    fn into_spatial(self) -> [usize; D] {
        self
    }
}

/// Builder setters: each `name(arg: Type) => place = value;` line becomes
/// `pub fn name(mut self, arg: Type) -> Self`, which sets `self.place` to
/// `value` and returns `self`; doc comments above a line go to its method.
macro_rules! setters {
    ($($(#[doc = $doc:literal])* $name:ident($arg:ident: $ty:ty) => $($place:ident).+ = $value:expr;)*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$($place).+ = $value;
                self
            }
        )*
    };
}
pub(crate) use setters;

/// Options of `conv1d`/`conv2d` (PyTorch defaults: stride 1, padding 0,
/// dilation 1, groups 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOptions<const D: usize> {
    /// Step between windows.
    pub stride: [usize; D],
    /// Zeros added around the input.
    pub padding: Padding<D>,
    /// Spacing between kernel taps (the course's dilated convolution).
    pub dilation: [usize; D],
    /// Channel groups: input group `g` feeds only output group `g`.
    pub groups: usize,
}

impl<const D: usize> Default for ConvOptions<D> {
    fn default() -> Self {
        ConvOptions {
            stride: [1; D],
            padding: Padding::default(),
            dilation: [1; D],
            groups: 1,
        }
    }
}

impl<const D: usize> ConvOptions<D> {
    setters! {
        /// Sets the stride.
        stride(s: impl IntoSpatial<D>) => stride = s.into_spatial();
        /// Sets the padding: a number, an array, or a [`Padding`].
        padding(p: impl Into<Padding<D>>) => padding = p.into();
        /// Sets the dilation.
        dilation(d: impl IntoSpatial<D>) => dilation = d.into_spatial();
        /// Sets the number of groups.
        groups(g: usize) => groups = g;
    }
}

/// Options of `conv_transpose1d`/`conv_transpose2d` (PyTorch defaults:
/// stride 1, padding 0, output_padding 0, dilation 1, groups 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTransposeOptions<const D: usize> {
    /// Stride of the convolution this one is the adjoint of.
    pub stride: [usize; D],
    /// Padding of that convolution (removed from the output's borders).
    pub padding: [usize; D],
    /// Extra rows/columns at the bottom/right of the output, to pick one of
    /// the input sizes a strided convolution maps to the same size.
    pub output_padding: [usize; D],
    /// Spacing between kernel taps.
    pub dilation: [usize; D],
    /// Channel groups.
    pub groups: usize,
}

impl<const D: usize> Default for ConvTransposeOptions<D> {
    fn default() -> Self {
        ConvTransposeOptions {
            stride: [1; D],
            padding: [0; D],
            output_padding: [0; D],
            dilation: [1; D],
            groups: 1,
        }
    }
}

impl<const D: usize> ConvTransposeOptions<D> {
    setters! {
        /// Sets the stride.
        stride(s: impl IntoSpatial<D>) => stride = s.into_spatial();
        /// Sets the padding.
        padding(p: impl IntoSpatial<D>) => padding = p.into_spatial();
        /// Sets the output padding.
        output_padding(p: impl IntoSpatial<D>) => output_padding = p.into_spatial();
        /// Sets the dilation.
        dilation(d: impl IntoSpatial<D>) => dilation = d.into_spatial();
        /// Sets the number of groups.
        groups(g: usize) => groups = g;
    }
}

/// Options of `max_pool1d`/`max_pool2d` (PyTorch defaults: stride = kernel
/// size, padding 0, dilation 1, floor mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolOptions<const D: usize> {
    /// Window size.
    pub kernel_size: [usize; D],
    /// Step between windows.
    pub stride: [usize; D],
    /// Implicit -∞ padding on both sides.
    pub padding: [usize; D],
    /// Spacing between window taps.
    pub dilation: [usize; D],
    /// Round the output size up (keeping a partial last window).
    pub ceil_mode: bool,
}

impl<const D: usize> MaxPoolOptions<D> {
    /// A pool with this window and the stride equal to it.
    pub fn new(kernel_size: impl IntoSpatial<D>) -> Self {
        let k = kernel_size.into_spatial();
        MaxPoolOptions {
            kernel_size: k,
            stride: k,
            padding: [0; D],
            dilation: [1; D],
            ceil_mode: false,
        }
    }
    setters! {
        /// Sets the stride.
        stride(s: impl IntoSpatial<D>) => stride = s.into_spatial();
        /// Sets the padding.
        padding(p: impl IntoSpatial<D>) => padding = p.into_spatial();
        /// Sets the dilation.
        dilation(d: impl IntoSpatial<D>) => dilation = d.into_spatial();
        /// Sets ceil mode.
        ceil_mode(c: bool) => ceil_mode = c;
    }
}

/// Options of `avg_pool1d`/`avg_pool2d` (PyTorch defaults: stride = kernel
/// size, padding 0, floor mode, padding counted in the divisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPoolOptions<const D: usize> {
    /// Window size.
    pub kernel_size: [usize; D],
    /// Step between windows.
    pub stride: [usize; D],
    /// Zero padding on both sides.
    pub padding: [usize; D],
    /// Round the output size up.
    pub ceil_mode: bool,
    /// Divide by the window size including padded zeros (true) or by the
    /// number of real inputs in the window (false).
    pub count_include_pad: bool,
}

impl<const D: usize> AvgPoolOptions<D> {
    /// A pool with this window and the stride equal to it.
    pub fn new(kernel_size: impl IntoSpatial<D>) -> Self {
        let k = kernel_size.into_spatial();
        AvgPoolOptions {
            kernel_size: k,
            stride: k,
            padding: [0; D],
            ceil_mode: false,
            count_include_pad: true,
        }
    }
    setters! {
        /// Sets the stride.
        stride(s: impl IntoSpatial<D>) => stride = s.into_spatial();
        /// Sets the padding.
        padding(p: impl IntoSpatial<D>) => padding = p.into_spatial();
        /// Sets ceil mode.
        ceil_mode(c: bool) => ceil_mode = c;
        /// Sets whether padded zeros count in the divisor.
        count_include_pad(c: bool) => count_include_pad = c;
    }
}
