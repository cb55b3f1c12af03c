//! [`export`]: a model built from the library's layers written as an ONNX
//! file (opset 17) that onnxruntime and every other ONNX runtime can run.
//!
//! The exporter walks the model (a `Sequential`, nested or not, or a single
//! layer) and recognises each layer's concrete type through
//! [`AsModule::as_any`](nn_layers::AsModule::as_any), reading its settings
//! (stride, padding, eps, ...) and its parameters. Parameters keep their
//! PyTorch names (`"0.weight"`, `"1.running_mean"`) as initialiser names.
//! The example input fixes every dim but the first, which is left symbolic
//! (`"batch"`). The model is exported in evaluation mode (dropout off,
//! batch norm on running statistics) and its training flag restored after.

use std::path::Path;

use nn_autograd::{no_grad, Var};
use nn_conv::layers::{AdaptiveAvgPool2d, AvgPool, BatchNorm2d, Conv, ConvTranspose, MaxPool};
use nn_layers::activation::GeluApproximation;
use nn_layers::{
    BatchNorm1d, Dropout, Elu, Embedding, Flatten, Forward, Gelu, LayerNorm, LeakyRelu, Linear,
    LogSoftmax, Module, Prelu, Relu, Sequential, Sigmoid, Softmax, Softplus, Tanh,
};
use nn_tensor::Tensor;
use prost::Message;

use crate::error::{OnnxError, Result};
use crate::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};
use crate::value::Value;

/// The opset the exporter writes.
pub const EXPORT_OPSET: i64 = 17;

/// Writes `model` as an ONNX file at `path`, tracing it on `example_input`
/// (its first dim becomes the symbolic batch size). For a model that starts
/// with an `Embedding`, the input holds token ids (as floats here; the file
/// declares `int64`).
///
/// Layers: `Sequential`, `Linear`, `Conv1d`/`Conv2d`,
/// `ConvTranspose1d`/`ConvTranspose2d`, `MaxPool1d`/`2d`, `AvgPool1d`/`2d`,
/// `AdaptiveAvgPool2d` (to 1×1, or an output size dividing the input),
/// `BatchNorm1d`/`2d`, `LayerNorm`, `Dropout`, `Flatten`, `Embedding`, and
/// the activations `Relu`, `Sigmoid`, `Tanh`, `LeakyRelu`, `Elu`, `Gelu`,
/// `Softplus`, `Softmax`, `LogSoftmax`, `Prelu`. Another layer is an
/// [`OnnxError::Unsupported`] naming it.
///
/// ```
/// use nn_layers::{LinearConfig, Relu, Sequential};
/// use nn_tensor::{Rng, Tensor};
/// let mut rng = Rng::seed_from(0);
/// let net = Sequential::new()
///     .append(LinearConfig::new(4, 8).init::<f32>(&mut rng).unwrap())
///     .append(Relu)
///     .append(LinearConfig::new(8, 2).init::<f32>(&mut rng).unwrap());
/// let path = std::env::temp_dir().join("nn_onnx_doc_mlp.onnx");
/// let x = Tensor::<f32>::ones(&[3, 4]);
/// nn_onnx::export(&net, &x, &path).unwrap();
/// // Round trip: the file runs here too, bit for bit.
/// let back = nn_onnx::Model::load(&path).unwrap().run(&[x.clone()]).unwrap();
/// let ours = nn_layers::Forward::forward(&net, &nn_autograd::Var::constant(x));
/// assert_eq!(back[0].to_vec(), ours.value().to_vec());
/// ```
pub fn export(
    model: &dyn Forward<f32>,
    example_input: &Tensor<f32>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = export_proto(model, example_input)?.encode_to_vec();
    std::fs::write(path, bytes).map_err(|source| OnnxError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// [`export`]'s model as a protobuf message, without writing it.
pub fn export_proto(model: &dyn Forward<f32>, example_input: &Tensor<f32>) -> Result<ModelProto> {
    let m = model.as_module();
    let was_training = m.training_state();
    m.eval();
    let built = no_grad(|| {
        let mut b = Builder::default();
        let x = Var::constant(example_input.clone());
        let (out, y) = b.layer(model, "", "input", &x)?;
        Ok::<_, OnnxError>((b, out, y))
    });
    if let Some(t) = was_training {
        m.set_training(t);
    }
    let (b, out, y) = built?;
    let input_int = b.input_is_int;
    let graph = GraphProto {
        node: b.nodes,
        name: "nn".into(),
        initializer: b.initializers,
        input: vec![value_info(
            "input",
            if input_int {
                data_type::INT64
            } else {
                data_type::FLOAT
            },
            example_input.shape(),
        )],
        output: vec![value_info(&out, data_type::FLOAT, y.shape())],
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: EXPORT_OPSET,
        }],
        producer_name: "nn-onnx".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    })
}

