//! Operators that move, select or create elements without arithmetic:
//! reshaping, transposing, slicing, gathering, concatenating, padding,
//! constants, `Shape` and `Cast`. They run on float and integer values
//! alike, which is what shape-arithmetic subgraphs need.

use nn_tensor::{broadcast_shapes, Element, Tensor};

use super::{axis, each_kind, Inputs, OpSpec};
use crate::error::{fail, unsupported, OpResult};
use crate::node::{Attr, Node};
use crate::proto::data_type;
use crate::value::Value;

/// The most elements an op may create from sizes read out of the data
/// (`ConstantOfShape`, `Expand`, `Tile`, `Range`, `Pad`): 2²⁸ (1 GiB of
/// floats). A hostile file could otherwise ask for any amount of memory.
pub(crate) const MAX_CREATED_ELEMENTS: usize = 1 << 28;

pub(crate) const OPS: &[OpSpec] = &[
    OpSpec {
        name: "Identity",
        since: 1,
        attrs: &[],
        run: |_, i| Ok(vec![i.get(0)?.clone()]),
    },
    OpSpec {
        name: "Dropout",
        since: 6,
        attrs: &["ratio", "is_test", "seed"],
        run: dropout,
    },
    OpSpec {
        name: "Reshape",
        since: 5,
        attrs: &["allowzero"],
        run: reshape,
    },
    OpSpec {
        name: "Flatten",
        since: 1,
        attrs: &["axis"],
        run: flatten,
    },
    OpSpec {
        name: "Transpose",
        since: 1,
        attrs: &["perm"],
        run: transpose,
    },
    OpSpec {
        name: "Squeeze",
        since: 1,
        attrs: &["axes"],
        run: squeeze,
    },
    OpSpec {
        name: "Unsqueeze",
        since: 1,
        attrs: &["axes"],
        run: unsqueeze,
    },
    OpSpec {
        name: "Concat",
        since: 4,
        attrs: &["axis"],
        run: concat,
    },
    OpSpec {
        name: "Split",
        since: 2,
        attrs: &["axis", "split", "num_outputs"],
        run: split,
    },
    OpSpec {
        name: "Slice",
        since: 1,
        attrs: &["starts", "ends", "axes"],
        run: slice,
    },
    OpSpec {
        name: "Gather",
        since: 1,
        attrs: &["axis"],
        run: gather,
    },
    OpSpec {
        name: "Expand",
        since: 8,
        attrs: &[],
        run: expand,
    },
    OpSpec {
        name: "Tile",
        since: 6,
        attrs: &[],
        run: tile,
    },
    OpSpec {
        name: "Pad",
        since: 2,
        attrs: &["pads", "mode", "value"],
        run: pad,
    },
    OpSpec {
        name: "Constant",
        since: 1,
        attrs: &[
            "value",
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
        ],
        run: constant,
    },
    OpSpec {
        name: "ConstantOfShape",
        since: 9,
        attrs: &["value"],
        run: constant_of_shape,
    },
    OpSpec {
        name: "Shape",
        since: 1,
        attrs: &["start", "end"],
        run: shape,
    },
    OpSpec {
        name: "Cast",
        since: 6,
        attrs: &["to", "saturate"],
        run: cast,
    },
    OpSpec {
        name: "Trilu",
        since: 14,
        attrs: &["upper"],
        run: trilu,
    },
    OpSpec {
        name: "Range",
        since: 11,
        attrs: &[],
        run: range,
    },
];

fn check_created(op: &str, shape: &[usize]) -> OpResult<()> {
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n <= MAX_CREATED_ELEMENTS => Ok(()),
        _ => fail(format!(
            "{op}: an output of shape {shape:?} is over the limit of {MAX_CREATED_ELEMENTS} elements"
        )),
    }
}

fn dropout(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    // Inference: the identity. `training_mode` (opset 12, input 2) must be off.
    if let Some(t) = inputs.opt(2)
        && t.to_f64s().iter().any(|&v| v != 0.0)
    {
        return unsupported("training_mode = true");
    }
    let x = inputs.get(0)?;
    let mut out = vec![x.clone()];
    if node.wanted_outputs() > 1 {
        out.push(Value::Int(Tensor::ones(x.shape())));
    }
    Ok(out)
}

/// A size read from the data, checked to be a valid dim.
fn dim(v: i64, what: &str) -> OpResult<usize> {
    usize::try_from(v).or_else(|_| fail(format!("{what} {v} is negative")))
}

