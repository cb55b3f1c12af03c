//! # nn-attention: attention and the Transformer
//!
//! * [`score`]: dot, scaled-dot, bilinear and additive (Bahdanau) scores;
//!   soft attention (weights + context) and key-value attention;
//! * [`hard`]: hard attention (argmax or sampled), trained straight-through;
//! * [`scaled_dot_product_attention`] with causal and key-padding masks;
//! * [`MultiHeadAttention`] (PyTorch layout, self- and cross-attention);
//! * [`sinusoidal_encoding`], [`PositionalEncoding`], [`LearnedPositionEmbedding`];
//!
//! Every layer and model is built the same way: `XConfig::new(required..)`,
//! `with_*` options, then `init(&mut rng)`, which returns an error naming the
//! layer and the bad value;
//! * [`TransformerEncoderLayer`], [`TransformerDecoderLayer`] (post/pre-norm,
//!   relu/gelu, dropout) with PyTorch `state_dict` names, and incremental
//!   decoding with a KV cache;
//! * [`TransformerEncoder`] and [`TransformerDecoder`] stacks (one generic
//!   [`TransformerStack`]), [`Transformer`] and [`Seq2SeqTransformer`] with
//!   greedy decoding.
//!
//! Masks are [`Mask`]s where **`true` means masked out**. Tensors are
//! batch-first: `[N, L, E]`.
//!
//! ```
//! use nn_attention::{Mask, TransformerEncoderLayerConfig};
//! use nn_autograd::Var;
//! use nn_tensor::{Rng, Tensor};
//! let layer = TransformerEncoderLayerConfig::new(8, 2)
//!     .with_dim_feedforward(32)
//!     .with_norm_first(true)
//!     .init::<f64>(&mut Rng::seed_from(0))?;
//! let x = Var::leaf(Tensor::ones(&[2, 4, 8]));
//! let y = layer.forward(&x, Some(&Mask::causal(4)), Some(&Mask::padding(&[4, 2], 4)));
//! let grads = y.sum().backward();
//! assert_eq!(grads.get(&x).unwrap().shape(), &[2, 4, 8]);
//! # Ok::<(), nn_tensor::TensorError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod functional;
mod fused;
pub mod hard;
pub mod mask;
pub mod module;
pub mod multihead;
pub mod parts;
pub mod position;
pub mod score;
pub mod stack;
pub mod transformer;

pub use functional::{
    scaled_dot_product_attention, scaled_dot_product_attention_with, SdpaOptions,
};
pub use hard::{hard_attention, HardAttention, HardChoice};
pub use mask::Mask;
pub use multihead::{MultiHeadAttention, MultiHeadAttentionConfig, ProjectedKv};
/// Re-exported so `named_parameters()`, `eval()`, `forward()` of the
/// layers' `LayerNorm`/`Linear` parts and friends need only this crate.
pub use nn_layers::{Forward, Module};
pub use parts::Weights;
pub use position::{
    sinusoidal_encoding, LearnedPositionEmbedding, LearnedPositionEmbeddingConfig,
    PositionalEncoding, PositionalEncodingConfig,
};
pub use score::{
    additive_scores, attention_weights, context, dot_scores, key_value_attention,
    scaled_dot_scores, soft_attention, AdditiveAttention, AdditiveAttentionConfig, BilinearScore,
    BilinearScoreConfig,
};
pub use stack::{
    Seq2SeqTransformer, Seq2SeqTransformerConfig, StackedLayer, Transformer, TransformerConfig,
    TransformerDecoder, TransformerDecoderConfig, TransformerEncoder, TransformerEncoderConfig,
    TransformerStack, TransformerStackConfig,
};
pub use transformer::{
    Activation, DecoderLayerCache, DecoderMasks, TransformerDecoderLayer,
    TransformerDecoderLayerConfig, TransformerEncoderLayer, TransformerEncoderLayerConfig,
    TransformerLayerOptions,
};
