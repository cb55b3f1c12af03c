//! Differentiable convolutions: `conv1d` and `conv2d`, and the true
//! convolutions `convolve1d` and `convolve2d`.
//!
//! `conv*` compute the cross-correlation as in PyTorch (the kernel is not
//! flipped); `convolve*` turn the kernel by 180° first, as the course book
//! does, and then run the same kernels. NCHW / NCL layouts, weight
//! `[C_out, C_in/G, kH, kW]`. A 1-d convolution is the 2-d one with a height
//! of 1, so both share every kernel.

use nn_autograd::Var;
use nn_tensor::{or_panic, Element, Result, Tensor, TensorError};

use crate::arithmetic::conv_output_size_asym;
use crate::im2col::{ConvDims, ConvGeom};
use crate::kernels::{
    add_bias, bias_grad, conv_backward_input, conv_backward_weight, conv_forward,
};
use crate::options::ConvOptions;

/// 2-d convolution. `x: [N, C_in, H, W]`, `weight: [C_out, C_in/G, kH, kW]`,
/// `bias: [C_out]`; returns `[N, C_out, Ho, Wo]` with
/// `Ho = floor((H + 2p − d·(kH − 1) − 1)/s) + 1` (see [`crate::conv_output_size`]).
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{conv2d, ConvOptions};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f64>::ones(&[1, 1, 4, 4]));
/// let w = Var::leaf(Tensor::<f64>::ones(&[2, 1, 3, 3]));
/// let y = conv2d(&x, &w, None, &ConvOptions::default().padding(1));
/// assert_eq!(y.shape(), &[1, 2, 4, 4]);
/// assert_eq!(y.value().get(&[0, 0, 1, 1]), 9.0); // a full 3×3 window of ones
/// ```
#[track_caller]
pub fn conv2d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<2>,
) -> Var<T> {
    or_panic(try_conv2d(x, weight, bias, options))
}

/// Fallible [`conv2d`]: errors on wrong ranks, channel counts that do not
/// match the weight or the groups, a bias of the wrong length, or settings
/// with no output (see [`crate::conv_output_size`]).
pub fn try_conv2d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<2>,
) -> Result<Var<T>> {
    conv_nd("conv2d", x, weight, bias, options)
}

/// 1-d convolution. `x: [N, C_in, L]`, `weight: [C_out, C_in/G, k]`,
/// `bias: [C_out]`; returns `[N, C_out, L_out]`.
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{conv1d, ConvOptions};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f32>::from_vec(vec![1., 2., 3., 4.], &[1, 1, 4]));
/// let w = Var::leaf(Tensor::<f32>::from_vec(vec![1., -1.], &[1, 1, 2]));
/// let y = conv1d(&x, &w, None, &ConvOptions::default());
/// assert_eq!(y.value().to_vec(), vec![-1., -1., -1.]);
/// ```
#[track_caller]
pub fn conv1d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<1>,
) -> Var<T> {
    or_panic(try_conv1d(x, weight, bias, options))
}

/// Fallible [`conv1d`].
pub fn try_conv1d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<1>,
) -> Result<Var<T>> {
    conv_nd("conv1d", x, weight, bias, options)
}