fn reshape(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let spec = inputs.get(1)?.to_i64s();
    let allow_zero = node.int("allowzero", 0)? == 1;
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            0 if !allow_zero => match x.shape().get(i) {
                Some(&d) => shape.push(d),
                None => {
                    return fail(format!(
                        "shape {spec:?}: 0 at {i} copies a dim X of shape {:?} lacks",
                        x.shape()
                    ))
                }
            },
            s => shape.push(dim(s, "a target dim")?),
        }
    }
    if let Some(i) = infer {
        let known: usize = shape.iter().product();
        let n: usize = x.shape().iter().product();
        if known == 0 || !n.is_multiple_of(known) {
            return fail(format!("cannot reshape {:?} into {spec:?}", x.shape()));
        }
        shape[i] = n / known;
    }
    Ok(vec![each_kind!(x, t => t.try_reshape(&shape)?)])
}

fn flatten(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let s = x.shape();
    let a = node.int("axis", 1)?;
    let a = if a == s.len() as i64 {
        s.len()
    } else {
        axis(a, s.len())?
    };
    let shape: [usize; 2] = [s[..a].iter().product(), s[a..].iter().product()];
    Ok(vec![each_kind!(x, t => t.try_reshape(shape)?)])
}

fn transpose(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let rank = x.shape().len();
    let perm: Vec<usize> = match node.ints("perm")? {
        Some(p) => p.iter().map(|&a| axis(a, rank)).collect::<OpResult<_>>()?,
        None => (0..rank).rev().collect(),
    };
    Ok(vec![each_kind!(x, t => t.try_permute(&perm)?)])
}

/// `axes` from the attribute (before opset 13) or input 1 (from 13).
fn axes_of(node: &Node, inputs: &Inputs<'_>, since_input: i64) -> OpResult<Option<Vec<i64>>> {
    if node.opset < since_input {
        node.ints("axes")
    } else {
        Ok(inputs.opt_ints(1))
    }
}

fn squeeze(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let s = x.shape();
    let drop: Vec<usize> = match axes_of(node, inputs, 13)? {
        Some(a) => a
            .iter()
            .map(|&a| axis(a, s.len()))
            .collect::<OpResult<_>>()?,
        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
    };
    if let Some(&d) = drop.iter().find(|&&d| s[d] != 1) {
        return fail(format!("dim {d} of shape {s:?} is not 1"));
    }
    let shape: Vec<usize> = (0..s.len())
        .filter(|i| !drop.contains(i))
        .map(|i| s[i])
        .collect();
    Ok(vec![each_kind!(x, t => t.try_reshape(&shape)?)])
}

fn unsqueeze(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let Some(axes) = axes_of(node, inputs, 13)? else {
        return fail("axes are required");
    };
    let rank = x.shape().len() + axes.len();
    let mut new: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank))
        .collect::<OpResult<_>>()?;
    new.sort_unstable();
    if new.windows(2).any(|w| w[0] == w[1]) {
        return fail(format!("axes {axes:?} repeat"));
    }
    let mut rest = x.shape().iter();
    let shape: Vec<usize> = (0..rank)
        .map(|i| {
            if new.contains(&i) {
                1
            } else {
                *rest.next().expect("rank counted")
            }
        })
        .collect();
    Ok(vec![each_kind!(x, t => t.try_reshape(&shape)?)])
}

fn concat(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let first = inputs.get(0)?;
    let a = axis(node.int("axis", 0)?, first.shape().len())?;
    let values: Vec<&Value> = (0..inputs.len())
        .map(|i| inputs.get(i))
        .collect::<OpResult<_>>()?;
    Ok(vec![if values.iter().all(|v| v.is_int()) {
        let ts: Vec<Tensor<f64>> = values
            .iter()
            .map(|v| Tensor::from_vec(v.to_f64s(), v.shape()))
            .collect();
        Value::Int(Tensor::try_concat(&ts.iter().collect::<Vec<_>>(), a)?)
    } else if values.iter().all(|v| !v.is_int()) {
        let ts: Vec<Tensor<f32>> = values.iter().map(|v| v.to_float()).collect();
        Value::Float(Tensor::try_concat(&ts.iter().collect::<Vec<_>>(), a)?)
    } else {
        return fail("float and integer inputs mixed");
    }])
}