/// A tensor type whose first dim is the symbolic `"batch"`.
fn value_info(name: &str, elem_type: i32, shape: &[usize]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i == 0 {
                Dimension {
                    dim_value: None,
                    dim_param: Some("batch".into()),
                }
            } else {
                Dimension {
                    dim_value: Some(d as i64),
                    dim_param: None,
                }
            }
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        ..Default::default()
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

fn ints(name: &str, v: impl IntoIterator<Item = usize>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.into_iter().map(|x| x as i64).collect(),
        ..Default::default()
    }
}

fn float(name: &str, f: f64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: f as f32,
        ..Default::default()
    }
}

fn unsupported(layer: &str, what: String) -> OnnxError {
    OnnxError::Unsupported {
        node: layer.to_string(),
        op: "export".into(),
        opset: EXPORT_OPSET,
        what,
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<crate::proto::TensorProto>,
    counter: usize,
    input_is_int: bool,
}

impl Builder {
    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("/{hint}_{}", self.counter)
    }

    fn init(&mut self, name: &str, v: Value) -> String {
        self.initializers.push(v.to_proto(name));
        name.to_string()
    }

    fn constant(&mut self, hint: &str, v: Value) -> String {
        let name = self.fresh(hint);
        self.init(&name, v)
    }

    fn scalar(&mut self, v: f32) -> String {
        self.constant("const", Value::Float(Tensor::scalar(v)))
    }

    /// Adds a node with one output and returns that output's name.
    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(op);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{out}_node"),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    /// A parameter or buffer of `layer` by local name, as an initialiser
    /// named `prefix + name`.
    fn param(&mut self, layer: &dyn Module<f32>, prefix: &str, name: &str) -> Option<String> {
        let mut found = None;
        layer.visit_local_parameters(&mut |n, p| {
            if n == name {
                found = Some(p.value().clone());
            }
        });
        layer.visit_local_buffers(&mut |n, b| {
            if n == name {
                found = Some(b.value());
            }
        });
        found.map(|t| self.init(&format!("{prefix}{name}"), Value::Float(t)))
    }

    fn required(&mut self, layer: &dyn Module<f32>, prefix: &str, name: &str) -> Result<String> {
        self.param(layer, prefix, name)
            .ok_or_else(|| unsupported(prefix, format!("{} without {name}", layer.type_name())))
    }

    /// Emits `layer` reading value `x_name` (whose value is `x`); returns
    /// the output's name and value.
    fn layer(
        &mut self,
        layer: &dyn Forward<f32>,
        prefix: &str,
        x_name: &str,
        x: &Var<f32>,
    ) -> Result<(String, Var<f32>)> {
        let any = layer.as_any();
        if let Some(seq) = any.downcast_ref::<Sequential<f32>>() {
            let (mut name, mut v) = (x_name.to_string(), x.clone());
            for (i, child) in seq.iter().enumerate() {
                (name, v) = self.layer(child, &format!("{prefix}{i}."), &name, &v)?;
            }
            return Ok((name, v));
        }
        let y = layer
            .try_forward(x)
            .map_err(|e| unsupported(prefix, format!("the example input: {e}")))?;
        let m = layer.as_module();
        let out = if any.is::<Dropout>() {
            x_name.to_string()
        } else if let Some(l) = any.downcast_ref::<Linear<f32>>() {
            let w = self.required(m, prefix, "weight")?;
            let b = l
                .bias
                .as_ref()
                .map(|_| self.required(m, prefix, "bias"))
                .transpose()?;
            if x.ndim() == 2 {
                let mut inputs = vec![x_name, w.as_str()];
                inputs.extend(b.as_deref());
                self.node("Gemm", &inputs, vec![int("transB", 1)])
            } else {
                // As the layer computes it: the leading dims flattened
                // into one GEMM, then restored from the input's shape.
                let n = x.ndim();
                let in_f = x.shape()[n - 1] as i64;
                let flat = self.constant("shape", Value::ints(vec![-1, in_f], &[2])?);
                let x2 = self.node("Reshape", &[x_name, &flat], vec![]);
                let mut inputs = vec![x2.as_str(), w.as_str()];
                inputs.extend(b.as_deref());
                let y2 = self.node("Gemm", &inputs, vec![int("transB", 1)]);
                let shape = self.node("Shape", &[x_name], vec![]);
                let zero = self.constant("starts", Value::ints(vec![0], &[1])?);
                let end = self.constant("ends", Value::ints(vec![n as i64 - 1], &[1])?);
                let lead = self.node("Slice", &[&shape, &zero, &end], vec![]);
                let out_f = self.constant("out", Value::ints(vec![y.shape()[n - 1] as i64], &[1])?);
                let full = self.node("Concat", &[&lead, &out_f], vec![int("axis", 0)]);
                self.node("Reshape", &[&y2, &full], vec![])
            }
        } else if let Some(c) = any.downcast_ref::<Conv<f32, 2>>() {
            let k = [c.weight.shape()[2], c.weight.shape()[3]];
            let o = &c.options;
            let p = o
                .padding
                .resolve(k, o.stride, o.dilation)
                .map_err(|e| unsupported(prefix, e.to_string()))?;
            self.conv(
                m,
                prefix,
                x_name,
                &k,
                &o.stride,
                &o.dilation,
                &p,
                o.groups,
                c.bias.is_some(),
            )?
        } else if let Some(c) = any.downcast_ref::<Conv<f32, 1>>() {
            let k = [c.weight.shape()[2]];
            let o = &c.options;
            let p = o
                .padding
                .resolve(k, o.stride, o.dilation)
                .map_err(|e| unsupported(prefix, e.to_string()))?;
            self.conv(
                m,
                prefix,
                x_name,
                &k,
                &o.stride,
                &o.dilation,
                &p,
                o.groups,
                c.bias.is_some(),
            )?
        } else if let Some(c) = any.downcast_ref::<ConvTranspose<f32, 2>>() {
            let o = &c.options;
            let ps = o.padding.iter().chain(&o.padding).copied();
            self.conv_t(
                m,
                prefix,
                x_name,
                &o.stride,
                &o.dilation,
                ps,
                &o.output_padding,
                o.groups,
                c.bias.is_some(),
            )?
        } else if let Some(c) = any.downcast_ref::<ConvTranspose<f32, 1>>() {
            let o = &c.options;
            let ps = o.padding.iter().chain(&o.padding).copied();
            self.conv_t(
                m,
                prefix,
                x_name,
                &o.stride,
                &o.dilation,
                ps,
                &o.output_padding,
                o.groups,
                c.bias.is_some(),
            )?
        } else if let Some(p) = any.downcast_ref::<MaxPool<2>>() {
            let o = &p.options;
            self.max_pool(
                x_name,
                &o.kernel_size,
                &o.stride,
                &o.padding,
                &o.dilation,
                o.ceil_mode,
            )
        } else if let Some(p) = any.downcast_ref::<MaxPool<1>>() {
            let o = &p.options;
            self.max_pool(
                x_name,
                &o.kernel_size,
                &o.stride,
                &o.padding,
                &o.dilation,
                o.ceil_mode,
            )
        } else if let Some(p) = any.downcast_ref::<AvgPool<2>>() {
            let o = &p.options;
            self.avg_pool(
                x_name,
                &o.kernel_size,
                &o.stride,
                &o.padding,
                o.ceil_mode,
                o.count_include_pad,
            )
        } else if let Some(p) = any.downcast_ref::<AvgPool<1>>() {
            let o = &p.options;
            self.avg_pool(
                x_name,
                &o.kernel_size,
                &o.stride,
                &o.padding,
                o.ceil_mode,
                o.count_include_pad,
            )
        } else if let Some(p) = any.downcast_ref::<AdaptiveAvgPool2d>() {
            let s = x.shape();
            let [oh, ow] = p.output_size;
            if [oh, ow] == [1, 1] {
                self.node("GlobalAveragePool", &[x_name], vec![])
            } else if s.len() == 4 && s[2].is_multiple_of(oh) && s[3].is_multiple_of(ow) {
                let k = [s[2] / oh, s[3] / ow];
                self.avg_pool(x_name, &k, &k, &[0, 0], false, true)
            } else {
                return Err(unsupported(
                    prefix,
                    format!(
                        "AdaptiveAvgPool2d to {:?} from {s:?} (not a divisor)",
                        p.output_size
                    ),
                ));
            }
        } else if let Some(bn) = any.downcast_ref::<BatchNorm1d<f32>>() {
            self.batch_norm(m, prefix, x_name, bn.config().eps, x.shape()[1])?
        } else if let Some(bn) = any.downcast_ref::<BatchNorm2d<f32>>() {
            self.batch_norm(m, prefix, x_name, bn.config().eps, x.shape()[1])?
        } else if let Some(ln) = any.downcast_ref::<LayerNorm<f32>>() {
            let shape = ln.normalized_shape().to_vec();
            let w = match self.param(m, prefix, "weight") {
                Some(w) => w,
                None => self.constant("ones", Value::Float(Tensor::ones(&shape))),
            };
            let mut inputs = vec![x_name.to_string(), w];
            inputs.extend(self.param(m, prefix, "bias"));
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            self.node(
                "LayerNormalization",
                &inputs,
                vec![
                    int("axis", -(shape.len() as i64)),
                    float("epsilon", ln.eps()),
                ],
            )
        } else if let Some(f) = any.downcast_ref::<Flatten>() {
            let s = x.shape();
            let r = s.len() as isize;
            let norm = |d: isize| if d < 0 { d + r } else { d } as usize;
            let (a, b) = (norm(f.start_dim), norm(f.end_dim));
            if a == 1 && b + 1 == s.len() {
                self.node("Flatten", &[x_name], vec![int("axis", 1)])
            } else {
                // Dims before `a` copied (0 keeps the batch symbolic), the
                // flattened run inferred, the dims after `b` fixed.
                let mut shape: Vec<i64> = vec![0; a];
                shape.push(-1);
                shape.extend(s[b + 1..].iter().map(|&d| d as i64));
                let n = shape.len();
                let shape = self.constant("shape", Value::ints(shape, &[n])?);
                self.node("Reshape", &[x_name, &shape], vec![])
            }
        } else if let Some(e) = any.downcast_ref::<Embedding<f32>>() {
            let w = self.required(m, prefix, "weight")?;
            let _ = e;
            let ids = if x_name == "input" {
                self.input_is_int = true;
                x_name.to_string()
            } else {
                self.node("Cast", &[x_name], vec![int("to", data_type::INT64 as i64)])
            };
            self.node("Gather", &[&w, &ids], vec![int("axis", 0)])
        } else if any.is::<Relu>() {
            self.node("Relu", &[x_name], vec![])
        } else if any.is::<Sigmoid>() {
            self.node("Sigmoid", &[x_name], vec![])
        } else if any.is::<Tanh>() {
            self.node("Tanh", &[x_name], vec![])
        } else if let Some(a) = any.downcast_ref::<LeakyRelu>() {
            self.node(
                "LeakyRelu",
                &[x_name],
                vec![float("alpha", a.negative_slope)],
            )
        } else if let Some(a) = any.downcast_ref::<Elu>() {
            self.node("Elu", &[x_name], vec![float("alpha", a.alpha)])
        } else if let Some(g) = any.downcast_ref::<Gelu>() {
            self.gelu(x_name, g.approximate)
        } else if let Some(s) = any.downcast_ref::<Softplus>() {
            if s.beta == 1.0 {
                self.node("Softplus", &[x_name], vec![])
            } else {
                let beta = self.scalar(s.beta as f32);
                let bx = self.node("Mul", &[x_name, &beta], vec![]);
                let sp = self.node("Softplus", &[&bx], vec![]);
                self.node("Div", &[&sp, &beta], vec![])
            }
        } else if let Some(s) = any.downcast_ref::<Softmax>() {
            self.node("Softmax", &[x_name], vec![int("axis", s.dim as i64)])
        } else if let Some(s) = any.downcast_ref::<LogSoftmax>() {
            self.node("LogSoftmax", &[x_name], vec![int("axis", s.dim as i64)])
        } else if let Some(p) = any.downcast_ref::<Prelu<f32>>() {
            let w = self.required(m, prefix, "weight")?;
            // The slopes run along dim 1: [C, 1, ..] broadcasts there.
            let mut shape = vec![p.weight.shape()[0] as i64];
            shape.extend(std::iter::repeat_n(1, x.ndim().saturating_sub(2)));
            let n = shape.len();
            let shape = self.constant("shape", Value::ints(shape, &[n])?);
            let slope = self.node("Reshape", &[&w, &shape], vec![]);
            self.node("PRelu", &[x_name, &slope], vec![])
        } else {
            return Err(unsupported(prefix, format!("layer {}", m.type_name())));
        };
        Ok((out, y))
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x: &str,
        k: &[usize],
        stride: &[usize],
        dilation: &[usize],
        pads: &[(usize, usize)],
        groups: usize,
        bias: bool,
    ) -> Result<String> {
        let w = self.required(m, prefix, "weight")?;
        let mut inputs = vec![x.to_string(), w];
        if bias {
            inputs.push(self.required(m, prefix, "bias")?);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let p = pads.iter().map(|p| p.0).chain(pads.iter().map(|p| p.1));
        Ok(self.node(
            "Conv",
            &inputs,
            vec![
                ints("kernel_shape", k.iter().copied()),
                ints("strides", stride.iter().copied()),
                ints("dilations", dilation.iter().copied()),
                ints("pads", p),
                int("group", groups as i64),
            ],
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn conv_t(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x: &str,
        stride: &[usize],
        dilation: &[usize],
        pads: impl Iterator<Item = usize>,
        output_padding: &[usize],
        groups: usize,
        bias: bool,
    ) -> Result<String> {
        let w = self.required(m, prefix, "weight")?;
        let mut inputs = vec![x.to_string(), w];
        if bias {
            inputs.push(self.required(m, prefix, "bias")?);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.node(
            "ConvTranspose",
            &inputs,
            vec![
                ints("strides", stride.iter().copied()),
                ints("dilations", dilation.iter().copied()),
                ints("pads", pads),
                ints("output_padding", output_padding.iter().copied()),
                int("group", groups as i64),
            ],
        ))
    }

    fn max_pool(
        &mut self,
        x: &str,
        k: &[usize],
        s: &[usize],
        p: &[usize],
        d: &[usize],
        ceil: bool,
    ) -> String {
        self.node(
            "MaxPool",
            &[x],
            vec![
                ints("kernel_shape", k.iter().copied()),
                ints("strides", s.iter().copied()),
                ints("pads", p.iter().chain(p).copied()),
                ints("dilations", d.iter().copied()),
                int("ceil_mode", ceil as i64),
            ],
        )
    }

    fn avg_pool(
        &mut self,
        x: &str,
        k: &[usize],
        s: &[usize],
        p: &[usize],
        ceil: bool,
        include_pad: bool,
    ) -> String {
        self.node(
            "AveragePool",
            &[x],
            vec![
                ints("kernel_shape", k.iter().copied()),
                ints("strides", s.iter().copied()),
                ints("pads", p.iter().chain(p).copied()),
                int("ceil_mode", ceil as i64),
                int("count_include_pad", include_pad as i64),
            ],
        )
    }

    fn batch_norm(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x: &str,
        eps: f64,
        c: usize,
    ) -> Result<String> {
        let mean = self.param(m, prefix, "running_mean");
        let var = self.param(m, prefix, "running_var");
        let (Some(mean), Some(var)) = (mean, var) else {
            return Err(unsupported(prefix, "batch norm without running statistics (it normalises by the batch in evaluation too)".into()));
        };
        let w = match self.param(m, prefix, "weight") {
            Some(w) => w,
            None => self.constant("ones", Value::Float(Tensor::ones(&[c]))),
        };
        let b = match self.param(m, prefix, "bias") {
            Some(b) => b,
            None => self.constant("zeros", Value::Float(Tensor::zeros(&[c]))),
        };
        Ok(self.node(
            "BatchNormalization",
            &[x, &w, &b, &mean, &var],
            vec![float("epsilon", eps)],
        ))
    }

    /// GELU from opset-17 operators (the `Gelu` operator came in opset
    /// 20), in the library's order of operations so that the file computes
    /// the same bits.
    fn gelu(&mut self, x: &str, approximate: GeluApproximation) -> String {
        let half = self.scalar(0.5);
        let one = self.scalar(1.0);
        let inner = match approximate {
            GeluApproximation::None => {
                // erf(x·(1/√2))
                let r = self.scalar(std::f32::consts::FRAC_1_SQRT_2);
                let d = self.node("Mul", &[x, &r], vec![]);
                self.node("Erf", &[&d], vec![])
            }
            GeluApproximation::Tanh => {
                // tanh(√(2/π)·(x + ((0.044715·x)·x)·x))
                let a = self.scalar(0.044_715);
                let c = self.scalar(0.797_884_6);
                let ax = self.node("Mul", &[&a, x], vec![]);
                let ax2 = self.node("Mul", &[&ax, x], vec![]);
                let ax3 = self.node("Mul", &[&ax2, x], vec![]);
                let s = self.node("Add", &[x, &ax3], vec![]);
                let cs = self.node("Mul", &[&c, &s], vec![]);
                self.node("Tanh", &[&cs], vec![])
            }
        };
        let p = self.node("Add", &[&one, &inner], vec![]);
        let hx = self.node("Mul", &[&half, x], vec![]);
        self.node("Mul", &[&hx, &p], vec![])
    }
}
