//! Stateless forms of the layers (`torch.nn.functional`): the layer modules
//! call these with their parameters, and other crates reuse them
//! (`BatchNorm2d` is [`batch_norm`] on 4-d input).
//!
//! Batch norm is written with differentiable ops, so its backward pass flows
//! through the batch mean and variance exactly (the full batch-norm
//! backward). Layer norm is one node with a hand-written backward: composed
//! from nine generic ops it allocated nine temporaries each way and was
//! about a tenth of a Transformer training step. Gradient checks in
//! `tests/it/gradcheck.rs` confirm both.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Tensor, TensorError};

/// `y = x·weightᵀ + bias` for `x: [..., in]`, `weight: [out, in]`,
/// `bias: [out]`; output `[..., out]`.
pub fn linear<T: Element>(x: &Var<T>, weight: &Var<T>, bias: Option<&Var<T>>) -> Result<Var<T>> {
    let (out_f, in_f) = match weight.shape() {
        [o, i] => (*o, *i),
        s => {
            return Err(TensorError::shapes(
                "linear",
                x.shape(),
                s,
                "weight must be [out_features, in_features]",
            ))
        }
    };
    if x.ndim() == 0 || x.shape()[x.ndim() - 1] != in_f {
        return Err(TensorError::shapes(
            "linear",
            x.shape(),
            weight.shape(),
            format!("input's last dim must equal in_features = {in_f}"),
        ));
    }
    if let Some(b) = bias
        && b.shape() != [out_f]
    {
        return Err(TensorError::shapes(
            "linear",
            weight.shape(),
            b.shape(),
            format!("bias must be [out_features = {out_f}]"),
        ));
    }
    // One [rows, in] matrix whatever the leading dims (a vector [in] is one
    // row): the weight's gradient is then one GEMM over all rows, not one
    // per leading index summed afterwards (for a [16, 64, 128] input that
    // was a [16, out, in] temporary and a reduction).
    let rows = x.shape()[..x.ndim() - 1].iter().product();
    let mut y = x.reshape([rows, in_f]).try_matmul_t(weight, false, true)?;
    if let Some(b) = bias {
        y = if out_f == 0 {
            y.try_add(b)?
        } else {
            add_bias(&y, b)
        };
    }
    let mut out_shape = x.shape().to_vec();
    *out_shape.last_mut().expect("checked: at least one dim") = out_f;
    Ok(y.reshape(&out_shape))
}

/// `y + b` for `y: [rows, out]`, `b: [out]` as one node whose backward sums
/// the gradient's rows with a plain vectorised loop: the generic broadcast
/// add's `sum_to_shape` was 3–5 % of a Transformer training step.
fn add_bias<T: Element>(y: &Var<T>, b: &Var<T>) -> Var<T> {
    let out = b.shape()[0];
    let mut v = y.value().as_slice().to_vec();
    for row in v.chunks_exact_mut(out) {
        row.iter_mut()
            .zip(b.value().as_slice())
            .for_each(|(o, c)| *o += *c);
    }
    let value = Tensor::from_vec(v, y.shape());
    Var::from_op("linear_bias", value, vec![y.clone(), b.clone()], move |g| {
        let mut db = vec![T::zero(); out];
        for row in g.as_slice().chunks_exact(out) {
            db.iter_mut().zip(row).for_each(|(a, v)| *a += *v);
        }
        vec![Some(g.clone()), Some(Tensor::from_vec(db, &[out]))]
    })
}

/// The shape `[1, C, 1, …]` that broadcasts a per-channel `[C]` tensor over `shape`.
fn channel_view(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    s[1] = shape[1];
    s
}

/// Running statistics and how to update them, for [`batch_norm`].
pub struct RunningStats<'a, T: Element> {
    /// `running_mean` `[C]`.
    pub mean: &'a Tensor<T>,
    /// `running_var` `[C]`.
    pub var: &'a Tensor<T>,
    /// Weight of the new batch statistic (PyTorch's meaning).
    pub momentum: f64,
}

/// The updated `(running_mean, running_var)` a training-mode [`batch_norm`] returns.
pub type UpdatedStats<T> = (Tensor<T>, Tensor<T>);

