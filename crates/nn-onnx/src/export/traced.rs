//! Export by tracing the forward, as `torch.onnx.export` does: the forward
//! runs once on the example inputs under [`nn_autograd::trace`], which
//! records every op it runs on vars and every built-in layer it calls.
//! Each layer is written by its exporter ([`Builder::layer`] and the
//! recurrent and attention ones) under its parameters' PyTorch names; each
//! op between them (`add`, `matmul`, `reshape`, `softmax`, ...) as the ONNX
//! node that computes it, with the settings it recorded. A parameter used
//! by an op is an initialiser under its PyTorch name; another value that
//! no traced op produced is a constant of the graph.
//!
//! What a trace cannot see is a value computed from the inputs outside the
//! vars (through `.value()`): it would be baked in as a constant. So the
//! file is checked before it is returned: it runs on a second input (the
//! example's elements in reverse order) and must give the forward's
//! outputs there too, or the export is refused.
//!
//! Shapes are fixed to the example's (the shapes of `Reshape` and friends
//! are read from it), as with `torch.onnx.export` without `dynamic_axes`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Display;

use nn_attention::{
    DecoderMasks, Mask, MultiHeadAttention, TransformerDecoderLayer, TransformerEncoderLayer,
};
use nn_autograd::trace::{trace, Attr, Event, LayerEvent, OpEvent};
use nn_autograd::{Var, VarId};
use nn_layers::activation::GeluApproximation;
use nn_layers::Module;
use nn_tensor::Tensor;
use prost::Message;

use super::attention::AttnMasks;
use super::{float, in_eval_mode, int, ints, unsupported, value_info, Builder, Traced};
use crate::error::Result;
use crate::model::Model;
use crate::proto::{data_type, ModelProto};
use crate::value::Value;

/// The relative difference allowed between the file and the forward on the
/// check input (the file computes with the same kernels, but the layers'
/// exporters may order a sum differently).
const CHECK_TOLERANCE: f32 = 1e-4;

/// [`super::export_traced`]'s model as a protobuf message.
pub(crate) fn export_traced_proto<E: Display>(
    model: &dyn Module<f32>,
    example_inputs: &[Tensor<f32>],
    forward: impl Fn(&[Var<f32>]) -> std::result::Result<Vec<Var<f32>>, E>,
) -> Result<ModelProto> {
    in_eval_mode(model, || {
        let proto = traced_graph(model, example_inputs, &forward)?;
        check_on_second_input(&proto, example_inputs, &forward)?;
        Ok(proto)
    })
}

/// The traced graph, not yet checked.
fn traced_graph<E: Display>(
    model: &dyn Module<f32>,
    example_inputs: &[Tensor<f32>],
    forward: &impl Fn(&[Var<f32>]) -> std::result::Result<Vec<Var<f32>>, E>,
) -> Result<ModelProto> {
    let inputs: Vec<Var<f32>> = example_inputs.iter().cloned().map(Var::constant).collect();
    let (ys, events) = trace(|| forward(&inputs))
        .ok_or_else(|| unsupported("", "export inside a traced forward".into()))?;
    let ys = ys.map_err(|e| unsupported("", format!("the forward on the example inputs: {e}")))?;
    let mut t = Tracer {
        b: Builder::default(),
        model,
        names: HashMap::new(),
        params: HashMap::new(),
        unusable: HashMap::new(),
    };
    model.visit_parameters("", &mut |name, p| {
        t.params.insert(p.id(), name.to_string());
    });
    let input_names: Vec<String> = if inputs.len() == 1 {
        vec!["input".into()]
    } else {
        (0..inputs.len()).map(|i| format!("input_{i}")).collect()
    };
    for (v, n) in inputs.iter().zip(&input_names) {
        t.names.insert(v.id(), (n.clone(), v.clone()));
    }
    for e in &events {
        match e {
            Event::Op(o) => t.op(o)?,
            Event::Layer(l) => t.layer(l)?,
        }
    }
    let mut outputs = Vec::new();
    for (i, y) in ys.iter().enumerate() {
        let name = t.name_of(y)?;
        let out = if ys.len() == 1 {
            "output".to_string()
        } else {
            format!("output_{i}")
        };
        t.b.nodes.push(crate::proto::NodeProto {
            input: vec![name],
            output: vec![out.clone()],
            name: format!("{out}_node"),
            op_type: "Identity".into(),
            ..Default::default()
        });
        outputs.push(value_info(&out, data_type::FLOAT, y.shape(), &[]));
    }
    let input_type = if t.b.input_is_int {
        data_type::INT64
    } else {
        data_type::FLOAT
    };
    let graph_inputs = input_names
        .iter()
        .zip(example_inputs)
        .map(|(n, x)| value_info(n, input_type, x.shape(), &[]))
        .collect();
    Ok(t.b.finish(graph_inputs, outputs))
}

