//! `LSTM`, `GRU` and `RNN` on `nn-rnn`'s fused recurrence: every direction
//! and initial state, variable sequence lengths, both layouts.
//!
//! ONNX stacks the gates in another order than PyTorch (LSTM `i, o, f, c`
//! against `i, f, g, o`; GRU `z, r, h` against `r, z, n`): the weights'
//! gate blocks are reordered once, then the library's recurrence runs.
//! Two cells PyTorch does not have, and so neither does the library's
//! fused recurrence, run step by step here: the GRU with
//! `linear_before_reset = 0` (ONNX's default) and the LSTM with peepholes.

use nn_autograd::Var;
use nn_rnn::{recurrence, CellKind};
use nn_tensor::Tensor;

use super::{Inputs, OpSpec};
use crate::error::{fail, unsupported, OpResult};
use crate::node::Node;
use crate::value::Value;

const ATTRS: &[&str] = &[
    "activation_alpha",
    "activation_beta",
    "activations",
    "clip",
    "direction",
    "hidden_size",
    "input_forget",
    "layout",
    "linear_before_reset",
];

pub(crate) const OPS: &[OpSpec] = &[
    OpSpec {
        name: "LSTM",
        since: 7,
        attrs: ATTRS,
        run: |n, i| run(n, i, Family::Lstm),
    },
    OpSpec {
        name: "GRU",
        since: 7,
        attrs: ATTRS,
        run: |n, i| run(n, i, Family::Gru),
    },
    OpSpec {
        name: "RNN",
        since: 7,
        attrs: ATTRS,
        run: |n, i| run(n, i, Family::Rnn),
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Lstm,
    Gru,
    Rnn,
}

impl Family {
    /// ONNX's gate block `k` feeds the library's block `order()[k]`'s place:
    /// the library's block `j` is ONNX's block `order()[j]`.
    fn order(self) -> &'static [usize] {
        match self {
            Family::Lstm => &[0, 2, 3, 1],
            Family::Gru => &[1, 0, 2],
            Family::Rnn => &[0],
        }
    }

    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Family::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            Family::Gru => &["Sigmoid", "Tanh"],
            Family::Rnn => &["Tanh"],
        }
    }
}

/// Reorders the gate blocks (of `hidden` rows each) along dim 0.
fn reorder(t: &Tensor<f32>, order: &[usize], hidden: usize) -> OpResult<Tensor<f32>> {
    let idx: Vec<usize> = order
        .iter()
        .flat_map(|&g| g * hidden..(g + 1) * hidden)
        .collect();
    Ok(t.try_index_select(0, &idx)?)
}

/// Row of step `t`, batch element `b` within a time-major `[T·N]`
/// flattening, reversed within each sequence's length (padding stays put).
fn reversal(steps: usize, lengths: &[usize]) -> Vec<usize> {
    let n = lengths.len();
    (0..steps)
        .flat_map(|t| {
            lengths
                .iter()
                .enumerate()
                .map(move |(b, &len)| (if t < len { len - 1 - t } else { t }) * n + b)
        })
        .collect()
}