/// Batch normalisation over every dim but 1 of `x: [N, C, …]`.
///
/// * `training` (or no running stats): normalise with the batch mean and
///   **biased** variance; the gradient flows through both. Returns, next to
///   the output, the updated `(running_mean, running_var)` when `running`
///   is given: `(1 − m)·old + m·new`, the variance **unbiased** (`·n/(n−1)`).
/// * eval with running stats: normalise with them (constants).
///
/// `weight` γ and `bias` β are `[C]`. Errors on rank < 2, mismatched `[C]`
/// shapes, or a training batch with one value per channel.
pub fn batch_norm<T: Element>(
    x: &Var<T>,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    running: Option<RunningStats<'_, T>>,
    training: bool,
    eps: f64,
) -> Result<(Var<T>, Option<UpdatedStats<T>>)> {
    let op = "batch_norm";
    if x.ndim() < 2 {
        return Err(TensorError::invalid(
            op,
            format!(
                "input of shape {:?} needs a channel dim 1 ([N, C, …])",
                x.shape()
            ),
        ));
    }
    let c = x.shape()[1];
    let per_channel = [c];
    for (name, t) in [
        ("weight", weight.map(|w| w.shape().to_vec())),
        ("bias", bias.map(|b| b.shape().to_vec())),
        (
            "running_mean",
            running.as_ref().map(|r| r.mean.shape().to_vec()),
        ),
        (
            "running_var",
            running.as_ref().map(|r| r.var.shape().to_vec()),
        ),
    ] {
        if let Some(s) = t
            && s != per_channel
        {
            return Err(TensorError::shapes(
                op,
                x.shape(),
                &s,
                format!("{name} must be [C = {c}]"),
            ));
        }
    }
    let view = channel_view(x.shape());
    let dims: Vec<usize> = (0..x.ndim()).filter(|&d| d != 1).collect();
    let m = x.value().numel() / c.max(1);
    let use_batch = training || running.is_none();
    let (xhat, updated) = if use_batch {
        if m < 2 && training {
            return Err(TensorError::invalid(
                op,
                format!(
                    "expected more than 1 value per channel when training, got input of shape {:?}",
                    x.shape()
                ),
            ));
        }
        let mean = x.mean_dims(&dims, true);
        let centered = x.sub(&mean);
        let var = centered.square().mean_dims(&dims, true);
        let xhat = centered.div(&var.add_scalar(T::of(eps)).sqrt());
        let updated = running.filter(|_| training).map(|r| {
            let mo = T::of(r.momentum);
            let keep = T::one() - mo;
            let bm = mean.value().reshape(per_channel);
            let unbias = T::of(m as f64 / (m as f64 - 1.0));
            let bv = var.value().reshape(per_channel).mul_scalar(unbias);
            (
                r.mean.mul_scalar(keep).add(&bm.mul_scalar(mo)),
                r.var.mul_scalar(keep).add(&bv.mul_scalar(mo)),
            )
        });
        (xhat, updated)
    } else {
        let r = running.expect("checked above");
        let mean = Var::constant(r.mean.reshape(&view));
        let rstd = r.var.add_scalar(T::of(eps)).sqrt().recip().reshape(&view);
        (x.sub(&mean).mul_tensor(&rstd), None)
    };
    let mut y = xhat;
    if let Some(w) = weight {
        y = y.mul(&w.reshape(&view));
    }
    if let Some(b) = bias {
        y = y.add(&b.reshape(&view));
    }
    Ok((y, updated))
}

/// Layer normalisation over the trailing `normalized_shape` dims of `x`,
/// each leading index separately, with the **biased** variance;
/// `weight` and `bias` are shaped like `normalized_shape`.
pub fn layer_norm<T: Element>(
    x: &Var<T>,
    normalized_shape: &[usize],
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    eps: f64,
) -> Result<Var<T>> {
    let op = "layer_norm";
    let k = normalized_shape.len();
    if k == 0 || x.ndim() < k || x.shape()[x.ndim() - k..] != *normalized_shape {
        return Err(TensorError::shapes(
            op,
            x.shape(),
            normalized_shape,
            "the input's trailing dims must equal normalized_shape",
        ));
    }
    if normalized_shape.contains(&0) {
        return Err(TensorError::shapes(
            op,
            x.shape(),
            normalized_shape,
            "normalized_shape must have no zero dim (nothing to normalise over)",
        ));
    }
    for (name, v) in [("weight", weight), ("bias", bias)] {
        if let Some(v) = v
            && v.shape() != normalized_shape
        {
            return Err(TensorError::shapes(
                op,
                normalized_shape,
                v.shape(),
                format!("{name} must have shape normalized_shape"),
            ));
        }
    }
    Ok(crate::layer_norm::layer_norm_node(x, k, weight, bias, eps))
}