/// Runs the file on the example inputs reversed and compares with the
/// forward there: a value the trace took for a constant but that depends
/// on the inputs shows up as a difference.
fn check_on_second_input<E: Display>(
    proto: &ModelProto,
    example_inputs: &[Tensor<f32>],
    forward: &impl Fn(&[Var<f32>]) -> std::result::Result<Vec<Var<f32>>, E>,
) -> Result<()> {
    let second: Vec<Tensor<f32>> = example_inputs
        .iter()
        .map(|x| {
            let mut v = x.to_vec();
            v.reverse();
            Tensor::from_vec(v, x.shape())
        })
        .collect();
    let vars: Vec<Var<f32>> = second.iter().cloned().map(Var::constant).collect();
    let want = forward(&vars).map_err(|e| {
        unsupported(
            "",
            format!("the traced graph cannot be checked: the forward fails on the example inputs reversed: {e}"),
        )
    })?;
    let got = Model::from_bytes(&proto.encode_to_vec())?.run(&second)?;
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        let w = w.value();
        let scale = w.to_vec().iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = if g.shape() == w.shape() {
            g.to_vec()
                .iter()
                .zip(w.to_vec())
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        } else {
            f32::INFINITY
        };
        // A NaN difference is a difference too.
        if diff.is_nan() || diff > CHECK_TOLERANCE * scale {
            return Err(unsupported(
                "",
                format!(
                    "the traced graph gives another output {k} than the forward on a second input (the example reversed; difference {diff:e}): the forward computes something from its inputs that the trace does not see, such as a value read with .value() or a mask built from the data"
                ),
            ));
        }
    }
    Ok(())
}

/// The graph being traced: the builder, and the name of every var seen.
struct Tracer<'m> {
    b: Builder,
    model: &'m dyn Module<f32>,
    /// The graph value of each var produced so far, with the var.
    names: HashMap<VarId, Traced>,
    /// The parameters' PyTorch names by id.
    params: HashMap<VarId, String>,
    /// Outputs of layers that the file does not compute, with why.
    unusable: HashMap<VarId, String>,
}

/// A recorded var as `Var<f32>` (the exporter writes `f32` models).
fn as_var(v: &dyn Any) -> Result<&Var<f32>> {
    v.downcast_ref::<Var<f32>>()
        .ok_or_else(|| unsupported("", "a traced value that is not a Var<f32>".into()))
}

