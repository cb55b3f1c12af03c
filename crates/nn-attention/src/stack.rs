//! Stacks of Transformer layers and the full encoder-decoder
//! [`Transformer`] (PyTorch's `nn.TransformerEncoder`, `nn.TransformerDecoder`,
//! `nn.Transformer`), with greedy decoding on a KV cache in [`Seq2SeqTransformer`].

use std::fmt;

use nn_autograd::{no_grad, Parameter, Var};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::mask::Mask;
use nn_layers::{Forward, LayerNorm, Linear, Module};

use crate::parts::{named_under, new_linear, require_sizes};
use crate::position::{PositionalEncoding, PositionalEncodingConfig};
use crate::transformer::{
    layer_option_setters, DecoderLayerCache, DecoderMasks, TransformerDecoderLayer,
    TransformerDecoderLayerConfig, TransformerEncoderLayer, TransformerEncoderLayerConfig,
    TransformerLayerOptions,
};

/// A layer that [`TransformerStack`] repeats: [`TransformerEncoderLayer`] or
/// [`TransformerDecoderLayer`]. Its [`Module`] names give the stack's
/// `state_dict` names (`layers.{i}.…`).
pub trait StackedLayer<T: Element>: Module<T> + Sized {
    /// The stack's name in messages and summaries (`"TransformerEncoder"`).
    const STACK: &'static str;
}

impl<T: Element> StackedLayer<T> for TransformerEncoderLayer<T> {
    const STACK: &'static str = "TransformerEncoder";
}

impl<T: Element> StackedLayer<T> for TransformerDecoderLayer<T> {
    const STACK: &'static str = "TransformerDecoder";
}

/// How to build a [`TransformerStack`]: `num_layers` independently
/// initialised layers built from `layer`, and an optional final LayerNorm.
/// Used as [`TransformerEncoderConfig`] and [`TransformerDecoderConfig`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerStackConfig<C> {
    /// The configuration every layer is built from.
    pub layer: C,
    /// How many layers.
    pub num_layers: usize,
    /// Whether a LayerNorm follows the last layer (default `false`, as
    /// PyTorch's `norm=None`; needed after pre-norm layers).
    pub final_norm: bool,
}

/// How to build a [`TransformerEncoder`] (PyTorch's
/// `nn.TransformerEncoder(encoder_layer, num_layers, norm)`).
///
/// ```
/// use nn_attention::{TransformerEncoderConfig, TransformerEncoderLayerConfig};
/// use nn_autograd::Var;
/// use nn_tensor::{Rng, Tensor};
/// let layer = TransformerEncoderLayerConfig::new(8, 2).with_norm_first(true);
/// let encoder = TransformerEncoderConfig::new(layer, 2)
///     .with_final_norm(true)
///     .init::<f32>(&mut Rng::seed_from(0))?;
/// let y = encoder.try_forward(&Var::constant(Tensor::ones(&[1, 3, 8])), None, None)?;
/// assert_eq!(y.shape(), &[1, 3, 8]);
///
/// let err = TransformerEncoderConfig::new(layer, 0).init::<f32>(&mut Rng::seed_from(0));
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "TransformerEncoder: num_layers = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
pub type TransformerEncoderConfig = TransformerStackConfig<TransformerEncoderLayerConfig>;

/// How to build a [`TransformerDecoder`] (PyTorch's
/// `nn.TransformerDecoder(decoder_layer, num_layers, norm)`); see
/// [`TransformerEncoderConfig`] for an example.
pub type TransformerDecoderConfig = TransformerStackConfig<TransformerDecoderLayerConfig>;

impl<C> TransformerStackConfig<C> {
    /// `num_layers` layers built from `layer`, no final LayerNorm.
    pub fn new(layer: C, num_layers: usize) -> Self {
        TransformerStackConfig {
            layer,
            num_layers,
            final_norm: false,
        }
    }

    /// With or without a LayerNorm after the last layer.
    pub fn with_final_norm(mut self, final_norm: bool) -> Self {
        self.final_norm = final_norm;
        self
    }

