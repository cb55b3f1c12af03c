//! [`TransformerEncoderLayer`] and [`TransformerDecoderLayer`] (PyTorch's,
//! batch-first), post-norm or pre-norm, relu or gelu, with dropout.

use nn_autograd::{Parameter, Var};
use nn_tensor::{or_panic, Element, Result, Rng, TensorError};

use crate::mask::Mask;
use crate::multihead::{MultiHeadAttention, MultiHeadAttentionConfig, ProjectedKv};
use nn_layers::{LayerNorm, Linear};

use crate::parts::{
    layer_norm_with, linear_with, named_under, new_layer_norm, new_linear, require_dropout,
    require_eps, require_sizes, DropoutRng, ModeFlag, Weights,
};

/// The feed-forward activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// `max(0, x)` (PyTorch's default).
    #[default]
    Relu,
    /// Exact GELU `x·Φ(x)` (BERT, GPT).
    Gelu,
}

/// The hyper-parameters of a Transformer layer of either kind, with
/// PyTorch's defaults: what [`TransformerEncoderLayerConfig`],
/// [`TransformerDecoderLayerConfig`] and [`TransformerConfig`](crate::TransformerConfig)
/// hold (set them through those configs' `with_*` methods) and what a built
/// layer reports through `options()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerLayerOptions {
    /// E.
    pub d_model: usize,
    /// Attention heads (E must be divisible by it).
    pub nhead: usize,
    /// Hidden width of the feed-forward block (default 2048).
    pub dim_feedforward: usize,
    /// Dropout after attention, inside and after the feed-forward block, and
    /// on the attention weights (default 0.1).
    pub dropout: f64,
    /// Feed-forward activation (default relu).
    pub activation: Activation,
    /// LayerNorm epsilon (default 1e-5).
    pub layer_norm_eps: f64,
    /// Pre-norm (`x + f(norm(x))`) instead of post-norm (`norm(x + f(x))`); default false.
    pub norm_first: bool,
    /// Biases in the linear maps (default true).
    pub bias: bool,
}

impl TransformerLayerOptions {
    /// PyTorch's defaults for the given width and heads.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerLayerOptions {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            norm_first: false,
            bias: true,
        }
    }

    /// An error naming `layer`, the field and its value unless every field
    /// makes sense (checked before any weight is drawn).
    pub(crate) fn validate(&self, layer: &'static str) -> Result<()> {
        require_sizes(
            layer,
            &[
                ("d_model", self.d_model),
                ("nhead", self.nhead),
                ("dim_feedforward", self.dim_feedforward),
            ],
        )?;
        if !self.d_model.is_multiple_of(self.nhead) {
            return Err(TensorError::invalid(
                layer,
                format!(
                    "d_model {} must be divisible by nhead {}",
                    self.d_model, self.nhead
                ),
            ));
        }
        require_dropout(layer, "dropout", self.dropout)?;
        require_eps(layer, "layer_norm_eps", self.layer_norm_eps)
    }

    /// A [`MultiHeadAttention`] over `d_model` with `nhead` heads, `dropout`
    /// on its weights and `bias`.
    fn attention<T: Element>(&self, rng: &mut Rng) -> Result<MultiHeadAttention<T>> {
        MultiHeadAttentionConfig::new(self.d_model, self.nhead)
            .with_dropout(self.dropout)
            .with_bias(self.bias)
            .init(rng)
    }

    /// A LayerNorm over `d_model` with `layer_norm_eps`.
    pub(crate) fn layer_norm<T: Element>(&self) -> Result<LayerNorm<T>> {
        new_layer_norm(self.d_model, self.layer_norm_eps)
    }
}

/// The `with_*` setters of the configs that hold a
/// [`TransformerLayerOptions`] in their `options` field.
macro_rules! layer_option_setters {
    () => {
        /// With another hidden width of the feed-forward block (default 2048).
        pub fn with_dim_feedforward(mut self, dim_feedforward: usize) -> Self {
            self.options.dim_feedforward = dim_feedforward;
            self
        }
        /// With another dropout probability (default 0.1).
        pub fn with_dropout(mut self, p: f64) -> Self {
            self.options.dropout = p;
            self
        }
        /// With another feed-forward activation (default relu).
        pub fn with_activation(mut self, activation: $crate::Activation) -> Self {
            self.options.activation = activation;
            self
        }
        /// With another LayerNorm epsilon (default 1e-5).
        pub fn with_layer_norm_eps(mut self, eps: f64) -> Self {
            self.options.layer_norm_eps = eps;
            self
        }
        /// Pre-norm (`true`) or post-norm (`false`, the default).
        pub fn with_norm_first(mut self, norm_first: bool) -> Self {
            self.options.norm_first = norm_first;
            self
        }
        /// With or without biases in the linear maps (default with).
        pub fn with_bias(mut self, bias: bool) -> Self {
            self.options.bias = bias;
            self
        }
    };
}
pub(crate) use layer_option_setters;

