//! The single layers: each recognised by its concrete type and written as
//! the ONNX nodes that compute what its forward computes.

use std::any::Any;

use nn_autograd::Var;
use nn_conv::layers::{
    AdaptiveAvgPool2d, AvgPool, BasicBlock, BatchNorm2d, Bottleneck, Conv, ConvTranspose, MaxPool,
    Projection, ResNet, ResidualBlock,
};
use nn_conv::{AvgPoolOptions, MaxPoolOptions};
use nn_layers::activation::GeluApproximation;
use nn_layers::{
    BatchNorm1d, Dropout, Elu, Embedding, Flatten, Forward, Gelu, LayerNorm, LeakyRelu, Linear,
    LogSoftmax, Module, Prelu, Relu, Sequential, Sigmoid, Softmax, Softplus, Tanh,
};
use nn_tensor::Tensor;

use super::{float, int, ints, unsupported, Builder, Traced};
use crate::error::Result;
use crate::proto::data_type;
use crate::value::Value;

/// `m` as a layer this module emits, with its forward (for the value on
/// the example input).
fn leaf_forward(m: &dyn Module<f32>) -> Option<&dyn Forward<f32>> {
    let any: &dyn Any = m;
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(l) = any.downcast_ref::<$t>() {
                return Some(l);
            })*
        };
    }
    first_of!(
        Dropout,
        Linear<f32>,
        Conv<f32, 2>,
        Conv<f32, 1>,
        ConvTranspose<f32, 2>,
        ConvTranspose<f32, 1>,
        MaxPool<2>,
        MaxPool<1>,
        AvgPool<2>,
        AvgPool<1>,
        AdaptiveAvgPool2d,
        BatchNorm1d<f32>,
        BatchNorm2d<f32>,
        LayerNorm<f32>,
        Flatten,
        Embedding<f32>,
        Relu,
        Sigmoid,
        Tanh,
        LeakyRelu,
        Elu,
        Gelu,
        Softplus,
        Softmax,
        LogSoftmax,
        Prelu<f32>,
    );
    None
}

