//! Convolutional layers (fixtures README section 6): `conv1d`, `conv2d`,
//! `conv_transpose2d`, the pools, `batch_norm2d`, the five `shape_*`
//! families (which check the output-size functions), and the composite
//! `residual_block` (section 10). Everything goes through the functional
//! ops, so the fixture's weights are the vars whose gradients are compared
//! (`nn-conv`'s own tests run the same cases through the layer modules).

use nnkit::autograd::Var;
use nnkit::conv::{
    conv_output_size, conv_transpose_output_size, pool_output_size, try_adaptive_avg_pool2d,
    try_avg_pool2d, try_conv1d, try_conv2d, try_conv_transpose2d, try_convolve1d, try_convolve2d,
    try_max_pool2d_with_indices, AvgPoolOptions, ConvOptions, ConvTransposeOptions, MaxPoolOptions,
};
use nnkit::layers::functional::{batch_norm, RunningStats};
use nnkit::tensor::{Element, Tensor};
use serde_json::Value;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("conv1d", conv1d::<T> as Runner<T>),
        ("conv2d", conv2d::<T>),
        ("convolve1d", convolve1d::<T>),
        ("convolve2d", convolve2d::<T>),
        ("conv_transpose2d", conv_transpose2d::<T>),
        ("max_pool2d", max_pool2d::<T>),
        ("avg_pool2d", avg_pool2d::<T>),
        ("adaptive_avg_pool2d", adaptive_avg_pool2d::<T>),
        ("shape_conv1d", shape_conv::<T>),
        ("shape_conv2d", shape_conv::<T>),
        ("shape_conv_transpose2d", shape_conv_transpose2d::<T>),
        ("shape_max_pool2d", shape_pool::<T>),
        ("shape_avg_pool2d", shape_pool::<T>),
        ("batch_norm2d", batch_norm2d::<T>),
        ("residual_block", residual_block::<T>),
    ]
}

/// A list of non-negative integers (`kernel_size`, `stride`, `input_shape`, …).
fn list<T: Element>(c: &Ctx<'_, T>, key: &str) -> Result<Vec<usize>, String> {
    let v = c.param(key)?;
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_u64().and_then(|x| usize::try_from(x).ok()))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| format!("param {key:?} = {v} is not a list of sizes"))
}

/// A per-spatial-dim list with exactly `D` entries.
fn spatial<T: Element, const D: usize>(c: &Ctx<'_, T>, key: &str) -> Result<[usize; D], String> {
    let v = list(c, key)?;
    v.clone()
        .try_into()
        .map_err(|_| format!("param {key:?} = {v:?} needs {D} entries"))
}

/// The bias input, which must be present exactly when `params.bias` says so.
fn bias<T: Element>(c: &Ctx<'_, T>) -> Result<Option<Var<T>>, String> {
    match (c.param_bool("bias")?, c.has_input("bias")) {
        (true, true) => Ok(Some(c.var("bias")?)),
        (false, false) => Ok(None),
        (flag, present) => Err(format!(
            "params.bias = {flag} but bias input present = {present}"
        )),
    }
}

fn conv_options<T: Element, const D: usize>(c: &Ctx<'_, T>) -> Result<ConvOptions<D>, String> {
    Ok(ConvOptions::default()
        .stride(spatial::<T, D>(c, "stride")?)
        .padding(spatial::<T, D>(c, "padding")?)
        .dilation(spatial::<T, D>(c, "dilation")?)
        .groups(c.param_usize("groups")?))
}

/// Checks the channel and kernel params against the weight's shape, so a
/// case whose params disagree with its tensors fails instead of passing.
fn check_weight<T: Element>(c: &Ctx<'_, T>, w: &Var<T>, transposed: bool) -> Result<(), String> {
    let (cin, cout, g) = (
        c.param_usize("in_channels")?,
        c.param_usize("out_channels")?,
        c.param_usize("groups")?,
    );
    let mut want = if transposed {
        vec![cin, cout / g.max(1)]
    } else {
        vec![cout, cin / g.max(1)]
    };
    want.extend(list(c, "kernel_size")?);
    if w.shape() != want.as_slice() {
        return Err(format!(
            "weight shape {:?} disagrees with params ({want:?})",
            w.shape()
        ));
    }
    Ok(())
}