/// How to build a [`TransformerEncoderLayer`] (PyTorch's
/// `nn.TransformerEncoderLayer(d_model, nhead, ...)`), with PyTorch's
/// defaults.
///
/// ```
/// use nn_attention::TransformerEncoderLayerConfig;
/// use nn_tensor::Rng;
/// let mut rng = Rng::seed_from(0);
/// let layer = TransformerEncoderLayerConfig::new(8, 2)
///     .with_dim_feedforward(32)
///     .with_norm_first(true)
///     .init::<f32>(&mut rng)?;
/// assert_eq!(layer.options().dim_feedforward, 32);
///
/// let err = TransformerEncoderLayerConfig::new(10, 4).init::<f32>(&mut rng).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "TransformerEncoderLayer: d_model 10 must be divisible by nhead 4"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerEncoderLayerConfig {
    /// The hyper-parameters.
    pub options: TransformerLayerOptions,
}

impl TransformerEncoderLayerConfig {
    /// A layer of width `d_model` with `nhead` heads and PyTorch's defaults.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerEncoderLayerConfig {
            options: TransformerLayerOptions::new(d_model, nhead),
        }
    }

    layer_option_setters!();

    /// The layer, with PyTorch's initialisation.
    ///
    /// # Errors
    /// If a size is 0, `nhead` does not divide `d_model`, `dropout` is
    /// outside `[0, 1)` or `layer_norm_eps` is not positive; the message
    /// names the layer and the value.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<TransformerEncoderLayer<T>> {
        let o = self.options;
        o.validate("TransformerEncoderLayer")?;
        Ok(TransformerEncoderLayer {
            options: o,
            self_attn: o.attention(rng)?,
            ff: FeedForward::new(&o, rng)?,
            norm1: o.layer_norm()?,
            norm2: o.layer_norm()?,
            training: ModeFlag::default(),
            drop: DropoutRng::new(rng),
        })
    }
}

/// How to build a [`TransformerDecoderLayer`] (PyTorch's
/// `nn.TransformerDecoderLayer(d_model, nhead, ...)`), with PyTorch's
/// defaults.
///
/// ```
/// use nn_attention::TransformerDecoderLayerConfig;
/// use nn_tensor::Rng;
/// let mut rng = Rng::seed_from(0);
/// let layer = TransformerDecoderLayerConfig::new(8, 2)
///     .with_dropout(0.0)
///     .init::<f32>(&mut rng)?;
/// assert_eq!(layer.options().nhead, 2);
///
/// let err = TransformerDecoderLayerConfig::new(8, 2)
///     .with_dim_feedforward(0)
///     .init::<f32>(&mut rng)
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "TransformerDecoderLayer: dim_feedforward = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerDecoderLayerConfig {
    /// The hyper-parameters.
    pub options: TransformerLayerOptions,
}

impl TransformerDecoderLayerConfig {
    /// A layer of width `d_model` with `nhead` heads and PyTorch's defaults.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerDecoderLayerConfig {
            options: TransformerLayerOptions::new(d_model, nhead),
        }
    }

    layer_option_setters!();

    /// The layer, with PyTorch's initialisation.
    ///
    /// # Errors
    /// As [`TransformerEncoderLayerConfig::init`].
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<TransformerDecoderLayer<T>> {
        let o = self.options;
        o.validate("TransformerDecoderLayer")?;
        Ok(TransformerDecoderLayer {
            options: o,
            self_attn: o.attention(rng)?,
            multihead_attn: o.attention(rng)?,
            ff: FeedForward::new(&o, rng)?,
            norm1: o.layer_norm()?,
            norm2: o.layer_norm()?,
            norm3: o.layer_norm()?,
            training: ModeFlag::default(),
            drop: DropoutRng::new(rng),
        })
    }
}

