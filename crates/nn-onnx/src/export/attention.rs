//! [`MultiHeadAttention`], [`TransformerEncoderLayer`] and
//! [`TransformerDecoderLayer`] from opset-17 operators (there is no
//! attention operator before opset 23): the projections as `MatMul` and
//! `Add` on slices of `in_proj_weight` (kept whole under its PyTorch
//! name), the heads split by `Reshape` and `Transpose`, `softmax(q·kᵀ/√d)·v`,
//! the heads merged and `out_proj`. The masks of a traced call (an
//! attention mask `[L, S]`, a key-padding mask `[N, S]`) are added to the
//! scores as constants (`−∞` where masked), as the library adds them.

use nn_attention::{
    Activation, DecoderMasks, Mask, MultiHeadAttention, TransformerDecoderLayer,
    TransformerEncoderLayer,
};
use nn_autograd::Var;
use nn_layers::activation::GeluApproximation;
use nn_layers::{LayerNorm, Module};
use nn_tensor::Tensor;

use super::{int, unsupported, wrong_inputs, Builder, Port, Signature, Traced};
use crate::error::Result;
use crate::value::Value;

/// The masks of one attention call (`true` = masked out).
#[derive(Clone, Copy, Default)]
pub(super) struct AttnMasks<'a> {
    /// `[L, S]`, e.g. causal.
    pub(super) attn: Option<&'a Mask>,
    /// `[N, S]`.
    pub(super) key_padding: Option<&'a Mask>,
}

impl Builder {
    /// [`super::export_layer`] for an attention layer; `None` for another
    /// module.
    pub(super) fn attention_layer(
        &mut self,
        m: &dyn Module<f32>,
        inputs: &[Tensor<f32>],
    ) -> Result<Option<Signature>> {
        let any: &dyn std::any::Any = m;
        let seq = [(0, "batch"), (1, "seq")];
        let memory = [(0, "batch"), (1, "memory_seq")];
        let vars: Vec<Traced> = inputs
            .iter()
            .zip(["query", "key", "value"])
            .map(|(t, n)| (n.to_string(), Var::constant(t.clone())))
            .collect();
        if let Some(a) = any.downcast_ref::<MultiHeadAttention<f32>>() {
            let (q, k, v) = match &vars[..] {
                [q] => (q, q, q),
                [q, k, v] => (q, k, v),
                _ => {
                    return Err(wrong_inputs(
                        "MultiHeadAttention",
                        "1 (query) or 3 (query, key, value)",
                        inputs.len(),
                    ))
                }
            };
            let y = self.mha(a, "", q, k, v, AttnMasks::default())?;
            let mut ins = vec![Port::new("query", q.1.shape(), &seq)];
            if inputs.len() == 3 {
                ins.push(Port::new("key", k.1.shape(), &memory));
                ins.push(Port::new("value", v.1.shape(), &memory));
            }
            let outs = vec![Port::new(&y.0, y.1.shape(), &seq)];
            return Ok(Some(Signature {
                inputs: ins,
                outputs: outs,
            }));
        }
        if let Some(l) = any.downcast_ref::<TransformerEncoderLayer<f32>>() {
            let [src] = inputs else {
                return Err(wrong_inputs(
                    "TransformerEncoderLayer",
                    "1 (src)",
                    inputs.len(),
                ));
            };
            let x = ("src".to_string(), Var::constant(src.clone()));
            let y = self.encoder_layer(l, "", &x, AttnMasks::default())?;
            return Ok(Some(Signature {
                inputs: vec![Port::new("src", src.shape(), &seq)],
                outputs: vec![Port::new(&y.0, y.1.shape(), &seq)],
            }));
        }
        if let Some(l) = any.downcast_ref::<TransformerDecoderLayer<f32>>() {
            let [tgt, mem] = inputs else {
                return Err(wrong_inputs(
                    "TransformerDecoderLayer",
                    "2 (tgt, memory)",
                    inputs.len(),
                ));
            };
            let x = ("tgt".to_string(), Var::constant(tgt.clone()));
            let mem_t = ("memory".to_string(), Var::constant(mem.clone()));
            let y = self.decoder_layer(l, "", &x, &mem_t, DecoderMasks::default())?;
            return Ok(Some(Signature {
                inputs: vec![
                    Port::new("tgt", tgt.shape(), &seq),
                    Port::new("memory", mem.shape(), &memory),
                ],
                outputs: vec![Port::new(&y.0, y.1.shape(), &seq)],
            }));
        }
        Ok(None)
    }