/// A convolution family: `op(x, weight, bias, options)` with the options
/// read from the params and the weight checked against them first.
fn convolution<T: Element, const D: usize, E: std::fmt::Display>(
    c: &Ctx<'_, T>,
    op: impl FnOnce(&Var<T>, &Var<T>, Option<&Var<T>>, &ConvOptions<D>) -> Result<Var<T>, E>,
) -> Result<Outputs<T>, String> {
    let w = c.var("weight")?;
    check_weight(c, &w, false)?;
    let y = op(
        &c.var("x")?,
        &w,
        bias(c)?.as_ref(),
        &conv_options::<T, D>(c)?,
    )
    .map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn conv1d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    convolution::<T, 1, _>(c, try_conv1d)
}

fn conv2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    convolution::<T, 2, _>(c, try_conv2d)
}

fn convolve1d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    convolution::<T, 1, _>(c, try_convolve1d)
}

fn convolve2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    convolution::<T, 2, _>(c, try_convolve2d)
}

fn conv_transpose2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let w = c.var("weight")?;
    check_weight(c, &w, true)?;
    let o = ConvTransposeOptions::default()
        .stride(spatial::<T, 2>(c, "stride")?)
        .padding(spatial::<T, 2>(c, "padding")?)
        .output_padding(spatial::<T, 2>(c, "output_padding")?)
        .dilation(spatial::<T, 2>(c, "dilation")?)
        .groups(c.param_usize("groups")?);
    let y =
        try_conv_transpose2d(&c.var("x")?, &w, bias(c)?.as_ref(), &o).map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn max_pool_options<T: Element>(c: &Ctx<'_, T>) -> Result<MaxPoolOptions<2>, String> {
    Ok(MaxPoolOptions::new(spatial::<T, 2>(c, "kernel_size")?)
        .stride(spatial::<T, 2>(c, "stride")?)
        .padding(spatial::<T, 2>(c, "padding")?)
        .dilation(spatial::<T, 2>(c, "dilation")?)
        .ceil_mode(c.param_bool("ceil_mode")?))
}

fn max_pool2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (y, _) = try_max_pool2d_with_indices(&c.var("x")?, &max_pool_options(c)?)
        .map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn avg_pool2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let o = AvgPoolOptions::new(spatial::<T, 2>(c, "kernel_size")?)
        .stride(spatial::<T, 2>(c, "stride")?)
        .padding(spatial::<T, 2>(c, "padding")?)
        .ceil_mode(c.param_bool("ceil_mode")?)
        .count_include_pad(c.param_bool("count_include_pad")?);
    let y = try_avg_pool2d(&c.var("x")?, &o).map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn adaptive_avg_pool2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let y = try_adaptive_avg_pool2d(&c.var("x")?, spatial::<T, 2>(c, "output_size")?)
        .map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

/// The computed shape as a constant 1-d output (compared with the int64 reference).
fn shape_output<T: Element>(shape: Vec<usize>) -> Outputs<T> {
    let n = shape.len();
    let values = shape.into_iter().map(|d| T::of(d as f64)).collect();
    output(
        "output_shape",
        Var::constant(Tensor::from_vec(values, &[n])),
    )
}

/// `[N, C, spatial…]` from `params.input_shape`, with `D` spatial dims
/// matching the length of `params.kernel_size`.
fn input_shape<T: Element>(c: &Ctx<'_, T>) -> Result<(Vec<usize>, usize), String> {
    let input = list(c, "input_shape")?;
    let d = list(c, "kernel_size")?.len();
    if input.len() != d + 2 {
        return Err(format!(
            "input_shape {input:?} does not have {} dims",
            d + 2
        ));
    }
    Ok((input, d))
}

fn shape_conv<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (input, d) = input_shape(c)?;
    let (k, s, p, dil) = (
        list(c, "kernel_size")?,
        list(c, "stride")?,
        list(c, "padding")?,
        list(c, "dilation")?,
    );
    let (cin, g) = (c.param_usize("in_channels")?, c.param_usize("groups")?);
    if input[1] != cin || g == 0 || cin % g != 0 {
        return Err(format!(
            "input_shape {input:?} has no {cin} channels in {g} groups"
        ));
    }
    let mut out = vec![input[0], c.param_usize("out_channels")?];
    for i in 0..d {
        out.push(
            conv_output_size(input[2 + i], k[i], s[i], p[i], dil[i]).map_err(|e| e.to_string())?,
        );
    }
    Ok(shape_output(out))
}

