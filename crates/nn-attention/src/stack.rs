//! Stacks of Transformer layers and the full encoder-decoder
//! [`Transformer`] (PyTorch's `nn.TransformerEncoder`, `nn.TransformerDecoder`,
//! `nn.Transformer`), with greedy decoding on a KV cache in [`Seq2SeqTransformer`].

use std::fmt;

use nn_autograd::{no_grad, Parameter, Var};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::mask::Mask;
use nn_layers::{Forward, LayerNorm, Linear, Module};

use crate::parts::{check_sizes, named_under, new_linear};
use crate::position::PositionalEncoding;
use crate::transformer::{
    DecoderLayerCache, DecoderMasks, TransformerDecoderLayer, TransformerEncoderLayer,
    TransformerLayerConfig,
};

/// A layer that [`TransformerStack`] repeats: [`TransformerEncoderLayer`] or
/// [`TransformerDecoderLayer`]. Its [`Module`] names give the stack's
/// `state_dict` names (`layers.{i}.…`).
pub trait StackedLayer<T: Element>: Module<T> + Sized {
    /// The stack's name in messages and summaries (`"TransformerEncoder"`).
    const STACK: &'static str;

    /// A freshly initialised layer, as the layer's own `new` makes it.
    fn init(config: TransformerLayerConfig, rng: &mut Rng) -> Self;
}

impl<T: Element> StackedLayer<T> for TransformerEncoderLayer<T> {
    const STACK: &'static str = "TransformerEncoder";

    #[track_caller]
    fn init(config: TransformerLayerConfig, rng: &mut Rng) -> Self {
        Self::new(config, rng)
    }
}

impl<T: Element> StackedLayer<T> for TransformerDecoderLayer<T> {
    const STACK: &'static str = "TransformerDecoder";

    #[track_caller]
    fn init(config: TransformerLayerConfig, rng: &mut Rng) -> Self {
        Self::new(config, rng)
    }
}

/// `num_layers` layers of one kind, then an optional final LayerNorm
/// (`norm`, needed after pre-norm layers). Names: `layers.{i}.*`, `norm.*`.
/// Used as [`TransformerEncoder`] and [`TransformerDecoder`].
#[derive(Clone)]
pub struct TransformerStack<T: Element, L> {
    /// The layers, applied in order.
    pub layers: Vec<L>,
    /// The final LayerNorm, if any.
    pub norm: Option<LayerNorm<T>>,
}

/// `num_layers` encoder layers, then an optional final LayerNorm (`norm`,
/// needed after pre-norm layers). Names: `layers.{i}.*`, `norm.*`.
pub type TransformerEncoder<T> = TransformerStack<T, TransformerEncoderLayer<T>>;

/// `num_layers` decoder layers, then an optional final LayerNorm.
/// Names: `layers.{i}.*`, `norm.*`.
pub type TransformerDecoder<T> = TransformerStack<T, TransformerDecoderLayer<T>>;

/// Printed under the stack's own name (`TransformerEncoder { .. }`).
impl<T: Element, L: StackedLayer<T> + fmt::Debug> fmt::Debug for TransformerStack<T, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(L::STACK)
            .field("layers", &self.layers)
            .field("norm", &self.norm)
            .finish()
    }
}

impl<T: Element, L: StackedLayer<T>> TransformerStack<T, L> {
    /// Independently initialised layers sharing one configuration.
    ///
    /// # Panics
    /// If `num_layers` is 0, or `config` is invalid (see
    /// [`TransformerEncoderLayer::new`](crate::TransformerEncoderLayer::new)).
    #[track_caller]
    pub fn new(
        config: TransformerLayerConfig,
        num_layers: usize,
        final_norm: bool,
        rng: &mut Rng,
    ) -> Self {
        check_sizes(L::STACK, &[("num_layers", num_layers)]);
        TransformerStack {
            layers: (0..num_layers).map(|_| L::init(config, rng)).collect(),
            norm: final_norm.then(|| config.layer_norm()),
        }
    }

    /// PyTorch `state_dict` names under `prefix`.
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        named_under(self, prefix)
    }

    /// `input` through `layer` applied to each layer in order, then the
    /// final norm.
    fn run(
        &self,
        input: &Var<T>,
        mut layer: impl FnMut(&L, &Var<T>) -> Result<Var<T>>,
    ) -> Result<Var<T>> {
        let mut x = input.clone();
        for l in &self.layers {
            x = layer(l, &x)?;
        }
        Ok(match &self.norm {
            Some(n) => n.forward(&x),
            None => x,
        })
    }
}

