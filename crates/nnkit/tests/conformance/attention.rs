//! Attention and Transformers (fixtures README section 8):
//! `scaled_dot_product_attention`, `multihead_attention`,
//! `additive_attention`, `transformer_encoder_layer`,
//! `transformer_decoder_layer`, `positional_encoding`. Parameters are the
//! case's inputs, looked up by their `state_dict` names through
//! [`Weights`].

use nnkit::attention::{
    additive_scores, scaled_dot_product_attention_with, sinusoidal_encoding, soft_attention,
    Activation, DecoderMasks, Mask, Module, MultiHeadAttentionConfig, SdpaOptions,
    TransformerDecoderLayerConfig, TransformerEncoderLayerConfig, TransformerLayerOptions, Weights,
};
use nnkit::autograd::Var;
use nnkit::tensor::{Element, Rng};

use super::common::{output, Ctx, Data, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("scaled_dot_product_attention", sdpa::<T> as Runner<T>),
        ("multihead_attention", multihead_attention::<T>),
        ("additive_attention", additive_attention::<T>),
        ("transformer_encoder_layer", transformer_encoder_layer::<T>),
        ("transformer_decoder_layer", transformer_decoder_layer::<T>),
        ("positional_encoding", positional_encoding::<T>),
    ]
}

/// A `[rows, cols]` bool input as a [`Mask`] (`true` = masked out), if present.
fn mask<T: Element>(c: &Ctx<'_, T>, name: &str) -> Result<Option<Mask>, String> {
    let Some(t) = c.case.inputs.get(name) else {
        return Ok(None);
    };
    match (&t.data, t.shape.as_slice()) {
        (Data::Bool(v), &[r, k]) => Mask::try_new(r, k, v.clone())
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Err(format!("input {name} must be a 2-d bool mask")),
    }
}

fn weights<'a, T: Element>(c: &'a Ctx<'_, T>) -> Weights<'a, T> {
    Weights::from_fn(move |name| c.var(name).ok())
}

fn sdpa<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    if c.param_f("dropout_p")? != T::zero() {
        return Err("sdpa: dropout_p must be 0 for a deterministic case".into());
    }
    let kpm = mask(c, "key_padding_mask")?;
    let o = SdpaOptions {
        causal: c.param_bool("causal")?,
        key_padding_mask: kpm.as_ref(),
        scale: Some(c.param_f("scale")?.to_f64_lossless()),
        need_weights: true,
        ..Default::default()
    };
    let (y, w) = scaled_dot_product_attention_with(&c.var("q")?, &c.var("k")?, &c.var("v")?, &o)
        .map_err(|e| e.to_string())?;
    let mut outs = output("y", y);
    outs.insert("attn_weights".into(), w.ok_or("no weights")?);
    Ok(outs)
}

fn multihead_attention<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    if !c.param_bool("batch_first")? || c.param_f("dropout")? != T::zero() {
        return Err("multihead_attention: expected batch_first and dropout 0".into());
    }
    let mha =
        MultiHeadAttentionConfig::new(c.param_usize("embed_dim")?, c.param_usize("num_heads")?)
            .with_bias(c.param_bool("bias")?)
            .init::<T>(&mut Rng::seed_from(0))
            .unwrap();
    mha.eval();
    let (q, k, v) = if c.param_bool("self_attention")? {
        let x = c.var("x")?;
        (x.clone(), x.clone(), x)
    } else {
        (c.var("query")?, c.var("key")?, c.var("value")?)
    };
    let (am, kpm) = (mask(c, "attn_mask")?, mask(c, "key_padding_mask")?);
    if c.param_bool("causal")? != am.is_some() {
        return Err("multihead_attention: causal but no attn_mask (or the reverse)".into());
    }
    let (y, w) = mha
        .try_forward_with(&weights(c), "", &q, &k, &v, am.as_ref(), kpm.as_ref(), true)
        .map_err(|e| e.to_string())?;
    let mut outs = output("y", y);
    outs.insert("attn_weights".into(), w.ok_or("no weights")?);
    Ok(outs)
}

fn additive_attention<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let m = mask(c, "mask")?;
    if c.param_bool("masked")? != m.is_some() {
        return Err("additive_attention: params.masked disagrees with the inputs".into());
    }
    let bias = c.var("bias")?;
    if bias.shape() != [c.param_usize("attention_dim")?] {
        return Err("additive_attention: bias is not [attention_dim]".into());
    }
    let scores = additive_scores(
        &c.var("query")?,
        &c.var("keys")?,
        &c.var("W_query")?,
        &c.var("W_key")?,
        &bias,
        &c.var("v_score")?,
    )
    .map_err(|e| e.to_string())?;
    let (ctx, w) =
        soft_attention(&scores, &c.var("values")?, m.as_ref()).map_err(|e| e.to_string())?;
    let mut outs = output("context", ctx);
    outs.insert("weights".into(), w);
    Ok(outs)
}

fn layer_config<T: Element>(c: &Ctx<'_, T>) -> Result<TransformerLayerOptions, String> {
    let activation = match c.param_str("activation")? {
        "relu" => Activation::Relu,
        "gelu" => Activation::Gelu,
        other => return Err(format!("unknown activation {other:?}")),
    };
    if !c.param_bool("batch_first")? {
        return Err("only batch_first layers are implemented".into());
    }
    Ok(
        TransformerEncoderLayerConfig::new(c.param_usize("d_model")?, c.param_usize("nhead")?)
            .with_dim_feedforward(c.param_usize("dim_feedforward")?)
            .with_dropout(c.param_f("dropout")?.to_f64_lossless())
            .with_activation(activation)
            .with_layer_norm_eps(c.param_f("layer_norm_eps")?.to_f64_lossless())
            .with_norm_first(c.param_bool("norm_first")?)
            .options,
    )
}

fn transformer_encoder_layer<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let options = layer_config(c)?;
    let layer = TransformerEncoderLayerConfig { options }
        .init::<T>(&mut Rng::seed_from(0))
        .map_err(|e| e.to_string())?;
    layer.eval();
    let (sm, kpm) = (mask(c, "src_mask")?, mask(c, "src_key_padding_mask")?);
    if c.param_bool("causal")? != sm.is_some() {
        return Err("transformer_encoder_layer: causal but no src_mask (or the reverse)".into());
    }
    let y = layer
        .try_forward_with(&weights(c), &c.var("src")?, sm.as_ref(), kpm.as_ref())
        .map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn transformer_decoder_layer<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let options = layer_config(c)?;
    let layer = TransformerDecoderLayerConfig { options }
        .init::<T>(&mut Rng::seed_from(0))
        .map_err(|e| e.to_string())?;
    layer.eval();
    let (tm, mm) = (mask(c, "tgt_mask")?, mask(c, "memory_mask")?);
    let (tkp, mkp) = (
        mask(c, "tgt_key_padding_mask")?,
        mask(c, "memory_key_padding_mask")?,
    );
    let masks = DecoderMasks {
        tgt_mask: tm.as_ref(),
        memory_mask: mm.as_ref(),
        tgt_key_padding_mask: tkp.as_ref(),
        memory_key_padding_mask: mkp.as_ref(),
    };
    let y = layer
        .try_forward_with(&weights(c), &c.var("tgt")?, &c.var("memory")?, masks)
        .map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn positional_encoding<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let pe = sinusoidal_encoding::<T>(
        c.param_usize("max_len")?,
        c.param_usize("d_model")?,
        c.param_f("base")?.to_f64_lossless(),
    );
    Ok(output("pe", Var::constant(pe)))
}