fn split(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let a = axis(node.int("axis", 0)?, x.shape().len())?;
    let n = x.shape()[a];
    let given = if node.opset < 13 {
        node.ints("split")?
    } else {
        inputs.opt_ints(1)
    };
    let parts = match given {
        Some(s) => s
            .iter()
            .map(|&v| dim(v, "a split size"))
            .collect::<OpResult<Vec<_>>>()?,
        None => {
            let k = if node.has("num_outputs") {
                dim(node.int("num_outputs", 1)?, "num_outputs")?
            } else {
                node.outputs.len()
            };
            if k == 0 {
                return fail("no outputs to split into");
            }
            // Equal parts; with num_outputs the last may be smaller.
            let size = n.div_ceil(k);
            (0..k)
                .map(|i| size.min(n.saturating_sub(i * size)))
                .collect()
        }
    };
    if parts.iter().sum::<usize>() != n {
        return fail(format!(
            "split sizes {parts:?} do not add up to dim {a} of shape {:?}",
            x.shape()
        ));
    }
    Ok(match x {
        Value::Float(t) => t
            .try_split(a, &parts)?
            .into_iter()
            .map(Value::Float)
            .collect(),
        Value::Int(t) => t
            .try_split(a, &parts)?
            .into_iter()
            .map(Value::Int)
            .collect(),
    })
}

/// The indices a `start:end:step` slice picks from a dim of `n`, with
/// ONNX's clamping of out-of-range bounds.
fn slice_indices(n: usize, start: i64, end: i64, step: i64) -> OpResult<Vec<usize>> {
    if step == 0 {
        return fail("a slice step of 0");
    }
    let n = n as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (start, end) = (norm(start), norm(end));
    let mut out = Vec::new();
    if step > 0 {
        let (s, e) = (start.clamp(0, n), end.clamp(0, n));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (s, e) = (start.clamp(-1, n - 1), end.clamp(-1, n - 1));
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

fn slice(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let rank = x.shape().len();
    let (starts, ends, axes, steps) = if node.opset < 10 {
        let get = |n: &str| node.ints(n).map(Option::unwrap_or_default);
        (get("starts")?, get("ends")?, node.ints("axes")?, None)
    } else {
        let starts = inputs.get(1)?.to_i64s();
        let ends = inputs.get(2)?.to_i64s();
        (starts, ends, inputs.opt_ints(3), inputs.opt_ints(4))
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return fail("starts, ends, axes and steps differ in length");
    }
    let mut out = x.clone();
    for (k, &a) in axes.iter().enumerate() {
        let a = axis(a, rank)?;
        let idx = slice_indices(out.shape()[a], starts[k], ends[k], steps[k])?;
        out = each_kind!(&out, t => t.try_index_select(a, &idx)?);
    }
    Ok(vec![out])
}

fn gather(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let ind = inputs.get(1)?;
    if !ind.is_int() {
        return fail("indices must be integers");
    }
    let a = axis(node.int("axis", 0)?, x.shape().len())?;
    let n = x.shape()[a] as i64;
    let idx: Vec<usize> = ind
        .to_i64s()
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + n } else { i };
            if (0..n).contains(&j) {
                Ok(j as usize)
            } else {
                fail(format!(
                    "index {i} is out of range for dim {a} of shape {:?}",
                    x.shape()
                ))
            }
        })
        .collect::<OpResult<_>>()?;
    let mut shape = x.shape()[..a].to_vec();
    shape.extend_from_slice(ind.shape());
    shape.extend_from_slice(&x.shape()[a + 1..]);
    Ok(vec![
        each_kind!(x, t => t.try_index_select(a, &idx)?.try_reshape(&shape)?),
    ])
}

fn expand(_: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let want = inputs
        .get(1)?
        .to_i64s()
        .into_iter()
        .map(|v| dim(v, "a dim"))
        .collect::<OpResult<Vec<_>>>()?;
    let shape = broadcast_shapes("Expand", x.shape(), &want)?;
    check_created("Expand", &shape)?;
    Ok(vec![each_kind!(x, t => t.try_broadcast_to(&shape)?)])
}

