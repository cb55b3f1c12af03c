//! [`export`]: a model built from the library's layers written as an ONNX
//! file (opset 17) that onnxruntime and every other ONNX runtime can run.
//!
//! The exporter walks the model's module tree and recognises each module's
//! concrete type (every [`Module`] is `Any`), reading its settings (stride,
//! padding, eps, ...) and its parameters; it runs each part on the example
//! input as it goes, so every node knows its input's shape. Parameters keep
//! their PyTorch names (`"0.weight"`, `"layer1.0.bn1.running_mean"`) as
//! initialiser names. The example input fixes every dim but the batch dim,
//! which is left symbolic (`"batch"`). The model is exported in evaluation
//! mode (dropout off, batch norm on running statistics) and its training
//! flag restored after.
//!
//! A model of another type (a user's module, whose forward may do anything
//! between its layers) is exported by tracing its forward instead
//! ([`export_traced`]).
//!
//! One module per concern: [`layers`] emits the single layers, [`residual`]
//! the ResNet blocks, [`recurrent`] the LSTM, GRU and RNN stacks,
//! [`attention`] multi-head attention and the Transformer layers,
//! [`traced`] a traced forward.

mod attention;
mod layers;
mod recurrent;
mod residual;
mod traced;

use std::path::Path;

use nn_autograd::{no_grad, Var};
use nn_layers::{Forward, Module};
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
/// `BatchNorm1d`/`2d`, `LayerNorm`, `Dropout`, `Flatten`, `Embedding`, the
/// activations `Relu`, `Sigmoid`, `Tanh`, `LeakyRelu`, `Elu`, `Gelu`,
/// `Softplus`, `Softmax`, `LogSoftmax`, `Prelu`, and the ResNet parts
/// (`BasicBlock`, `Bottleneck`, `ResidualBlock`, `Projection`, `ResNet`).
///
/// A model that holds a module of another type (a user's model, written
/// with `#[derive(Module)]`, whose forward may add a residual, call
/// functions, reshape, ...) is exported by tracing its forward, as
/// [`export_traced`] does (with the shapes fixed to the example's).
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
/// let ours = nn_layers::Forward::forward(&net, &x);
/// assert_eq!(back[0].to_vec(), ours.value().to_vec());
/// ```
pub fn export(
    model: &dyn Forward<f32>,
    example_input: &Tensor<f32>,
    path: impl AsRef<Path>,
) -> Result<()> {
    write(&export_proto(model, example_input)?, path.as_ref())
}

/// [`export`]'s model as a protobuf message, without writing it.
pub fn export_proto(model: &dyn Forward<f32>, example_input: &Tensor<f32>) -> Result<ModelProto> {
    let m = model.as_module();
    let mut b = Builder::default();
    let built = in_eval_mode(m, || {
        let x = Var::constant(example_input.clone());
        b.layer(m, "", "input", &x)
    });
    let (out, y) = match built {
        Ok(built) => built,
        Err(_) if b.needs_trace => {
            return traced::export_traced_proto(m, std::slice::from_ref(example_input), |xs| {
                model.try_forward(&xs[0]).map(|y| vec![y])
            })
        }
        Err(e) => return Err(e),
    };
    let input_type = if b.input_is_int {
        data_type::INT64
    } else {
        data_type::FLOAT
    };
    let batch = [(0, "batch")];
    let inputs = vec![value_info(
        "input",
        input_type,
        example_input.shape(),
        &batch,
    )];
    let outputs = vec![value_info(&out, data_type::FLOAT, y.shape(), &batch)];
    Ok(b.finish(inputs, outputs))
}

