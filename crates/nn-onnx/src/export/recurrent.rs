//! [`Lstm`], [`Gru`] and [`Rnn`] as ONNX `LSTM`, `GRU` and `RNN` nodes,
//! one per layer of the stack.
//!
//! The parameters are written under their PyTorch names (`weight_ih_l0`,
//! `bias_hh_l1_reverse`) in PyTorch's gate order; the graph reorders the
//! gate blocks into ONNX's (LSTM `i, o, f, c` from `i, f, g, o`, GRU
//! `z, r, h` from `r, z, n`) and stacks the directions, which a runtime
//! folds once. PyTorch's GRU applies the reset gate after the recurrent
//! product: `linear_before_reset = 1`. ONNX's `Y` is `[seq, directions,
//! batch, hidden]`; a transpose and a reshape give the library's
//! `[seq, batch, directions·hidden]`, the next layer's input.

use nn_autograd::Var;
use nn_layers::Module;
use nn_rnn::{DirectionWeights, Gru, Lstm, Nonlinearity, RecurrentConfig, Rnn};
use nn_tensor::Tensor;

use super::{int, string, strings, unsupported, wrong_inputs, Builder, Port, Signature, Traced};
use crate::error::Result;
use crate::value::Value;

/// Which recurrence, with what the ONNX node needs to know about it.
#[derive(Clone, Copy)]
enum Cell {
    Lstm,
    Gru,
    Rnn(Nonlinearity),
}

impl Cell {
    fn op(self) -> &'static str {
        match self {
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
            Cell::Rnn(_) => "RNN",
        }
    }

    /// ONNX's gate block `k` is the library's (PyTorch's) block `order()[k]`.
    fn onnx_order(self) -> &'static [usize] {
        match self {
            // i, o, f, c from i, f, g, o
            Cell::Lstm => &[0, 3, 1, 2],
            // z, r, h from r, z, n
            Cell::Gru => &[1, 0, 2],
            Cell::Rnn(_) => &[0],
        }
    }
}

/// A recurrent stack as the exporter reads it: `weights(k, d)` for layer
/// `k`, direction `d`.
pub(super) struct Stack<'a> {
    cell: Cell,
    config: RecurrentConfig,
    weights: WeightsOf<'a>,
}

/// Runs the concrete layer on the example: `(output, h_n, c_n)`.
pub(super) type Run<'a> =
    Box<dyn Fn(&Var<f32>, Option<&Var<f32>>, Option<&Var<f32>>) -> nn_tensor::Result<Outputs> + 'a>;
pub(super) type Outputs = (Var<f32>, Var<f32>, Option<Var<f32>>);

/// `m` as a recurrent stack, with a way to run it.
pub(super) fn as_stack(m: &dyn Module<f32>) -> Option<(Stack<'_>, Run<'_>)> {
    let any: &dyn std::any::Any = m;
    if let Some(l) = any.downcast_ref::<Lstm<f32>>() {
        let run: Run<'_> = Box::new(move |x, h, c| {
            let state = h.zip(c);
            let (y, (h, c)) = l.try_forward(x, state, None)?;
            Ok((y, h, Some(c)))
        });
        return Some((
            stack(Cell::Lstm, *l.config(), move |k, d| l.weights(k, d)),
            run,
        ));
    }
    if let Some(l) = any.downcast_ref::<Gru<f32>>() {
        let run: Run<'_> = Box::new(move |x, h, _| {
            let (y, h) = l.try_forward(x, h, None)?;
            Ok((y, h, None))
        });
        return Some((
            stack(Cell::Gru, *l.config(), move |k, d| l.weights(k, d)),
            run,
        ));
    }
    if let Some(l) = any.downcast_ref::<Rnn<f32>>() {
        let run: Run<'_> = Box::new(move |x, h, _| {
            let (y, h) = l.try_forward(x, h, None)?;
            Ok((y, h, None))
        });
        let cell = Cell::Rnn(l.nonlinearity());
        return Some((stack(cell, *l.config(), move |k, d| l.weights(k, d)), run));
    }
    None
}

type WeightsOf<'a> = Box<dyn Fn(usize, usize) -> &'a DirectionWeights<f32> + 'a>;

fn stack<'a>(
    cell: Cell,
    config: RecurrentConfig,
    weights: impl Fn(usize, usize) -> &'a DirectionWeights<f32> + 'a,
) -> Stack<'a> {
    Stack {
        cell,
        config,
        weights: Box::new(weights),
    }
}