impl<T: Element> TransformerEncoder<T> {
    /// `src [N, S, E]` → `[N, S, E]`.
    pub fn try_forward(
        &self,
        src: &Var<T>,
        mask: Option<&Mask>,
        key_padding_mask: Option<&Mask>,
    ) -> Result<Var<T>> {
        self.run(src, |l, x| l.try_forward(x, mask, key_padding_mask))
    }
}

impl<T: Element> TransformerDecoder<T> {
    /// `tgt [N, T, E]`, `memory [N, S, E]` → `[N, T, E]`.
    pub fn try_forward(
        &self,
        tgt: &Var<T>,
        memory: &Var<T>,
        masks: DecoderMasks<'_>,
    ) -> Result<Var<T>> {
        self.run(tgt, |l, x| l.try_forward(x, memory, masks))
    }

    /// One position of incremental decoding (see
    /// [`TransformerDecoderLayer::try_forward_step`]); `cache` holds one entry
    /// per layer and grows by one position per call.
    pub fn try_forward_step(
        &self,
        new: &Var<T>,
        memory: &Var<T>,
        memory_key_padding_mask: Option<&Mask>,
        cache: &mut Vec<DecoderLayerCache<T>>,
    ) -> Result<Var<T>> {
        cache.resize_with(self.layers.len(), DecoderLayerCache::default);
        let mut caches = cache.iter_mut();
        self.run(new, |l, x| {
            let c = caches.next().expect("one cache entry per layer");
            l.try_forward_step(x, memory, memory_key_padding_mask, c)
        })
    }
}

/// The encoder-decoder Transformer (`nn.Transformer`): both stacks end with
/// a LayerNorm. Names: `encoder.*`, `decoder.*`.
#[derive(Clone, Debug, Module)]
pub struct Transformer<T: Element> {
    /// The encoder stack.
    pub encoder: TransformerEncoder<T>,
    /// The decoder stack.
    pub decoder: TransformerDecoder<T>,
}

impl<T: Element> Transformer<T> {
    /// PyTorch's layout: final norms on both stacks.
    ///
    /// # Panics
    /// If a layer count is 0 or `config` is invalid.
    #[track_caller]
    pub fn new(
        config: TransformerLayerConfig,
        num_encoder_layers: usize,
        num_decoder_layers: usize,
        rng: &mut Rng,
    ) -> Self {
        check_sizes(
            "Transformer",
            &[
                ("num_encoder_layers", num_encoder_layers),
                ("num_decoder_layers", num_decoder_layers),
            ],
        );
        Transformer {
            encoder: TransformerEncoder::new(config, num_encoder_layers, true, rng),
            decoder: TransformerDecoder::new(config, num_decoder_layers, true, rng),
        }
    }

    /// `src [N, S, E]`, `tgt [N, T, E]` → `[N, T, E]`. `src_key_padding_mask`
    /// also serves as the memory's key-padding mask.
    pub fn try_forward(
        &self,
        src: &Var<T>,
        tgt: &Var<T>,
        src_mask: Option<&Mask>,
        src_key_padding_mask: Option<&Mask>,
        tgt_masks: DecoderMasks<'_>,
    ) -> Result<Var<T>> {
        let memory = self
            .encoder
            .try_forward(src, src_mask, src_key_padding_mask)?;
        self.decoder.try_forward(tgt, &memory, tgt_masks)
    }
}

/// A token-to-token Transformer: embeddings (scaled by √E) plus sinusoidal
/// positions, a [`Transformer`], and a linear `generator` to target-vocabulary
/// logits. Names: `src_embed.weight`, `tgt_embed.weight`, `transformer.*`,
/// `generator.*`.
#[derive(Clone, Debug, Module)]
pub struct Seq2SeqTransformer<T: Element> {
    /// `[source vocabulary, E]`, saved as `src_embed.weight` (an embedding's name).
    #[module(name = "src_embed.weight")]
    pub src_embed: Parameter<T>,
    /// `[target vocabulary, E]`, saved as `tgt_embed.weight`.
    #[module(name = "tgt_embed.weight")]
    pub tgt_embed: Parameter<T>,
    /// Positions (a fixed table: nothing saved).
    pub positions: PositionalEncoding<T>,
    /// The encoder-decoder.
    pub transformer: Transformer<T>,
    /// `E → target vocabulary`.
    pub generator: Linear<T>,
}

