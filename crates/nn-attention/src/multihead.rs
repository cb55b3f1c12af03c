//! [`MultiHeadAttention`] with PyTorch's layout (`nn.MultiheadAttention`,
//! `batch_first=True`).

use nn_autograd::{Parameter, Var};
use nn_tensor::{or_panic, Element, Result, Rng, Tensor, TensorError};

use crate::functional::attend;
use crate::fused::{fused_attention, AttnDims, HeadLayout, Heads};
use crate::mask::{combined_mask, Mask};
use nn_layers::functional::linear as affine;
use nn_layers::Linear;

use crate::parts::{
    named_under, new_linear, require_dropout, require_sizes, DropoutRng, ModeFlag, Weights,
};

/// Keys and values already projected and split into heads
/// (`[N, heads, S, head_dim]` each): what a KV cache stores.
#[derive(Clone, Debug)]
pub struct ProjectedKv<T: Element> {
    /// Keys `[N, heads, S, d]`.
    pub k: Var<T>,
    /// Values `[N, heads, S, d]`.
    pub v: Var<T>,
}

impl<T: Element> ProjectedKv<T> {
    /// Appends the keys and values of new positions (along S).
    pub fn append(&self, more: &ProjectedKv<T>) -> ProjectedKv<T> {
        ProjectedKv {
            k: Var::concat(&[&self.k, &more.k], 2),
            v: Var::concat(&[&self.v, &more.v], 2),
        }
    }

    /// The number of positions held (S).
    pub fn len(&self) -> usize {
        self.k.shape()[2]
    }

    /// True when no position is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `(attn_mask [L, S], key_padding_mask [N, S])`, as the private steps of
/// the forward pass hand them on.
type Masks<'a> = (Option<&'a Mask>, Option<&'a Mask>);

/// The four tensors of a [`MultiHeadAttention`] as vars of one graph.
struct MhaVars<T: Element> {
    in_w: Var<T>,
    in_b: Option<Var<T>>,
    out_w: Var<T>,
    out_b: Option<Var<T>>,
}

/// Multi-head attention: `h` heads of scaled dot-product attention on
/// learned projections, concatenated and projected back.
///
/// Parameters (PyTorch names): `in_proj_weight [3E, E]` (rows of `W_q`,
/// `W_k`, `W_v`), `in_proj_bias [3E]`, `out_proj.weight [E, E]`,
/// `out_proj.bias [E]`. Tensors are batch-first: `query [N, L, E]`,
/// `key`/`value [N, S, E]`.
///
/// ```
/// use nn_attention::{Mask, MultiHeadAttentionConfig};
/// use nn_tensor::{Rng, Tensor};
/// let mha = MultiHeadAttentionConfig::new(8, 2).init::<f32>(&mut Rng::seed_from(0))?;
/// let x = Tensor::ones(&[3, 5, 8]);
/// let (y, w) = mha.forward(&x, &x, &x, Some(&Mask::causal(5)), None, true);
/// assert_eq!((y.shape(), w.unwrap().shape()), (&[3, 5, 8][..], &[3, 5, 5][..]));
///
/// let err = MultiHeadAttentionConfig::new(8, 0).init::<f32>(&mut Rng::seed_from(0));
/// assert!(err.unwrap_err().to_string().contains("MultiHeadAttention: num_heads = 0"));
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MultiHeadAttention<T: Element> {
    embed_dim: usize,
    num_heads: usize,
    /// `[3E, E]`.
    pub in_proj_weight: Parameter<T>,
    /// `[3E]`.
    pub in_proj_bias: Option<Parameter<T>>,
    /// The output projection `out_proj`.
    pub out_proj: Linear<T>,
    dropout: f64,
    pub(crate) training: ModeFlag,
    pub(crate) drop: DropoutRng,
}

/// The configuration of a [`MultiHeadAttention`] (`nn.MultiheadAttention`),
/// with PyTorch's defaults: no dropout on the attention weights, biases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiHeadAttentionConfig {
    /// E, the width of queries, keys, values and output.
    pub embed_dim: usize,
    /// Heads (they must divide `embed_dim`).
    pub num_heads: usize,
    /// Dropout on the attention weights in training mode (default 0).
    pub dropout: f64,
    /// Biases in the input and output projections (default true).
    pub bias: bool,
}

