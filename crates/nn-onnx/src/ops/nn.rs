//! The layers' operators: convolution and transposed convolution (1-d and
//! 2-d, on `nn-conv`'s kernels; 3-d convolution and pooling in
//! [`volumetric`]), pooling, and the normalisations (batch, layer,
//! instance, local response).
//!
//! A 1-d op runs as the 2-d one on a height of 1, as `nn-conv` itself does.
//! Symmetric padding goes to the kernels; asymmetric padding (`auto_pad =
//! SAME_*` with an even kernel, or explicit `pads`) is applied to the input
//! first.

use nn_autograd::Var;
use nn_conv::{
    try_avg_pool2d, try_conv2d, try_conv_transpose2d, try_global_avg_pool2d,
    try_max_pool2d_with_indices, AvgPoolOptions, ConvOptions, ConvTransposeOptions, MaxPoolOptions,
};
use nn_layers::functional::{self, RunningStats};
use nn_tensor::Tensor;

use super::{axis, Inputs, OpSpec};

mod volumetric;
use crate::error::{fail, unsupported, OpResult};
use crate::node::Node;
use crate::value::Value;

const CONV_ATTRS: &[&str] = &[
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "pads",
    "strides",
];
const CONV_T_ATTRS: &[&str] = &[
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "pads",
    "strides",
    "output_padding",
    "output_shape",
];
const POOL_ATTRS: &[&str] = &[
    "auto_pad",
    "ceil_mode",
    "dilations",
    "kernel_shape",
    "pads",
    "storage_order",
    "strides",
    "count_include_pad",
];

pub(crate) const OPS: &[OpSpec] = &[
    OpSpec {
        name: "Conv",
        since: 1,
        attrs: CONV_ATTRS,
        run: conv,
    },
    OpSpec {
        name: "ConvTranspose",
        since: 1,
        attrs: CONV_T_ATTRS,
        run: conv_transpose,
    },
    OpSpec {
        name: "MaxPool",
        since: 1,
        attrs: POOL_ATTRS,
        run: max_pool,
    },
    OpSpec {
        name: "AveragePool",
        since: 1,
        attrs: POOL_ATTRS,
        run: avg_pool,
    },
    OpSpec {
        name: "GlobalAveragePool",
        since: 1,
        attrs: &[],
        run: |_, i| global_pool(i, false),
    },
    OpSpec {
        name: "GlobalMaxPool",
        since: 1,
        attrs: &[],
        run: |_, i| global_pool(i, true),
    },
    OpSpec {
        name: "BatchNormalization",
        since: 6,
        attrs: &["epsilon", "momentum", "spatial", "is_test", "training_mode"],
        run: batch_norm,
    },
    OpSpec {
        name: "InstanceNormalization",
        since: 6,
        attrs: &["epsilon"],
        run: instance_norm,
    },
    OpSpec {
        name: "LayerNormalization",
        since: 17,
        attrs: &["axis", "epsilon", "stash_type"],
        run: layer_norm,
    },
    OpSpec {
        name: "LRN",
        since: 1,
        attrs: &["alpha", "beta", "bias", "size"],
        run: lrn,
    },
];

/// Spatial hyper-parameters of a window op, per spatial dim (1, 2 or 3).
pub(super) struct Window {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    dilation: Vec<usize>,
    /// (before, after) zeros per spatial dim.
    pads: Vec<(usize, usize)>,
}

fn per_dim(node: &Node, name: &str, n: usize, default: usize) -> OpResult<Vec<usize>> {
    match node.ints(name)? {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n && v.iter().all(|&x| x >= 0) => {
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        Some(v) => fail(format!("{name} = {v:?} for {n} spatial dims")),
    }
}

/// The window of a `Conv` or pooling node over `input` (the spatial sizes),
/// resolving `auto_pad`.
pub(super) fn window(node: &Node, input: &[usize], kernel: Vec<usize>) -> OpResult<Window> {
    let n = input.len();
    let stride = per_dim(node, "strides", n, 1)?;
    let dilation = per_dim(node, "dilations", n, 1)?;
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return fail("zero stride, dilation or kernel size");
    }
    let auto_pad = node.string("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" => {
            let p = per_dim(node, "pads", 2 * n, 0)?;
            (0..n).map(|i| (p[i], p[i + n])).collect()
        }
        "VALID" => vec![(0, 0); n],
        "SAME_UPPER" | "SAME_LOWER" => (0..n)
            .map(|i| {
                let out = input[i].div_ceil(stride[i]);
                let span = dilation[i] * (kernel[i] - 1) + 1;
                let total = ((out.max(1) - 1) * stride[i] + span).saturating_sub(input[i]);
                let small = total / 2;
                if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            })
            .collect(),
        other => return unsupported(format!("auto_pad = {other:?}")),
    };
    Ok(Window {
        kernel,
        stride,
        dilation,
        pads,
    })
}

