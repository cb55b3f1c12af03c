//! Element-wise operators: activations and other unary functions, binary
//! arithmetic and comparisons with numpy broadcasting, the variadic
//! `Sum`/`Max`/`Min`, `Where` and `Clip`.

use nn_autograd::Var;
use nn_tensor::{Element, Tensor};

use super::{Inputs, OpSpec};
use crate::error::{fail, unsupported, OpResult};
use crate::node::Node;
use crate::value::Value;

/// The binary operators' attributes before opset 7, when broadcasting had
/// to be asked for (`broadcast = 1`, with `axis` aligning B inside A).
const LEGACY_BROADCAST: &[&str] = &["broadcast", "axis"];

macro_rules! unary {
    ($name:literal, $since:expr, $attrs:expr, $f:expr) => {
        OpSpec {
            name: $name,
            since: $since,
            attrs: $attrs,
            run: |n, i| unary_float(n, i, $f),
        }
    };
}

macro_rules! binary {
    ($name:literal, $since:expr, $attrs:expr, $f:expr) => {
        OpSpec {
            name: $name,
            since: $since,
            attrs: $attrs,
            run: |n, i| binary(n, i, $name, $f),
        }
    };
}

pub(crate) const OPS: &[OpSpec] = &[
    unary!("Relu", 6, &[], |_, x| Ok(with_var(x, |v| v.relu()))),
    unary!("LeakyRelu", 6, &["alpha"], |n, x| {
        let a = n.float("alpha", 0.01)?;
        Ok(with_var(x, |v| v.leaky_relu(a)))
    }),
    unary!("Elu", 6, &["alpha"], |n, x| {
        let a = n.float("alpha", 1.0)?;
        Ok(with_var(x, |v| v.elu(a)))
    }),
    unary!("Selu", 6, &["alpha", "gamma"], |n, x| {
        let a = n.float("alpha", 1.673_263_2)?;
        let g = n.float("gamma", 1.050_701)?;
        Ok(x.map(|x| if x > 0.0 { g * x } else { g * a * x.exp_m1() }))
    }),
    unary!("Sigmoid", 6, &[], |_, x| Ok(x.sigmoid())),
    unary!("Tanh", 6, &[], |_, x| Ok(x.tanh())),
    unary!("Softplus", 1, &[], |_, x| Ok(x.map(|x| {
        // ln(1 + eˣ) without overflow for large x.
        if x > 0.0 {
            x + (-x).exp().ln_1p()
        } else {
            x.exp().ln_1p()
        }
    }))),
    unary!(
        "Softsign",
        1,
        &[],
        |_, x| Ok(x.map(|x| x / (1.0 + x.abs())))
    ),
    unary!("Erf", 9, &[], |_, x| Ok(x.map(Element::erf))),
    unary!(
        "Gelu",
        20,
        &["approximate"],
        |n, x| match n.string("approximate", "none")?.as_str() {
            "none" => Ok(with_var(x, |v| v.gelu())),
            "tanh" => Ok(with_var(x, |v| v.gelu_tanh())),
            other => unsupported(format!("approximate = {other:?}")),
        }
    ),
    unary!("Exp", 6, &[], |_, x| Ok(x.exp())),
    unary!("Log", 6, &[], |_, x| Ok(x.ln())),
    unary!("Sqrt", 6, &[], |_, x| Ok(x.sqrt())),
    unary!("Reciprocal", 6, &[], |_, x| Ok(x.recip())),
    unary!("Floor", 6, &[], |_, x| Ok(x.map(f32::floor))),
    unary!("Ceil", 6, &[], |_, x| Ok(x.map(f32::ceil))),
    unary!("Sign", 9, &[], |_, x| Ok(x.map(|x| if x == 0.0 {
        0.0
    } else {
        x.signum()
    }))),
    unary!("Shrink", 9, &["bias", "lambd"], |n, x| {
        let (bias, l) = (n.float("bias", 0.0)?, n.float("lambd", 0.5)?);
        Ok(x.map(|x| {
            if x < -l {
                x + bias
            } else if x > l {
                x - bias
            } else {
                0.0
            }
        }))
    }),
    OpSpec {
        name: "Neg",
        since: 6,
        attrs: &[],
        run: |_, i| Ok(vec![int_or_float(i.get(0)?, |x| -x)]),
    },
    OpSpec {
        name: "Abs",
        since: 6,
        attrs: &[],
        run: |_, i| Ok(vec![int_or_float(i.get(0)?, f64::abs)]),
    },
    OpSpec {
        name: "PRelu",
        since: 6,
        attrs: &[],
        run: prelu,
    },
    OpSpec {
        name: "Clip",
        since: 6,
        attrs: &["min", "max"],
        run: clip,
    },
    binary!("Add", 6, LEGACY_BROADCAST, |a, b| a + b),
    binary!("Sub", 6, LEGACY_BROADCAST, |a, b| a - b),
    binary!("Mul", 6, LEGACY_BROADCAST, |a, b| a * b),
    OpSpec {
        name: "Div",
        since: 6,
        attrs: LEGACY_BROADCAST,
        run: div,
    },
    OpSpec {
        name: "Pow",
        since: 1,
        attrs: LEGACY_BROADCAST,
        run: pow,
    },
    OpSpec {
        name: "Mod",
        since: 10,
        attrs: &["fmod"],
        run: modulo,
    },
    OpSpec {
        name: "Sum",
        since: 6,
        attrs: &[],
        run: |n, i| variadic(n, i, "Sum", |a, b| a + b),
    },
    OpSpec {
        name: "Max",
        since: 6,
        attrs: &[],
        run: |n, i| variadic(n, i, "Max", f64::max),
    },
    OpSpec {
        name: "Min",
        since: 6,
        attrs: &[],
        run: |n, i| variadic(n, i, "Min", f64::min),
    },
    OpSpec {
        name: "Equal",
        since: 7,
        attrs: &[],
        run: |n, i| compare(n, i, |a, b| a == b),
    },
    OpSpec {
        name: "Less",
        since: 7,
        attrs: &[],
        run: |n, i| compare(n, i, |a, b| a < b),
    },
    OpSpec {
        name: "Greater",
        since: 7,
        attrs: &[],
        run: |n, i| compare(n, i, |a, b| a > b),
    },
    OpSpec {
        name: "Not",
        since: 1,
        attrs: &[],
        run: |_, i| {
            Ok(vec![int_or_float(i.get(0)?, |x| {
                if x == 0.0 {
                    1.0
                } else {
                    0.0
                }
            })])
        },
    },
    OpSpec {
        name: "Where",
        since: 9,
        attrs: &[],
        run: where_op,
    },
];

