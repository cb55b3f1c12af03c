//! The operators: one table entry per ONNX operator, saying from which
//! opset version this implementation is right, which attributes it reads,
//! and the function that runs it on the library's tensors.
//!
//! Unknown attributes are refused when the model loads (an attribute the
//! code does not read could change the answer), attribute values outside
//! what a function implements are refused when the node runs; both name the
//! node, the operator and the opset.

use nn_tensor::Tensor;

use crate::error::{fail, OnnxError, OpError, OpResult, Result};
use crate::node::Node;
use crate::value::Value;

mod elementwise;
mod linalg;
mod nn;
mod recurrent;
mod reduce;
mod shape;

/// Runs one node on its input values (in the node's input order).
pub(crate) type OpFn = fn(&Node, &Inputs<'_>) -> OpResult<Vec<Value>>;

/// One supported operator.
pub(crate) struct OpSpec {
    /// The ONNX operator name.
    pub name: &'static str,
    /// The first opset version whose semantics this implementation follows
    /// (older versions of some operators meant something else).
    pub since: i64,
    /// The attributes the implementation reads; any other is refused.
    pub attrs: &'static [&'static str],
    /// The implementation.
    pub run: OpFn,
}

fn tables() -> [&'static [OpSpec]; 6] {
    [
        elementwise::OPS,
        linalg::OPS,
        nn::OPS,
        recurrent::OPS,
        reduce::OPS,
        shape::OPS,
    ]
}

/// The operator `op` of the standard domain, if implemented.
pub(crate) fn find(op: &str) -> Option<&'static OpSpec> {
    tables().into_iter().flatten().find(|s| s.name == op)
}

/// Every implemented operator with the first opset version it is
/// implemented for, sorted by name.
pub fn supported_operators() -> Vec<(&'static str, i64)> {
    let mut v: Vec<_> = tables()
        .into_iter()
        .flatten()
        .map(|s| (s.name, s.since))
        .collect();
    v.sort();
    v
}

/// Checks at load time that `node` can be run: a known operator at a
/// supported opset, and only attributes that implementation reads.
pub(crate) fn check_node(node: &Node) -> Result<()> {
    let unsupported = |what: String| OnnxError::Unsupported {
        node: node.name.clone(),
        op: node.op.clone(),
        opset: node.opset,
        what,
    };
    let spec = find(&node.op).ok_or_else(|| unsupported("the operator".into()))?;
    if node.opset < spec.since {
        return Err(unsupported(format!(
            "opset {} (implemented from opset {})",
            node.opset, spec.since
        )));
    }
    if let Some(a) = node
        .attrs
        .keys()
        .find(|a| !spec.attrs.contains(&a.as_str()))
    {
        return Err(unsupported(format!("attribute {a}")));
    }
    Ok(())
}

/// Runs `node`, turning an op's error into one that names the node.
pub(crate) fn run_node(node: &Node, inputs: &Inputs<'_>) -> Result<Vec<Value>> {
    let spec = find(&node.op).ok_or_else(|| OnnxError::Unsupported {
        node: node.name.clone(),
        op: node.op.clone(),
        opset: node.opset,
        what: "the operator".into(),
    })?;
    (spec.run)(node, inputs).map_err(|e| match e {
        OpError::Failed(message) => OnnxError::Node {
            node: node.name.clone(),
            op: node.op.clone(),
            message,
        },
        OpError::Unsupported(what) => OnnxError::Unsupported {
            node: node.name.clone(),
            op: node.op.clone(),
            opset: node.opset,
            what,
        },
        OpError::Onnx(e) => e,
    })
}

/// The values of a node's inputs; `None` for an omitted optional one.
pub(crate) struct Inputs<'a> {
    pub values: Vec<Option<&'a Value>>,
}

impl<'a> Inputs<'a> {
    /// Input `i`, which the operator requires.
    pub fn get(&self, i: usize) -> OpResult<&'a Value> {
        match self.values.get(i).copied().flatten() {
            Some(v) => Ok(v),
            None => fail(format!("input {i} is required but missing")),
        }
    }

    /// Optional input `i`.
    pub fn opt(&self, i: usize) -> Option<&'a Value> {
        self.values.get(i).copied().flatten()
    }

    /// Input `i` as a float tensor (refusing an integer one).
    pub fn float(&self, i: usize) -> OpResult<&'a Tensor<f32>> {
        match self.get(i)? {
            Value::Float(t) => Ok(t),
            Value::Int(_) => fail(format!(
                "input {i} must be a float tensor, got an integer one"
            )),
        }
    }

    /// Optional input `i` as a float tensor.
    pub fn opt_float(&self, i: usize) -> OpResult<Option<&'a Tensor<f32>>> {
        self.opt(i).map(|_| self.float(i)).transpose()
    }

    /// Optional input `i` as integers (e.g. `axes`, `pads`, a shape).
    pub fn opt_ints(&self, i: usize) -> Option<Vec<i64>> {
        self.opt(i).map(Value::to_i64s)
    }

    /// Number of input slots (present or not).
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

/// A dim index given as ONNX does (negative counts from the end), checked
/// against `rank`.
pub(crate) fn axis(a: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    if a < -r || a >= r.max(1) {
        return fail(format!("axis {a} is out of range for rank {rank}"));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

/// Applies `f` to the tensor inside a value whatever its kind, keeping the
/// kind: the shape ops that move elements without looking at them.
macro_rules! each_kind {
    ($value:expr, $t:ident => $body:expr) => {
        match $value {
            $crate::value::Value::Float($t) => $crate::value::Value::Float($body),
            $crate::value::Value::Int($t) => $crate::value::Value::Int($body),
        }
    };
}
pub(crate) use each_kind;
