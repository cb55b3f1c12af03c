//! Parity with PyTorch on the attention and Transformer fixture families,
//! in f64 (≤ 1e-9) and f32 (≤ 1e-4): outputs and every gradient.

// The fixture loader is shared with nn-rnn's tests rather than copied.
#[path = "../../../nn-rnn/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::{cases, compare, Case};
use nn_attention::{
    scaled_dot_product_attention_with, sinusoidal_encoding, Activation, AdditiveAttentionConfig,
    DecoderMasks, Mask, Module, MultiHeadAttentionConfig, SdpaOptions,
    TransformerDecoderLayerConfig, TransformerEncoderLayerConfig,
};
use nn_autograd::{Parameter, Var};
use nn_tensor::{Element, Rng};

type Named<T> = Vec<(String, Parameter<T>)>;

fn mask(c: &Case, name: &str) -> Option<Mask> {
    c.mask(name).map(|(s, d)| Mask::new(s[0], s[1], d))
}

/// Loads every named parameter from the case and records it as a leaf.
fn load<T: Element>(c: &Case, named: Named<T>, leaves: &mut BTreeMap<&'static str, Var<T>>) {
    for (name, p) in named {
        p.set_value(c.tensor(&name));
        leaves.insert(Box::leak(name.into_boxed_str()), p.var());
    }
}

fn leaf<T: Element>(
    c: &Case,
    name: &'static str,
    leaves: &mut BTreeMap<&'static str, Var<T>>,
) -> Var<T> {
    let v = Var::leaf(c.tensor::<T>(name));
    leaves.insert(name, v.clone());
    v
}

fn finish<T: Element>(
    c: &Case,
    outs: BTreeMap<&str, Var<T>>,
    leaves: BTreeMap<&str, Var<T>>,
    tol: f64,
) {
    let grads = c.objective(&outs).backward();
    c.check(&outs, &grads, &leaves, tol);
}

fn both(op: &str, run: fn(&Case, f64), run32: fn(&Case, f64)) {
    let all = cases(op);
    for c in &all {
        run(c, 1e-9);
        run32(c, 1e-4);
    }
    eprintln!("{op}: {} cases pass in f64 and f32", all.len());
}

fn sdpa<T: Element>(c: &Case, tol: f64) {
    let mut leaves = BTreeMap::new();
    let (q, k, v) = (
        leaf::<T>(c, "q", &mut leaves),
        leaf(c, "k", &mut leaves),
        leaf(c, "v", &mut leaves),
    );
    let kpm = mask(c, "key_padding_mask");
    assert_eq!(c.f64("dropout_p"), 0.0);
    let o = SdpaOptions {
        causal: c.bool("causal"),
        key_padding_mask: kpm.as_ref(),
        scale: Some(c.f64("scale")),
        need_weights: true,
        ..Default::default()
    };
    let (y, w) = scaled_dot_product_attention_with(&q, &k, &v, &o).unwrap();
    finish(
        c,
        BTreeMap::from([("y", y), ("attn_weights", w.unwrap())]),
        leaves,
        tol,
    );
}

#[test]
fn scaled_dot_product_attention_fixtures() {
    both("scaled_dot_product_attention", sdpa::<f64>, sdpa::<f32>);
}

fn mha<T: Element>(c: &Case, tol: f64) {
    let mut leaves = BTreeMap::new();
    let e = c.usize("embed_dim");
    let m = MultiHeadAttentionConfig::new(e, c.usize("num_heads"))
        .with_dropout(c.f64("dropout"))
        .with_bias(c.bool("bias"))
        .init::<T>(&mut Rng::seed_from(0))
        .unwrap();
    m.eval();
    load(c, m.named_parameters(), &mut leaves);
    let (q, k, v) = if c.bool("self_attention") {
        let x = leaf::<T>(c, "x", &mut leaves);
        (x.clone(), x.clone(), x)
    } else {
        (
            leaf(c, "query", &mut leaves),
            leaf(c, "key", &mut leaves),
            leaf(c, "value", &mut leaves),
        )
    };
    let (am, kpm) = (mask(c, "attn_mask"), mask(c, "key_padding_mask"));
    let (y, w) = m.forward(&q, &k, &v, am.as_ref(), kpm.as_ref(), true);
    finish(
        c,
        BTreeMap::from([("y", y), ("attn_weights", w.unwrap())]),
        leaves,
        tol,
    );
}