fn shape_conv_transpose2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (input, d) = input_shape(c)?;
    let (k, s, p) = (
        list(c, "kernel_size")?,
        list(c, "stride")?,
        list(c, "padding")?,
    );
    let (op, dil) = (list(c, "output_padding")?, list(c, "dilation")?);
    let mut out = vec![input[0], c.param_usize("out_channels")?];
    for i in 0..d {
        out.push(
            conv_transpose_output_size(input[2 + i], k[i], s[i], p[i], op[i], dil[i])
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(shape_output(out))
}

fn shape_pool<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (input, d) = input_shape(c)?;
    let (k, s, p) = (
        list(c, "kernel_size")?,
        list(c, "stride")?,
        list(c, "padding")?,
    );
    // Average pooling has no dilation.
    let dil = match c.param("dilation") {
        Ok(Value::Null) | Err(_) => vec![1; d],
        Ok(_) => list(c, "dilation")?,
    };
    let ceil = c.param_bool("ceil_mode")?;
    let mut out = input[..2].to_vec();
    for i in 0..d {
        out.push(
            pool_output_size(input[2 + i], k[i], s[i], p[i], dil[i], ceil)
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(shape_output(out))
}

/// Batch norm of `h` with the parameters and running statistics stored
/// under `prefix` (`""`, `"bn1."`, …); adds the updated statistics (or the
/// unchanged ones in eval mode) to `out` under the same prefix.
fn batch_norm_named<T: Element>(
    c: &Ctx<'_, T>,
    h: &Var<T>,
    prefix: &str,
    out: &mut Outputs<T>,
) -> Result<Var<T>, String> {
    let (w, b) = (
        c.var(&format!("{prefix}weight"))?,
        c.var(&format!("{prefix}bias"))?,
    );
    let rm = c.tensor(&format!("{prefix}running_mean"))?;
    let rv = c.tensor(&format!("{prefix}running_var"))?;
    let running = RunningStats {
        mean: &rm,
        var: &rv,
        momentum: c.param_f("momentum")?.to_f64_lossless(),
    };
    let (y, updated) = batch_norm(
        h,
        Some(&w),
        Some(&b),
        Some(running),
        c.param_bool("training")?,
        c.param_f("eps")?.to_f64_lossless(),
    )
    .map_err(|e| e.to_string())?;
    let (m, v) = updated.unwrap_or((rm.clone(), rv.clone()));
    out.insert(format!("{prefix}running_mean"), Var::constant(m));
    out.insert(format!("{prefix}running_var"), Var::constant(v));
    Ok(y)
}

fn batch_norm2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let x = c.var("x")?;
    if x.ndim() != 4 || x.shape()[1] != c.param_usize("num_features")? {
        return Err(format!(
            "input {:?} is not [N, num_features, H, W]",
            x.shape()
        ));
    }
    if !c.param_bool("affine")? {
        return Err("affine = false has no case to check against".into());
    }
    let mut out = Outputs::new();
    let y = batch_norm_named(c, &x, "", &mut out)?;
    out.insert("y".into(), y);
    Ok(out)
}

fn residual_block<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (k, pad) = (
        spatial::<T, 2>(c, "kernel_size")?,
        spatial::<T, 2>(c, "padding")?,
    );
    if c.param_bool("conv_bias")? {
        return Err("conv_bias = true is not a residual block of the README".into());
    }
    let stride = c.param_usize("stride")?;
    let x = c.var("x")?;
    let conv = |input: &Var<T>, name: &str, o: ConvOptions<2>| {
        let w = c.var(name)?;
        if w.shape()[2..] != k[..] && name != "shortcut.conv.weight" {
            return Err(format!(
                "{name} {:?} disagrees with kernel_size {k:?}",
                w.shape()
            ));
        }
        try_conv2d(input, &w, None, &o).map_err(|e| e.to_string())
    };
    let mut out = Outputs::new();
    let o1 = ConvOptions::default().stride(stride).padding(pad);
    let h = conv(&x, "conv1.weight", o1)?;
    let h = batch_norm_named(c, &h, "bn1.", &mut out)?.relu();
    let h = conv(&h, "conv2.weight", ConvOptions::default().padding(pad))?;
    let h = batch_norm_named(c, &h, "bn2.", &mut out)?;
    let s = match c.param_str("shortcut")? {
        "identity" => x,
        "projection" => {
            let s = conv(
                &x,
                "shortcut.conv.weight",
                ConvOptions::default().stride(stride),
            )?;
            batch_norm_named(c, &s, "shortcut.bn.", &mut out)?
        }
        other => return Err(format!("unknown shortcut {other:?}")),
    };
    let y = h.try_add(&s).map_err(|e| e.to_string())?.relu();
    out.insert("y".into(), y);
    Ok(out)
}