/// Runs a unary op on input 0, which must be a float tensor.
fn unary_float(
    node: &Node,
    inputs: &Inputs<'_>,
    f: fn(&Node, &Tensor<f32>) -> OpResult<Tensor<f32>>,
) -> OpResult<Vec<Value>> {
    Ok(vec![Value::Float(f(node, inputs.float(0)?)?)])
}

/// One of the library's activations, run on a constant (no graph is built).
fn with_var(x: &Tensor<f32>, f: impl Fn(&Var<f32>) -> Var<f32>) -> Tensor<f32> {
    f(&Var::constant(x.clone())).value().clone()
}

/// `f` on every element, in the value's own kind.
fn int_or_float(v: &Value, f: fn(f64) -> f64) -> Value {
    match v {
        Value::Float(t) => Value::Float(t.map(|x| f(x as f64) as f32)),
        Value::Int(t) => Value::Int(t.map(f)),
    }
}

/// Before opset 7, `B` broadcast into `A` only with `broadcast = 1`, its
/// dims aligned at `axis` (or at the end): reshape it so that numpy
/// broadcasting (trailing alignment) means the same.
fn legacy_align(node: &Node, a: &[usize], b: &Value) -> OpResult<Value> {
    if node.opset >= 7 || node.int("broadcast", 0)? == 0 || !node.has("axis") {
        return Ok(b.clone());
    }
    let axis = super::axis(node.int("axis", 0)?, a.len())?;
    let trailing = a.len().checked_sub(axis + b.shape().len());
    let Some(trailing) = trailing else {
        return fail(format!(
            "B of shape {:?} does not fit in A of shape {a:?} from axis {axis}",
            b.shape()
        ));
    };
    let mut shape = b.shape().to_vec();
    shape.extend(std::iter::repeat_n(1, trailing));
    Ok(super::each_kind!(b, t => t.try_reshape(&shape)?))
}