fn run(node: &Node, inputs: &Inputs<'_>, family: Family) -> OpResult<Vec<Value>> {
    if node.has("clip") {
        return unsupported("clip");
    }
    if node.has("activation_alpha") || node.has("activation_beta") {
        return unsupported("activation_alpha / activation_beta");
    }
    if node.int("input_forget", 0)? != 0 {
        return unsupported("input_forget = 1");
    }
    let direction = node.string("direction", "forward")?;
    let dirs = match direction.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        other => return fail(format!("direction = {other:?}")),
    };
    let mut kind = match family {
        Family::Lstm => CellKind::Lstm,
        Family::Gru => CellKind::Gru,
        Family::Rnn => CellKind::RnnTanh,
    };
    if let Some(acts) = node.strings("activations")? {
        let defaults = family.default_activations();
        let relu_rnn = family == Family::Rnn && acts.iter().all(|a| a.eq_ignore_ascii_case("Relu"));
        let per_dir = acts.chunks(defaults.len());
        let default = per_dir.len() == dirs
            && acts.len() == defaults.len() * dirs
            && acts.chunks(defaults.len()).all(|c| {
                c.iter()
                    .zip(defaults)
                    .all(|(a, d)| a.eq_ignore_ascii_case(d))
            });
        if relu_rnn && acts.len() == dirs {
            kind = CellKind::RnnRelu;
        } else if !default {
            return unsupported(format!("activations = {acts:?}"));
        }
    }
    // Two cells the library's recurrence (PyTorch's) does not have run
    // step by step here: the GRU with the reset gate applied before R·h
    // (ONNX's default) and the LSTM with peepholes.
    let gru_reset_first = family == Family::Gru && node.int("linear_before_reset", 0)? == 0;
    let peepholes = if family == Family::Lstm {
        inputs.opt_float(7)?
    } else {
        None
    };
    let layout = node.int("layout", 0)?;
    let mut x = inputs.float(0)?.clone();
    if x.ndim() != 3 {
        return fail(format!("X of shape {:?} must be 3-d", x.shape()));
    }
    if layout == 1 {
        x = x.try_permute(&[1, 0, 2])?;
    }
    let (steps, n, feat) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (w, r) = (inputs.float(1)?, inputs.float(2)?);
    let g = family.order().len();
    let hidden = match node.int("hidden_size", 0)? {
        h if h > 0 => h as usize,
        _ => r.shape().get(2).copied().unwrap_or(0),
    };
    if w.shape() != [dirs, g * hidden, feat] || r.shape() != [dirs, g * hidden, hidden] {
        return fail(format!(
            "W {:?} and R {:?} do not fit {dirs} direction(s), {g} gates of {hidden} and {feat} input features",
            w.shape(),
            r.shape()
        ));
    }
    let b = inputs.opt_float(3)?;
    if let Some(b) = b
        && b.shape() != [dirs, 2 * g * hidden]
    {
        return fail(format!(
            "B of shape {:?}, expected [{dirs}, {}]",
            b.shape(),
            2 * g * hidden
        ));
    }
    let lengths: Option<Vec<usize>> = match inputs.opt(4) {
        None => None,
        Some(v) => {
            let l = v.to_i64s();
            if l.len() != n || l.iter().any(|&v| v < 1 || v as usize > steps) {
                return fail(format!(
                    "sequence_lens {l:?} must hold {n} values in 1..={steps}"
                ));
            }
            Some(l.into_iter().map(|v| v as usize).collect())
        }
    };
    let state = |i: usize| -> OpResult<Option<Tensor<f32>>> {
        let Some(s) = inputs.opt_float(i)? else {
            return Ok(None);
        };
        let s = if layout == 1 {
            s.try_permute(&[1, 0, 2])?
        } else {
            s.clone()
        };
        if s.shape() != [dirs, n, hidden] {
            return fail(format!(
                "initial state {i} of shape {:?}, expected [{dirs}, {n}, {hidden}]",
                s.shape()
            ));
        }
        Ok(Some(s))
    };
    let (h0, c0) = (
        state(5)?,
        if family == Family::Lstm {
            state(6)?
        } else {
            None
        },
    );
    let all = vec![steps; n];
    let lens = lengths.as_deref().unwrap_or(&all);
    let rev_idx = reversal(steps, lens);
    let order = family.order();
    let mut ys = Vec::with_capacity(dirs);
    let (mut hs, mut cs) = (Vec::with_capacity(dirs), Vec::with_capacity(dirs));
    for d in 0..dirs {
        let reverse = direction == "reverse" || d == 1;
        let pick = |t: &Tensor<f32>| -> OpResult<Tensor<f32>> {
            let s = t.shape()[1..].to_vec();
            Ok(t.try_narrow(0, d, 1)?.try_reshape(&s)?)
        };
        let wd = reorder(&pick(w)?, order, hidden)?;
        let rd = reorder(&pick(r)?, order, hidden)?;
        let (mut wb, mut rb) = match b {
            Some(b) => {
                let bd = pick(b)?;
                let halves = bd.try_split(0, &[g * hidden, g * hidden])?;
                (
                    Some(reorder(&halves[0], order, hidden)?),
                    Some(reorder(&halves[1], order, hidden)?),
                )
            }
            None => (None, None),
        };
        if family != Family::Gru {
            // Both biases enter every step alike: added once to each other,
            // as nn-rnn's layers do, so a model they export runs here bit
            // for bit. (The GRU's reset gate scales Rb alone.)
            if let (Some(w), Some(r)) = (wb.take(), rb.as_ref()) {
                rb = Some(r.try_add(&w)?);
            }
        }
        let mut xproj = x
            .try_reshape([steps * n, feat])?
            .try_matmul_t(&wd, false, true)?;
        if let Some(wb) = &wb {
            xproj = xproj.try_add(wb)?;
        }
        if reverse {
            xproj = xproj.try_index_select(0, &rev_idx)?;
        }
        let xproj = xproj.try_reshape([steps, n, g * hidden])?;
        let init = |s: &Option<Tensor<f32>>| -> OpResult<Var<f32>> {
            Ok(Var::constant(match s {
                Some(s) => pick(s)?,
                None => Tensor::zeros(&[n, hidden]),
            }))
        };
        let h = init(&h0)?;
        let c = (family == Family::Lstm).then(|| init(&c0)).transpose()?;
        let (mut y, h_n, c_n) = if gru_reset_first || peepholes.is_some() {
            let cell = match peepholes {
                Some(p) => {
                    if p.shape() != [dirs, 3 * hidden] {
                        return fail(format!(
                            "P of shape {:?}, expected [{dirs}, {}]",
                            p.shape(),
                            3 * hidden
                        ));
                    }
                    StepCell::LstmPeepholes(pick(p)?)
                }
                None => StepCell::GruResetFirst,
            };
            let state = Steps {
                h: h.value(),
                c: c.map(|c| c.value()),
            };
            step_by_step(cell, &xproj, state, &rd, rb.as_ref(), lens)?
        } else {
            let out = recurrence(
                kind,
                &Var::constant(xproj),
                &h,
                c.as_ref(),
                &Var::constant(rd),
                rb.map(Var::constant).as_ref(),
                lengths.as_deref(),
            )?;
            (
                out.output.value(),
                out.h_n.value(),
                out.c_n.map(|c| c.value()),
            )
        };
        if reverse {
            y = y
                .try_reshape([steps * n, hidden])?
                .try_index_select(0, &rev_idx)?
                .try_reshape([steps, n, hidden])?;
        }
        ys.push(y);
        hs.push(h_n);
        cs.extend(c_n);
    }
    let stack = |v: &[Tensor<f32>], dim: usize| -> OpResult<Tensor<f32>> {
        Ok(Tensor::try_stack(&v.iter().collect::<Vec<_>>(), dim)?)
    };
    // Y: [seq, dirs, batch, H]; Y_h, Y_c: [dirs, batch, H] (layout 0).
    let (mut y, mut yh) = (stack(&ys, 1)?, stack(&hs, 0)?);
    let mut yc = if cs.is_empty() {
        None
    } else {
        Some(stack(&cs, 0)?)
    };
    if layout == 1 {
        y = y.try_permute(&[2, 0, 1, 3])?;
        yh = yh.try_permute(&[1, 0, 2])?;
        yc = yc.map(|c| c.try_permute(&[1, 0, 2])).transpose()?;
    }
    let mut outs = vec![Value::Float(y), Value::Float(yh)];
    outs.extend(yc.map(Value::Float));
    Ok(outs)
}