/// Views a 1-d op's `[N, C, L]` tensor as `[N, C, 1, L]`.
fn as_2d(t: &Tensor<f32>) -> OpResult<Tensor<f32>> {
    let s = t.shape();
    Ok(match s.len() {
        3 => t.try_reshape([s[0], s[1], 1, s[2]])?,
        4 => t.clone(),
        r => return unsupported(format!("{}-d input (1-d and 2-d are)", r.saturating_sub(2))),
    })
}

/// Per-dim values of a 1-d op lifted to 2-d (height gets `fill`).
fn lift<T: Copy>(v: &[T], fill: T) -> [T; 2] {
    if v.len() == 1 {
        [fill, v[0]]
    } else {
        [v[0], v[1]]
    }
}

/// The spatial dims and a `[N, C, H, W]` view of input 0, or an error for
/// 3-d (and higher) inputs.
fn spatial_input(inputs: &Inputs<'_>) -> OpResult<(Vec<usize>, Tensor<f32>)> {
    let x = inputs.float(0)?;
    if x.ndim() < 3 {
        return fail(format!(
            "input of shape {:?} has no spatial dims",
            x.shape()
        ));
    }
    let x2 = as_2d(x)?;
    Ok((x.shape()[2..].to_vec(), x2))
}

/// Pads the two spatial dims of `[N, C, H, W]` with `value`.
fn pad_spatial(x: &Tensor<f32>, pads: [(usize, usize); 2], value: f32) -> OpResult<Tensor<f32>> {
    Ok(x.try_pad(&[(0, 0), (0, 0), pads[0], pads[1]], value)?)
}

/// Back from `[N, C, 1, L]` to `[N, C, L]` for a 1-d op.
fn back_from_2d(y: Tensor<f32>, spatial: usize) -> OpResult<Value> {
    Ok(Value::Float(if spatial == 1 {
        let s = y.shape().to_vec();
        y.try_reshape([s[0], s[1], s[3]])?
    } else {
        y
    }))
}

pub(super) fn symmetric(pads: &[(usize, usize)]) -> bool {
    pads.iter().all(|(a, b)| a == b)
}

fn conv(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    if inputs.float(0)?.ndim() == 5 {
        return volumetric::conv3d(node, inputs);
    }
    let (sp, x) = spatial_input(inputs)?;
    let w = inputs.float(1)?;
    if w.ndim() != sp.len() + 2 {
        return fail(format!(
            "weight of shape {:?} for a {}-d convolution",
            w.shape(),
            sp.len()
        ));
    }
    let win = window(node, &sp, w.shape()[2..].to_vec())?;
    let w2 = as_2d(w)?;
    let bias = inputs.opt_float(2)?.map(|b| Var::constant(b.clone()));
    let pads = lift(&win.pads, (0, 0));
    let (x, pad) = if symmetric(&win.pads) {
        (x, [pads[0].0, pads[1].0])
    } else {
        (pad_spatial(&x, pads, 0.0)?, [0, 0])
    };
    let groups = node.int("group", 1)?;
    let opts = ConvOptions::<2>::default()
        .stride(lift(&win.stride, 1))
        .dilation(lift(&win.dilation, 1))
        .padding(pad)
        .groups(usize::try_from(groups).or_else(|_| fail(format!("group = {groups}")))?);
    let y = try_conv2d(&Var::constant(x), &Var::constant(w2), bias.as_ref(), &opts)?;
    Ok(vec![back_from_2d(y.value().clone(), sp.len())?])
}

