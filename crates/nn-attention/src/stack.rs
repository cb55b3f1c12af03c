//! Stacks of Transformer layers and the full encoder-decoder
//! [`Transformer`] (PyTorch's `nn.TransformerEncoder`, `nn.TransformerDecoder`,
//! `nn.Transformer`), with greedy decoding on a KV cache in [`Seq2SeqTransformer`].

use nn_autograd::{no_grad, Parameter, Var};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::mask::Mask;
use nn_layers::{Forward, LayerNorm, Linear};

use crate::parts::{check_sizes, named_under, new_layer_norm, new_linear};
use crate::position::PositionalEncoding;
use crate::transformer::{
    DecoderLayerCache, DecoderMasks, TransformerDecoderLayer, TransformerEncoderLayer,
    TransformerLayerConfig,
};

/// `num_layers` encoder layers, then an optional final LayerNorm (`norm`,
/// needed after pre-norm layers). Names: `layers.{i}.*`, `norm.*`.
#[derive(Clone, Debug)]
pub struct TransformerEncoder<T: Element> {
    /// The layers, applied in order.
    pub layers: Vec<TransformerEncoderLayer<T>>,
    /// The final LayerNorm, if any.
    pub norm: Option<LayerNorm<T>>,
}

impl<T: Element> TransformerEncoder<T> {
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
        check_sizes("TransformerEncoder", &[("num_layers", num_layers)]);
        TransformerEncoder {
            layers: (0..num_layers)
                .map(|_| TransformerEncoderLayer::new(config, rng))
                .collect(),
            norm: final_norm.then(|| new_layer_norm(config.d_model, config.layer_norm_eps)),
        }
    }

    /// PyTorch `state_dict` names under `prefix`.
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        let mut v: Vec<_> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.named(&format!("{prefix}layers.{i}.")))
            .collect();
        if let Some(n) = &self.norm {
            v.extend(named_under(n, &format!("{prefix}norm.")));
        }
        v
    }

    /// `src [N, S, E]` → `[N, S, E]`.
    pub fn try_forward(
        &self,
        src: &Var<T>,
        mask: Option<&Mask>,
        key_padding_mask: Option<&Mask>,
    ) -> Result<Var<T>> {
        let mut x = src.clone();
        for l in &self.layers {
            x = l.try_forward(&x, mask, key_padding_mask)?;
        }
        Ok(match &self.norm {
            Some(n) => n.forward(&x),
            None => x,
        })
    }
}

/// `num_layers` decoder layers, then an optional final LayerNorm.
/// Names: `layers.{i}.*`, `norm.*`.
#[derive(Clone, Debug)]
pub struct TransformerDecoder<T: Element> {
    /// The layers, applied in order.
    pub layers: Vec<TransformerDecoderLayer<T>>,
    /// The final LayerNorm, if any.
    pub norm: Option<LayerNorm<T>>,
}

impl<T: Element> TransformerDecoder<T> {
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
        check_sizes("TransformerDecoder", &[("num_layers", num_layers)]);
        TransformerDecoder {
            layers: (0..num_layers)
                .map(|_| TransformerDecoderLayer::new(config, rng))
                .collect(),
            norm: final_norm.then(|| new_layer_norm(config.d_model, config.layer_norm_eps)),
        }
    }

    /// PyTorch `state_dict` names under `prefix`.
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        let mut v: Vec<_> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.named(&format!("{prefix}layers.{i}.")))
            .collect();
        if let Some(n) = &self.norm {
            v.extend(named_under(n, &format!("{prefix}norm.")));
        }
        v
    }

    /// `tgt [N, T, E]`, `memory [N, S, E]` → `[N, T, E]`.
    pub fn try_forward(
        &self,
        tgt: &Var<T>,
        memory: &Var<T>,
        masks: DecoderMasks<'_>,
    ) -> Result<Var<T>> {
        let mut x = tgt.clone();
        for l in &self.layers {
            x = l.try_forward(&x, memory, masks)?;
        }
        Ok(match &self.norm {
            Some(n) => n.forward(&x),
            None => x,
        })
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
        let mut x = new.clone();
        for (l, c) in self.layers.iter().zip(cache.iter_mut()) {
            x = l.try_forward_step(&x, memory, memory_key_padding_mask, c)?;
        }
        Ok(match &self.norm {
            Some(n) => n.forward(&x),
            None => x,
        })
    }
}

/// The encoder-decoder Transformer (`nn.Transformer`): both stacks end with
/// a LayerNorm. Names: `encoder.*`, `decoder.*`.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
pub struct Seq2SeqTransformer<T: Element> {
    /// `[source vocabulary, E]`.
    pub src_embed: Parameter<T>,
    /// `[target vocabulary, E]`.
    pub tgt_embed: Parameter<T>,
    /// Positions.
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
            .reshape(&[n, l, e])
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
                last = logits.value().reshape(&[n, vocab]).argmax(1);
                for (row, &tok) in out.iter_mut().zip(&last) {
                    row.push(tok);
                }
            }
            Ok(out.concat())
        })
    }
}