/// True 2-d convolution, as the course book computes it by hand: the
/// kernel is turned by 180° (flipped along both spatial dims) and then slid
/// over the input like [`conv2d`]. Same layouts, options and errors as
/// [`conv2d`]; `convolve2d(x, w) == conv2d(x, flip(w))`.
///
/// Deep-learning libraries (PyTorch included) compute the cross-correlation
/// of [`conv2d`]: the kernel is learned, so whether it is stored flipped
/// makes no difference to what a network can represent, and skipping the
/// flip keeps the weight layout equal to the receptive field it is compared
/// with. The true convolution matters when a kernel is given rather than
/// learned, as in the book's worked example:
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{conv2d, convolve2d, ConvOptions};
/// use nn_tensor::Tensor;
/// let x = Var::constant(Tensor::<f64>::from_vec(
///     vec![1., 1., 1., 1., 1., -1., 0., -3., 0., 1., 2., 1., 1., -1., 0.,
///          0., -1., 1., 2., 1., 1., 2., 1., 1., 1.],
///     &[1, 1, 5, 5],
/// ));
/// let k = Var::constant(Tensor::from_vec(
///     vec![1., 0., 0., 0., 0., 0., 0., 0., -1.],
///     &[1, 1, 3, 3],
/// ));
/// let o = ConvOptions::default();
/// let book = convolve2d(&x, &k, None, &o);
/// assert_eq!(book.value().to_vec(), vec![0., -2., -1., 2., 2., 4., -1., 0., 0.]);
/// // This kernel turned by 180° is its own negation, so the correlation is −book.
/// assert_eq!(conv2d(&x, &k, None, &o).value().to_vec(), book.neg().value().to_vec());
/// ```
#[track_caller]
pub fn convolve2d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<2>,
) -> Var<T> {
    or_panic(try_convolve2d(x, weight, bias, options))
}

/// Fallible [`convolve2d`]: the errors of [`try_conv2d`], naming `convolve2d`.
pub fn try_convolve2d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<2>,
) -> Result<Var<T>> {
    conv_nd("convolve2d", x, &flip_kernel(weight), bias, options)
}

/// True 1-d convolution: the kernel reversed, then [`conv1d`]. Same
/// layouts, options and errors as [`conv1d`].
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{convolve1d, ConvOptions};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f32>::from_vec(vec![1., 2., 3., 4.], &[1, 1, 4]));
/// let w = Var::leaf(Tensor::<f32>::from_vec(vec![1., -1.], &[1, 1, 2]));
/// // y[i] = x[i]·w[1] + x[i+1]·w[0]: a forward difference.
/// let y = convolve1d(&x, &w, None, &ConvOptions::default());
/// assert_eq!(y.value().to_vec(), vec![1., 1., 1.]);
/// ```
#[track_caller]
pub fn convolve1d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<1>,
) -> Var<T> {
    or_panic(try_convolve1d(x, weight, bias, options))
}

/// Fallible [`convolve1d`]: the errors of [`try_conv1d`], naming `convolve1d`.
pub fn try_convolve1d<T: Element>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &ConvOptions<1>,
) -> Result<Var<T>> {
    conv_nd("convolve1d", x, &flip_kernel(weight), bias, options)
}

/// The weight `[C_out, C_in/G, k…]` with every kernel dim reversed, as a
/// differentiable gather (its backward scatters the gradient back flipped),
/// so the true convolution runs on the correlation's kernels. A weight of
/// the wrong rank passes through unchanged for `conv_nd` to reject.
fn flip_kernel<T: Element>(weight: &Var<T>) -> Var<T> {
    let mut w = weight.clone();
    for d in 2..weight.ndim() {
        let reversed: Vec<usize> = (0..weight.shape()[d]).rev().collect();
        w = w.index_select(d, &reversed);
    }
    w
}

/// Which of the two adjoint linear maps of a [`ConvGeom`] a graph node's
/// forward pass runs; the backward pass runs the other one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The convolution: `x` is its input, `y` its output.
    Conv,
    /// The transposed convolution: `x` is in the place of the
    /// convolution's output, `y` of its input.
    Transposed,
}

/// What a convolution and a transposed convolution differ in, told apart
/// by the type of their options: how the operands are checked, and which
/// of the two adjoint maps the forward pass runs.
pub(crate) trait ConvKind {
    /// The map the forward pass runs.
    const PASS: Pass;
    /// Checks the operands' shapes; returns the geometry the kernels run on
    /// and the output shape.
    fn geometry(
        &self,
        op: &'static str,
        x: &[usize],
        w: &[usize],
        bias: Option<&[usize]>,
    ) -> Result<(ConvGeom, Vec<usize>)>;
}

/// One of the two adjoint maps of a [`ConvGeom`]: `(operand, weight) -> result`.
type ConvMap<T> = fn(&[T], &[T], &ConvGeom) -> Vec<T>;