fn conv_transpose(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let (sp, x) = spatial_input(inputs)?;
    let w = inputs.float(1)?;
    if w.ndim() != sp.len() + 2 {
        return fail(format!(
            "weight of shape {:?} for a {}-d transposed convolution",
            w.shape(),
            sp.len()
        ));
    }
    let n = sp.len();
    let kernel = w.shape()[2..].to_vec();
    let stride = per_dim(node, "strides", n, 1)?;
    let dilation = per_dim(node, "dilations", n, 1)?;
    let mut out_pad = per_dim(node, "output_padding", n, 0)?;
    let auto_pad = node.string("auto_pad", "NOTSET")?;
    let full: Vec<usize> = (0..n)
        .map(|i| stride[i] * (sp[i].max(1) - 1) + dilation[i] * (kernel[i] - 1) + 1)
        .collect();
    // Explicit output sizes (output_shape, or SAME_*: input × stride) fix
    // the total padding; the odd unit goes where auto_pad says.
    let wanted: Option<Vec<usize>> = match (node.ints("output_shape")?, auto_pad.as_str()) {
        (Some(s), _) => {
            let s = if s.len() > n {
                s[s.len() - n..].to_vec()
            } else {
                s
            };
            if s.len() != n || s.iter().any(|&v| v < 0) {
                return fail(format!("output_shape {s:?} for {n} spatial dims"));
            }
            Some(s.iter().map(|&v| v as usize).collect())
        }
        (None, "SAME_UPPER" | "SAME_LOWER") => Some((0..n).map(|i| sp[i] * stride[i]).collect()),
        (None, "NOTSET" | "VALID") => None,
        (None, other) => return unsupported(format!("auto_pad = {other:?}")),
    };
    let pads: Vec<(usize, usize)> = match wanted {
        Some(out) => {
            let mut p = Vec::with_capacity(n);
            for i in 0..n {
                let total = (full[i] + out_pad[i]) as i64 - out[i] as i64;
                if total < 0 {
                    // Larger than the full output: the rest is output padding.
                    out_pad[i] = out[i] - full[i];
                    p.push((0, 0));
                    continue;
                }
                let t = total as usize;
                p.push(if auto_pad == "SAME_UPPER" {
                    (t / 2, t - t / 2)
                } else {
                    (t - t / 2, t / 2)
                });
            }
            p
        }
        None if auto_pad == "VALID" => vec![(0, 0); n],
        None => {
            let p = per_dim(node, "pads", 2 * n, 0)?;
            (0..n).map(|i| (p[i], p[i + n])).collect()
        }
    };
    let groups = node.int("group", 1)?;
    let groups = usize::try_from(groups).or_else(|_| fail(format!("group = {groups}")))?;
    let w2 = as_2d(w)?;
    let bias = inputs.opt_float(2)?;
    // Symmetric padding and a small output padding go to the kernel; any
    // other case runs unpadded and cuts the window out of the full output.
    let direct = symmetric(&pads) && (0..n).all(|i| out_pad[i] < stride[i].max(dilation[i]));
    let lp = lift(&pads, (0, 0));
    let opts = ConvTransposeOptions::<2>::default()
        .stride(lift(&stride, 1))
        .dilation(lift(&dilation, 1))
        .groups(groups);
    let y = if direct {
        let opts = opts
            .padding([lp[0].0, lp[1].0])
            .output_padding(lift(&out_pad, 0));
        let b = bias.map(|b| Var::constant(b.clone()));
        try_conv_transpose2d(&Var::constant(x), &Var::constant(w2), b.as_ref(), &opts)?
            .value()
            .clone()
    } else {
        let mut y = try_conv_transpose2d(&Var::constant(x), &Var::constant(w2), None, &opts)?
            .value()
            .clone();
        let op = lift(&out_pad, 0);
        for d in 0..2 {
            let (b, e) = lp[d];
            let len = y.shape()[2 + d];
            let end = (len + op[d]).checked_sub(e).filter(|&end| end > b);
            let Some(end) = end else {
                return fail(format!("pads {pads:?} leave no output"));
            };
            let keep = end.min(len) - b.min(len);
            y = y.try_narrow(2 + d, b.min(len), keep)?;
            let mut p = vec![(0, 0); 3 + d];
            p[2 + d] = (0, end - b - keep);
            y = y.try_pad(&p, 0.0)?;
        }
        if let Some(b) = bias {
            let c = b.numel();
            y = y.try_add(&b.try_reshape([c, 1, 1])?)?;
        }
        y
    };
    Ok(vec![back_from_2d(y, n)?])
}

