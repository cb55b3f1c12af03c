//! Matrix products: `Gemm` (a fully connected layer) and numpy-style
//! `MatMul`, on the library's GEMM.

use super::{Inputs, OpSpec};
use crate::error::{fail, OpResult};
use crate::node::Node;
use crate::value::Value;

pub(crate) const OPS: &[OpSpec] = &[
    OpSpec {
        name: "Gemm",
        since: 6,
        attrs: &["alpha", "beta", "transA", "transB", "broadcast"],
        run: gemm,
    },
    OpSpec {
        name: "MatMul",
        since: 1,
        attrs: &[],
        run: matmul,
    },
];

/// `alpha·op(A)·op(B) + beta·C`, `C` broadcasting to `[M, N]`.
fn gemm(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let (a, b) = (inputs.float(0)?, inputs.float(1)?);
    if a.ndim() != 2 || b.ndim() != 2 {
        return fail(format!(
            "A {:?} and B {:?} must be matrices",
            a.shape(),
            b.shape()
        ));
    }
    let ta = node.int("transA", 0)? != 0;
    let tb = node.int("transB", 0)? != 0;
    let (alpha, beta) = (node.float("alpha", 1.0)?, node.float("beta", 1.0)?);
    let mut y = a.try_matmul_t(b, ta, tb)?;
    if alpha != 1.0 {
        y = y.mul_scalar(alpha);
    }
    if let Some(c) = inputs.opt_float(2)? {
        let c = if beta != 1.0 {
            c.mul_scalar(beta)
        } else {
            c.clone()
        };
        let out = y.try_add(&c)?;
        if out.shape() != y.shape() {
            return fail(format!(
                "C of shape {:?} does not broadcast to {:?}",
                c.shape(),
                y.shape()
            ));
        }
        y = out;
    }
    Ok(vec![Value::Float(y)])
}

/// numpy's `matmul`: a 1-d operand is a row (left) or a column (right)
/// vector whose added dim is removed again; batch dims broadcast.
fn matmul(_: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let (a, b) = (inputs.float(0)?, inputs.float(1)?);
    let (va, vb) = (a.ndim() == 1, b.ndim() == 1);
    if a.ndim() == 0 || b.ndim() == 0 {
        return fail("MatMul of a scalar");
    }
    let a2 = if va {
        a.try_reshape([1, a.numel()])?
    } else {
        a.clone()
    };
    let b2 = if vb {
        b.try_reshape([b.numel(), 1])?
    } else {
        b.clone()
    };
    let y = a2.try_matmul(&b2)?;
    let mut shape = y.shape().to_vec();
    if vb {
        shape.pop();
    }
    if va {
        shape.remove(shape.len() - if vb { 1 } else { 2 });
    }
    Ok(vec![Value::Float(y.try_reshape(&shape)?)])
}