#[test]
fn multihead_attention_fixtures() {
    both("multihead_attention", mha::<f64>, mha::<f32>);
}

fn additive<T: Element>(c: &Case, tol: f64) {
    let mut leaves = BTreeMap::new();
    let (dq, dk) = (c.inputs["query"].0[1], c.inputs["keys"].0[2]);
    let m = AdditiveAttentionConfig::new(dq, dk, c.usize("attention_dim"))
        .init::<T>(&mut Rng::seed_from(0))
        .unwrap();
    load(c, m.named_parameters(), &mut leaves);
    let q = leaf::<T>(c, "query", &mut leaves);
    let k = leaf(c, "keys", &mut leaves);
    let v = leaf(c, "values", &mut leaves);
    let mk = mask(c, "mask");
    assert_eq!(c.bool("masked"), mk.is_some());
    let (ctx, w) = m.try_forward(&q, &k, &v, mk.as_ref()).unwrap();
    finish(
        c,
        BTreeMap::from([("context", ctx), ("weights", w)]),
        leaves,
        tol,
    );
}

#[test]
fn additive_attention_fixtures() {
    both("additive_attention", additive::<f64>, additive::<f32>);
}

fn layer_config(c: &Case) -> TransformerEncoderLayerConfig {
    let act = match c.params["activation"].as_str() {
        Some("relu") => Activation::Relu,
        Some("gelu") => Activation::Gelu,
        other => panic!("{}: activation {other:?}", c.name),
    };
    assert!(c.bool("batch_first"));
    TransformerEncoderLayerConfig::new(c.usize("d_model"), c.usize("nhead"))
        .with_dim_feedforward(c.usize("dim_feedforward"))
        .with_dropout(c.f64("dropout"))
        .with_activation(act)
        .with_layer_norm_eps(c.f64("layer_norm_eps"))
        .with_norm_first(c.bool("norm_first"))
}

fn encoder<T: Element>(c: &Case, tol: f64) {
    let mut leaves = BTreeMap::new();
    let layer = layer_config(c).init::<T>(&mut Rng::seed_from(0)).unwrap();
    layer.eval();
    load(c, layer.named_parameters(), &mut leaves);
    let src = leaf::<T>(c, "src", &mut leaves);
    let (sm, kpm) = (mask(c, "src_mask"), mask(c, "src_key_padding_mask"));
    assert_eq!(c.bool("causal"), sm.is_some(), "{}", c.name);
    let y = layer.forward(&src, sm.as_ref(), kpm.as_ref());
    finish(c, BTreeMap::from([("y", y)]), leaves, tol);
}

#[test]
fn transformer_encoder_layer_fixtures() {
    both("transformer_encoder_layer", encoder::<f64>, encoder::<f32>);
}

fn decoder<T: Element>(c: &Case, tol: f64) {
    let mut leaves = BTreeMap::new();
    let options = layer_config(c).options;
    let layer = TransformerDecoderLayerConfig { options }
        .init::<T>(&mut Rng::seed_from(0))
        .unwrap();
    layer.eval();
    load(c, layer.named_parameters(), &mut leaves);
    let tgt = leaf::<T>(c, "tgt", &mut leaves);
    let memory = leaf::<T>(c, "memory", &mut leaves);
    let (tm, mm, tkp, mkp) = (
        mask(c, "tgt_mask"),
        mask(c, "memory_mask"),
        mask(c, "tgt_key_padding_mask"),
        mask(c, "memory_key_padding_mask"),
    );
    let masks = DecoderMasks {
        tgt_mask: tm.as_ref(),
        memory_mask: mm.as_ref(),
        tgt_key_padding_mask: tkp.as_ref(),
        memory_key_padding_mask: mkp.as_ref(),
    };
    let y = layer.forward(&tgt, &memory, masks);
    finish(c, BTreeMap::from([("y", y)]), leaves, tol);
}

#[test]
fn transformer_decoder_layer_fixtures() {
    both("transformer_decoder_layer", decoder::<f64>, decoder::<f32>);
}

fn pe<T: Element>(c: &Case, tol: f64) {
    let got = sinusoidal_encoding::<T>(c.usize("max_len"), c.usize("d_model"), c.f64("base"));
    let (s, d) = &c.outputs["pe"];
    compare(&c.name, "pe", &got, s, d, tol);
}

#[test]
fn positional_encoding_fixtures() {
    both("positional_encoding", pe::<f64>, pe::<f32>);
}
