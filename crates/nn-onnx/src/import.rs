//! From a chain graph to the library's own layers: a [`Sequential`] of
//! `Conv2d`, `BatchNorm2d`, `Linear`, pools, activations, ..., with the
//! file's weights, ready to fine-tune with the library's optimisers.

use nn_conv::layers::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm2dConfig, Conv1dConfig, Conv2dConfig,
    ConvTranspose2dConfig, MaxPool2d,
};
use nn_conv::{AvgPoolOptions, ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use nn_layers::{
    BatchNormConfig, DropoutConfig, Elu, Flatten, LeakyRelu, LinearConfig, LogSoftmax, Module,
    Relu, Sequential, Sigmoid, Softmax, Tanh,
};
use nn_tensor::{Rng, Tensor};

use crate::error::{OnnxError, Result};
use crate::model::Model;
use crate::node::Node;
use crate::value::Value;

/// Builds the library's layers from a model whose graph is a chain (each
/// node reads the previous node's output and, besides, only weights).
///
/// Layers: `Conv` (1-d and 2-d, symmetric padding) → `Conv1d`/`Conv2d`,
/// `ConvTranspose` (2-d) → `ConvTranspose2d`, `Gemm` (PyTorch's linear
/// layer: `transB = 1`, `alpha = beta = 1`) → `Linear`,
/// `BatchNormalization` on 4-d tensors → `BatchNorm2d` (its running
/// statistics from the file), `MaxPool`/`AveragePool` (2-d) → `MaxPool2d`/
/// `AvgPool2d`, `GlobalAveragePool` → `AdaptiveAvgPool2d([1, 1])`, `Flatten`
/// → `Flatten`, `Dropout` → `Dropout` (the file's ratio), and the
/// activations `Relu`, `LeakyRelu`, `Elu`, `Sigmoid`, `Tanh`, `Softmax`,
/// `LogSoftmax`; `Identity` is dropped. The parameters are named as
/// PyTorch names those of an `nn.Sequential` (`"0.weight"`, `"1.running_mean"`).
///
/// Anything else (a branch, a residual `Add`, another operator) is an
/// [`OnnxError::Unsupported`] naming the node: run such a model with
/// [`Model::run`] instead.
///
/// ```no_run
/// let model = nn_onnx::Model::load("lenet.onnx")?;
/// let net = nn_onnx::to_sequential(&model)?;
/// // `net` is a Sequential<f32>: train it with any optimiser.
/// # Ok::<(), nn_onnx::OnnxError>(())
/// ```
pub fn to_sequential(model: &Model) -> Result<Sequential<f32>> {
    let input = match model.inputs() {
        [one] => one,
        other => {
            return Err(OnnxError::Invalid(format!(
                "a chain has one input, this graph has {}",
                other.len()
            )))
        }
    };
    let mut rank = (!input.shape.is_empty()).then_some(input.shape.len());
    let mut current = input.name.clone();
    let mut seq = Sequential::new();
    // The rng only fills weights that are overwritten right after.
    let mut rng = Rng::seed_from(0);
    for node in model.nodes() {
        if node.inputs.first() != Some(&current) || node.wanted_outputs() != 1 {
            return Err(unsupported(
                node,
                "a node off the chain (a branch or a second output)",
            ));
        }
        let weight = |i: usize| -> Result<Option<Tensor<f32>>> {
            match node.inputs.get(i).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(name) => match model.initializer(name) {
                    Some(Value::Float(t)) => Ok(Some(t.clone())),
                    _ => Err(unsupported(
                        node,
                        &format!("input {name:?}, not a float weight"),
                    )),
                },
            }
        };
        let need = |i: usize| -> Result<Tensor<f32>> {
            weight(i)?.ok_or_else(|| unsupported(node, &format!("a missing input {i}")))
        };
        let ints = |name: &str, n: usize, default: usize| -> Result<Vec<usize>> {
            match attr(node, node.ints(name))? {
                None => Ok(vec![default; n]),
                Some(v) if v.iter().all(|&x| x >= 0) => Ok(v.iter().map(|&x| x as usize).collect()),
                Some(v) => Err(unsupported(node, &format!("{name} = {v:?}"))),
            }
        };
        // Symmetric padding only (what the layers take), and no auto_pad.
        let pads = |n: usize| -> Result<Vec<usize>> {
            if attr(node, node.string("auto_pad", "NOTSET"))? != "NOTSET" {
                return Err(unsupported(node, "auto_pad"));
            }
            let p = ints("pads", 2 * n, 0)?;
            if p[..n] != p[n..] {
                return Err(unsupported(node, &format!("asymmetric pads {p:?}")));
            }
            Ok(p[..n].to_vec())
        };
        let layer_err = |e: nn_tensor::TensorError| unsupported(node, &e.to_string());
        let mut values: Vec<(&str, Tensor<f32>)> = Vec::new();
        match node.op.as_str() {
            "Identity" => continue,
            "Conv" => {
                let w = need(1)?;
                let (o, i) = (w.shape()[0], w.shape()[1]);
                let groups = attr(node, node.int("group", 1))?.max(1) as usize;
                let b = weight(2)?;
                match w.ndim() {
                    3 => {
                        let mut c = Conv1dConfig::new(i * groups, o, [w.shape()[2]]);
                        c.options = ConvOptions::default()
                            .stride([ints("strides", 1, 1)?[0]])
                            .dilation([ints("dilations", 1, 1)?[0]])
                            .padding([pads(1)?[0]])
                            .groups(groups);
                        c.bias = b.is_some();
                        seq.push_boxed(Box::new(c.init::<f32>(&mut rng).map_err(layer_err)?));
                    }
                    4 => {
                        let [s, d, p] =
                            [ints("strides", 2, 1)?, ints("dilations", 2, 1)?, pads(2)?];
                        let mut c = Conv2dConfig::new(i * groups, o, [w.shape()[2], w.shape()[3]]);
                        c.options = ConvOptions::default()
                            .stride([s[0], s[1]])
                            .dilation([d[0], d[1]])
                            .padding([p[0], p[1]])
                            .groups(groups);
                        c.bias = b.is_some();
                        seq.push_boxed(Box::new(c.init::<f32>(&mut rng).map_err(layer_err)?));
                    }
                    _ => return Err(unsupported(node, "a 3-d (or higher) convolution")),
                }
                values.push(("weight", w));
                values.extend(b.map(|b| ("bias", b)));
            }
            "ConvTranspose" => {
                let w = need(1)?;
                if w.ndim() != 4 || node.has("output_shape") {
                    return Err(unsupported(
                        node,
                        "other than a 2-d transposed convolution with pads",
                    ));
                }
                let groups = attr(node, node.int("group", 1))?.max(1) as usize;
                let [s, d, p, op] = [
                    ints("strides", 2, 1)?,
                    ints("dilations", 2, 1)?,
                    pads(2)?,
                    ints("output_padding", 2, 0)?,
                ];
                let b = weight(2)?;
                let mut c = ConvTranspose2dConfig::new(
                    w.shape()[0],
                    w.shape()[1] * groups,
                    [w.shape()[2], w.shape()[3]],
                );
                c.options = ConvTransposeOptions::default()
                    .stride([s[0], s[1]])
                    .dilation([d[0], d[1]])
                    .padding([p[0], p[1]])
                    .output_padding([op[0], op[1]])
                    .groups(groups);
                c.bias = b.is_some();
                seq.push_boxed(Box::new(c.init::<f32>(&mut rng).map_err(layer_err)?));
                values.push(("weight", w));
                values.extend(b.map(|b| ("bias", b)));
            }
            "Gemm" => {
                let linear = attr(node, node.int("transA", 0))? == 0
                    && attr(node, node.float("alpha", 1.0))? == 1.0
                    && attr(node, node.float("beta", 1.0))? == 1.0;
                if !linear {
                    return Err(unsupported(node, "a Gemm other than a linear layer"));
                }
                let mut w = need(1)?;
                if attr(node, node.int("transB", 0))? == 0 {
                    w = w.t();
                }
                let b = weight(2)?;
                if b.as_ref().is_some_and(|b| b.ndim() != 1) {
                    return Err(unsupported(node, "a bias that is not a vector"));
                }
                let mut c = LinearConfig::new(w.shape()[1], w.shape()[0]);
                c.bias = b.is_some();
                seq.push_boxed(Box::new(c.init::<f32>(&mut rng).map_err(layer_err)?));
                values.push(("weight", w));
                values.extend(b.map(|b| ("bias", b)));
                rank = Some(2);
            }
            "BatchNormalization" => {
                if rank != Some(4) {
                    return Err(unsupported(node, "batch norm of other than a 4-d tensor"));
                }
                let scale = need(1)?;
                let mut c = BatchNormConfig::new(scale.numel());
                c.eps = attr(node, node.float("epsilon", 1e-5))? as f64;
                seq.push_boxed(Box::new(
                    BatchNorm2dConfig::from(c)
                        .init::<f32>(&mut rng)
                        .map_err(layer_err)?,
                ));
                values.extend([
                    ("weight", scale),
                    ("bias", need(2)?),
                    ("running_mean", need(3)?),
                    ("running_var", need(4)?),
                ]);
            }
            "MaxPool" | "AveragePool" => {
                let k = ints("kernel_shape", 2, 1)?;
                if k.len() != 2 || attr(node, node.int("ceil_mode", 0))? != 0 {
                    return Err(unsupported(node, "other than a 2-d pool in floor mode"));
                }
                let [s, p, d] = [ints("strides", 2, 1)?, pads(2)?, ints("dilations", 2, 1)?];
                if node.op == "MaxPool" {
                    let o = MaxPoolOptions::new([k[0], k[1]])
                        .stride([s[0], s[1]])
                        .padding([p[0], p[1]])
                        .dilation([d[0], d[1]]);
                    seq.push_boxed(Box::new(MaxPool2d { options: o }));
                } else {
                    let include = attr(node, node.int("count_include_pad", 0))? != 0;
                    let o = AvgPoolOptions::new([k[0], k[1]])
                        .stride([s[0], s[1]])
                        .padding([p[0], p[1]])
                        .count_include_pad(include);
                    seq.push_boxed(Box::new(AvgPool2d { options: o }));
                }
            }
            "GlobalAveragePool" if rank == Some(4) => seq.push_boxed(Box::new(AdaptiveAvgPool2d {
                output_size: [1, 1],
            })),
            "Flatten" => {
                if attr(node, node.int("axis", 1))? != 1 {
                    return Err(unsupported(node, "a Flatten other than from dim 1"));
                }
                seq.push_boxed(Box::new(Flatten::new(1, -1)));
                rank = Some(2);
            }
            "Dropout" => {
                let p = match node.inputs.get(1).filter(|s| !s.is_empty()) {
                    Some(name) => model.initializer(name).map_or(0.5, |v| v.to_f64s()[0]),
                    None => attr(node, node.float("ratio", 0.5))? as f64,
                };
                seq.push_boxed(Box::new(
                    DropoutConfig::new(p).init(&mut rng).map_err(layer_err)?,
                ));
            }
            "Relu" => seq.push_boxed(Box::new(Relu)),
            "Sigmoid" => seq.push_boxed(Box::new(Sigmoid)),
            "Tanh" => seq.push_boxed(Box::new(Tanh)),
            "LeakyRelu" => seq.push_boxed(Box::new(
                LeakyRelu::new(attr(node, node.float("alpha", 0.01))? as f64).map_err(layer_err)?,
            )),
            "Elu" => seq.push_boxed(Box::new(
                Elu::new(attr(node, node.float("alpha", 1.0))? as f64).map_err(layer_err)?,
            )),
            "Softmax" | "LogSoftmax" => {
                // Before opset 13 the axis flattens the trailing dims: the
                // same as a single dim only when it is the last one.
                let a = attr(node, node.int("axis", if node.opset < 13 { 1 } else { -1 }))?;
                let last = a == -1 || rank.is_some_and(|r| a == r as i64 - 1);
                if !last {
                    return Err(unsupported(node, &format!("axis {a} other than the last")));
                }
                if node.op == "Softmax" {
                    seq.push_boxed(Box::new(Softmax::new(-1)));
                } else {
                    seq.push_boxed(Box::new(LogSoftmax::new(-1)));
                }
            }
            _ => return Err(unsupported(node, "this operator in a layer chain")),
        }
        let layer = seq.get(seq.len() - 1).expect("just pushed").as_module();
        set_values(layer, &values).map_err(|m| unsupported(node, &m))?;
        current = node.outputs[0].clone();
    }
    if model.output_names() != [current] {
        return Err(OnnxError::Invalid(
            "the chain's last value is not the graph's only output".into(),
        ));
    }
    Ok(seq)
}