/// Writes a layer with several inputs or outputs as an ONNX file at
/// `path`, traced on `example_inputs` (their batch and sequence dims stay
/// symbolic):
///
/// | Layer | Inputs | Outputs |
/// | --- | --- | --- |
/// | `Lstm` | `input`, optionally `h0`, `c0` | `output`, `h_n`, `c_n` |
/// | `Gru`, `Rnn` | `input`, optionally `h0` | `output`, `h_n` |
/// | `MultiHeadAttention` | `query` (self-attention), or `query`, `key`, `value` | the attention output (no weights) |
/// | `TransformerEncoderLayer` | `src` | its output |
/// | `TransformerDecoderLayer` | `tgt`, `memory` | its output |
///
/// Shapes and layouts are the layers' own (`batch_first` for the
/// recurrent layers, batch-first attention). The recurrent layers become
/// ONNX `LSTM`/`GRU`/`RNN` nodes, one per layer of the stack, with the
/// gates reordered in the graph from the parameters, which keep their
/// PyTorch names (`weight_ih_l0`); attention is written with `MatMul`,
/// `Softmax` and friends (opset 17 has no attention operator), without
/// masks here ([`export_traced`] exports the masks a forward passes, as
/// constants). Inside a model passed to [`export`], these layers export too,
/// taking one input: a recurrent layer gives its `output`, attention is
/// self-attention.
///
/// ```
/// use nn_rnn::LstmConfig;
/// use nn_tensor::{Rng, Tensor};
/// let mut rng = Rng::seed_from(0);
/// let lstm = LstmConfig::new(3, 4).with_num_layers(2).init::<f32>(&mut rng).unwrap();
/// let x = Tensor::<f32>::rand_normal(&[5, 2, 3], 0.0, 1.0, &mut rng); // [seq, batch, features]
/// let path = std::env::temp_dir().join("nn_onnx_doc_lstm.onnx");
/// nn_onnx::export_layer(&lstm, &[x.clone()], &path).unwrap();
/// let outs = nn_onnx::Model::load(&path).unwrap().run(&[x]).unwrap();
/// let shapes: Vec<&[usize]> = outs.iter().map(|t| t.shape()).collect();
/// assert_eq!(shapes, [&[5, 2, 4][..], &[2, 2, 4], &[2, 2, 4]]); // output, h_n, c_n
/// ```
pub fn export_layer(
    layer: &dyn Module<f32>,
    example_inputs: &[Tensor<f32>],
    path: impl AsRef<Path>,
) -> Result<()> {
    write(&export_layer_proto(layer, example_inputs)?, path.as_ref())
}

/// Writes the model that `forward` computes as an ONNX file at `path`, by
/// tracing `forward` on `example_inputs` (what `torch.onnx.export` does):
/// for a model whose forward is not a plain [`Forward`] (several inputs or
/// outputs, a method of its own). `model` is the module whose parameters
/// the forward uses: they become initialisers under their PyTorch names.
///
/// The built-in layers the forward calls are written as [`export`] writes
/// them; the ops between them (`+`, `*`, `matmul`, `reshape`, `concat`,
/// `softmax`, the activations, ...) as their ONNX nodes. An op with no ONNX
/// form here is an [`OnnxError::Unsupported`] naming it. The graph's
/// shapes are the example's; its inputs are named `input` (or `input_0`,
/// `input_1`, ...) and its outputs `output` (or `output_0`, ...). The file
/// is checked on a second input (the examples reversed) against the
/// forward, so a value the trace cannot see (computed through `.value()`)
/// is an error, not a wrong graph.
///
/// ```
/// use nn_autograd::Var;
/// use nn_layers::{Forward, LinearConfig};
/// use nn_tensor::{Rng, Tensor};
/// let mut rng = Rng::seed_from(0);
/// let fc = LinearConfig::new(4, 4).init::<f32>(&mut rng).unwrap();
/// // A residual step: x + relu(fc(x)).
/// let forward = |xs: &[Var<f32>]| -> nn_tensor::Result<Vec<Var<f32>>> {
///     Ok(vec![xs[0].add(&fc.try_forward(&xs[0])?.relu())])
/// };
/// let x = Tensor::<f32>::rand_normal(&[2, 4], 0.0, 1.0, &mut rng);
/// let path = std::env::temp_dir().join("nn_onnx_doc_residual.onnx");
/// nn_onnx::export_traced(&fc, &[x.clone()], forward, &path).unwrap();
/// let back = nn_onnx::Model::load(&path).unwrap().run(&[x.clone()]).unwrap();
/// assert_eq!(back[0].to_vec(), forward(&[Var::constant(x)]).unwrap()[0].to_vec());
/// ```
pub fn export_traced<E: std::fmt::Display>(
    model: &dyn Module<f32>,
    example_inputs: &[Tensor<f32>],
    forward: impl Fn(&[Var<f32>]) -> std::result::Result<Vec<Var<f32>>, E>,
    path: impl AsRef<Path>,
) -> Result<()> {
    write(
        &export_traced_proto(model, example_inputs, forward)?,
        path.as_ref(),
    )
}