/// A broadcasting binary op on two values of the same kind.
fn zip(op: &'static str, a: &Value, b: &Value, f: fn(f64, f64) -> f64) -> OpResult<Value> {
    Ok(match (a, b) {
        (Value::Float(a), Value::Float(b)) => {
            Value::Float(a.try_broadcast_zip(op, b, |x, y| f(x as f64, y as f64) as f32)?)
        }
        (Value::Int(a), Value::Int(b)) => Value::Int(a.try_broadcast_zip(op, b, f)?),
        _ => {
            return fail(format!(
                "{op}: a float and an integer operand (ONNX needs one type)"
            ))
        }
    })
}

fn binary(
    node: &Node,
    inputs: &Inputs<'_>,
    op: &'static str,
    f: fn(f64, f64) -> f64,
) -> OpResult<Vec<Value>> {
    let a = inputs.get(0)?;
    let b = legacy_align(node, a.shape(), inputs.get(1)?)?;
    Ok(vec![zip(op, a, &b, f)?])
}

/// Division; integers divide truncating toward zero, as in C.
fn div(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let a = inputs.get(0)?;
    let b = legacy_align(node, a.shape(), inputs.get(1)?)?;
    if a.is_int() && b.is_int() {
        if b.to_f64s().contains(&0.0) {
            return fail("integer division by zero");
        }
        return Ok(vec![zip("Div", a, &b, |x, y| (x / y).trunc())?]);
    }
    Ok(vec![zip("Div", a, &b, |x, y| x / y)?])
}

/// `Pow`: the exponent may be of another kind than the base (opset 12).
fn pow(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let a = inputs.get(0)?;
    let b = legacy_align(node, a.shape(), inputs.get(1)?)?;
    let b = match (a, &b) {
        (Value::Float(_), b) => Value::Float(b.to_float()),
        (Value::Int(_), Value::Float(_)) => {
            return unsupported("an integer base with a float exponent")
        }
        (_, b) => b.clone(),
    };
    Ok(vec![zip("Pow", a, &b, f64::powf)?])
}

/// `Mod`: with `fmod = 0` (integers only) the result takes the divisor's
/// sign, as Python's `%`; with `fmod = 1` the dividend's, as C's `fmod`.
fn modulo(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let (a, b) = (inputs.get(0)?, inputs.get(1)?);
    let fmod = node.int("fmod", 0)?;
    if fmod == 0 && !(a.is_int() && b.is_int()) {
        return fail("fmod = 0 needs integer operands");
    }
    if a.is_int() && b.to_f64s().contains(&0.0) {
        return fail("integer modulo by zero");
    }
    let f: fn(f64, f64) -> f64 = if fmod == 0 {
        |x, y| {
            let r = x % y;
            if r != 0.0 && (r < 0.0) != (y < 0.0) {
                r + y
            } else {
                r
            }
        }
    } else {
        |x, y| x % y
    };
    Ok(vec![zip("Mod", a, b, f)?])
}