fn tile(_: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let reps = inputs.get(1)?.to_i64s();
    if reps.len() != x.shape().len() {
        return fail(format!(
            "{} repeats for rank {}",
            reps.len(),
            x.shape().len()
        ));
    }
    let reps = reps
        .into_iter()
        .map(|v| dim(v, "a repeat"))
        .collect::<OpResult<Vec<_>>>()?;
    // A repeat count times a dim may overflow before the size cap sees it.
    let Some(shape) = x
        .shape()
        .iter()
        .zip(&reps)
        .map(|(a, b)| a.checked_mul(*b))
        .collect::<Option<Vec<usize>>>()
    else {
        return fail(format!(
            "repeats {reps:?} of shape {:?} overflow",
            x.shape()
        ));
    };
    check_created("Tile", &shape)?;
    // One broadcast instead of an index selection per axis: `x` viewed as
    // `[1, n0, 1, n1, …]` broadcast to `[r0, n0, r1, n1, …]` is, row-major,
    // the tiled output, whose shape merges each `(r, n)` pair. (Selecting
    // axis by axis took 40 s on a fuzzer's 168-million-element Tile.)
    let unit_axes: Vec<usize> = x.shape().iter().flat_map(|&n| [1, n]).collect();
    let repeated: Vec<usize> = x
        .shape()
        .iter()
        .zip(&reps)
        .flat_map(|(&n, &r)| [r, n])
        .collect();
    Ok(vec![each_kind!(x, t => t
        .try_reshape(&unit_axes)?
        .try_broadcast_to(&repeated)?
        .try_reshape(&shape)?)])
}

/// `Pad`: constant, reflect or edge; a negative pad removes elements.
fn pad(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let rank = x.shape().len();
    let mode = node.string("mode", "constant")?;
    let (pads, value, axes) = if node.opset < 11 {
        (
            node.ints("pads")?.unwrap_or_default(),
            node.float("value", 0.0)? as f64,
            None,
        )
    } else {
        let value = inputs
            .opt(2)
            .map(|v| v.to_f64s().first().copied().unwrap_or(0.0))
            .unwrap_or(0.0);
        (inputs.get(1)?.to_i64s(), value, inputs.opt_ints(3))
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&a| axis(a, rank)).collect::<OpResult<_>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return fail(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let mut out = x.clone();
    for (k, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[k], pads[k + axes.len()]);
        let n = out.shape()[a] as i64;
        // Crop first (negative pads), then grow.
        let (cb, ce) = ((-b).max(0), (-e).max(0));
        if cb + ce > n {
            return fail(format!(
                "pads {pads:?} remove more than dim {a} of shape {:?}",
                x.shape()
            ));
        }
        if cb > 0 || ce > 0 {
            let idx: Vec<usize> = (cb..n - ce).map(|i| i as usize).collect();
            out = each_kind!(&out, t => t.try_index_select(a, &idx)?);
        }
        let (gb, ge) = (b.max(0) as usize, e.max(0) as usize);
        if gb == 0 && ge == 0 {
            continue;
        }
        let n = out.shape()[a];
        let mut grown = out.shape().to_vec();
        grown[a] = n + gb + ge;
        check_created("Pad", &grown)?;
        out = match mode.as_str() {
            "constant" => {
                let mut p = vec![(0, 0); a + 1];
                p[a] = (gb, ge);
                match &out {
                    Value::Float(t) => Value::Float(t.try_pad(&p, value as f32)?),
                    Value::Int(t) => Value::Int(t.try_pad(&p, value)?),
                }
            }
            "edge" | "reflect" => {
                if n == 0 || (mode == "reflect" && (gb >= n || ge >= n)) {
                    return fail(format!("{mode} padding of {gb}, {ge} for a dim of {n}"));
                }
                let src = |i: i64| -> usize {
                    let last = n as i64 - 1;
                    if mode == "edge" {
                        i.clamp(0, last) as usize
                    } else if i < 0 {
                        (-i) as usize
                    } else if i > last {
                        (2 * last - i) as usize
                    } else {
                        i as usize
                    }
                };
                let idx: Vec<usize> = (-(gb as i64)..(n + ge) as i64).map(src).collect();
                each_kind!(&out, t => t.try_index_select(a, &idx)?)
            }
            other => return unsupported(format!("mode = {other:?}")),
        };
    }
    Ok(vec![out])
}

fn constant(node: &Node, _: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let (name, attr) = node
        .attrs
        .iter()
        .next()
        .ok_or_else(|| crate::error::OpError::Failed("a Constant without a value".into()))?;
    Ok(vec![match (name.as_str(), attr) {
        ("value", Attr::Tensor(v)) => v.clone(),
        ("value_float", Attr::Float(f)) => Value::Float(Tensor::scalar(*f)),
        ("value_floats", Attr::Floats(f)) => Value::Float(Tensor::from_vec(f.clone(), &[f.len()])),
        ("value_int", Attr::Int(i)) => Value::Int(Tensor::scalar(*i as f64)),
        ("value_ints", Attr::Ints(v)) => Value::Int(Tensor::from_vec(
            v.iter().map(|&i| i as f64).collect(),
            &[v.len()],
        )),
        (name, a) => return fail(format!("attribute {name} = {a:?} is not a constant")),
    }])
}

