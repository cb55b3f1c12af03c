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
use nn_tensor::{Element, Result, Tensor, TensorError};

use crate::arithmetic::conv_transpose_output_size;
use crate::conv::or_panic;
use crate::im2col::ConvGeom;
use crate::kernels::{
    add_bias, bias_grad, conv_backward_input, conv_backward_weight, conv_forward,
};
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
    conv_transpose_nd::<T, 2>("conv_transpose2d", x, weight, bias, options)
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
    conv_transpose_nd::<T, 1>("conv_transpose1d", x, weight, bias, options)
}

/// Checks the operands and returns the geometry of the convolution this
/// transposed convolution is the adjoint of, and the output shape.
pub(crate) fn conv_transpose_geometry<const D: usize>(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    bias: Option<&[usize]>,
    o: &ConvTransposeOptions<D>,
) -> Result<(ConvGeom, Vec<usize>)> {
    let rank = D + 2;
    if x.len() != rank || w.len() != rank {
        return Err(TensorError::shapes(
            op,
            x,
            w,
            format!("input and weight must both have {rank} dims (input [N, C_in, spatial…], weight [C_in, C_out/groups, kernel…])"),
        ));
    }
    let g = o.groups;
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
    if let Some(b) = bias {
        if b != [c_out] {
            return Err(TensorError::shapes(
                op,
                w,
                b,
                format!("bias must be [{c_out}] (one per output channel)"),
            ));
        }
    }
    let mut out_shape = vec![n, c_out];
    for d in 0..D {
        let size = conv_transpose_output_size(
            x[2 + d],
            w[2 + d],
            o.stride[d],
            o.padding[d],
            o.output_padding[d],
            o.dilation[d],
        )
        .map_err(|e| TensorError::invalid(op, format!("input {x:?}, weight {w:?}: {e}")))?;
        out_shape.push(size);
    }
    let two = D == 2;
    let geom = ConvGeom {
        n,
        c_in: c_out,
        h: if two { out_shape[2] } else { 1 },
        w: out_shape[D + 1],
        c_out: c_in,
        kh: if two { w[2] } else { 1 },
        kw: w[D + 1],
        sh: if two { o.stride[0] } else { 1 },
        sw: o.stride[D - 1],
        ph: if two { o.padding[0] } else { 0 },
        pw: o.padding[D - 1],
        dh: if two { o.dilation[0] } else { 1 },
        dw: o.dilation[D - 1],
        groups: g,
        ho: if two { x[2] } else { 1 },
        wo: x[D + 1],
    };
    Ok((geom, out_shape))
}

fn conv_transpose_nd<T: Element, const D: usize>(
    op: &'static str,
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvTransposeOptions<D>,
) -> Result<Var<T>> {
    let (geom, out_shape) = conv_transpose_geometry(
        op,
        x.shape(),
        weight.shape(),
        bias.map(|b| b.shape()),
        options,
    )?;
    // In the adjoint convolution's terms: x is its output gradient.
    let mut y = conv_backward_input(x.value().as_slice(), weight.value().as_slice(), &geom);
    if let Some(b) = bias {
        add_bias(&mut y, b.value().as_slice(), geom.hw());
    }
    let y = Tensor::from_vec(y, &out_shape);
    let mut parents = vec![x.clone(), weight.clone()];
    parents.extend(bias.cloned());
    let (xv, wv) = (x.value().clone(), weight.value().clone());
    let (rx, rw) = (x.requires_grad(), weight.requires_grad());
    let rb = bias.map(|b| b.requires_grad());
    Ok(Var::from_op(op, y, parents, move |gy| {
        let gys = gy.as_slice();
        let dx = rx.then(|| Tensor::from_vec(conv_forward(gys, wv.as_slice(), &geom), xv.shape()));
        let dw = rw
            .then(|| Tensor::from_vec(conv_backward_weight(gys, xv.as_slice(), &geom), wv.shape()));
        let mut grads = vec![dx, dw];
        if let Some(rb) = rb {
            grads.push(
                rb.then(|| Tensor::from_vec(bias_grad(gys, geom.c_in, geom.hw()), &[geom.c_in])),
            );
        }
        grads
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