/// `Sum`, `Max`, `Min` of any number of inputs; before opset 8 they had
/// to be of one shape, from 8 they broadcast.
fn variadic(
    node: &Node,
    inputs: &Inputs<'_>,
    op: &'static str,
    f: fn(f64, f64) -> f64,
) -> OpResult<Vec<Value>> {
    let mut acc = inputs.get(0)?.clone();
    for i in 1..inputs.len() {
        if node.opset < 8 && inputs.get(i)?.shape() != acc.shape() {
            return fail(format!(
                "input {i} of shape {:?} differs from {:?} (no broadcasting before opset 8)",
                inputs.get(i)?.shape(),
                acc.shape()
            ));
        }
        acc = zip(op, &acc, inputs.get(i)?, f)?;
    }
    Ok(vec![acc])
}

/// A comparison: a boolean (integer 0/1) tensor.
fn compare(_: &Node, inputs: &Inputs<'_>, f: fn(f64, f64) -> bool) -> OpResult<Vec<Value>> {
    let (a, b) = (inputs.get(0)?, inputs.get(1)?);
    if a.is_int() != b.is_int() {
        return fail("a float and an integer operand (ONNX needs one type)");
    }
    let a = Tensor::<f64>::from_vec(a.to_f64s(), a.shape());
    let b = Tensor::<f64>::from_vec(b.to_f64s(), b.shape());
    let y = a.try_broadcast_zip("compare", &b, |x, y| if f(x, y) { 1.0 } else { 0.0 })?;
    Ok(vec![Value::Int(y)])
}

fn where_op(_: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let cond = inputs.get(0)?;
    Ok(vec![match (inputs.get(1)?, inputs.get(2)?) {
        (Value::Float(x), Value::Float(y)) => Value::Float(cond.to_float().try_where(x, y)?),
        (Value::Int(x), Value::Int(y)) => {
            let c = Tensor::from_vec(cond.to_f64s(), cond.shape());
            Value::Int(c.try_where(x, y)?)
        }
        _ => return fail("X and Y must be of one type"),
    }])
}

/// `PRelu`: `x` where positive, else `slope·x`, the slope broadcasting to
/// `x`. Before opset 7 a 1-d slope was per channel (dim 1).
fn prelu(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.float(0)?;
    let mut slope = inputs.float(1)?.clone();
    if node.opset < 7 && slope.ndim() == 1 && x.ndim() > 2 && slope.numel() > 1 {
        let mut shape = vec![slope.numel()];
        shape.extend(std::iter::repeat_n(1, x.ndim() - 2));
        slope = slope.try_reshape(&shape)?;
    }
    let y = x.try_broadcast_zip("PRelu", &slope, |x, s| if x < 0.0 { s * x } else { x })?;
    if y.shape() != x.shape() {
        return fail(format!(
            "slope of shape {:?} does not broadcast to X of shape {:?}",
            slope.shape(),
            x.shape()
        ));
    }
    Ok(vec![Value::Float(y)])
}

/// `Clip`: bounds from attributes before opset 11, from inputs 1 and 2
/// after (either may be omitted).
fn clip(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let bound = |i: usize, attr: &str, default: f64| -> OpResult<f64> {
        if node.opset < 11 {
            return Ok(node.float(attr, default as f32)? as f64);
        }
        match inputs.opt(i) {
            None => Ok(default),
            Some(v) if v.shape().iter().product::<usize>() == 1 => Ok(v.to_f64s()[0]),
            Some(v) => fail(format!(
                "the bound of input {i} must be a scalar, got shape {:?}",
                v.shape()
            )),
        }
    };
    let lo = bound(1, "min", f64::NEG_INFINITY)?;
    let hi = bound(2, "max", f64::INFINITY)?;
    Ok(vec![match x {
        Value::Float(t) => {
            let (lo, hi) = (lo as f32, hi as f32);
            Value::Float(t.map(|v| v.max(lo).min(hi)))
        }
        Value::Int(t) => Value::Int(t.map(|v| v.max(lo).min(hi))),
    }])
}