impl Builder {
    /// Emits the module `m` (at `state_dict` prefix `prefix`) reading value
    /// `x_name` (whose value is `x`); returns the output's name and value.
    pub(super) fn layer(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x_name: &str,
        x: &Var<f32>,
    ) -> Result<Traced> {
        let any: &dyn Any = m;
        let traced = (x_name.to_string(), x.clone());
        if let Some(seq) = any.downcast_ref::<Sequential<f32>>() {
            let mut t = traced;
            for (i, child) in seq.iter().enumerate() {
                t = self.child(child.as_module(), prefix, &i.to_string(), &t)?;
            }
            return Ok(t);
        }
        if let Some(boxed) = any.downcast_ref::<Box<dyn Forward<f32>>>() {
            return self.layer(boxed.as_module(), prefix, x_name, x);
        }
        if let Some(b) = any.downcast_ref::<BasicBlock<f32>>() {
            return self.basic_block(b, prefix, &traced);
        }
        if let Some(b) = any.downcast_ref::<Bottleneck<f32>>() {
            return self.bottleneck(b, prefix, &traced);
        }
        if let Some(b) = any.downcast_ref::<ResidualBlock<f32>>() {
            return match b {
                ResidualBlock::Basic(b) => self.basic_block(b, prefix, &traced),
                ResidualBlock::Bottleneck(b) => self.bottleneck(b, prefix, &traced),
            };
        }
        if let Some(p) = any.downcast_ref::<Projection<f32>>() {
            return self.projection(p, prefix, &traced);
        }
        if let Some(r) = any.downcast_ref::<ResNet<f32>>() {
            return self.resnet(r, prefix, &traced);
        }
        if let Some(t) = self.recurrent_in_chain(m, prefix, &traced)? {
            return Ok(t);
        }
        if let Some(t) = self.attention_in_chain(m, prefix, &traced)? {
            return Ok(t);
        }
        let Some(layer) = leaf_forward(m) else {
            // A user's module: only its forward knows what it computes, so
            // the caller traces it (see `traced`).
            self.needs_trace = true;
            return Err(unsupported(prefix, format!("layer {}", m.type_name())));
        };
        let y = layer
            .try_forward(x)
            .map_err(|e| unsupported(prefix, format!("the example input: {e}")))?;
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
                let flat = self.int_list("shape", vec![-1, in_f])?;
                let x2 = self.node("Reshape", &[x_name, &flat], vec![]);
                let mut inputs = vec![x2.as_str(), w.as_str()];
                inputs.extend(b.as_deref());
                let y2 = self.node("Gemm", &inputs, vec![int("transB", 1)]);
                let shape = self.node("Shape", &[x_name], vec![]);
                let zero = self.int_list("starts", vec![0])?;
                let end = self.int_list("ends", vec![n as i64 - 1])?;
                let lead = self.node("Slice", &[&shape, &zero, &end], vec![]);
                let out_f = self.int_list("out", vec![y.shape()[n - 1] as i64])?;
                let full = self.node("Concat", &[&lead, &out_f], vec![int("axis", 0)]);
                self.node("Reshape", &[&y2, &full], vec![])
            }
        } else if let Some(c) = any.downcast_ref::<Conv<f32, 2>>() {
            self.conv(c, prefix, x_name)?
        } else if let Some(c) = any.downcast_ref::<Conv<f32, 1>>() {
            self.conv(c, prefix, x_name)?
        } else if let Some(c) = any.downcast_ref::<ConvTranspose<f32, 2>>() {
            self.conv_t(c, prefix, x_name)?
        } else if let Some(c) = any.downcast_ref::<ConvTranspose<f32, 1>>() {
            self.conv_t(c, prefix, x_name)?
        } else if let Some(p) = any.downcast_ref::<MaxPool<2>>() {
            self.max_pool(x_name, &p.options)
        } else if let Some(p) = any.downcast_ref::<MaxPool<1>>() {
            self.max_pool(x_name, &p.options)
        } else if let Some(p) = any.downcast_ref::<AvgPool<2>>() {
            self.avg_pool(x_name, &p.options)
        } else if let Some(p) = any.downcast_ref::<AvgPool<1>>() {
            self.avg_pool(x_name, &p.options)
        } else if let Some(p) = any.downcast_ref::<AdaptiveAvgPool2d>() {
            let s = x.shape();
            let [oh, ow] = p.output_size;
            if [oh, ow] == [1, 1] {
                self.node("GlobalAveragePool", &[x_name], vec![])
            } else if s.len() == 4 && s[2].is_multiple_of(oh) && s[3].is_multiple_of(ow) {
                let k = [s[2] / oh, s[3] / ow];
                let o = AvgPoolOptions {
                    kernel_size: k,
                    stride: k,
                    padding: [0, 0],
                    ceil_mode: false,
                    count_include_pad: true,
                };
                self.avg_pool(x_name, &o)
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
                let shape = self.int_list("shape", shape)?;
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
            self.softplus(x_name, s.beta)
        } else if let Some(s) = any.downcast_ref::<Softmax>() {
            self.node("Softmax", &[x_name], vec![int("axis", s.dim as i64)])
        } else if let Some(s) = any.downcast_ref::<LogSoftmax>() {
            self.node("LogSoftmax", &[x_name], vec![int("axis", s.dim as i64)])
        } else if let Some(p) = any.downcast_ref::<Prelu<f32>>() {
            let w = self.required(m, prefix, "weight")?;
            // The slopes run along dim 1: [C, 1, ..] broadcasts there.
            let mut shape = vec![p.weight.shape()[0] as i64];
            shape.extend(std::iter::repeat_n(1, x.ndim().saturating_sub(2)));
            let shape = self.int_list("shape", shape)?;
            let slope = self.node("Reshape", &[&w, &shape], vec![]);
            self.node("PRelu", &[x_name, &slope], vec![])
        } else {
            // leaf_forward lists exactly the layers above.
            return Err(unsupported(prefix, format!("layer {}", m.type_name())));
        };
        Ok((out, y))
    }

    /// The weight, and the bias when `bias`, of a convolution at `prefix`.
    fn weight_and_bias(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        bias: bool,
    ) -> Result<Vec<String>> {
        let mut v = vec![self.required(m, prefix, "weight")?];
        if bias {
            v.push(self.required(m, prefix, "bias")?);
        }
        Ok(v)
    }

    /// A 1-d or 2-d convolution as a `Conv` node.
    fn conv<const D: usize>(&mut self, c: &Conv<f32, D>, prefix: &str, x: &str) -> Result<String> {
        let k: [usize; D] = std::array::from_fn(|i| c.weight.shape()[2 + i]);
        let o = &c.options;
        let pads = o
            .padding
            .resolve(k, o.stride, o.dilation)
            .map_err(|e| unsupported(prefix, e.to_string()))?;
        let mut inputs = vec![x.to_string()];
        inputs.extend(self.weight_and_bias(c, prefix, c.bias.is_some())?);
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let p = pads.iter().map(|p| p.0).chain(pads.iter().map(|p| p.1));
        Ok(self.node(
            "Conv",
            &inputs,
            vec![
                ints("kernel_shape", k),
                ints("strides", o.stride),
                ints("dilations", o.dilation),
                ints("pads", p),
                int("group", o.groups as i64),
            ],
        ))
    }

    /// A 1-d or 2-d transposed convolution as a `ConvTranspose` node.
    fn conv_t<const D: usize>(
        &mut self,
        c: &ConvTranspose<f32, D>,
        prefix: &str,
        x: &str,
    ) -> Result<String> {
        let o = &c.options;
        let mut inputs = vec![x.to_string()];
        inputs.extend(self.weight_and_bias(c, prefix, c.bias.is_some())?);
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.node(
            "ConvTranspose",
            &inputs,
            vec![
                ints("strides", o.stride),
                ints("dilations", o.dilation),
                ints("pads", o.padding.iter().chain(&o.padding).copied()),
                ints("output_padding", o.output_padding),
                int("group", o.groups as i64),
            ],
        ))
    }

    fn max_pool<const D: usize>(&mut self, x: &str, o: &MaxPoolOptions<D>) -> String {
        self.node(
            "MaxPool",
            &[x],
            vec![
                ints("kernel_shape", o.kernel_size),
                ints("strides", o.stride),
                ints("pads", o.padding.iter().chain(&o.padding).copied()),
                ints("dilations", o.dilation),
                int("ceil_mode", o.ceil_mode as i64),
            ],
        )
    }

    fn avg_pool<const D: usize>(&mut self, x: &str, o: &AvgPoolOptions<D>) -> String {
        self.node(
            "AveragePool",
            &[x],
            vec![
                ints("kernel_shape", o.kernel_size),
                ints("strides", o.stride),
                ints("pads", o.padding.iter().chain(&o.padding).copied()),
                int("ceil_mode", o.ceil_mode as i64),
                int("count_include_pad", o.count_include_pad as i64),
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

    /// `log(1 + exp(beta·x))/beta` (ONNX's `Softplus` has no beta).
    pub(super) fn softplus(&mut self, x: &str, beta: f64) -> String {
        if beta == 1.0 {
            return self.node("Softplus", &[x], vec![]);
        }
        let beta = self.scalar(beta as f32);
        let bx = self.node("Mul", &[x, &beta], vec![]);
        let sp = self.node("Softplus", &[&bx], vec![]);
        self.node("Div", &[&sp, &beta], vec![])
    }

    /// GELU from opset-17 operators (the `Gelu` operator came in opset
    /// 20), in the library's order of operations so that the file computes
    /// the same bits.
    pub(super) fn gelu(&mut self, x: &str, approximate: GeluApproximation) -> String {
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