/// The graph node of a convolution or a transposed convolution.
pub(crate) fn conv_nd<T: Element, O: ConvKind>(
    op: &'static str,
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    options: &O,
) -> Result<Var<T>> {
    let (geom, out_shape) =
        options.geometry(op, x.shape(), weight.shape(), bias.map(|b| b.shape()))?;
    let conv = O::PASS == Pass::Conv;
    // This node's forward map and its adjoint, the input gradient.
    let (forward, adjoint): (ConvMap<T>, ConvMap<T>) = if conv {
        (conv_forward, conv_backward_input)
    } else {
        (conv_backward_input, conv_forward)
    };
    let mut y = forward(x.value().as_slice(), weight.value().as_slice(), &geom);
    // Channels and pixels per channel of `y`.
    let (yc, yp) = if conv {
        (geom.c_out, geom.p())
    } else {
        (geom.c_in, geom.hw())
    };
    if let Some(b) = bias {
        add_bias(&mut y, b.value().as_slice(), yp);
    }
    let y = Tensor::from_vec(y, &out_shape);
    let mut parents = vec![x.clone(), weight.clone()];
    parents.extend(bias.cloned());
    let (xv, wv) = (x.value().clone(), weight.value().clone());
    let (rx, rw) = (x.requires_grad(), weight.requires_grad());
    let rb = bias.map(|b| b.requires_grad());
    Ok(Var::from_op(op, y, parents, move |gy| {
        let gys = gy.as_slice();
        let dx = rx.then(|| Tensor::from_vec(adjoint(gys, wv.as_slice(), &geom), xv.shape()));
        // The weight gradient pairs the convolution's input with its output
        // gradient, whichever of them is `x` here.
        let (input, out_grad) = if conv {
            (xv.as_slice(), gys)
        } else {
            (gys, xv.as_slice())
        };
        let dw = rw.then(|| {
            let dw = conv_backward_weight(input, out_grad, &geom);
            Tensor::from_vec(dw, wv.shape())
        });
        let mut grads = vec![dx, dw];
        if let Some(rb) = rb {
            grads.push(rb.then(|| Tensor::from_vec(bias_grad(gys, yc, yp), &[yc])));
        }
        grads
    }))
}

/// A convolution checks `[C_out, C_in/groups, k…]` weights and resolves
/// `"same"`/`"valid"` padding.
impl<const D: usize> ConvKind for ConvOptions<D> {
    const PASS: Pass = Pass::Conv;

    fn geometry(
        &self,
        op: &'static str,
        x: &[usize],
        w: &[usize],
        bias: Option<&[usize]>,
    ) -> Result<(ConvGeom, Vec<usize>)> {
        check_ranks::<D>(op, x, w, "C_out, C_in/groups")?;
        let groups = self.groups;
        let (n, c_in, c_out) = (x[0], x[1], w[0]);
        if groups == 0 || c_in % groups != 0 || c_out % groups != 0 {
            return Err(TensorError::shapes(
                op,
                x,
                w,
                format!(
                    "groups {groups} must be positive and divide both C_in {c_in} and C_out {c_out}"
                ),
            ));
        }
        if w[1] * groups != c_in {
            return Err(TensorError::shapes(
                op,
                x,
                w,
                format!(
                    "weight dim 1 is {} but the input has {c_in} channels in {groups} group(s)",
                    w[1]
                ),
            ));
        }
        check_bias(op, w, bias, c_out)?;
        let kernel: [usize; D] = std::array::from_fn(|d| w[2 + d]);
        let pads = self
            .padding
            .resolve(kernel, self.stride, self.dilation)
            .map_err(|e| TensorError::invalid(op, e.to_string()))?;
        let output = output_sizes(op, x, w, |d| {
            conv_output_size_asym(
                x[2 + d],
                kernel[d],
                self.stride[d],
                pads[d],
                self.dilation[d],
            )
        })?;
        let geom = ConvDims {
            n,
            c_in,
            c_out,
            groups,
            input: std::array::from_fn(|d| x[2 + d]),
            kernel,
            stride: self.stride,
            pad: pads.map(|p| p.0),
            dilation: self.dilation,
            output,
        }
        .geom();
        Ok((geom, [&[n, c_out][..], &output].concat()))
    }
}