impl MultiHeadAttentionConfig {
    /// `num_heads` heads over width `embed_dim`, no dropout, with biases.
    pub fn new(embed_dim: usize, num_heads: usize) -> Self {
        MultiHeadAttentionConfig {
            embed_dim,
            num_heads,
            dropout: 0.0,
            bias: true,
        }
    }

    /// Sets the dropout on the attention weights.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Sets whether the projections have biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// The layer, with PyTorch's initialisation: Xavier-uniform
    /// `in_proj_weight`, zero biases, `out_proj.weight` as in `Linear`.
    ///
    /// # Errors
    /// If `embed_dim` or `num_heads` is 0, `num_heads` does not divide
    /// `embed_dim`, or `dropout` is outside `[0, 1)`; the message names the
    /// layer and the value.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<MultiHeadAttention<T>> {
        let what = "MultiHeadAttention";
        let (embed_dim, num_heads) = (self.embed_dim, self.num_heads);
        require_sizes(what, &[("embed_dim", embed_dim), ("num_heads", num_heads)])?;
        if !embed_dim.is_multiple_of(num_heads) {
            return Err(TensorError::invalid(
                what,
                format!("embed_dim {embed_dim} must be divisible by num_heads {num_heads}"),
            ));
        }
        require_dropout(what, "dropout", self.dropout)?;
        let a = (6.0 / (4 * embed_dim) as f64).sqrt(); // fan_in E, fan_out 3E
        let out_proj = new_linear(embed_dim, embed_dim, self.bias, rng)?;
        if let Some(b) = &out_proj.bias {
            b.set_value(Tensor::zeros(&[embed_dim]));
        }
        Ok(MultiHeadAttention {
            embed_dim,
            num_heads,
            in_proj_weight: Parameter::new(Tensor::rand_uniform(
                &[3 * embed_dim, embed_dim],
                -a,
                a,
                rng,
            )),
            in_proj_bias: self
                .bias
                .then(|| Parameter::new(Tensor::zeros(&[3 * embed_dim]))),
            out_proj,
            dropout: self.dropout,
            training: ModeFlag::default(),
            drop: DropoutRng::new(rng),
        })
    }
}

impl<T: Element> MultiHeadAttention<T> {
    /// E.
    pub fn embed_dim(&self) -> usize {
        self.embed_dim
    }