impl<T: Element> Seq2SeqTransformer<T> {
    /// Embeddings N(0, 1), sequences up to `max_len` tokens.
    ///
    /// # Panics
    /// If a vocabulary size or `max_len` is 0, a layer count is 0, or
    /// `config` is invalid.
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: TransformerLayerConfig,
        num_encoder_layers: usize,
        num_decoder_layers: usize,
        src_vocab: usize,
        tgt_vocab: usize,
        max_len: usize,
        rng: &mut Rng,
    ) -> Self {
        check_sizes(
            "Seq2SeqTransformer",
            &[
                ("src_vocab", src_vocab),
                ("tgt_vocab", tgt_vocab),
                ("max_len", max_len),
            ],
        );
        let e = config.d_model;
        Seq2SeqTransformer {
            src_embed: Parameter::new(Tensor::rand_normal(&[src_vocab, e], 0.0, 1.0, rng)),
            tgt_embed: Parameter::new(Tensor::rand_normal(&[tgt_vocab, e], 0.0, 1.0, rng)),
            positions: PositionalEncoding::new(max_len, e),
            transformer: Transformer::new(config, num_encoder_layers, num_decoder_layers, rng),
            generator: new_linear(e, tgt_vocab, true, rng),
        }
    }

    /// Embeds `tokens` (`n` rows of equal length) at positions `offset..`.
    fn embed(
        &self,
        table: &Parameter<T>,
        tokens: &[usize],
        n: usize,
        offset: usize,
    ) -> Result<Var<T>> {
        let vocab = table.shape()[0];
        if n == 0 || !tokens.len().is_multiple_of(n) || tokens.iter().any(|&t| t >= vocab) {
            return Err(TensorError::invalid(
                "Seq2SeqTransformer::embed",
                format!("{} tokens for {n} rows, vocabulary {vocab}", tokens.len()),
            ));
        }
        let (l, e) = (tokens.len() / n, table.shape()[1]);
        let x = table
            .var()
            .index_select(0, tokens)
            .reshape([n, l, e])
            .mul_scalar(T::of((e as f64).sqrt()));
        self.positions.try_forward(&x, offset)
    }

    /// Encodes `src` (`[N, S]` token ids, row-major) to the memory `[N, S, E]`.
    pub fn encode(
        &self,
        src: &[usize],
        n: usize,
        src_key_padding_mask: Option<&Mask>,
    ) -> Result<Var<T>> {
        let x = self.embed(&self.src_embed, src, n, 0)?;
        self.transformer
            .encoder
            .try_forward(&x, None, src_key_padding_mask)
    }

    /// Teacher-forced logits `[N, T, target vocabulary]` for the decoder
    /// input `tgt_in` (`[N, T]`), with a causal mask.
    pub fn try_forward(
        &self,
        src: &[usize],
        tgt_in: &[usize],
        n: usize,
        src_key_padding_mask: Option<&Mask>,
    ) -> Result<Var<T>> {
        let memory = self.encode(src, n, src_key_padding_mask)?;
        let y = self.embed(&self.tgt_embed, tgt_in, n, 0)?;
        let causal = Mask::causal(y.shape()[1]);
        let masks = DecoderMasks {
            tgt_mask: Some(&causal),
            memory_key_padding_mask: src_key_padding_mask,
            ..Default::default()
        };
        let h = self.transformer.decoder.try_forward(&y, &memory, masks)?;
        self.generator.try_forward(&h)
    }

    /// Greedy decoding: starting from `bos`, appends the most likely token
    /// `steps` times. Each step runs the decoder on the new position only,
    /// reusing cached keys and values, so n tokens cost n layer steps.
    /// Returns `[N, steps]` tokens, row-major (without `bos`).
    pub fn greedy_decode(
        &self,
        src: &[usize],
        n: usize,
        bos: usize,
        steps: usize,
    ) -> Result<Vec<usize>> {
        no_grad(|| {
            let memory = self.encode(src, n, None)?;
            let mut cache = Vec::new();
            let mut last = vec![bos; n];
            let mut out = vec![Vec::with_capacity(steps); n];
            for t in 0..steps {
                let y = self.embed(&self.tgt_embed, &last, n, t)?;
                let h = self
                    .transformer
                    .decoder
                    .try_forward_step(&y, &memory, None, &mut cache)?;
                let logits = self.generator.try_forward(&h)?;
                let vocab = logits.shape()[2];
                last = logits.value().reshape([n, vocab]).argmax(1);
                for (row, &tok) in out.iter_mut().zip(&last) {
                    row.push(tok);
                }
            }
            Ok(out.concat())
        })
    }
}