fn constant_of_shape(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let shape = inputs
        .get(0)?
        .to_i64s()
        .into_iter()
        .map(|v| dim(v, "a dim"))
        .collect::<OpResult<Vec<_>>>()?;
    check_created("ConstantOfShape", &shape)?;
    Ok(vec![match node.attrs.get("value") {
        None => Value::Float(Tensor::zeros(&shape)),
        Some(Attr::Tensor(v)) if v.shape().iter().product::<usize>() == 1 => match v {
            Value::Float(t) => Value::Float(Tensor::full(&shape, t.as_slice()[0])),
            Value::Int(t) => Value::Int(Tensor::full(&shape, t.as_slice()[0])),
        },
        Some(other) => return fail(format!("value must be a one-element tensor, got {other:?}")),
    }])
}

fn shape(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let s = inputs.get(0)?.shape();
    let r = s.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (a, b) = (clampi(node.int("start", 0)?), clampi(node.int("end", r)?));
    let dims: Vec<f64> = s[a..b.max(a)].iter().map(|&d| d as f64).collect();
    let n = dims.len();
    Ok(vec![Value::Int(Tensor::from_vec(dims, &[n]))])
}

fn cast(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let to = node.int("to", 0)? as i32;
    Ok(vec![match to {
        data_type::FLOAT | data_type::DOUBLE => Value::Float(x.to_float()),
        data_type::BOOL => Value::Int(Tensor::from_vec(
            x.to_f64s()
                .into_iter()
                .map(|v| if v != 0.0 { 1.0 } else { 0.0 })
                .collect(),
            x.shape(),
        )),
        data_type::INT64
        | data_type::INT32
        | data_type::INT16
        | data_type::INT8
        | data_type::UINT8
        | data_type::UINT16 => {
            // Truncation toward zero, as C casts.
            Value::Int(Tensor::from_vec(
                x.to_f64s().into_iter().map(f64::trunc).collect(),
                x.shape(),
            ))
        }
        other => return unsupported(format!("to = {other} (element type)")),
    }])
}

fn trilu(node: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let x = inputs.get(0)?;
    let s = x.shape();
    if s.len() < 2 {
        return fail(format!("input of shape {s:?} has fewer than 2 dims"));
    }
    let k = inputs
        .opt_ints(1)
        .and_then(|v| v.first().copied())
        .unwrap_or(0);
    let upper = node.int("upper", 1)? == 1;
    let (rows, cols) = (s[s.len() - 2], s[s.len() - 1]);
    fn keep<T: Element>(
        t: &Tensor<T>,
        rows: usize,
        cols: usize,
        f: impl Fn(i64, i64) -> bool,
    ) -> Tensor<T> {
        let mut out = t.clone();
        for (i, v) in out.as_mut_slice().iter_mut().enumerate() {
            let (r, c) = (((i / cols) % rows) as i64, (i % cols) as i64);
            if !f(r, c) {
                *v = T::zero();
            }
        }
        out
    }
    let f = move |r: i64, c: i64| if upper { c - r >= k } else { c - r <= k };
    Ok(vec![each_kind!(x, t => keep(t, rows, cols, f))])
}

fn range(_: &Node, inputs: &Inputs<'_>) -> OpResult<Vec<Value>> {
    let scalar = |i: usize| -> OpResult<f64> {
        let v = inputs.get(i)?.to_f64s();
        match v.as_slice() {
            [x] => Ok(*x),
            _ => fail(format!("input {i} must be a scalar")),
        }
    };
    let (start, limit, delta) = (scalar(0)?, scalar(1)?, scalar(2)?);
    if delta == 0.0 {
        return fail("delta is 0");
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if !n.is_finite() || n > MAX_CREATED_ELEMENTS as f64 {
        return fail(format!("{n} elements is over the limit"));
    }
    let n = n as usize;
    let data: Vec<f64> = (0..n).map(|i| start + i as f64 * delta).collect();
    Ok(vec![if inputs.get(0)?.is_int() {
        Value::Int(Tensor::from_vec(data, &[n]))
    } else {
        Value::Float(Tensor::from_vec(
            data.into_iter().map(|v| v as f32).collect(),
            &[n],
        ))
    }])
}