/// The accessors both layers have, alike: `options()`, `named()`, `linear1()`, `linear2()`.
macro_rules! layer_accessors {
    ($layer:ident) => {
        impl<T: Element> $layer<T> {
            /// The hyper-parameters.
            pub fn options(&self) -> &TransformerLayerOptions {
                &self.options
            }

            /// PyTorch `state_dict` names under `prefix`.
            pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
                named_under(self, prefix)
            }

            /// The feed-forward block's first map, `linear1` (`d_model →
            /// dim_feedforward`).
            pub fn linear1(&self) -> &Linear<T> {
                &self.ff.linear1
            }

            /// The feed-forward block's second map, `linear2`
            /// (`dim_feedforward → d_model`).
            pub fn linear2(&self) -> &Linear<T> {
                &self.ff.linear2
            }
        }
    };
}

/// The feed-forward block `linear2(dropout(act(linear1(x))))`.
#[derive(Clone, Debug)]
pub(crate) struct FeedForward<T: Element> {
    pub(crate) linear1: Linear<T>,
    pub(crate) linear2: Linear<T>,
}

impl<T: Element> FeedForward<T> {
    fn new(c: &TransformerLayerOptions, rng: &mut Rng) -> Result<Self> {
        Ok(FeedForward {
            linear1: new_linear(c.d_model, c.dim_feedforward, c.bias, rng)?,
            linear2: new_linear(c.dim_feedforward, c.d_model, c.bias, rng)?,
        })
    }
    fn forward(
        &self,
        w: &Weights<'_, T>,
        x: &Var<T>,
        c: &TransformerLayerOptions,
        drop: &DropoutRng,
        training: bool,
    ) -> Result<Var<T>> {
        let h = linear_with(&self.linear1, x, w, "linear1.")?;
        let h = match c.activation {
            Activation::Relu => h.relu(),
            Activation::Gelu => h.gelu(),
        };
        linear_with(
            &self.linear2,
            &drop.apply(&h, c.dropout, training),
            w,
            "linear2.",
        )
    }
}

/// One encoder layer: self-attention then feed-forward, each with a residual
/// connection and LayerNorm. `state_dict` names: `self_attn.*`, `linear1.*`,
/// `linear2.*`, `norm1.*`, `norm2.*`.
///
/// ```
/// use nn_attention::TransformerEncoderLayerConfig;
/// use nn_tensor::{Rng, Tensor};
/// let layer = TransformerEncoderLayerConfig::new(8, 2)
///     .with_dim_feedforward(16)
///     .with_dropout(0.0)
///     .init::<f32>(&mut Rng::seed_from(0))?;
/// let y = layer.forward(&Tensor::ones(&[2, 5, 8]), None, None);
/// assert_eq!(y.shape(), &[2, 5, 8]);
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TransformerEncoderLayer<T: Element> {
    options: TransformerLayerOptions,
    /// Self-attention.
    pub self_attn: MultiHeadAttention<T>,
    pub(crate) ff: FeedForward<T>,
    /// LayerNorm around the attention block.
    pub norm1: LayerNorm<T>,
    /// LayerNorm around the feed-forward block.
    pub norm2: LayerNorm<T>,
    pub(crate) training: ModeFlag,
    pub(crate) drop: DropoutRng,
}

layer_accessors!(TransformerEncoderLayer);

impl<T: Element> TransformerEncoderLayer<T> {
    /// `src [N, S, E]` → `[N, S, E]`; `src_mask [S, S]`,
    /// `src_key_padding_mask [N, S]` (`true` = masked out).
    pub fn try_forward(
        &self,
        src: &Var<T>,
        src_mask: Option<&Mask>,
        src_key_padding_mask: Option<&Mask>,
    ) -> Result<Var<T>> {
        // Traced as one layer: `src` and the two masks in.
        nn_autograd::trace::layer(
            self,
            || {
                let mut i = nn_autograd::trace::vars(&[src]);
                i.push(Box::new(src_mask.cloned()));
                i.push(Box::new(src_key_padding_mask.cloned()));
                i
            },
            || {
                let w = Weights::of_module(self);
                self.try_forward_with(&w, src, src_mask, src_key_padding_mask)
            },
            |r| {
                r.as_ref()
                    .map(|y| nn_autograd::trace::vars(&[y]))
                    .unwrap_or_default()
            },
        )
    }