impl Tracer<'_> {
    /// The graph value of `v`: traced, a parameter (an initialiser under
    /// its name), or a constant.
    fn name_of(&mut self, v: &Var<f32>) -> Result<String> {
        if let Some((n, _)) = self.names.get(&v.id()) {
            return Ok(n.clone());
        }
        if let Some(why) = self.unusable.get(&v.id()) {
            return Err(unsupported("", why.clone()));
        }
        let name = match self.params.get(&v.id()) {
            Some(p) => {
                let p = p.clone();
                self.b.init(&p, Value::Float(v.value()))
            }
            None => self.b.constant("const", Value::Float(v.value())),
        };
        self.names.insert(v.id(), (name.clone(), v.clone()));
        Ok(name)
    }

    fn traced(&mut self, v: &dyn Any) -> Result<Traced> {
        let v = as_var(v)?;
        Ok((self.name_of(v)?, v.clone()))
    }

    fn set(&mut self, out: &dyn Any, name: String) -> Result<()> {
        let v = as_var(out)?;
        self.names.insert(v.id(), (name, v.clone()));
        Ok(())
    }

    /// An op between layers as ONNX nodes.
    fn op(&mut self, o: &OpEvent) -> Result<()> {
        let ins = o
            .inputs
            .iter()
            .map(|v| self.traced(v.as_ref()))
            .collect::<Result<Vec<Traced>>>()?;
        let out = as_var(o.output.as_ref())?.clone();
        let refuse = |what: &str| {
            unsupported(
                o.op,
                format!("op {} ({what}): the tracer cannot write it as ONNX", o.op),
            )
        };
        let int_attr = |name: &str| match o.attr(name) {
            Some(Attr::Int(i)) => Ok(*i),
            _ => Err(refuse(&format!("no setting {name} recorded"))),
        };
        let ints_attr = |name: &str| match o.attr(name) {
            Some(Attr::Ints(v)) => Ok(v.clone()),
            _ => Err(refuse(&format!("no setting {name} recorded"))),
        };
        let float_attr = |name: &str| match o.attr(name) {
            Some(Attr::Float(f)) => Ok(*f),
            _ => Err(refuse(&format!("no setting {name} recorded"))),
        };
        let x = ins.first().map(|t| t.0.clone()).unwrap_or_default();
        let b = &mut self.b;
        let binary = |b: &mut Builder, op: &str| -> Result<String> {
            match &ins[..] {
                [l, r] => Ok(b.node(op, &[&l.0, &r.0], vec![])),
                _ => Err(refuse("not two inputs")),
            }
        };
        let name = match o.op {
            "add" => binary(b, "Add")?,
            "sub" => binary(b, "Sub")?,
            "mul" => binary(b, "Mul")?,
            "div" => binary(b, "Div")?,
            "maximum" => binary(b, "Max")?,
            "matmul" => {
                let [l, r] = &ins[..] else {
                    return Err(refuse("not two inputs"));
                };
                let l = transposed_last2(b, l, int_attr("transA")? != 0);
                let r = transposed_last2(b, r, int_attr("transB")? != 0);
                b.node("MatMul", &[&l, &r], vec![])
            }
            "relu" => b.node("Relu", &[&x], vec![]),
            "sigmoid" => b.node("Sigmoid", &[&x], vec![]),
            "tanh" => b.node("Tanh", &[&x], vec![]),
            "exp" => b.node("Exp", &[&x], vec![]),
            "ln" => b.node("Log", &[&x], vec![]),
            "sqrt" => b.node("Sqrt", &[&x], vec![]),
            "abs" => b.node("Abs", &[&x], vec![]),
            "square" => b.node("Mul", &[&x, &x], vec![]),
            "gelu" => b.gelu(&x, GeluApproximation::None),
            "gelu_tanh" => b.gelu(&x, GeluApproximation::Tanh),
            "leaky_relu" => b.node(
                "LeakyRelu",
                &[&x],
                vec![float("alpha", float_attr("alpha")?)],
            ),
            "elu" => b.node("Elu", &[&x], vec![float("alpha", float_attr("alpha")?)]),
            "softplus" => b.softplus(&x, float_attr("beta")?),
            "add_scalar" | "mul_scalar" | "div_scalar" | "powf" => {
                let s = b.scalar(float_attr("value")? as f32);
                let op = match o.op {
                    "add_scalar" => "Add",
                    "mul_scalar" => "Mul",
                    "div_scalar" => "Div",
                    _ => "Pow",
                };
                b.node(op, &[&x, &s], vec![])
            }
            "rsub_scalar" | "rdiv_scalar" => {
                let s = b.scalar(float_attr("value")? as f32);
                let op = if o.op == "rsub_scalar" { "Sub" } else { "Div" };
                b.node(op, &[&s, &x], vec![])
            }
            "clamp" => {
                let lo = b.scalar(float_attr("min")? as f32);
                let hi = b.scalar(float_attr("max")? as f32);
                b.node("Clip", &[&x, &lo, &hi], vec![])
            }
            "softmax" => b.node("Softmax", &[&x], vec![int("axis", int_attr("axis")?)]),
            "log_softmax" => b.node("LogSoftmax", &[&x], vec![int("axis", int_attr("axis")?)]),
            "reshape" => b.reshape(&x, dims(out.shape()))?,
            "broadcast_to" => {
                let s = b.int_list("shape", dims(out.shape()))?;
                b.node("Expand", &[&x, &s], vec![])
            }
            "permute" => {
                let perm = ints_attr("perm")?;
                b.node(
                    "Transpose",
                    &[&x],
                    vec![ints("perm", perm.iter().map(|&p| p as usize))],
                )
            }
            "narrow" => {
                let (d, s, n) = (int_attr("dim")?, int_attr("start")?, int_attr("len")?);
                b.slice(&x, d, s as usize, (s + n) as usize)?
            }
            "concat" => {
                let names: Vec<&str> = ins.iter().map(|t| t.0.as_str()).collect();
                b.node("Concat", &names, vec![int("axis", int_attr("axis")?)])
            }
            "index_select" => {
                let idx = ints_attr("indices")?;
                let n = idx.len();
                let idx = b.constant("indices", Value::ints(idx, &[n])?);
                b.node("Gather", &[&x, &idx], vec![int("axis", int_attr("dim")?)])
            }
            "sum" | "mean" => {
                let op = if o.op == "sum" {
                    "ReduceSum"
                } else {
                    "ReduceMean"
                };
                let r = b.node(op, &[&x], vec![int("keepdims", 0)]);
                b.reshape(&r, dims(out.shape()))?
            }
            "sum_dims" => {
                let axes = b.int_list("axes", ints_attr("axes")?)?;
                let keep = int("keepdims", int_attr("keepdims")?);
                b.node("ReduceSum", &[&x, &axes], vec![keep])
            }
            "max_dims" => {
                let axes = ints_attr("axes")?;
                let keep = int("keepdims", int_attr("keepdims")?);
                b.node(
                    "ReduceMax",
                    &[&x],
                    vec![ints("axes", axes.iter().map(|&a| a as usize)), keep],
                )
            }
            other => return Err(refuse(&format!("no ONNX form for {other}"))),
        };
        self.names.insert(out.id(), (name, out));
        Ok(())
    }

    /// A built-in layer as its exporter writes it.
    fn layer(&mut self, l: &LayerEvent) -> Result<()> {
        let model = self.model;
        let found = with_module(model, l.address, l.type_id, &mut |m, prefix| {
            self.layer_at(m, prefix, l)
        });
        found.unwrap_or_else(|| {
            Err(unsupported(
                "",
                format!(
                    "a {} that is not part of the model's module tree (made in the forward?): its parameters have no names",
                    l.type_name
                ),
            ))
        })
    }

    fn layer_at(&mut self, m: &dyn Module<f32>, prefix: &str, l: &LayerEvent) -> Result<()> {
        let any: &dyn Any = m;
        let input = |i: usize| -> Result<&dyn Any> {
            l.inputs.get(i).map(|b| b.as_ref()).ok_or_else(|| {
                unsupported(prefix, format!("{}: input {i} not recorded", l.type_name))
            })
        };
        if let Some(r) = self.recurrent_event(m, prefix, l)? {
            return Ok(r);
        }
        if let Some(a) = any.downcast_ref::<MultiHeadAttention<f32>>() {
            let q = self.traced(input(0)?)?;
            let k = self.traced(input(1)?)?;
            let v = self.traced(input(2)?)?;
            let masks = AttnMasks {
                attn: mask(prefix, input(3)?)?,
                key_padding: mask(prefix, input(4)?)?,
            };
            let y = self.b.mha(a, prefix, &q, &k, &v, masks)?;
            self.set(l.outputs[0].as_ref(), y.0)?;
            if let Some(w) = l.outputs.get(1) {
                self.unusable.insert(
                    as_var(w.as_ref())?.id(),
                    format!("{prefix}: the attention weights of MultiHeadAttention are not exported (only its output)"),
                );
            }
            return Ok(());
        }
        if let Some(e) = any.downcast_ref::<TransformerEncoderLayer<f32>>() {
            let x = self.traced(input(0)?)?;
            let masks = AttnMasks {
                attn: mask(prefix, input(1)?)?,
                key_padding: mask(prefix, input(2)?)?,
            };
            let y = self.b.encoder_layer(e, prefix, &x, masks)?;
            return self.set(l.outputs[0].as_ref(), y.0);
        }
        if let Some(d) = any.downcast_ref::<TransformerDecoderLayer<f32>>() {
            let x = self.traced(input(0)?)?;
            let mem = self.traced(input(1)?)?;
            let masks = DecoderMasks {
                tgt_mask: mask(prefix, input(2)?)?,
                memory_mask: mask(prefix, input(3)?)?,
                tgt_key_padding_mask: mask(prefix, input(4)?)?,
                memory_key_padding_mask: mask(prefix, input(5)?)?,
            };
            let y = self.b.decoder_layer(d, prefix, &x, &mem, masks)?;
            return self.set(l.outputs[0].as_ref(), y.0);
        }
        let x = self.traced(input(0)?)?;
        let (name, _) = self.b.layer(m, prefix, &x.0, &x.1)?;
        let out = l
            .outputs
            .first()
            .ok_or_else(|| unsupported(prefix, format!("{}: no output recorded", l.type_name)))?;
        self.set(out.as_ref(), name)
    }

    /// An `Lstm`, `Gru` or `Rnn` call: its input, optional initial states,
    /// and its outputs (`output`, `h_n`, and `c_n` for an LSTM).
    fn recurrent_event(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        l: &LayerEvent,
    ) -> Result<Option<()>> {
        let Some((stack, _)) = super::recurrent::as_stack(m) else {
            return Ok(None);
        };
        let [x, state, lengths] = &l.inputs[..] else {
            return Err(unsupported(
                prefix,
                format!("{}: inputs not recorded", l.type_name),
            ));
        };
        let lengths_given = lengths
            .downcast_ref::<Option<Vec<usize>>>()
            .is_none_or(Option::is_some);
        if lengths_given {
            return Err(unsupported(
                prefix,
                format!(
                    "{} with sequence lengths (packed sequences are not exported)",
                    m.type_name()
                ),
            ));
        }
        let x = self.traced(x.as_ref())?;
        let states = if let Some(h) = state.downcast_ref::<Option<Var<f32>>>() {
            match h {
                Some(h) => Some((self.name_of(h)?, None)),
                None => None,
            }
        } else if let Some(hc) = state.downcast_ref::<Option<(Var<f32>, Var<f32>)>>() {
            match hc {
                Some((h, c)) => Some((self.name_of(h)?, Some(self.name_of(c)?))),
                None => None,
            }
        } else {
            return Err(unsupported(
                prefix,
                format!("{}: state not recorded", l.type_name),
            ));
        };
        let states = states.as_ref().map(|(h, c)| (h.as_str(), c.as_deref()));
        let out = self.b.stack(&stack, prefix, &x.0, states)?;
        let names = [Some(out.output), Some(out.h_n), out.c_n];
        for (v, n) in l.outputs.iter().zip(names) {
            let n = n.ok_or_else(|| unsupported(prefix, "an output the layer has not".into()))?;
            self.set(v.as_ref(), n)?;
        }
        Ok(Some(()))
    }
}