/// [`export_traced`]'s model as a protobuf message, without writing it.
pub fn export_traced_proto<E: std::fmt::Display>(
    model: &dyn Module<f32>,
    example_inputs: &[Tensor<f32>],
    forward: impl Fn(&[Var<f32>]) -> std::result::Result<Vec<Var<f32>>, E>,
) -> Result<ModelProto> {
    traced::export_traced_proto(model, example_inputs, forward)
}

/// [`export_layer`]'s model as a protobuf message, without writing it.
pub fn export_layer_proto(
    layer: &dyn Module<f32>,
    example_inputs: &[Tensor<f32>],
) -> Result<ModelProto> {
    let (b, sig) = in_eval_mode(layer, || {
        let mut b = Builder::default();
        let sig = match b.recurrent_layer(layer, example_inputs)? {
            Some(sig) => sig,
            None => match b.attention_layer(layer, example_inputs)? {
                Some(sig) => sig,
                None => {
                    return Err(unsupported(
                        "",
                        format!(
                            "export_layer takes Lstm, Gru, Rnn, MultiHeadAttention, TransformerEncoderLayer or TransformerDecoderLayer, not {} (a single-input model goes to export)",
                            layer.type_name()
                        ),
                    ))
                }
            },
        };
        Ok((b, sig))
    })?;
    let ports = |ports: &[Port]| -> Vec<ValueInfoProto> {
        ports
            .iter()
            .map(|p| value_info(&p.name, data_type::FLOAT, &p.shape, &p.symbolic))
            .collect()
    };
    let (inputs, outputs) = (ports(&sig.inputs), ports(&sig.outputs));
    Ok(b.finish(inputs, outputs))
}