    /// h.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// PyTorch `state_dict` names under `prefix` (e.g. `"self_attn."`).
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        named_under(self, prefix)
    }

    /// The own parameters as vars of the graph being built.
    fn own_vars(&self) -> MhaVars<T> {
        MhaVars {
            in_w: self.in_proj_weight.var(),
            in_b: self.in_proj_bias.as_ref().map(Parameter::var),
            out_w: self.out_proj.weight.var(),
            out_b: self.out_proj.bias.as_ref().map(Parameter::var),
        }
    }

    /// Looks the weights up under `{prefix}in_proj_weight` etc.
    fn vars_from(&self, w: &Weights<'_, T>, prefix: &str) -> Result<MhaVars<T>> {
        Ok(MhaVars {
            in_w: w.get(&format!("{prefix}in_proj_weight"))?,
            in_b: w.get_if(
                self.in_proj_bias.is_some(),
                &format!("{prefix}in_proj_bias"),
            )?,
            out_w: w.get(&format!("{prefix}out_proj.weight"))?,
            out_b: w.get_if(
                self.out_proj.bias.is_some(),
                &format!("{prefix}out_proj.bias"),
            )?,
        })
    }

    /// Projection `which` (0 = q, 1 = k, 2 = v) of `x [N, *, E]`.
    fn project(&self, mv: &MhaVars<T>, x: &Var<T>, which: usize) -> Result<Var<T>> {
        let e = self.embed_dim;
        let w = mv.in_w.narrow(0, which * e, e);
        let b = mv.in_b.as_ref().map(|b| b.narrow(0, which * e, e));
        affine(x, &w, b.as_ref())
    }

    /// `[N, S, E]` → `[N, h, S, d]`.
    fn split_heads(&self, x: &Var<T>) -> Var<T> {
        let (n, s) = (x.shape()[0], x.shape()[1]);
        let h = self.num_heads;
        x.reshape([n, s, h, self.embed_dim / h])
            .permute(&[0, 2, 1, 3])
    }

    fn check(&self, what: &str, x: &Var<T>) -> Result<()> {
        if x.ndim() != 3 || x.shape()[2] != self.embed_dim {
            return Err(TensorError::invalid(
                "MultiHeadAttention::forward",
                format!(
                    "{what} must be [N, len, {}] (batch first), got {:?}",
                    self.embed_dim,
                    x.shape()
                ),
            ));
        }
        Ok(())
    }

    /// Projects `key` and `value` (`[N, S, E]`) and splits them into heads:
    /// computed once per memory when decoding, then reused.
    pub fn try_project_kv(&self, key: &Var<T>, value: &Var<T>) -> Result<ProjectedKv<T>> {
        self.check("key", key)?;
        self.check("value", value)?;
        self.project_kv_with(&self.own_vars(), key, value)
    }

    fn project_kv_with(
        &self,
        mv: &MhaVars<T>,
        key: &Var<T>,
        value: &Var<T>,
    ) -> Result<ProjectedKv<T>> {
        Ok(ProjectedKv {
            k: self.split_heads(&self.project(mv, key, 1)?),
            v: self.split_heads(&self.project(mv, value, 2)?),
        })
    }

    /// Attention of `query [N, L, E]` over keys and values that are already
    /// projected (a KV cache). Masks as in [`MultiHeadAttention::try_forward`].
    pub fn try_forward_projected(
        &self,
        query: &Var<T>,
        kv: &ProjectedKv<T>,
        attn_mask: Option<&Mask>,
        key_padding_mask: Option<&Mask>,
        need_weights: bool,
    ) -> Result<(Var<T>, Option<Var<T>>)> {
        self.check("query", query)?;
        let mv = self.own_vars();
        let q = self.project(&mv, query, 0)?;
        if need_weights {
            let q = self.split_heads(&q);
            return self.heads_to_output(&mv, &q, kv, (attn_mask, key_padding_mask));
        }
        let (h, d, l, s) = (self.num_heads, self.head_dim(), q.shape()[1], kv.len());
        let split = HeadLayout::split(h, s, d);
        let out = self.fused(
            &mv,
            [
                Heads {
                    var: &q,
                    layout: HeadLayout::packed(l, self.embed_dim, 0, d),
                },
                Heads {
                    var: &kv.k,
                    layout: split,
                },
                Heads {
                    var: &kv.v,
                    layout: split,
                },
            ],
            (q.shape()[0], kv.k.shape()[0], l, s),
            (attn_mask, key_padding_mask),
        )?;
        Ok((out, None))
    }

    /// d = E / h.
    fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }

    /// The fused path: attention of the query heads over the key and value
    /// heads where they lie (no head-splitting copies), then `out_proj`.
    /// `sizes` = (query batch, key batch, L, S).
    fn fused(
        &self,
        mv: &MhaVars<T>,
        [q, k, v]: [Heads<'_, T>; 3],
        (n, nk, l, s): (usize, usize, usize, usize),
        (attn_mask, key_padding_mask): Masks<'_>,
    ) -> Result<Var<T>> {
        let op = "MultiHeadAttention::forward";
        if nk != n {
            return Err(TensorError::shapes(
                op,
                q.var.shape(),
                k.var.shape(),
                "query and key batch sizes differ",
            ));
        }
        let mask = combined_mask::<T>(op, n, l, s, attn_mask, key_padding_mask)?;
        let h = self.num_heads;
        let keep = (self.training.get() && self.dropout > 0.0).then(|| {
            // The same draws as the unfused path: one per weight, [N, h, L, S].
            self.drop.with(|rng| {
                Tensor::<T>::rand_bernoulli(&[n, h, l, s], 1.0 - self.dropout, rng)
                    .mul_scalar(T::of(1.0 / (1.0 - self.dropout)))
            })
        });
        let dims = AttnDims {
            batch: n,
            heads: h,
            l,
            s,
            d: self.head_dim(),
        };
        let scale = T::of(1.0 / (self.head_dim() as f64).sqrt());
        let (y, _) = fused_attention(q, k, v, dims, mask.as_ref(), scale, keep);
        affine(&y, &mv.out_w, mv.out_b.as_ref())
    }

    /// The unfused path, which also returns the weights averaged over heads.
    fn heads_to_output(
        &self,
        mv: &MhaVars<T>,
        q: &Var<T>,
        kv: &ProjectedKv<T>,
        (attn_mask, key_padding_mask): Masks<'_>,
    ) -> Result<(Var<T>, Option<Var<T>>)> {
        let (n, l, s) = (q.shape()[0], q.shape()[2], kv.len());
        if kv.k.shape()[0] != n {
            return Err(TensorError::shapes(
                "MultiHeadAttention::forward",
                q.shape(),
                kv.k.shape(),
                "query and key batch sizes differ",
            ));
        }
        let mask = combined_mask::<T>(
            "MultiHeadAttention::forward",
            n,
            l,
            s,
            attn_mask,
            key_padding_mask,
        )?;
        let scale = 1.0 / ((self.embed_dim / self.num_heads) as f64).sqrt();
        let (y, p) = if self.training.get() && self.dropout > 0.0 {
            self.drop.with(|rng| {
                attend(
                    q,
                    &kv.k,
                    &kv.v,
                    mask.as_ref(),
                    scale,
                    Some((self.dropout, rng)),
                )
            })?
        } else {
            attend(q, &kv.k, &kv.v, mask.as_ref(), scale, None)?
        };
        let merged = y.permute(&[0, 2, 1, 3]).reshape([n, l, self.embed_dim]);
        let out = affine(&merged, &mv.out_w, mv.out_b.as_ref())?;
        Ok((out, Some(p.mean_dims(&[1], false))))
    }

    /// Attention of `query [N, L, E]` over `key [N, S, E]` and `value
    /// [N, S, E]`. `attn_mask [L, S]` and `key_padding_mask [N, S]` use
    /// `true` = masked out. Returns `y [N, L, E]` and, when `need_weights`,
    /// the weights averaged over heads `[N, L, S]`.
    pub fn try_forward(
        &self,
        query: &Var<T>,
        key: &Var<T>,
        value: &Var<T>,
        attn_mask: Option<&Mask>,
        key_padding_mask: Option<&Mask>,
        need_weights: bool,
    ) -> Result<(Var<T>, Option<Var<T>>)> {
        // Traced as one layer: `query`, `key`, `value`, the two masks and
        // `need_weights` in, `y` (and the weights) out.
        nn_autograd::trace::layer(
            self,
            || {
                let mut i = nn_autograd::trace::vars(&[query, key, value]);
                i.push(Box::new(attn_mask.cloned()));
                i.push(Box::new(key_padding_mask.cloned()));
                i.push(Box::new(need_weights));
                i
            },
            || {
                let masks = (attn_mask, key_padding_mask);
                self.forward_vars(&self.own_vars(), [query, key, value], masks, need_weights)
            },
            |r| match r {
                Ok((y, None)) => nn_autograd::trace::vars(&[y]),
                Ok((y, Some(w))) => nn_autograd::trace::vars(&[y, w]),
                Err(_) => Vec::new(),
            },
        )
    }

    /// [`MultiHeadAttention::try_forward`] on weights looked up in `w` under
    /// `{prefix}in_proj_weight`, `{prefix}in_proj_bias`,
    /// `{prefix}out_proj.weight`, `{prefix}out_proj.bias`.
    #[allow(clippy::too_many_arguments)]
    pub fn try_forward_with(
        &self,
        w: &Weights<'_, T>,
        prefix: &str,
        query: &Var<T>,
        key: &Var<T>,
        value: &Var<T>,
        attn_mask: Option<&Mask>,
        key_padding_mask: Option<&Mask>,
        need_weights: bool,
    ) -> Result<(Var<T>, Option<Var<T>>)> {
        let mv = self.vars_from(w, prefix)?;
        let masks = (attn_mask, key_padding_mask);
        self.forward_vars(&mv, [query, key, value], masks, need_weights)
    }

    /// [`MultiHeadAttention::try_forward`] on the weights `mv`.
    fn forward_vars(
        &self,
        mv: &MhaVars<T>,
        [query, key, value]: [&Var<T>; 3],
        masks: Masks<'_>,
        need_weights: bool,
    ) -> Result<(Var<T>, Option<Var<T>>)> {
        self.check("query", query)?;
        self.check("key", key)?;
        self.check("value", value)?;
        if key.shape()[..2] != value.shape()[..2] {
            return Err(TensorError::shapes(
                "MultiHeadAttention::forward",
                key.shape(),
                value.shape(),
                "key and value need the same batch size and length",
            ));
        }
        let same = query.id() == key.id() && key.id() == value.id();
        if need_weights {
            // The weights are returned as a differentiable var, which the
            // fused kernel does not provide: compose the generic ops.
            let (q, kv) = if same {
                // Self-attention: one GEMM for q, k and v together.
                let qkv = affine(query, &mv.in_w, mv.in_b.as_ref())?;
                let e = self.embed_dim;
                let parts = qkv.split(2, &[e, e, e]);
                (
                    self.split_heads(&parts[0]),
                    ProjectedKv {
                        k: self.split_heads(&parts[1]),
                        v: self.split_heads(&parts[2]),
                    },
                )
            } else {
                (
                    self.split_heads(&self.project(mv, query, 0)?),
                    self.project_kv_with(mv, key, value)?,
                )
            };
            return self.heads_to_output(mv, &q, &kv, masks);
        }
        let (e, d) = (self.embed_dim, self.head_dim());
        let (n, l, s) = (query.shape()[0], query.shape()[1], key.shape()[1]);
        let sizes = (n, key.shape()[0], l, s);
        let out = if same {
            // Self-attention: one GEMM for q, k and v together, whose heads
            // the kernel reads in place.
            let qkv = affine(query, &mv.in_w, mv.in_b.as_ref())?;
            let at = |col| Heads {
                var: &qkv,
                layout: HeadLayout::packed(l, 3 * e, col, d),
            };
            self.fused(mv, [at(0), at(e), at(2 * e)], sizes, masks)?
        } else {
            let q = self.project(mv, query, 0)?;
            let qh = Heads {
                var: &q,
                layout: HeadLayout::packed(l, e, 0, d),
            };
            if key.id() == value.id() {
                // Keys and values of one memory: one GEMM for both.
                let w = mv.in_w.narrow(0, e, 2 * e);
                let b = mv.in_b.as_ref().map(|b| b.narrow(0, e, 2 * e));
                let kv = affine(key, &w, b.as_ref())?;
                let at = |col| Heads {
                    var: &kv,
                    layout: HeadLayout::packed(s, 2 * e, col, d),
                };
                self.fused(mv, [qh, at(0), at(e)], sizes, masks)?
            } else {
                let (k, v) = (self.project(mv, key, 1)?, self.project(mv, value, 2)?);
                let at = |var| Heads {
                    var,
                    layout: HeadLayout::packed(s, e, 0, d),
                };
                self.fused(mv, [qh, at(&k), at(&v)], sizes, masks)?
            }
        };
        Ok((out, None))
    }

    /// Panicking [`MultiHeadAttention::try_forward`]; `query`, `key` and
    /// `value` are anything that turns into a var (a `&Tensor` is a constant
    /// input; pass the same `&Var` three times for self-attention's one GEMM).
    #[track_caller]
    pub fn forward(
        &self,
        query: impl Into<Var<T>>,
        key: impl Into<Var<T>>,
        value: impl Into<Var<T>>,
        attn_mask: Option<&Mask>,
        key_padding_mask: Option<&Mask>,
        need_weights: bool,
    ) -> (Var<T>, Option<Var<T>>) {
        let (q, k, v) = (query.into(), key.into(), value.into());
        or_panic(self.try_forward(&q, &k, &v, attn_mask, key_padding_mask, need_weights))
    }
}