pub(super) fn kernel_shape(node: &Node, n: usize) -> OpResult<Vec<usize>> {
    match node.ints("kernel_shape")? {
        Some(k) if k.len() == n && k.iter().all(|&v| v > 0) => {
            Ok(k.iter().map(|&v| v as usize).collect())
        }
        Some(k) => fail(format!("kernel_shape {k:?} for {n} spatial dims")),
        None => fail("kernel_shape is required"),
    }
}

/// True when the kernels can take the padding themselves: symmetric and at
/// most half the window (PyTorch's rule, which `nn-conv` follows).
fn kernel_pads(win: &Window) -> bool {
    symmetric(&win.pads) && win.pads.iter().zip(&win.kernel).all(|(p, k)| p.0 <= k / 2)
}

fn max_pool(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let with_indices = node.wanted_outputs() > 1;
    if with_indices && node.int("storage_order", 0)? != 0 {
        return unsupported("storage_order = 1 (column-major Indices)");
    }
    if inputs.float(0)?.ndim() == 5 {
        if with_indices {
            return unsupported("the Indices output of a 3-d pool");
        }
        return volumetric::max_pool3d(node, inputs);
    }
    let (sp, x) = spatial_input(inputs)?;
    let win = window(node, &sp, kernel_shape(node, sp.len())?)?;
    let ceil = node.int("ceil_mode", 0)? != 0;
    if !with_indices {
        return Ok(vec![back_from_2d(max_pool_2d(&x, &win, ceil)?, sp.len())?]);
    }
    if !kernel_pads(&win) {
        // Indices into a padded copy would have to be mapped back.
        return unsupported("the Indices output with asymmetric or wide pads");
    }
    let p = lift(&win.pads, (0, 0));
    let opts = MaxPoolOptions::<2>::new(lift(&win.kernel, 1))
        .stride(lift(&win.stride, 1))
        .dilation(lift(&win.dilation, 1))
        .padding([p[0].0, p[1].0])
        .ceil_mode(ceil);
    let (y, within_plane) = try_max_pool2d_with_indices(&Var::constant(x.clone()), &opts)?;
    let y = y.value().clone();
    // ONNX counts over the whole input tensor, row-major: plane (n, c)
    // starts at (n·C + c)·H·W; nn-conv counts within the plane.
    let plane = x.shape()[2] * x.shape()[3];
    let per_plane = y.shape()[2] * y.shape()[3];
    let indices: Vec<i64> = within_plane
        .iter()
        .enumerate()
        .map(|(i, &k)| ((i / per_plane) * plane + k) as i64)
        .collect();
    let y = back_from_2d(y, sp.len())?;
    let indices = Value::ints(indices, y.shape())?;
    Ok(vec![y, indices])
}

/// Max pooling of `[N, C, H, W]` over the (1-d or 2-d) window `win`.
pub(super) fn max_pool_2d(x: &Tensor<f32>, win: &Window, ceil: bool) -> OpResult<Tensor<f32>> {
    let (x, pad) = if kernel_pads(win) {
        let p = lift(&win.pads, (0, 0));
        (x.clone(), [p[0].0, p[1].0])
    } else {
        (
            pad_spatial(x, lift(&win.pads, (0, 0)), f32::NEG_INFINITY)?,
            [0, 0],
        )
    };
    let opts = MaxPoolOptions::<2>::new(lift(&win.kernel, 1))
        .stride(lift(&win.stride, 1))
        .dilation(lift(&win.dilation, 1))
        .padding(pad)
        .ceil_mode(ceil);
    let (y, _) = try_max_pool2d_with_indices(&Var::constant(x), &opts)?;
    Ok(y.value().clone())
}