impl Builder {
    /// [`super::export_layer`] for a recurrent layer; `None` for another
    /// module.
    pub(super) fn recurrent_layer(
        &mut self,
        m: &dyn Module<f32>,
        inputs: &[Tensor<f32>],
    ) -> Result<Option<Signature>> {
        let Some((stack, run)) = as_stack(m) else {
            return Ok(None);
        };
        let config = stack.config;
        let names: &[&str] = match stack.cell {
            Cell::Lstm => &["input", "h0", "c0"],
            _ => &["input", "h0"],
        };
        if inputs.len() != 1 && inputs.len() != names.len() {
            let expected = format!("1 or {} ({})", names.len(), names.join(", "));
            return Err(wrong_inputs(m.type_name(), &expected, inputs.len()));
        }
        let vars: Vec<Var<f32>> = inputs.iter().cloned().map(Var::constant).collect();
        let (y, h_n, c_n) = run(&vars[0], vars.get(1), vars.get(2))
            .map_err(|e| unsupported("", format!("the example inputs: {e}")))?;
        let states = (inputs.len() > 1).then(|| (names[1], names.get(2).copied()));
        let out = self.stack(&stack, "", "input", states)?;
        let seq_dims: &[(usize, &str)] = if config.batch_first {
            &[(0, "batch"), (1, "seq")]
        } else {
            &[(0, "seq"), (1, "batch")]
        };
        let state_dims = [(1, "batch")];
        let mut sig = Signature {
            inputs: vec![Port::new("input", inputs[0].shape(), seq_dims)],
            outputs: vec![
                Port::new(&out.output, y.shape(), seq_dims),
                Port::new(&out.h_n, h_n.shape(), &state_dims),
            ],
        };
        for (name, t) in names.iter().zip(inputs).skip(1) {
            sig.inputs.push(Port::new(name, t.shape(), &state_dims));
        }
        if let (Some(c), Some(v)) = (out.c_n, c_n) {
            sig.outputs.push(Port::new(&c, v.shape(), &state_dims));
        }
        Ok(Some(sig))
    }

