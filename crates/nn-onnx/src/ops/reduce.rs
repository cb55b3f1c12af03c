//! Reductions over axes (`ReduceSum`, `ReduceMean`, `ReduceMax`,
//! `ReduceMin`) and the normalising `Softmax` / `LogSoftmax`.

use nn_autograd::Var;
use nn_tensor::{Element, Tensor};

use super::{axis, Inputs, OpSpec};
use crate::error::{fail, OpResult};
use crate::node::Node;
use crate::value::Value;

const REDUCE_ATTRS: &[&str] = &["axes", "keepdims", "noop_with_empty_axes"];

#[derive(Clone, Copy)]
enum Reduce {
    Sum,
    Mean,
    Max,
    Min,
}

pub(crate) const OPS: &[OpSpec] = &[
    // `axes` moved from an attribute to an input in opset 13 for ReduceSum
    // and in opset 18 for the others.
    OpSpec {
        name: "ReduceSum",
        since: 1,
        attrs: REDUCE_ATTRS,
        run: |n, i| reduce(n, i, Reduce::Sum, 13),
    },
    OpSpec {
        name: "ReduceMean",
        since: 1,
        attrs: REDUCE_ATTRS,
        run: |n, i| reduce(n, i, Reduce::Mean, 18),
    },
    OpSpec {
        name: "ReduceMax",
        since: 1,
        attrs: REDUCE_ATTRS,
        run: |n, i| reduce(n, i, Reduce::Max, 18),
    },
    OpSpec {
        name: "ReduceMin",
        since: 1,
        attrs: REDUCE_ATTRS,
        run: |n, i| reduce(n, i, Reduce::Min, 18),
    },
    OpSpec {
        name: "Softmax",
        since: 1,
        attrs: &["axis"],
        run: |n, i| softmax(n, i, false),
    },
    OpSpec {
        name: "LogSoftmax",
        since: 1,
        attrs: &["axis"],
        run: |n, i| softmax(n, i, true),
    },
];

fn reduce_tensor<T: Element>(t: &Tensor<T>, how: Reduce, dims: &[usize], keep: bool) -> Tensor<T> {
    match how {
        Reduce::Sum => t.sum_dims(dims, keep),
        Reduce::Mean => t.mean_dims(dims, keep),
        Reduce::Max => t.max_dims(dims, keep),
        Reduce::Min => t.min_dims(dims, keep),
    }
}

fn reduce(
    node: &Node,
    inputs: &Inputs<'_>,
    how: Reduce,
    axes_input_since: i64,
) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let rank = x.shape().len();
    let axes = if node.opset < axes_input_since {
        node.ints("axes")?
    } else {
        inputs.opt_ints(1)
    };
    let keep = node.int("keepdims", 1)? != 0;
    let dims: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&a| axis(a, rank)).collect::<OpResult<_>>()?,
        _ if node.int("noop_with_empty_axes", 0)? != 0 => return Ok(vec![x.clone()]),
        _ => (0..rank).collect(),
    };
    if x.shape()
        .iter()
        .enumerate()
        .any(|(d, &n)| n == 0 && dims.contains(&d))
        && !matches!(how, Reduce::Sum)
    {
        return fail(format!("reducing an empty dim of shape {:?}", x.shape()));
    }
    Ok(vec![match x {
        Value::Float(t) => Value::Float(reduce_tensor(t, how, &dims, keep)),
        Value::Int(_) if matches!(how, Reduce::Mean) => return fail("the mean of integers"),
        Value::Int(t) => Value::Int(reduce_tensor(t, how, &dims, keep)),
    }])
}

/// Before opset 13 the input is seen as a matrix `[∏ dims before axis, ∏
/// dims from axis]` and normalised along its rows (axis defaults to 1);
/// from opset 13 along the single `axis` (default −1).
fn softmax(node: &Node, inputs: &Inputs<'_>, log: bool) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    let rank = x.ndim();
    let f = |v: &Var<f32>, d: usize| if log { v.log_softmax(d) } else { v.softmax(d) };
    let y = if node.opset < 13 {
        let a = node.int("axis", 1)?;
        let a = if a == rank as i64 {
            rank
        } else {
            axis(a, rank)?
        };
        let s = x.shape();
        let rows: usize = s[..a].iter().product();
        let cols: usize = s[a..].iter().product();
        let m = Var::constant(x.try_reshape([rows, cols])?);
        f(&m, 1).value().try_reshape(s)?
    } else {
        let a = axis(node.int("axis", -1)?, rank)?;
        f(&Var::constant(x.clone()), a).value().clone()
    };
    Ok(vec![Value::Float(y)])
}