fn avg_pool(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    if inputs.float(0)?.ndim() == 5 {
        return volumetric::avg_pool3d(node, inputs);
    }
    let (sp, x) = spatial_input(inputs)?;
    let win = window(node, &sp, kernel_shape(node, sp.len())?)?;
    if win.dilation.iter().any(|&d| d != 1) {
        return unsupported("dilations other than 1");
    }
    let ceil = node.int("ceil_mode", 0)? != 0;
    let include_pad = node.int("count_include_pad", 0)? != 0;
    Ok(vec![back_from_2d(
        avg_pool_2d(&x, &win, ceil, include_pad)?,
        sp.len(),
    )?])
}

/// Average pooling of `[N, C, H, W]` over the (1-d or 2-d) window `win`
/// (dilation 1).
pub(super) fn avg_pool_2d(
    x: &Tensor<f32>,
    win: &Window,
    ceil: bool,
    include_pad: bool,
) -> OpResult<Tensor<f32>> {
    let opts = AvgPoolOptions::<2>::new(lift(&win.kernel, 1))
        .stride(lift(&win.stride, 1))
        .ceil_mode(ceil);
    Ok(if kernel_pads(win) {
        let p = lift(&win.pads, (0, 0));
        let opts = opts
            .padding([p[0].0, p[1].0])
            .count_include_pad(include_pad);
        try_avg_pool2d(&Var::constant(x.clone()), &opts)?
            .value()
            .clone()
    } else {
        // Pad by hand; without count_include_pad divide the windows' sums
        // by their counts of real inputs (the average of a 0/1 mask).
        let p = lift(&win.pads, (0, 0));
        let padded = pad_spatial(x, p, 0.0)?;
        let opts = opts.count_include_pad(true);
        let y = try_avg_pool2d(&Var::constant(padded), &opts)?
            .value()
            .clone();
        if include_pad {
            y
        } else {
            let s = x.shape();
            let mask = pad_spatial(&Tensor::ones(&[1, 1, s[2], s[3]]), p, 0.0)?;
            let frac = try_avg_pool2d(&Var::constant(mask), &opts)?.value().clone();
            y.try_div(&frac)?
        }
    })
}

fn global_pool(inputs: &Inputs<'_>, max: bool) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    if x.ndim() < 3 {
        return fail(format!(
            "input of shape {:?} has no spatial dims",
            x.shape()
        ));
    }
    if !max && x.ndim() == 4 {
        // nn-conv's global pooling: the exported AdaptiveAvgPool2d's bits,
        // kept [N, C, 1, 1] as ONNX's operator is.
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let y = try_global_avg_pool2d(&Var::constant(x.clone()))?;
        return Ok(vec![Value::Float(y.value().try_reshape([n, c, 1, 1])?)]);
    }
    let dims: Vec<usize> = (2..x.ndim()).collect();
    Ok(vec![Value::Float(if max {
        x.max_dims(&dims, true)
    } else {
        x.mean_dims(&dims, true)
    })])
}

/// `[C]` reshaped to broadcast over dim 1 of a tensor of rank `rank`.
fn per_channel(t: &Tensor<f32>, rank: usize) -> OpResult<Tensor<f32>> {
    let mut shape = vec![t.numel()];
    shape.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
    Ok(t.try_reshape(&shape)?)
}

/// Inference batch norm: `(x − mean)/√(var + ε)·scale + B` per channel.
fn batch_norm(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    if node.int("training_mode", 0)? != 0 || node.wanted_outputs() > 1 {
        return unsupported("training mode (running statistics outputs)");
    }
    if node.int("spatial", 1)? != 1 {
        return unsupported("spatial = 0");
    }
    let x = inputs.float(0)?;
    let eps = node.float("epsilon", 1e-5)?;
    let c = x.shape().get(1).copied().unwrap_or(0);
    let [scale, bias, mean, var] = [1, 2, 3, 4].map(|i| inputs.float(i));
    let (scale, bias, mean, var) = (scale?, bias?, mean?, var?);
    if [scale, bias, mean, var].iter().any(|t| t.numel() != c) {
        return fail(format!(
            "parameters must have {c} elements (the channels of {:?})",
            x.shape()
        ));
    }
    // The library's own batch norm, so that an exported model imports back
    // to the same bits.
    let running = RunningStats {
        mean,
        var,
        momentum: 0.1,
    };
    let v = |t: &Tensor<f32>| Var::constant(t.clone());
    let (y, _) = functional::batch_norm(
        &v(x),
        Some(&v(scale)),
        Some(&v(bias)),
        Some(running),
        false,
        eps as f64,
    )?;
    let y = y.value().clone();
    Ok(vec![Value::Float(y)])
}