    /// A recurrent layer inside a model given to [`super::export`]: one
    /// input, zero initial states, its `output`.
    pub(super) fn recurrent_in_chain(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Option<Traced>> {
        let Some((stack, run)) = as_stack(m) else {
            return Ok(None);
        };
        let (y, _, _) = run(&x.1, None, None)
            .map_err(|e| unsupported(prefix, format!("the example input: {e}")))?;
        let out = self.stack(&stack, prefix, &x.0, None)?;
        Ok(Some((out.output, y)))
    }

    /// The nodes of a whole stack reading `x`, with initial states from the
    /// graph inputs named in `states` (`h0`, and `c0` for an LSTM).
    pub(super) fn stack(
        &mut self,
        s: &Stack<'_>,
        prefix: &str,
        x: &str,
        states: Option<(&str, Option<&str>)>,
    ) -> Result<StackOutputs> {
        let c = &s.config;
        if c.layer_norm {
            // ONNX's recurrent nodes have no normalised pre-activations.
            let what = format!(
                "{} with layer_norm (no ONNX node normalises a recurrence's gates)",
                s.cell.op()
            );
            return Err(unsupported(prefix, what));
        }
        let dirs = 1 + usize::from(c.bidirectional);
        let h = c.hidden_size;
        let mut input = if c.batch_first {
            self.transpose(x, &[1, 0, 2])
        } else {
            x.to_string()
        };
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for k in 0..c.num_layers {
            let mut w = Vec::new();
            let mut r = Vec::new();
            let mut b = Vec::new();
            for d in 0..dirs {
                let dw = (s.weights)(k, d);
                let suffix = format!("_l{k}{}", if d == 1 { "_reverse" } else { "" });
                let order = s.cell.onnx_order();
                let wi = self.weight(&dw.weight_ih.value(), prefix, &format!("weight_ih{suffix}"));
                w.push(self.gates(&wi, order, h, true)?);
                let wh = self.weight(&dw.weight_hh.value(), prefix, &format!("weight_hh{suffix}"));
                r.push(self.gates(&wh, order, h, true)?);
                if let (Some(bi), Some(bh)) = (&dw.bias_ih, &dw.bias_hh) {
                    let bi = self.weight(&bi.value(), prefix, &format!("bias_ih{suffix}"));
                    let bh = self.weight(&bh.value(), prefix, &format!("bias_hh{suffix}"));
                    let bi = self.gates(&bi, order, h, false)?;
                    let bh = self.gates(&bh, order, h, false)?;
                    let both = self.node("Concat", &[&bi, &bh], vec![int("axis", 0)]);
                    b.push(self.unsqueeze0(&both)?);
                }
            }
            let w = self.concat0(&w);
            let r = self.concat0(&r);
            let b = if b.is_empty() {
                String::new()
            } else {
                self.concat0(&b)
            };
            let (h0, c0) = match states {
                Some((h0, c0)) => (
                    self.slice(h0, 0, k * dirs, (k + 1) * dirs)?,
                    match c0 {
                        Some(c0) => self.slice(c0, 0, k * dirs, (k + 1) * dirs)?,
                        None => String::new(),
                    },
                ),
                None => (String::new(), String::new()),
            };
            let mut attrs = vec![
                int("hidden_size", h as i64),
                string(
                    "direction",
                    if dirs == 2 {
                        "bidirectional"
                    } else {
                        "forward"
                    },
                ),
            ];
            match s.cell {
                Cell::Gru => attrs.push(int("linear_before_reset", 1)),
                Cell::Rnn(Nonlinearity::Relu) => {
                    attrs.push(strings("activations", &vec!["Relu"; dirs]))
                }
                _ => {}
            }
            let mut ins: Vec<&str> = vec![&input, &w, &r, &b, "", &h0];
            let n_out = match s.cell {
                Cell::Lstm => {
                    ins.push(&c0);
                    3
                }
                _ => 2,
            };
            // Trailing optional inputs left out are dropped, not named "".
            while ins.last() == Some(&"") {
                ins.pop();
            }
            let outs = self.node_outputs(s.cell.op(), &ins, n_out, attrs);
            // Y [seq, D, N, H] → [seq, N, D·H].
            let y = self.transpose(&outs[0], &[0, 2, 1, 3]);
            input = self.reshape(&y, vec![0, 0, -1])?;
            hs.push(outs[1].clone());
            cs.extend(outs.get(2).cloned());
        }
        let output = if c.batch_first {
            self.transpose(&input, &[1, 0, 2])
        } else {
            input
        };
        let h_n = self.concat0(&hs);
        let c_n = (!cs.is_empty()).then(|| self.concat0(&cs));
        Ok(StackOutputs { output, h_n, c_n })
    }

    /// A parameter as an initialiser named `prefix + name`.
    fn weight(&mut self, t: &Tensor<f32>, prefix: &str, name: &str) -> String {
        self.init(&format!("{prefix}{name}"), Value::Float(t.clone()))
    }

    /// The gate blocks of `x` (`hidden` rows each along dim 0) in ONNX's
    /// order, with a leading direction axis added to a weight (`[1, G·H,
    /// in]`; a bias gets it after its two halves are joined).
    fn gates(&mut self, x: &str, order: &[usize], hidden: usize, weight: bool) -> Result<String> {
        let blocks = if order.iter().enumerate().all(|(i, &o)| i == o) {
            x.to_string()
        } else {
            let parts = order
                .iter()
                .map(|&g| self.slice(x, 0, g * hidden, (g + 1) * hidden))
                .collect::<Result<Vec<_>>>()?;
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            self.node("Concat", &parts, vec![int("axis", 0)])
        };
        if weight {
            self.unsqueeze0(&blocks)
        } else {
            Ok(blocks)
        }
    }

    fn unsqueeze0(&mut self, x: &str) -> Result<String> {
        let axes = self.int_list("axes", vec![0])?;
        Ok(self.node("Unsqueeze", &[x, &axes], vec![]))
    }

    /// Concatenation along dim 0 (the value itself when alone).
    fn concat0(&mut self, xs: &[String]) -> String {
        if let [x] = xs {
            return x.clone();
        }
        let xs: Vec<&str> = xs.iter().map(String::as_str).collect();
        self.node("Concat", &xs, vec![int("axis", 0)])
    }
}

/// The names of a stack's outputs.
pub(super) struct StackOutputs {
    pub(super) output: String,
    pub(super) h_n: String,
    pub(super) c_n: Option<String>,
}
