//! Boolean attention masks. **`true` means masked out** (the position is
//! ignored), as in PyTorch's `key_padding_mask` and boolean `attn_mask`.

use nn_tensor::{or_panic, Element, Result, Tensor, TensorError};

/// A boolean mask with a shape: `[L, S]` for an attention mask, `[N, S]`
/// for a key-padding mask. `true` = masked out.
///
/// ```
/// use nn_attention::Mask;
/// let m = Mask::causal(3);
/// assert!(!m.get(1, 1) && m.get(1, 2)); // query 1 may not see key 2
/// let p = Mask::padding(&[2, 3], 3);
/// assert!(p.get(0, 2) && !p.get(1, 2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    rows: usize,
    cols: usize,
    data: Vec<bool>,
}

impl Mask {
    /// A `rows × cols` mask from row-major values.
    pub fn try_new(rows: usize, cols: usize, data: Vec<bool>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(TensorError::invalid(
                "Mask::new",
                format!("{} values for a {rows}×{cols} mask", data.len()),
            ));
        }
        Ok(Mask { rows, cols, data })
    }

    /// Panicking [`Mask::try_new`].
    #[track_caller]
    pub fn new(rows: usize, cols: usize, data: Vec<bool>) -> Self {
        or_panic(Self::try_new(rows, cols, data))
    }

    /// The causal mask `[len, len]`: query i may not attend to keys j > i.
    pub fn causal(len: usize) -> Self {
        Self::causal_rect(len, len)
    }

    /// A causal mask `[queries, keys]` where the queries are the *last*
    /// `queries` positions of the `keys` (as when decoding with a KV cache).
    pub fn causal_rect(queries: usize, keys: usize) -> Self {
        let offset = keys.saturating_sub(queries);
        let data = (0..queries)
            .flat_map(|i| (0..keys).map(move |j| j > i + offset))
            .collect();
        Mask {
            rows: queries,
            cols: keys,
            data,
        }
    }

    /// A key-padding mask `[batch, len]` from sequence lengths: positions at
    /// or past `lengths[b]` are padding.
    pub fn padding(lengths: &[usize], len: usize) -> Self {
        let data = lengths
            .iter()
            .flat_map(|&l| (0..len).map(move |j| j >= l))
            .collect();
        Mask {
            rows: lengths.len(),
            cols: len,
            data,
        }
    }

    /// Rows (L for an attention mask, N for a padding mask).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (S, the keys).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether `(r, c)` is masked out.
    pub fn get(&self, r: usize, c: usize) -> bool {
        self.data[r * self.cols + c]
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[bool] {
        &self.data
    }

    /// The mask as an additive tensor of `shape` (`−∞` where masked, 0
    /// elsewhere); `shape` must hold `rows·cols` elements.
    pub fn to_additive<T: Element>(&self, shape: &[usize]) -> Tensor<T> {
        let v = self
            .data
            .iter()
            .map(|&m| if m { T::neg_infinity() } else { T::zero() })
            .collect();
        Tensor::from_vec(v, shape)
    }
}

/// Builds the additive mask `[N, 1, L, S]` (or `[1, 1, L, S]`) combining an
/// attention mask `[L, S]` and a key-padding mask `[N, S]`; `None` when
/// neither is given. Errors when a shape does not fit.
pub(crate) fn combined_mask<T: Element>(
    op: &'static str,
    n: usize,
    l: usize,
    s: usize,
    attn_mask: Option<&Mask>,
    key_padding_mask: Option<&Mask>,
) -> Result<Option<Tensor<T>>> {
    if let Some(m) = attn_mask
        && (m.rows, m.cols) != (l, s)
    {
        return Err(TensorError::shapes(
            op,
            &[m.rows, m.cols],
            &[l, s],
            "attn_mask must be [L, S]",
        ));
    }
    if let Some(m) = key_padding_mask
        && (m.rows, m.cols) != (n, s)
    {
        return Err(TensorError::shapes(
            op,
            &[m.rows, m.cols],
            &[n, s],
            "key_padding_mask must be [N, S]",
        ));
    }
    Ok(match (attn_mask, key_padding_mask) {
        (None, None) => None,
        (Some(a), None) => Some(a.to_additive(&[1, 1, l, s])),
        (a, Some(p)) => {
            let mut v = vec![T::zero(); n * l * s];
            for b in 0..n {
                for i in 0..l {
                    for j in 0..s {
                        if p.get(b, j) || a.is_some_and(|a| a.get(i, j)) {
                            v[(b * l + i) * s + j] = T::neg_infinity();
                        }
                    }
                }
            }
            Some(Tensor::from_vec(v, &[n, 1, l, s]))
        }
    })
}