/// `(x − mean)/√(var + ε)` over `dims`, the biased variance.
fn normalize(x: &Tensor<f32>, dims: &[usize], eps: f32) -> Tensor<f32> {
    let mean = x.mean_dims(dims, true);
    let var = x.var_dims(dims, 0, true);
    x.sub(&mean).div(&var.add_scalar(eps).sqrt())
}

fn instance_norm(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    if x.ndim() < 3 {
        return fail(format!(
            "input of shape {:?} has no spatial dims",
            x.shape()
        ));
    }
    let dims: Vec<usize> = (2..x.ndim()).collect();
    let y = normalize(x, &dims, node.float("epsilon", 1e-5)?);
    let r = x.ndim();
    let y = y
        .try_mul(&per_channel(inputs.float(1)?, r)?)?
        .try_add(&per_channel(inputs.float(2)?, r)?)?;
    Ok(vec![Value::Float(y)])
}

fn layer_norm(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    if node.wanted_outputs() > 1 {
        return unsupported("the Mean and InvStdDev outputs");
    }
    let x = inputs.float(0)?;
    let a = axis(node.int("axis", -1)?, x.ndim())?;
    let eps = node.float("epsilon", 1e-5)?;
    let (scale, bias) = (inputs.float(1)?, inputs.opt_float(2)?);
    let trailing = &x.shape()[a..];
    let y = if scale.shape() == trailing && bias.is_none_or(|b| b.shape() == trailing) {
        // The library's layer norm (the same bits as the exported layer).
        let v = |t: &Tensor<f32>| Var::constant(t.clone());
        let b = bias.map(v);
        functional::layer_norm(&v(x), trailing, Some(&v(scale)), b.as_ref(), eps as f64)?
            .value()
            .clone()
    } else {
        let dims: Vec<usize> = (a..x.ndim()).collect();
        let mut y = normalize(x, &dims, eps).try_mul(scale)?;
        if let Some(b) = bias {
            y = y.try_add(b)?;
        }
        y
    };
    if y.shape() != x.shape() {
        return fail(format!(
            "Scale and B do not broadcast to X of shape {:?}",
            x.shape()
        ));
    }
    Ok(vec![Value::Float(y)])
}

/// Local response normalisation across channels:
/// `x / (bias + alpha/size · Σ x²)^beta` over a window of `size` channels.
fn lrn(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    let size = node.int("size", 0)?;
    if size <= 0 {
        return fail(format!("size = {size}"));
    }
    let size = size as usize;
    let (alpha, beta, bias) = (
        node.float("alpha", 1e-4)?,
        node.float("beta", 0.75)?,
        node.float("bias", 1.0)?,
    );
    let s = x.shape();
    if s.len() < 3 {
        return fail(format!("input of shape {s:?} has no spatial dims"));
    }
    let (n, c) = (s[0], s[1]);
    let plane: usize = s[2..].iter().product();
    // Channels c − ⌊(size−1)/2⌋ ..= c + ⌈(size−1)/2⌉, clipped to the tensor.
    let (lo, hi) = ((size - 1) / 2, (size - 1) - (size - 1) / 2);
    let src = x.as_slice();
    let mut out = vec![0.0f32; src.len()];
    for b in 0..n {
        for ch in 0..c {
            let from = ch.saturating_sub(lo);
            let to = (ch + hi).min(c - 1);
            for p in 0..plane {
                let mut sq = 0.0f32;
                for k in from..=to {
                    let v = src[(b * c + k) * plane + p];
                    sq += v * v;
                }
                let i = (b * c + ch) * plane + p;
                out[i] = src[i] / (bias + alpha / size as f32 * sq).powf(beta);
            }
        }
    }
    Ok(vec![Value::Float(Tensor::from_vec(out, s))])
}
