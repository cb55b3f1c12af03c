//! 3-d convolution and pooling (`[N, C, D, H, W]`) on the 2-d kernels, one
//! depth plane at a time: a 3-d convolution is the sum over the kernel's
//! depth taps of 2-d convolutions of input planes with weight planes; a
//! 3-d max pool is the maximum of 2-d max pools of the planes a window
//! covers; a 3-d average pool is the mean of their 2-d average pools (the
//! window's count of real inputs is the product of a depth count and a
//! plane count, so the means nest). Depth padding is applied to the input
//! first; the planes' own padding goes to the 2-d kernels.

use nn_autograd::Var;
use nn_conv::{try_conv2d, ConvOptions};
use nn_tensor::Tensor;

use super::{avg_pool_2d, kernel_shape, max_pool_2d, symmetric, window, Window};
use crate::error::{fail, unsupported, OpResult};
use crate::node::Node;
use crate::ops::Inputs;
use crate::value::Value;

/// The depth part of a window: output planes, and for each the input
/// planes (indices into the depth-padded input) it covers.
struct Depth {
    windows: Vec<Vec<usize>>,
}

/// The depth windows over `d` planes padded by `pads`, PyTorch's and
/// ONNX's rule for `ceil_mode`: the last window must start inside the
/// input or its leading padding.
fn depth_windows(
    d: usize,
    pads: (usize, usize),
    k: usize,
    stride: usize,
    dilation: usize,
    ceil: bool,
) -> OpResult<Depth> {
    let padded = d + pads.0 + pads.1;
    let span = dilation * (k - 1) + 1;
    if padded < span {
        return fail(format!(
            "a depth window of {span} over {padded} (padded) planes"
        ));
    }
    let room = padded - span;
    let mut out = if ceil {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    if ceil && (out - 1) * stride >= d + pads.0 {
        out -= 1;
    }
    let windows = (0..out)
        .map(|o| {
            (0..k)
                .map(|t| o * stride + t * dilation)
                .filter(|&i| i < padded)
                .collect()
        })
        .collect();
    Ok(Depth { windows })
}

/// The window of the plane dims (H, W) of a 3-d window.
fn plane_window(win: &Window) -> Window {
    Window {
        kernel: win.kernel[1..].to_vec(),
        stride: win.stride[1..].to_vec(),
        dilation: win.dilation[1..].to_vec(),
        pads: win.pads[1..].to_vec(),
    }
}

/// Plane `i` (along dim 2) of a 5-d tensor, as `[N, C, H, W]`.
fn plane(x: &Tensor<f32>, i: usize) -> OpResult<Tensor<f32>> {
    let s = x.shape();
    Ok(x.try_narrow(2, i, 1)?
        .try_reshape([s[0], s[1], s[3], s[4]])?)
}

/// Stacks the output planes `[N, C, H, W]` along a new depth dim 2.
fn stack_planes(planes: &[Tensor<f32>]) -> OpResult<Value> {
    let refs: Vec<&Tensor<f32>> = planes.iter().collect();
    Ok(Value::Float(Tensor::try_stack(&refs, 2)?))
}

fn pad_depth(x: &Tensor<f32>, pads: (usize, usize), value: f32) -> OpResult<Tensor<f32>> {
    Ok(x.try_pad(&[(0, 0), (0, 0), pads, (0, 0), (0, 0)], value)?)
}

pub(super) fn conv3d(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    let w = inputs.float(1)?;
    if w.ndim() != 5 {
        return fail(format!(
            "weight of shape {:?} for a 3-d convolution",
            w.shape()
        ));
    }
    let win = window(node, &x.shape()[2..], w.shape()[2..].to_vec())?;
    let groups = node.int("group", 1)?;
    let groups = usize::try_from(groups).or_else(|_| fail(format!("group = {groups}")))?;
    let x = pad_depth(x, win.pads[0], 0.0)?;
    let hw = &win.pads[1..];
    let (x, pad) = if symmetric(hw) {
        (x, [hw[0].0, hw[1].0])
    } else {
        let p = [(0, 0), (0, 0), (0, 0), hw[0], hw[1]];
        (x.try_pad(&p, 0.0)?, [0, 0])
    };
    let depth = depth_windows(
        x.shape()[2],
        (0, 0),
        win.kernel[0],
        win.stride[0],
        win.dilation[0],
        false,
    )?;
    let ws = w.shape();
    let taps = (0..win.kernel[0])
        .map(|t| {
            Ok(w.try_narrow(2, t, 1)?
                .try_reshape([ws[0], ws[1], ws[3], ws[4]])?)
        })
        .collect::<OpResult<Vec<_>>>()?;
    let opts = ConvOptions::<2>::default()
        .stride([win.stride[1], win.stride[2]])
        .dilation([win.dilation[1], win.dilation[2]])
        .padding(pad)
        .groups(groups);
    let mut planes = Vec::with_capacity(depth.windows.len());
    for covered in &depth.windows {
        let mut acc: Option<Tensor<f32>> = None;
        for (t, &i) in covered.iter().enumerate() {
            let y = try_conv2d(
                &Var::constant(plane(&x, i)?),
                &Var::constant(taps[t].clone()),
                None,
                &opts,
            )?
            .value()
            .clone();
            acc = Some(match acc {
                Some(a) => a.try_add(&y)?,
                None => y,
            });
        }
        let mut y = acc.expect("a depth window covers at least its first plane");
        if let Some(b) = inputs.opt_float(2)? {
            y = y.try_add(&b.try_reshape([b.numel(), 1, 1])?)?;
        }
        planes.push(y);
    }
    Ok(vec![stack_planes(&planes)?])
}

pub(super) fn max_pool3d(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    let win = window(node, &x.shape()[2..], kernel_shape(node, 3)?)?;
    let ceil = node.int("ceil_mode", 0)? != 0;
    let depth = depth_windows(
        x.shape()[2],
        win.pads[0],
        win.kernel[0],
        win.stride[0],
        win.dilation[0],
        ceil,
    )?;
    let x = pad_depth(x, win.pads[0], f32::NEG_INFINITY)?;
    let pw = plane_window(&win);
    let pooled = (0..x.shape()[2])
        .map(|i| max_pool_2d(&plane(&x, i)?, &pw, ceil))
        .collect::<OpResult<Vec<_>>>()?;
    let planes = depth
        .windows
        .iter()
        .map(|covered| {
            let mut it = covered.iter().map(|&i| &pooled[i]);
            let first = it
                .next()
                .expect("a depth window covers its first plane")
                .clone();
            it.fold(first, |acc, p| acc.maximum(p))
        })
        .collect::<Vec<_>>();
    Ok(vec![stack_planes(&planes)?])
}

pub(super) fn avg_pool3d(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    let win = window(node, &x.shape()[2..], kernel_shape(node, 3)?)?;
    if win.dilation.iter().any(|&d| d != 1) {
        return unsupported("dilations other than 1");
    }
    let ceil = node.int("ceil_mode", 0)? != 0;
    let include_pad = node.int("count_include_pad", 0)? != 0;
    let (d, (before, _)) = (x.shape()[2], win.pads[0]);
    let depth = depth_windows(d, win.pads[0], win.kernel[0], win.stride[0], 1, ceil)?;
    if include_pad && depth.windows.iter().any(|w| w.len() < win.kernel[0]) {
        // A window hanging past the padding: its divisor is neither the
        // kernel's size nor a count of real planes.
        return unsupported("count_include_pad = 1 with a ceil_mode window past the padding");
    }
    let x = pad_depth(x, win.pads[0], 0.0)?;
    let pw = plane_window(&win);
    let real = |i: usize| i >= before && i < before + d;
    let pooled = (0..x.shape()[2])
        .map(|i| {
            if real(i) {
                avg_pool_2d(&plane(&x, i)?, &pw, ceil, include_pad).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<OpResult<Vec<_>>>()?;
    let mut planes = Vec::with_capacity(depth.windows.len());
    for covered in &depth.windows {
        let used: Vec<&Tensor<f32>> = covered.iter().filter_map(|&i| pooled[i].as_ref()).collect();
        let Some((first, rest)) = used.split_first() else {
            return fail("a depth window over padding only");
        };
        let sum = rest
            .iter()
            .try_fold((*first).clone(), |acc, p| acc.try_add(p))?;
        // Padding planes add zeros; they count only with count_include_pad.
        let count = if include_pad {
            covered.len()
        } else {
            used.len()
        };
        planes.push(sum.mul_scalar(1.0 / count as f32));
    }
    Ok(vec![stack_planes(&planes)?])
}