    /// [`TransformerEncoderLayer::try_forward`] on weights looked up in `w`
    /// by their `state_dict` names (`self_attn.in_proj_weight`, ...).
    pub fn try_forward_with(
        &self,
        w: &Weights<'_, T>,
        src: &Var<T>,
        src_mask: Option<&Mask>,
        src_key_padding_mask: Option<&Mask>,
    ) -> Result<Var<T>> {
        let (c, tr) = (&self.options, self.training.get());
        let (m, p) = (src_mask, src_key_padding_mask);
        let sa = |z: &Var<T>| -> Result<Var<T>> {
            let (y, _) = self
                .self_attn
                .try_forward_with(w, "self_attn.", z, z, z, m, p, false)?;
            Ok(self.drop.apply(&y, c.dropout, tr))
        };
        let ff = |z: &Var<T>| -> Result<Var<T>> {
            let y = self.ff.forward(w, z, c, &self.drop, tr)?;
            Ok(self.drop.apply(&y, c.dropout, tr))
        };
        let n1 = |z: &Var<T>| layer_norm_with(&self.norm1, z, w, "norm1.");
        let n2 = |z: &Var<T>| layer_norm_with(&self.norm2, z, w, "norm2.");
        let x = src.clone();
        Ok(if c.norm_first {
            let x = x.add(&sa(&n1(&x)?)?);
            x.add(&ff(&n2(&x)?)?)
        } else {
            let x = n1(&x.add(&sa(&x)?))?;
            n2(&x.add(&ff(&x)?))?
        })
    }

    /// Panicking [`TransformerEncoderLayer::try_forward`]; `src` is anything
    /// that turns into a var (a `&Tensor` or `Tensor` as a constant input, a
    /// `&Var` or `Var` whose graph carries on).
    #[track_caller]
    pub fn forward(
        &self,
        src: impl Into<Var<T>>,
        src_mask: Option<&Mask>,
        src_key_padding_mask: Option<&Mask>,
    ) -> Var<T> {
        or_panic(self.try_forward(&src.into(), src_mask, src_key_padding_mask))
    }
}

/// The cached keys and values of one decoder layer during incremental decoding.
#[derive(Clone, Debug, Default)]
pub struct DecoderLayerCache<T: Element> {
    /// Self-attention keys/values of the positions decoded so far.
    pub self_kv: Option<ProjectedKv<T>>,
    /// Cross-attention keys/values of the memory (computed once).
    pub memory_kv: Option<ProjectedKv<T>>,
}

/// One decoder layer: masked self-attention, cross-attention over the
/// encoder's memory, feed-forward. `state_dict` names: `self_attn.*`,
/// `multihead_attn.*`, `linear1.*`, `linear2.*`, `norm1.*` .. `norm3.*`.
#[derive(Clone, Debug)]
pub struct TransformerDecoderLayer<T: Element> {
    options: TransformerLayerOptions,
    /// Masked self-attention.
    pub self_attn: MultiHeadAttention<T>,
    /// Cross-attention (queries from the target, keys/values from memory).
    pub multihead_attn: MultiHeadAttention<T>,
    pub(crate) ff: FeedForward<T>,
    /// LayerNorm around self-attention.
    pub norm1: LayerNorm<T>,
    /// LayerNorm around cross-attention.
    pub norm2: LayerNorm<T>,
    /// LayerNorm around the feed-forward block.
    pub norm3: LayerNorm<T>,
    pub(crate) training: ModeFlag,
    pub(crate) drop: DropoutRng,
}

/// The masks a decoder layer takes (`true` = masked out).
#[derive(Clone, Copy, Debug, Default)]
pub struct DecoderMasks<'a> {
    /// `[T, T]`, usually [`Mask::causal`].
    pub tgt_mask: Option<&'a Mask>,
    /// `[T, S]`.
    pub memory_mask: Option<&'a Mask>,
    /// `[N, T]`.
    pub tgt_key_padding_mask: Option<&'a Mask>,
    /// `[N, S]`.
    pub memory_key_padding_mask: Option<&'a Mask>,
}

layer_accessors!(TransformerDecoderLayer);

impl<T: Element> TransformerDecoderLayer<T> {
    fn blocks(
        &self,
        w: &Weights<'_, T>,
        tgt: &Var<T>,
        sa: impl Fn(&Var<T>) -> Result<Var<T>>,
        ca: impl Fn(&Var<T>) -> Result<Var<T>>,
    ) -> Result<Var<T>> {
        let (c, tr) = (&self.options, self.training.get());
        let d = |y: Var<T>| self.drop.apply(&y, c.dropout, tr);
        let ff = |z: &Var<T>| self.ff.forward(w, z, c, &self.drop, tr);
        let n1 = |z: &Var<T>| layer_norm_with(&self.norm1, z, w, "norm1.");
        let n2 = |z: &Var<T>| layer_norm_with(&self.norm2, z, w, "norm2.");
        let n3 = |z: &Var<T>| layer_norm_with(&self.norm3, z, w, "norm3.");
        let x = tgt.clone();
        Ok(if c.norm_first {
            let x = x.add(&d(sa(&n1(&x)?)?));
            let x = x.add(&d(ca(&n2(&x)?)?));
            x.add(&d(ff(&n3(&x)?)?))
        } else {
            let x = n1(&x.add(&d(sa(&x)?)))?;
            let x = n2(&x.add(&d(ca(&x)?)))?;
            n3(&x.add(&d(ff(&x)?)))?
        })
    }

