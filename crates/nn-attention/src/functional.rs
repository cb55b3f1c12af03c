//! `scaled_dot_product_attention`: softmax(q·kᵀ·scale + mask)·v.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::mask::{combined_mask, Mask};

/// Options of [`scaled_dot_product_attention_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SdpaOptions<'a> {
    /// Query i may attend only to keys j ≤ i (+ S − L when S > L).
    pub causal: bool,
    /// `[N, S]`, `true` = key j of batch element n is padding.
    pub key_padding_mask: Option<&'a Mask>,
    /// `[L, S]`, `true` = query i may not attend to key j (combined with `causal`).
    pub attn_mask: Option<&'a Mask>,
    /// The score scale; `None` means `1/√E`.
    pub scale: Option<f64>,
    /// Return the attention weights `P` too.
    pub need_weights: bool,
}

/// Scaled dot-product attention (Vaswani et al. 2017).
///
/// `q: [N, …, L, E]`, `k: [N, …, S, E]`, `v: [N, …, S, Ev]` (any number of
/// batch dims, e.g. `[N, heads, L, E]`). Returns `y: [N, …, L, Ev]` and, when
/// `need_weights`, `P = softmax(q·kᵀ/√E + mask)` over the keys. Masks use
/// `true` = masked out; no query may have every key masked.
///
/// ```
/// use nn_attention::scaled_dot_product_attention;
/// use nn_autograd::Var;
/// use nn_tensor::Tensor;
/// let q = Var::leaf(Tensor::<f64>::ones(&[1, 2, 3, 4]));
/// let (y, w) = scaled_dot_product_attention(&q, &q, &q, true, None, true).unwrap();
/// assert_eq!(y.shape(), &[1, 2, 3, 4]);
/// assert_eq!(w.unwrap().value().get(&[0, 0, 0, 1]), 0.0); // causal
/// ```
pub fn scaled_dot_product_attention<T: Element>(
    q: &Var<T>,
    k: &Var<T>,
    v: &Var<T>,
    causal: bool,
    key_padding_mask: Option<&Mask>,
    need_weights: bool,
) -> Result<(Var<T>, Option<Var<T>>)> {
    scaled_dot_product_attention_with(
        q,
        k,
        v,
        &SdpaOptions {
            causal,
            key_padding_mask,
            need_weights,
            ..Default::default()
        },
    )
}

/// [`scaled_dot_product_attention`] with every option.
pub fn scaled_dot_product_attention_with<T: Element>(
    q: &Var<T>,
    k: &Var<T>,
    v: &Var<T>,
    o: &SdpaOptions<'_>,
) -> Result<(Var<T>, Option<Var<T>>)> {
    let op = "scaled_dot_product_attention";
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let r = qs.len();
    if r < 2 || ks.len() != r || vs.len() != r {
        return Err(TensorError::shapes(
            op,
            qs,
            ks,
            "q, k and v need the same rank (at least 2)",
        ));
    }
    let (l, e, s) = (qs[r - 2], qs[r - 1], ks[r - 2]);
    if ks[r - 1] != e || vs[r - 2] != s || qs[..r - 2] != ks[..r - 2] || ks[..r - 2] != vs[..r - 2]
    {
        return Err(TensorError::shapes(
            op,
            qs,
            ks,
            format!("expected q [.., L, E], k [.., S, E], v [.., S, Ev] with equal batch dims; v is {vs:?}"),
        ));
    }
    if o.key_padding_mask.is_some() && r < 3 {
        return Err(TensorError::invalid(
            op,
            "a key_padding_mask needs a batch dim in front",
        ));
    }
    let causal = o.causal.then(|| Mask::causal_rect(l, s));
    let attn = match (causal.as_ref(), o.attn_mask) {
        (Some(c), Some(a)) => {
            if (a.rows(), a.cols()) != (l, s) {
                return Err(TensorError::shapes(
                    op,
                    &[a.rows(), a.cols()],
                    &[l, s],
                    "attn_mask must be [L, S]",
                ));
            }
            let d = c
                .as_slice()
                .iter()
                .zip(a.as_slice())
                .map(|(x, y)| *x || *y)
                .collect();
            Some(Mask::new(l, s, d))
        }
        (c, a) => c.cloned().or_else(|| a.cloned()),
    };
    let n = if r >= 3 { qs[0] } else { 1 };
    let mask = combined_mask::<T>(op, n, l, s, attn.as_ref(), o.key_padding_mask)?.map(|m| {
        let mut shape = vec![m.shape()[0]];
        shape.extend(std::iter::repeat_n(1, r.saturating_sub(3)));
        shape.extend([l, s]);
        if r == 2 {
            shape.remove(0);
        }
        m.reshape(&shape)
    });
    let scale = o.scale.unwrap_or(1.0 / (e as f64).sqrt());
    let (y, p) = attend(q, k, v, mask.as_ref(), scale, None)?;
    Ok((y, o.need_weights.then_some(p)))
}

/// The core: `P = softmax(q·kᵀ·scale + mask)`, dropout on `P` when given,
/// `y = P·v`. Returns `(y, P)` (P before dropout).
pub(crate) fn attend<T: Element>(
    q: &Var<T>,
    k: &Var<T>,
    v: &Var<T>,
    additive_mask: Option<&Tensor<T>>,
    scale: f64,
    dropout: Option<(f64, &mut Rng)>,
) -> Result<(Var<T>, Var<T>)> {
    let mut scores = q.try_matmul_t(k, false, true)?.mul_scalar(T::of(scale));
    if let Some(m) = additive_mask {
        scores = scores.try_add(&Var::constant(m.clone()))?;
    }
    let last = scores.ndim() - 1;
    let p = scores.softmax(last);
    let pd = match dropout {
        Some((rate, rng)) if rate > 0.0 => {
            let keep = Tensor::<T>::rand_bernoulli(p.shape(), 1.0 - rate, rng)
                .mul_scalar(T::of(1.0 / (1.0 - rate)));
            p.mul_tensor(&keep)
        }
        _ => p.clone(),
    };
    let y = pd.try_matmul_t(v, false, false)?;
    Ok((y, p))
}