/// Looks up rows of `weight: [num_embeddings, dim]` for `indices` laid out
/// as `index_shape`; output `[..index_shape, dim]`. The gradient of each
/// used row is the sum of the gradients of its lookups; the row
/// `padding_idx` gets none (PyTorch's meaning).
pub fn embedding<T: Element>(
    indices: &[usize],
    index_shape: &[usize],
    weight: &Var<T>,
    padding_idx: Option<usize>,
) -> Result<Var<T>> {
    let op = "embedding";
    let (rows, dim) = match weight.shape() {
        [r, d] => (*r, *d),
        s => {
            return Err(TensorError::shapes(
                op,
                index_shape,
                s,
                "weight must be [num_embeddings, embedding_dim]",
            ))
        }
    };
    if index_shape.iter().product::<usize>() != indices.len() {
        return Err(TensorError::invalid(
            op,
            format!(
                "{} indices do not fill shape {index_shape:?}",
                indices.len()
            ),
        ));
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= rows) {
        return Err(TensorError::invalid(
            op,
            format!("index {bad} is out of range for {rows} embeddings"),
        ));
    }
    let w = weight.value().clone();
    let ws = w.as_slice();
    let mut out = Vec::with_capacity(indices.len() * dim);
    for &i in indices {
        out.extend_from_slice(&ws[i * dim..(i + 1) * dim]);
    }
    let mut shape = index_shape.to_vec();
    shape.push(dim);
    let idx = indices.to_vec();
    Ok(Var::from_op(
        "embedding",
        Tensor::from_vec(out, &shape),
        vec![weight.clone()],
        move |g| {
            let mut gw = vec![T::zero(); rows * dim];
            for (k, &i) in idx.iter().enumerate() {
                if Some(i) == padding_idx {
                    continue;
                }
                let src = &g.as_slice()[k * dim..(k + 1) * dim];
                for (d, s) in gw[i * dim..(i + 1) * dim].iter_mut().zip(src) {
                    *d += *s;
                }
            }
            vec![Some(Tensor::from_vec(gw, &[rows, dim]))]
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_norm_matches_the_formula_and_updates_running_stats() {
        // One channel, values 1..4: mean 2.5, biased var 1.25, unbiased 5/3.
        let x = Var::constant(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4, 1]));
        let rm = Tensor::zeros(&[1]);
        let rv = Tensor::ones(&[1]);
        let running = RunningStats {
            mean: &rm,
            var: &rv,
            momentum: 0.1,
        };
        let (y, upd) = batch_norm(&x, None, None, Some(running), true, 1e-5).unwrap();
        let expect0 = (1.0 - 2.5) / (1.25f64 + 1e-5).sqrt();
        assert!((y.value().as_slice()[0] - expect0).abs() < 1e-12);
        let (m, v) = upd.unwrap();
        assert!((m.item() - 0.25).abs() < 1e-12);
        assert!((v.item() - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-12);
        let one = Var::constant(Tensor::<f64>::ones(&[1, 3]));
        assert!(batch_norm(&one, None, None, None, true, 1e-5).is_err());
    }

    #[test]
    fn layer_norm_rejects_wrong_trailing_shape() {
        let x = Var::constant(Tensor::<f32>::ones(&[2, 3, 4]));
        assert!(layer_norm(&x, &[3, 4], None, None, 1e-5).is_ok());
        let e = layer_norm(&x, &[4, 3], None, None, 1e-5).unwrap_err();
        assert!(e.to_string().contains("layer_norm"), "{e}");
    }
}