/// One direction's `(y [T, N, H], h_n [N, H], c_n)`.
type DirectionOutputs = (Tensor<f32>, Tensor<f32>, Option<Tensor<f32>>);

/// A cell run step by step ([`step_by_step`]).
enum StepCell {
    /// ONNX's GRU with `linear_before_reset = 0`: `n = tanh(x_n + (r ⊙
    /// h)·R_nᵀ + Rb_n)`, the reset gate applied before the product.
    GruResetFirst,
    /// ONNX's LSTM with peepholes `P = [p_i, p_o, p_f]` (`[3H]`): `i =
    /// σ(… + p_i ⊙ c)`, `f = σ(… + p_f ⊙ c)`, `o = σ(… + p_o ⊙ c_t)`.
    LstmPeepholes(Tensor<f32>),
}

/// A recurrence's state: `h [N, H]`, and `c` for an LSTM.
struct Steps {
    h: Tensor<f32>,
    c: Option<Tensor<f32>>,
}

/// Runs `cell` over `xproj [T, N, G·H]` (the input projections with the
/// input bias, gates in the library's order: LSTM `i, f, g, o`, GRU `r, z,
/// n`) from `state`, with the recurrent weights `r [G·H, H]` and bias `rb`
/// (for the LSTM, both biases summed). A sequence shorter than `T` keeps
/// its state after its end and outputs zeros there, as ONNX specifies.
/// Returns `(y [T, N, H], h_n, c_n)`.
fn step_by_step(
    cell: StepCell,
    xproj: &Tensor<f32>,
    state: Steps,
    r: &Tensor<f32>,
    rb: Option<&Tensor<f32>>,
    lens: &[usize],
) -> OpResult<DirectionOutputs> {
    let (steps, n, gh) = (xproj.shape()[0], xproj.shape()[1], xproj.shape()[2]);
    let hidden = state.h.shape()[1];
    let sigmoid = nn_tensor::sigmoid_scalar::<f32>;
    let x = xproj.as_slice();
    let mut h = state.h.to_vec();
    let mut c = state.c.map(|c| c.to_vec()).unwrap_or_default();
    let mut y = vec![0f32; steps * n * hidden];
    let bias = |j: usize| rb.map_or(0.0, |b| b.as_slice()[j]);
    for t in 0..steps {
        let ht = Tensor::from_vec(h.clone(), &[n, hidden]);
        // h·Rᵀ for every gate (the GRU's n gate is recomputed below).
        let hr = ht.try_matmul_t(r, false, true)?;
        let hr = hr.as_slice();
        let mut next_h = h.clone();
        let mut next_c = c.clone();
        match &cell {
            StepCell::GruResetFirst => {
                let mut rh = vec![0f32; n * hidden];
                let mut z = vec![0f32; n * hidden];
                for b in 0..n {
                    for j in 0..hidden {
                        let at = |g: usize| {
                            let k = g * hidden + j;
                            x[(t * n + b) * gh + k] + hr[b * gh + k] + bias(k)
                        };
                        rh[b * hidden + j] = sigmoid(at(0)) * h[b * hidden + j];
                        z[b * hidden + j] = sigmoid(at(1));
                    }
                }
                let rn = r.try_narrow(0, 2 * hidden, hidden)?;
                let rhr = Tensor::from_vec(rh, &[n, hidden]).try_matmul_t(&rn, false, true)?;
                let rhr = rhr.as_slice();
                for b in 0..n {
                    for j in 0..hidden {
                        let k = 2 * hidden + j;
                        let cand = (x[(t * n + b) * gh + k] + rhr[b * hidden + j] + bias(k)).tanh();
                        let (zi, hi) = (z[b * hidden + j], h[b * hidden + j]);
                        next_h[b * hidden + j] = (1.0 - zi) * cand + zi * hi;
                    }
                }
            }
            StepCell::LstmPeepholes(p) => {
                let p = p.as_slice();
                let (pi, po, pf) = (&p[..hidden], &p[hidden..2 * hidden], &p[2 * hidden..]);
                for b in 0..n {
                    for j in 0..hidden {
                        let at = |g: usize| {
                            let k = g * hidden + j;
                            x[(t * n + b) * gh + k] + hr[b * gh + k] + bias(k)
                        };
                        let cp = c[b * hidden + j];
                        let i = sigmoid(at(0) + pi[j] * cp);
                        let f = sigmoid(at(1) + pf[j] * cp);
                        let cn = f * cp + i * at(2).tanh();
                        let o = sigmoid(at(3) + po[j] * cn);
                        next_c[b * hidden + j] = cn;
                        next_h[b * hidden + j] = o * cn.tanh();
                    }
                }
            }
        }
        for (b, &len) in lens.iter().enumerate() {
            if t < len {
                let row = b * hidden..(b + 1) * hidden;
                h[row.clone()].copy_from_slice(&next_h[row.clone()]);
                if !c.is_empty() {
                    c[row.clone()].copy_from_slice(&next_c[row.clone()]);
                }
                y[(t * n + b) * hidden..(t * n + b + 1) * hidden].copy_from_slice(&h[row]);
            }
        }
    }
    let c_n = (!c.is_empty()).then(|| Tensor::from_vec(c, &[n, hidden]));
    Ok((
        Tensor::from_vec(y, &[steps, n, hidden]),
        Tensor::from_vec(h, &[n, hidden]),
        c_n,
    ))
}