/// Errors unless the input and the weight (laid out `[weight_lead,
/// kernel…]`) both have `D + 2` dims.
pub(crate) fn check_ranks<const D: usize>(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    weight_lead: &str,
) -> Result<()> {
    let rank = D + 2;
    if x.len() != rank || w.len() != rank {
        return Err(TensorError::shapes(
            op,
            x,
            w,
            format!("input and weight must both have {rank} dims (input [N, C_in, spatial…], weight [{weight_lead}, kernel…])"),
        ));
    }
    Ok(())
}

/// Errors unless the bias, if any, holds one value per output channel.
pub(crate) fn check_bias(
    op: &'static str,
    w: &[usize],
    bias: Option<&[usize]>,
    c_out: usize,
) -> Result<()> {
    match bias {
        Some(b) if b != [c_out] => Err(TensorError::shapes(
            op,
            w,
            b,
            format!("bias must be [{c_out}] (one per output channel)"),
        )),
        _ => Ok(()),
    }
}

/// The output size along each spatial dim, `size(d)`, with the operands'
/// shapes put in front of an error.
pub(crate) fn output_sizes<const D: usize>(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    size: impl Fn(usize) -> Result<usize>,
) -> Result<[usize; D]> {
    let mut out = [0; D];
    for (d, o) in out.iter_mut().enumerate() {
        *o = size(d)
            .map_err(|e| TensorError::invalid(op, format!("input {x:?}, weight {w:?}: {e}")))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive2d(
        x: &Tensor<f64>,
        w: &Tensor<f64>,
        s: usize,
        p: usize,
        d: usize,
        groups: usize,
    ) -> Tensor<f64> {
        let (n, ci, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let (co, cig, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
        let ho = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
        let wo = (wd + 2 * p - d * (kw - 1) - 1) / s + 1;
        let cog = co / groups;
        let mut y = vec![0.0; n * co * ho * wo];
        for b in 0..n {
            for o in 0..co {
                let g = o / cog;
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut acc = 0.0;
                        for c in 0..cig {
                            for a in 0..kh {
                                for e in 0..kw {
                                    let ih = (oh * s + a * d) as isize - p as isize;
                                    let iw = (ow * s + e * d) as isize - p as isize;
                                    if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd
                                    {
                                        acc += w.get(&[o, c, a, e])
                                            * x.get(&[b, g * cig + c, ih as usize, iw as usize]);
                                    }
                                }
                            }
                        }
                        y[((b * co + o) * ho + oh) * wo + ow] = acc;
                    }
                }
            }
        }
        let _ = ci;
        Tensor::from_vec(y, &[n, co, ho, wo])
    }

    #[test]
    fn matches_the_definition_on_large_tiled_inputs() {
        // K·P well above one column tile, so several tiles and the batch-parallel path run.
        let mut rng = nn_tensor::Rng::seed_from(3);
        let x = Tensor::<f64>::rand_normal(&[3, 4, 40, 50], 0.0, 1.0, &mut rng);
        for &(s, p, d, g) in &[(1, 1, 1, 1), (2, 0, 2, 2), (1, 2, 1, 4)] {
            let w = Tensor::<f64>::rand_normal(&[8, 4 / g, 3, 3], 0.0, 1.0, &mut rng);
            let y = conv2d(
                &Var::constant(x.clone()),
                &Var::constant(w.clone()),
                None,
                &ConvOptions::default()
                    .stride(s)
                    .padding(p)
                    .dilation(d)
                    .groups(g),
            );
            let want = naive2d(&x, &w, s, p, d, g);
            assert!(y.value().max_abs_diff(&want) < 1e-10);
        }
    }

    #[test]
    fn shifted_gemm_path_matches_the_definition() {
        // 32 output channels on 20×23 maps run channel-last, the grouped
        // case (16 per group) on planar data.
        let mut rng = nn_tensor::Rng::seed_from(4);
        let x = Tensor::<f64>::rand_normal(&[2, 32, 20, 23], 0.0, 1.0, &mut rng);
        for &(p, d, g) in &[(1, 1, 1), (0, 2, 2), (3, 2, 1)] {
            let w = Tensor::<f64>::rand_normal(&[32, 32 / g, 3, 3], 0.0, 1.0, &mut rng);
            let o = ConvOptions::default().padding(p).dilation(d).groups(g);
            let y = conv2d(
                &Var::constant(x.clone()),
                &Var::constant(w.clone()),
                None,
                &o,
            );
            assert!(y.value().max_abs_diff(&naive2d(&x, &w, 1, p, d, g)) < 1e-10);
        }
        // Maps tall enough for several output tiles (92-column pitch, 44
        // rows a tile, 100 rows), so the tile boundaries are checked too: on
        // planar data (16 output channels) and channel-last (32).
        for c in [16, 32] {
            let x = Tensor::<f64>::rand_normal(&[1, c, 100, 90], 0.0, 1.0, &mut rng);
            let w = Tensor::<f64>::rand_normal(&[c, c, 3, 3], 0.0, 1.0, &mut rng);
            let o = ConvOptions::default().padding(1);
            let y = conv2d(
                &Var::constant(x.clone()),
                &Var::constant(w.clone()),
                None,
                &o,
            );
            assert!(y.value().max_abs_diff(&naive2d(&x, &w, 1, 1, 1, 1)) < 1e-10);
        }
    }

    #[test]
    fn errors_name_the_op_and_shapes() {
        let x = Var::constant(Tensor::<f32>::zeros(&[1, 3, 5, 5]));
        let w = Var::constant(Tensor::<f32>::zeros(&[4, 2, 3, 3]));
        let e = try_conv2d(&x, &w, None, &ConvOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "conv2d: shapes [1, 3, 5, 5] and [4, 2, 3, 3] do not match: weight dim 1 is 2 but the input has 3 channels in 1 group(s)"
        );
        let w = Var::constant(Tensor::<f32>::zeros(&[4, 3, 7, 3]));
        let e = try_conv2d(&x, &w, None, &ConvOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with(
            "conv2d: input [1, 3, 5, 5], weight [4, 3, 7, 3]: conv_output_size: kernel 7"
        ));
        let w = Var::constant(Tensor::<f32>::zeros(&[4, 1, 3, 3]));
        let e = try_conv2d(&x, &w, None, &ConvOptions::default().groups(3)).unwrap_err();
        assert!(e
            .to_string()
            .contains("groups 3 must be positive and divide both C_in 3 and C_out 4"));
        let w = Var::constant(Tensor::<f32>::zeros(&[4, 3, 3, 3]));
        let b = Var::constant(Tensor::<f32>::zeros(&[3]));
        assert!(try_conv2d(&x, &w, Some(&b), &ConvOptions::default())
            .unwrap_err()
            .to_string()
            .contains("bias must be [4]"));
        let e = try_conv2d(&x, &w, None, &ConvOptions::default().stride(0)).unwrap_err();
        assert!(e.to_string().contains("stride must be positive"));
        let x1 = Var::constant(Tensor::<f32>::zeros(&[1, 3, 5]));
        assert!(try_conv2d(&x1, &w, None, &ConvOptions::default())
            .unwrap_err()
            .to_string()
            .contains("must both have 4 dims"));
    }

    #[test]
    fn same_padding_keeps_the_size_for_even_kernels() {
        let x = Var::constant(Tensor::<f64>::ones(&[1, 1, 6]));
        let w = Var::constant(Tensor::<f64>::ones(&[1, 1, 4]));
        let y = conv1d(
            &x,
            &w,
            None,
            &ConvOptions::default().padding(crate::Padding::Same),
        );
        // PyTorch pads 1 before and 2 after: sums of 3, 4, 4, 4, 3, 2 ones.
        assert_eq!(y.value().to_vec(), vec![3.0, 4.0, 4.0, 4.0, 3.0, 2.0]);
    }
}
