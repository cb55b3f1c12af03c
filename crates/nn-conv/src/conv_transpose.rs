//! Differentiable transposed convolutions: `conv_transpose1d` and
//! `conv_transpose2d`.
//!
//! A transposed convolution is the adjoint of a convolution: its forward
//! pass is that convolution's input gradient, its input gradient is that
//! convolution's forward pass, and its weight gradient is the same weight
//! gradient with input and output swapped. So it reuses the three GEMM
//! kernels of [`crate::conv2d`] unchanged. The weight is
//! `[C_in, C_out/G, kH, kW]`: input channels first, as in PyTorch.

use nn_autograd::Var;
use nn_tensor::{or_panic, Element, Result, TensorError};

use crate::arithmetic::conv_transpose_output_size;
use crate::conv::{check_bias, check_ranks, conv_nd, output_sizes, ConvKind, Pass};
use crate::im2col::{ConvDims, ConvGeom};
use crate::options::ConvTransposeOptions;

/// 2-d transposed convolution. `x: [N, C_in, H, W]`,
/// `weight: [C_in, C_out/G, kH, kW]`, `bias: [C_out]`; returns
/// `[N, C_out, Ho, Wo]` with `Ho = (H − 1)·s − 2p + d·(kH − 1) + output_padding + 1`.
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{conv_transpose2d, ConvTransposeOptions};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f64>::ones(&[1, 4, 8, 8]));
/// let w = Var::leaf(Tensor::<f64>::ones(&[4, 2, 3, 3]));
/// let opts = ConvTransposeOptions::default().stride(2).padding(1).output_padding(1);
/// assert_eq!(conv_transpose2d(&x, &w, None, &opts).shape(), &[1, 2, 16, 16]);
/// ```
#[track_caller]
pub fn conv_transpose2d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvTransposeOptions<2>,
) -> Var<T> {
    or_panic(try_conv_transpose2d(x, weight, bias, options))
}

/// Fallible [`conv_transpose2d`].
pub fn try_conv_transpose2d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvTransposeOptions<2>,
) -> Result<Var<T>> {
    conv_nd("conv_transpose2d", x, weight, bias, options)
}

/// 1-d transposed convolution. `x: [N, C_in, L]`, `weight: [C_in, C_out/G, k]`,
/// `bias: [C_out]`; returns `[N, C_out, L_out]`.
#[track_caller]
pub fn conv_transpose1d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvTransposeOptions<1>,
) -> Var<T> {
    or_panic(try_conv_transpose1d(x, weight, bias, options))
}

/// Fallible [`conv_transpose1d`].
pub fn try_conv_transpose1d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvTransposeOptions<1>,
) -> Result<Var<T>> {
    conv_nd("conv_transpose1d", x, weight, bias, options)
}

/// The geometry is that of the convolution this transposed convolution is
/// the adjoint of.
impl<const D: usize> ConvKind for ConvTransposeOptions<D> {
    const PASS: Pass = Pass::Transposed;

    fn geometry(
        &self,
        op: &'static str,
        x: &[usize],
        w: &[usize],
        bias: Option<&[usize]>,
    ) -> Result<(ConvGeom, Vec<usize>)> {
        check_ranks::<D>(op, x, w, "C_in, C_out/groups")?;
        let g = self.groups;
        let (n, c_in) = (x[0], x[1]);
        if g == 0 || c_in % g != 0 {
            return Err(TensorError::shapes(
                op,
                x,
                w,
                format!("groups {g} must be positive and divide C_in {c_in}"),
            ));
        }
        if w[0] != c_in {
            return Err(TensorError::shapes(
                op,
                x,
                w,
                format!("weight dim 0 is {} but the input has {c_in} channels", w[0]),
            ));
        }
        let c_out = w[1] * g;
        check_bias(op, w, bias, c_out)?;
        let output = output_sizes(op, x, w, |d| {
            conv_transpose_output_size(
                x[2 + d],
                w[2 + d],
                self.stride[d],
                self.padding[d],
                self.output_padding[d],
                self.dilation[d],
            )
        })?;
        // The adjoint convolution maps this one's output back to its input.
        let geom = ConvDims {
            n,
            c_in: c_out,
            c_out: c_in,
            groups: g,
            input: output,
            kernel: std::array::from_fn(|d| w[2 + d]),
            stride: self.stride,
            pad: self.padding,
            dilation: self.dilation,
            output: std::array::from_fn(|d| x[2 + d]),
        }
        .geom();
        Ok((geom, [&[n, c_out][..], &output].concat()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn errors_name_the_op() {
        let x = Var::constant(Tensor::<f32>::zeros(&[1, 4, 3, 3]));
        let w = Var::constant(Tensor::<f32>::zeros(&[3, 2, 3, 3]));
        let e = try_conv_transpose2d(&x, &w, None, &ConvTransposeOptions::default()).unwrap_err();
        assert!(e
            .to_string()
            .contains("weight dim 0 is 3 but the input has 4 channels"));
        let w = Var::constant(Tensor::<f32>::zeros(&[4, 2, 3, 3]));
        let o = ConvTransposeOptions::default().stride(2).output_padding(2);
        let e = try_conv_transpose2d(&x, &w, None, &o).unwrap_err();
        assert!(e.to_string().starts_with("conv_transpose2d: input [1, 4, 3, 3], weight [4, 2, 3, 3]: conv_transpose_output_size: output_padding 2"));
    }

    #[test]
    fn scatters_the_kernel_for_each_input_pixel() {
        // One input pixel of value 2 at (0, 1) with stride 2: the 2×2 kernel
        // lands at rows 0..2, columns 2..4 of a 4×4 output.
        let x = Var::constant(Tensor::<f64>::from_vec(vec![0., 2., 0., 0.], &[1, 1, 2, 2]));
        let w = Var::constant(Tensor::<f64>::from_vec(vec![1., 2., 3., 4.], &[1, 1, 2, 2]));
        let y = conv_transpose2d(&x, &w, None, &ConvTransposeOptions::default().stride(2));
        assert_eq!(
            y.value().to_vec(),
            vec![0., 0., 2., 4., 0., 0., 6., 8., 0., 0., 0., 0., 0., 0., 0., 0.]
        );
    }
}