    /// The stack: `num_layers` layers from `init_layer`, in order, then the
    /// final norm over `options.d_model`.
    fn build<T: Element, L: StackedLayer<T>>(
        &self,
        options: &TransformerLayerOptions,
        init_layer: impl Fn(&C, &mut Rng) -> Result<L>,
        rng: &mut Rng,
    ) -> Result<TransformerStack<T, L>> {
        require_sizes(L::STACK, &[("num_layers", self.num_layers)])?;
        options.validate(L::STACK)?;
        Ok(TransformerStack {
            layers: (0..self.num_layers)
                .map(|_| init_layer(&self.layer, rng))
                .collect::<Result<_>>()?,
            norm: self.final_norm.then(|| options.layer_norm()).transpose()?,
        })
    }
}

impl TransformerEncoderConfig {
    /// The stack, each layer initialised as
    /// [`TransformerEncoderLayerConfig::init`] does.
    ///
    /// # Errors
    /// If `num_layers` is 0 or the layer configuration is invalid.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<TransformerEncoder<T>> {
        self.build(&self.layer.options, |c, rng| c.init(rng), rng)
    }
}

impl TransformerDecoderConfig {
    /// The stack, each layer initialised as
    /// [`TransformerDecoderLayerConfig::init`] does.
    ///
    /// # Errors
    /// If `num_layers` is 0 or the layer configuration is invalid.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<TransformerDecoder<T>> {
        self.build(&self.layer.options, |c, rng| c.init(rng), rng)
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

/// How to build a [`Transformer`] (PyTorch's `nn.Transformer(d_model,
/// nhead, num_encoder_layers, num_decoder_layers, ...)`): both stacks end
/// with a LayerNorm, as in PyTorch.
///
/// ```
/// use nn_attention::TransformerConfig;
/// use nn_autograd::Var;
/// use nn_tensor::{Rng, Tensor};
/// let model = TransformerConfig::new(8, 2)
///     .with_num_encoder_layers(2)
///     .with_num_decoder_layers(1)
///     .with_dim_feedforward(16)
///     .init::<f32>(&mut Rng::seed_from(0))?;
/// let (src, tgt) = (Tensor::ones(&[1, 5, 8]), Tensor::ones(&[1, 3, 8]));
/// let y = model.try_forward(&Var::constant(src), &Var::constant(tgt), None, None, Default::default())?;
/// assert_eq!(y.shape(), &[1, 3, 8]);
///
/// let err = TransformerConfig::new(8, 2).with_num_decoder_layers(0).init::<f32>(&mut Rng::seed_from(0));
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "Transformer: num_decoder_layers = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    /// The hyper-parameters of every layer of both stacks.
    pub options: TransformerLayerOptions,
    /// Encoder layers (default 6).
    pub num_encoder_layers: usize,
    /// Decoder layers (default 6).
    pub num_decoder_layers: usize,
}

impl TransformerConfig {
    /// Width `d_model`, `nhead` heads and PyTorch's defaults (6 + 6 layers).
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerConfig {
            options: TransformerLayerOptions::new(d_model, nhead),
            num_encoder_layers: 6,
            num_decoder_layers: 6,
        }
    }

    /// With another number of encoder layers.
    pub fn with_num_encoder_layers(mut self, n: usize) -> Self {
        self.num_encoder_layers = n;
        self
    }

    /// With another number of decoder layers.
    pub fn with_num_decoder_layers(mut self, n: usize) -> Self {
        self.num_decoder_layers = n;
        self
    }

    layer_option_setters!();

    /// An error naming `model` unless the layer counts and the layer
    /// options make sense.
    fn validate(&self, model: &'static str) -> Result<()> {
        require_sizes(
            model,
            &[
                ("num_encoder_layers", self.num_encoder_layers),
                ("num_decoder_layers", self.num_decoder_layers),
            ],
        )?;
        self.options.validate(model)
    }

    /// The model: the encoder's layers drawn first, then the decoder's.
    ///
    /// # Errors
    /// If a layer count is 0 or the layer options are invalid (see
    /// [`TransformerEncoderLayerConfig::init`]).
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Transformer<T>> {
        self.validate("Transformer")?;
        let encoder_layer = TransformerEncoderLayerConfig {
            options: self.options,
        };
        let decoder_layer = TransformerDecoderLayerConfig {
            options: self.options,
        };
        Ok(Transformer {
            encoder: TransformerEncoderConfig::new(encoder_layer, self.num_encoder_layers)
                .with_final_norm(true)
                .init(rng)?,
            decoder: TransformerDecoderConfig::new(decoder_layer, self.num_decoder_layers)
                .with_final_norm(true)
                .init(rng)?,
        })
    }
}