/// An attribute read, its error (a value of an unexpected kind) named.
fn attr<T>(node: &Node, r: crate::error::OpResult<T>) -> Result<T> {
    r.map_err(|_| unsupported(node, "an attribute of an unexpected kind"))
}

fn unsupported(node: &Node, what: &str) -> OnnxError {
    OnnxError::Unsupported {
        node: node.name.clone(),
        op: node.op.clone(),
        opset: node.opset,
        what: format!("{what} (building library layers)"),
    }
}

/// Writes the file's tensors into a fresh layer's parameters and buffers,
/// by their local names; every name must be found and every shape match.
fn set_values(
    layer: &dyn Module<f32>,
    values: &[(&str, Tensor<f32>)],
) -> std::result::Result<(), String> {
    let mut done = vec![false; values.len()];
    let mut err = None;
    layer.visit_local_parameters(&mut |name, p| {
        if let Some(i) = values.iter().position(|(n, _)| *n == name) {
            done[i] = true;
            if let Err(e) = p.try_set_value(values[i].1.clone()) {
                err = Some(e.to_string());
            }
        }
    });
    layer.visit_local_buffers(&mut |name, b| {
        if let Some(i) = values.iter().position(|(n, _)| *n == name) {
            done[i] = true;
            if let Err(e) = b.try_set_value(values[i].1.clone()) {
                err = Some(e.to_string());
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    match done.iter().position(|d| !d) {
        Some(i) => Err(format!("the layer has no {:?}", values[i].0)),
        None => Ok(()),
    }
}