    /// Attention layers inside a model given to [`super::export`]: one
    /// input; multi-head attention is self-attention.
    pub(super) fn attention_in_chain(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Option<Traced>> {
        let any: &dyn std::any::Any = m;
        if let Some(a) = any.downcast_ref::<MultiHeadAttention<f32>>() {
            return self.mha(a, prefix, x, x, x, AttnMasks::default()).map(Some);
        }
        if let Some(l) = any.downcast_ref::<TransformerEncoderLayer<f32>>() {
            return self
                .encoder_layer(l, prefix, x, AttnMasks::default())
                .map(Some);
        }
        Ok(None)
    }

    /// Multi-head attention of `q [N, L, E]` over `k`, `v [N, S, E]`.
    pub(super) fn mha(
        &mut self,
        a: &MultiHeadAttention<f32>,
        prefix: &str,
        q: &Traced,
        k: &Traced,
        v: &Traced,
        masks: AttnMasks<'_>,
    ) -> Result<Traced> {
        let (y, _) = a
            .try_forward(&q.1, &k.1, &v.1, masks.attn, masks.key_padding, false)
            .map_err(|e| unsupported(prefix, format!("the example inputs: {e}")))?;
        let (e, h) = (a.embed_dim(), a.num_heads());
        let d = e / h;
        let w = self.required(a, prefix, "in_proj_weight")?;
        let b = self.param(a, prefix, "in_proj_bias");
        let wt = self.transpose(&w, &[1, 0]);
        // Projection `which` (0 q, 1 k, 2 v), split into heads [N, h, len, d].
        let mut heads = Vec::new();
        for (which, x) in [q, k, v].into_iter().enumerate() {
            let wp = self.slice(&wt, 1, which * e, (which + 1) * e)?;
            let mut p = self.node("MatMul", &[&x.0, &wp], vec![]);
            if let Some(b) = &b {
                let bp = self.slice(b, 0, which * e, (which + 1) * e)?;
                p = self.node("Add", &[&p, &bp], vec![]);
            }
            let split = self.reshape(&p, vec![0, 0, h as i64, d as i64])?;
            // Keys go straight to [N, h, d, S] for q·kᵀ.
            let perm: &[usize] = if which == 1 {
                &[0, 2, 3, 1]
            } else {
                &[0, 2, 1, 3]
            };
            heads.push(self.transpose(&split, perm));
        }
        let scores = self.node("MatMul", &[&heads[0], &heads[1]], vec![]);
        let scale = self.scalar(1.0 / (d as f32).sqrt());
        let mut scaled = self.node("Mul", &[&scores, &scale], vec![]);
        // Scores [N, h, L, S]; the masks broadcast over heads (and batch).
        let (n, l, s) = (q.1.shape()[0], q.1.shape()[1], k.1.shape()[1]);
        let additive = [
            (masks.attn, [1, 1, l, s]),
            (masks.key_padding, [n, 1, 1, s]),
        ];
        for (m, shape) in additive {
            if let Some(m) = m {
                let c = self.constant("mask", Value::Float(m.to_additive(&shape)));
                scaled = self.node("Add", &[&scaled, &c], vec![]);
            }
        }
        let p = self.node("Softmax", &[&scaled], vec![int("axis", -1)]);
        let o = self.node("MatMul", &[&p, &heads[2]], vec![]);
        let o = self.transpose(&o, &[0, 2, 1, 3]);
        let merged = self.reshape(&o, vec![0, 0, e as i64])?;
        let out_prefix = format!("{prefix}out_proj.");
        let ow = self.required(&a.out_proj, &out_prefix, "weight")?;
        let owt = self.transpose(&ow, &[1, 0]);
        let mut out = self.node("MatMul", &[&merged, &owt], vec![]);
        if let Some(ob) = self.param(&a.out_proj, &out_prefix, "bias") {
            out = self.node("Add", &[&out, &ob], vec![]);
        }
        Ok((out, y))
    }

    /// `linear2(act(linear1(x)))`.
    fn feed_forward(
        &mut self,
        l1: &nn_layers::Linear<f32>,
        l2: &nn_layers::Linear<f32>,
        act: Activation,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let h = self.child(l1, prefix, "linear1", x)?;
        let h = match act {
            Activation::Relu => self.relu(&h),
            Activation::Gelu => {
                let name = self.gelu(&h.0, GeluApproximation::None);
                (name, h.1.gelu())
            }
        };
        self.child(l2, prefix, "linear2", &h)
    }

    /// One residual sublayer of a Transformer layer: `x + f(norm(x))`
    /// with `norm_first` (pre-norm), else `norm(x + f(x))` (post-norm).
    #[allow(clippy::too_many_arguments)]
    fn sublayer(
        &mut self,
        norm_first: bool,
        norm: &LayerNorm<f32>,
        prefix: &str,
        norm_name: &str,
        x: &Traced,
        f: impl FnOnce(&mut Self, &Traced) -> Result<Traced>,
    ) -> Result<Traced> {
        if norm_first {
            let n = self.child(norm, prefix, norm_name, x)?;
            let a = f(self, &n)?;
            self.add(x, &a, prefix)
        } else {
            let a = f(self, x)?;
            let s = self.add(x, &a, prefix)?;
            self.child(norm, prefix, norm_name, &s)
        }
    }

    /// Self-attention and feed-forward, each with its residual sum and
    /// LayerNorm (post-norm, or pre-norm with `norm_first`).
    pub(super) fn encoder_layer(
        &mut self,
        l: &TransformerEncoderLayer<f32>,
        prefix: &str,
        x: &Traced,
        masks: AttnMasks<'_>,
    ) -> Result<Traced> {
        let c = *l.options();
        let sa = format!("{prefix}self_attn.");
        let first = c.norm_first;
        let h = self.sublayer(first, &l.norm1, prefix, "norm1", x, |b, z| {
            b.mha(&l.self_attn, &sa, z, z, z, masks)
        })?;
        let y = self.sublayer(first, &l.norm2, prefix, "norm2", &h, |b, z| {
            b.feed_forward(l.linear1(), l.linear2(), c.activation, prefix, z)
        })?;
        // The value is the layer's own (its fused attention may round
        // differently from the parts traced above).
        let own = l
            .try_forward(&x.1, masks.attn, masks.key_padding)
            .map_err(|e| unsupported(prefix, format!("the example input: {e}")))?;
        Ok((y.0, own))
    }

    /// Self-attention, cross-attention over `memory`, feed-forward, each
    /// with its residual sum and LayerNorm.
    pub(super) fn decoder_layer(
        &mut self,
        l: &TransformerDecoderLayer<f32>,
        prefix: &str,
        x: &Traced,
        memory: &Traced,
        masks: DecoderMasks<'_>,
    ) -> Result<Traced> {
        let c = *l.options();
        let (sa, ca) = (
            format!("{prefix}self_attn."),
            format!("{prefix}multihead_attn."),
        );
        let self_masks = AttnMasks {
            attn: masks.tgt_mask,
            key_padding: masks.tgt_key_padding_mask,
        };
        let cross_masks = AttnMasks {
            attn: masks.memory_mask,
            key_padding: masks.memory_key_padding_mask,
        };
        let first = c.norm_first;
        let h = self.sublayer(first, &l.norm1, prefix, "norm1", x, |b, z| {
            b.mha(&l.self_attn, &sa, z, z, z, self_masks)
        })?;
        let h = self.sublayer(first, &l.norm2, prefix, "norm2", &h, |b, z| {
            b.mha(&l.multihead_attn, &ca, z, memory, memory, cross_masks)
        })?;
        let y = self.sublayer(first, &l.norm3, prefix, "norm3", &h, |b, z| {
            b.feed_forward(l.linear1(), l.linear2(), c.activation, prefix, z)
        })?;
        let own = l
            .try_forward(&x.1, &memory.1, masks)
            .map_err(|e| unsupported(prefix, format!("the example inputs: {e}")))?;
        Ok((y.0, own))
    }
}