    /// `tgt [N, T, E]`, `memory [N, S, E]` → `[N, T, E]`.
    pub fn try_forward(
        &self,
        tgt: &Var<T>,
        memory: &Var<T>,
        masks: DecoderMasks<'_>,
    ) -> Result<Var<T>> {
        // Traced as one layer: `tgt`, `memory` and the four masks (in the
        // order of [`DecoderMasks`]'s fields) in.
        nn_autograd::trace::layer(
            self,
            || {
                let mut i = nn_autograd::trace::vars(&[tgt, memory]);
                for m in [
                    masks.tgt_mask,
                    masks.memory_mask,
                    masks.tgt_key_padding_mask,
                    masks.memory_key_padding_mask,
                ] {
                    i.push(Box::new(m.cloned()));
                }
                i
            },
            || {
                let w = Weights::of_module(self);
                self.try_forward_with(&w, tgt, memory, masks)
            },
            |r| {
                r.as_ref()
                    .map(|y| nn_autograd::trace::vars(&[y]))
                    .unwrap_or_default()
            },
        )
    }

    /// [`TransformerDecoderLayer::try_forward`] on weights looked up in `w`
    /// by their `state_dict` names.
    pub fn try_forward_with(
        &self,
        w: &Weights<'_, T>,
        tgt: &Var<T>,
        memory: &Var<T>,
        masks: DecoderMasks<'_>,
    ) -> Result<Var<T>> {
        self.blocks(
            w,
            tgt,
            |z| {
                let (m, p) = (masks.tgt_mask, masks.tgt_key_padding_mask);
                Ok(self
                    .self_attn
                    .try_forward_with(w, "self_attn.", z, z, z, m, p, false)?
                    .0)
            },
            |z| {
                let (m, p) = (masks.memory_mask, masks.memory_key_padding_mask);
                Ok(self
                    .multihead_attn
                    .try_forward_with(w, "multihead_attn.", z, memory, memory, m, p, false)?
                    .0)
            },
        )
    }

    /// Panicking [`TransformerDecoderLayer::try_forward`]; `tgt` and
    /// `memory` are anything that turns into a var.
    #[track_caller]
    pub fn forward(
        &self,
        tgt: impl Into<Var<T>>,
        memory: impl Into<Var<T>>,
        masks: DecoderMasks<'_>,
    ) -> Var<T> {
        or_panic(self.try_forward(&tgt.into(), &memory.into(), masks))
    }

    /// Incremental decoding: `new [N, 1, E]` is the next target position.
    /// Its self-attention keys/values are appended to `cache`, so it attends
    /// to every earlier position without recomputing them; the memory's
    /// keys/values are projected on the first call and reused. Equals the
    /// last row of a causal [`TransformerDecoderLayer::try_forward`] over
    /// the whole prefix.
    pub fn try_forward_step(
        &self,
        new: &Var<T>,
        memory: &Var<T>,
        memory_key_padding_mask: Option<&Mask>,
        cache: &mut DecoderLayerCache<T>,
    ) -> Result<Var<T>> {
        if cache.memory_kv.is_none() {
            cache.memory_kv = Some(self.multihead_attn.try_project_kv(memory, memory)?);
        }
        let mem_kv = cache.memory_kv.clone().expect("set above");
        let self_kv = std::cell::RefCell::new(cache.self_kv.take());
        let own = Weights::of_module(self);
        let out = self.blocks(
            &own,
            new,
            |z| {
                let fresh = self.self_attn.try_project_kv(z, z)?;
                let mut slot = self_kv.borrow_mut();
                let all = match slot.as_ref() {
                    Some(old) => old.append(&fresh),
                    None => fresh,
                };
                *slot = Some(all.clone());
                Ok(self
                    .self_attn
                    .try_forward_projected(z, &all, None, None, false)?
                    .0)
            },
            |z| {
                Ok(self
                    .multihead_attn
                    .try_forward_projected(z, &mem_kv, None, memory_key_padding_mask, false)?
                    .0)
            },
        );
        cache.self_kv = self_kv.into_inner();
        out
    }
}