impl<T: Element> Transformer<T> {
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

/// How to build a [`Seq2SeqTransformer`]: a [`TransformerConfig`], the two
/// vocabulary sizes and the longest sequence the positions cover.
///
/// ```
/// use nn_attention::{Seq2SeqTransformerConfig, TransformerConfig};
/// use nn_tensor::Rng;
/// let transformer = TransformerConfig::new(8, 2)
///     .with_num_encoder_layers(1)
///     .with_num_decoder_layers(1)
///     .with_dim_feedforward(16);
/// let model = Seq2SeqTransformerConfig::new(transformer, 5, 7)
///     .with_max_len(10)
///     .init::<f32>(&mut Rng::seed_from(0))?;
/// let logits = model.try_forward(&[1, 2, 3], &[0, 4], 1, None)?;
/// assert_eq!(logits.shape(), &[1, 2, 7]);
///
/// let err = Seq2SeqTransformerConfig::new(transformer, 5, 0).init::<f32>(&mut Rng::seed_from(0));
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "Seq2SeqTransformer: tgt_vocab = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seq2SeqTransformerConfig {
    /// The encoder-decoder.
    pub transformer: TransformerConfig,
    /// Source vocabulary size.
    pub src_vocab: usize,
    /// Target vocabulary size.
    pub tgt_vocab: usize,
    /// The longest sequence the positional encoding covers (default 5000,
    /// as PyTorch's translation tutorial).
    pub max_len: usize,
}

impl Seq2SeqTransformerConfig {
    /// A model over `transformer` between vocabularies of `src_vocab` and
    /// `tgt_vocab` tokens, for sequences up to 5000 tokens.
    pub fn new(transformer: TransformerConfig, src_vocab: usize, tgt_vocab: usize) -> Self {
        Seq2SeqTransformerConfig {
            transformer,
            src_vocab,
            tgt_vocab,
            max_len: 5000,
        }
    }

    /// With another longest sequence.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The model: embeddings N(0, 1) (source then target), the
    /// transformer, then the generator as PyTorch's `Linear`.
    ///
    /// # Errors
    /// If a vocabulary size or `max_len` is 0, a layer count is 0, or the
    /// layer options are invalid.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Seq2SeqTransformer<T>> {
        let what = "Seq2SeqTransformer";
        require_sizes(
            what,
            &[
                ("src_vocab", self.src_vocab),
                ("tgt_vocab", self.tgt_vocab),
                ("max_len", self.max_len),
            ],
        )?;
        self.transformer.validate(what)?;
        let e = self.transformer.options.d_model;
        Ok(Seq2SeqTransformer {
            src_embed: Parameter::new(Tensor::rand_normal(&[self.src_vocab, e], 0.0, 1.0, rng)),
            tgt_embed: Parameter::new(Tensor::rand_normal(&[self.tgt_vocab, e], 0.0, 1.0, rng)),
            positions: PositionalEncodingConfig::new(self.max_len, e).init(rng)?,
            transformer: self.transformer.init(rng)?,
            generator: new_linear(e, self.tgt_vocab, true, rng)?,
        })
    }
}

impl<T: Element> Seq2SeqTransformer<T> {
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