/// A graph input or output: its name, its shape on the example, and which
/// dims are symbolic (by name).
struct Port {
    name: String,
    shape: Vec<usize>,
    symbolic: Vec<(usize, &'static str)>,
}

impl Port {
    fn new(name: &str, shape: &[usize], symbolic: &[(usize, &'static str)]) -> Port {
        Port {
            name: name.into(),
            shape: shape.to_vec(),
            symbolic: symbolic.to_vec(),
        }
    }
}

/// The inputs and outputs of a layer exported by [`export_layer`].
struct Signature {
    inputs: Vec<Port>,
    outputs: Vec<Port>,
}

/// The error for example inputs of the wrong number.
fn wrong_inputs(layer: &str, expected: &str, got: usize) -> OnnxError {
    OnnxError::Input(format!(
        "export_layer: {layer} takes {expected} example inputs, got {got}"
    ))
}

/// Runs `f` with `m` in evaluation mode and without recording gradients,
/// then restores `m`'s training flag (whatever `f` returned).
fn in_eval_mode<R>(m: &dyn Module<f32>, f: impl FnOnce() -> R) -> R {
    let was_training = m.training_state();
    m.eval();
    let r = no_grad(f);
    if let Some(t) = was_training {
        m.set_training(t);
    }
    r
}

fn write(proto: &ModelProto, path: &Path) -> Result<()> {
    std::fs::write(path, proto.encode_to_vec()).map_err(|source| OnnxError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A tensor type whose dims listed in `symbolic` are symbolic (named), the
/// others fixed.
fn value_info(
    name: &str,
    elem_type: i32,
    shape: &[usize],
    symbolic: &[(usize, &str)],
) -> ValueInfoProto {
    let dim = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if let Some((_, param)) = symbolic.iter().find(|(j, _)| *j == i) {
                Dimension {
                    dim_value: None,
                    dim_param: Some(param.to_string()),
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

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRINGS,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
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

/// The error for a module the exporter cannot write, `layer` being its
/// `state_dict` prefix.
fn unsupported(layer: &str, what: String) -> OnnxError {
    OnnxError::Unsupported {
        node: layer.to_string(),
        op: "export".into(),
        opset: EXPORT_OPSET,
        what,
    }
}

/// A value of the graph being built: its name and its value on the example
/// input.
type Traced = (String, Var<f32>);

/// The graph under construction.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<crate::proto::TensorProto>,
    counter: usize,
    input_is_int: bool,
    /// Set when a module of a type no exporter knows was met: the model
    /// is then traced instead.
    needs_trace: bool,
    /// The initialisers' names, so that a parameter used twice is written
    /// once.
    initializer_names: std::collections::HashSet<String>,
}

impl Builder {
    /// The model around the graph, with its inputs and outputs.
    fn finish(self, input: Vec<ValueInfoProto>, output: Vec<ValueInfoProto>) -> ModelProto {
        let graph = GraphProto {
            node: self.nodes,
            name: "nn".into(),
            initializer: self.initializers,
            input,
            output,
            ..Default::default()
        };
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: EXPORT_OPSET,
            }],
            producer_name: "nn-onnx".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph),
            ..Default::default()
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("/{hint}_{}", self.counter)
    }

    fn init(&mut self, name: &str, v: Value) -> String {
        if self.initializer_names.insert(name.to_string()) {
            self.initializers.push(v.to_proto(name));
        }
        name.to_string()
    }

    fn constant(&mut self, hint: &str, v: Value) -> String {
        let name = self.fresh(hint);
        self.init(&name, v)
    }

    fn scalar(&mut self, v: f32) -> String {
        self.constant("const", Value::Float(Tensor::scalar(v)))
    }

    /// A constant 1-d `int64` tensor (shapes, axes, slice bounds).
    fn int_list(&mut self, hint: &str, v: Vec<i64>) -> Result<String> {
        let n = v.len();
        Ok(self.constant(hint, Value::ints(v, &[n])?))
    }

    /// Adds a node with one output and returns that output's name.
    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let mut outs = self.node_outputs(op, inputs, 1, attrs);
        outs.pop().unwrap_or_default()
    }

    /// Adds a node with `n` outputs and returns their names. An empty
    /// input name is an optional input left out.
    fn node_outputs(
        &mut self,
        op: &str,
        inputs: &[&str],
        n: usize,
        attrs: Vec<AttributeProto>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..n).map(|_| self.fresh(op)).collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            name: format!("{}_node", outs[0]),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        outs
    }

    /// `x[start..end]` along `axis`.
    fn slice(&mut self, x: &str, axis: i64, start: usize, end: usize) -> Result<String> {
        let s = self.int_list("starts", vec![start as i64])?;
        let e = self.int_list("ends", vec![end as i64])?;
        let a = self.int_list("axes", vec![axis])?;
        Ok(self.node("Slice", &[x, &s, &e, &a], vec![]))
    }

    /// `Transpose` with a permutation.
    fn transpose(&mut self, x: &str, perm: &[usize]) -> String {
        self.node("Transpose", &[x], vec![ints("perm", perm.iter().copied())])
    }

    /// `Reshape` to `shape` (0 copies the input's dim, -1 is inferred).
    fn reshape(&mut self, x: &str, shape: Vec<i64>) -> Result<String> {
        let s = self.int_list("shape", shape)?;
        Ok(self.node("Reshape", &[x, &s], vec![]))
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

    /// Emits the child `name` of the module at `prefix`.
    fn child(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        name: &str,
        x: &Traced,
    ) -> Result<Traced> {
        self.layer(m, &format!("{prefix}{name}."), &x.0, &x.1)
    }

    /// A `Relu` node on `x`, with the library's value.
    fn relu(&mut self, x: &Traced) -> Traced {
        (self.node("Relu", &[&x.0], vec![]), x.1.relu())
    }

    /// An `Add` node on `a` and `b`, with the library's value.
    fn add(&mut self, a: &Traced, b: &Traced, prefix: &str) -> Result<Traced> {
        let v =
            a.1.try_add(&b.1)
                .map_err(|e| unsupported(prefix, format!("a residual sum: {e}")))?;
        Ok((self.node("Add", &[&a.0, &b.0], vec![]), v))
    }
}