/// A mask an attention layer was called with, as recorded.
fn mask<'a>(prefix: &str, recorded: &'a dyn Any) -> Result<Option<&'a Mask>> {
    recorded
        .downcast_ref::<Option<Mask>>()
        .map(Option::as_ref)
        .ok_or_else(|| unsupported(prefix, "an attention mask not recorded".into()))
}

/// `x` with its last two dims swapped when `t`.
fn transposed_last2(b: &mut Builder, x: &Traced, t: bool) -> String {
    if !t {
        return x.0.clone();
    }
    let r = x.1.ndim();
    let mut perm: Vec<usize> = (0..r).collect();
    if r >= 2 {
        perm.swap(r - 1, r - 2);
    }
    b.transpose(&x.0, &perm)
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// Calls `f` on the module of `root`'s tree at `address` of type
/// `type_id`, with its `state_dict` prefix; `None` when there is none.
fn with_module<R>(
    root: &dyn Module<f32>,
    address: usize,
    type_id: TypeId,
    f: &mut dyn FnMut(&dyn Module<f32>, &str) -> R,
) -> Option<R> {
    fn walk<R>(
        m: &dyn Module<f32>,
        prefix: &str,
        target: (usize, TypeId),
        f: &mut dyn FnMut(&dyn Module<f32>, &str) -> R,
        out: &mut Option<R>,
    ) {
        if out.is_some() {
            return;
        }
        let any: &dyn Any = m;
        if let Some(inner) = m.transparent_inner() {
            // A box or a derived enum: the layer is behind it, same names.
            return walk(inner, prefix, target, f, out);
        }
        let address = m as *const dyn Module<f32> as *const () as usize;
        if (address, any.type_id()) == target {
            *out = Some(f(m, prefix));
            return;
        }
        m.visit_children(&mut |name, child| {
            walk(child, &format!("{prefix}{name}."), target, f, out)
        });
    }
    let mut out = None;
    walk(root, "", (address, type_id), f, &mut out);
    out
}
