//! The attention layers as nn-layers `Module`s: names, counts, modes, saving.

use nn_attention::{
    DecoderMasks, Mask, Module, MultiHeadAttentionConfig, Seq2SeqTransformerConfig, Transformer,
    TransformerConfig,
};
use nn_autograd::Var;
use nn_layers::serialize::{load, save};
use nn_layers::LoadMode;
use nn_tensor::{Rng, Tensor};

fn run(model: &Transformer<f64>, src: &Var<f64>, tgt: &Var<f64>) -> Tensor<f64> {
    let masks = DecoderMasks {
        tgt_mask: Some(&Mask::causal(tgt.shape()[1])),
        ..DecoderMasks::default()
    };
    model
        .try_forward(src, tgt, None, None, masks)
        .unwrap()
        .value()
        .clone()
}

#[test]
fn multihead_attention_counts_like_pytorch() {
    // nn.MultiheadAttention(16, 4): in_proj 3·16·16 + 3·16, out_proj 16·16 + 16.
    let mha = MultiHeadAttentionConfig::new(16, 4)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap();
    assert_eq!(mha.num_parameters(), 1088);
    let names: Vec<String> = mha.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "in_proj_weight",
            "in_proj_bias",
            "out_proj.weight",
            "out_proj.bias"
        ]
    );
    let mut children = Vec::new();
    mha.visit_children(&mut |n, m| children.push((n.to_string(), m.type_name())));
    assert_eq!(children, [("out_proj".to_string(), "Linear")]);
}

#[test]
fn transformer_names_follow_pytorch_state_dict() {
    let cfg = TransformerConfig::new(8, 2).with_dim_feedforward(16);
    let model = cfg
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(1)
        .init::<f32>(&mut Rng::seed_from(1))
        .unwrap();
    let names: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "encoder.layers.0.self_attn.in_proj_weight");
    assert!(names.contains(&"encoder.layers.1.linear2.bias".to_string()));
    assert!(names.contains(&"encoder.norm.weight".to_string()));
    assert!(names.contains(&"decoder.layers.0.multihead_attn.out_proj.weight".to_string()));
    assert_eq!(names.last().unwrap(), "decoder.norm.bias");
    // PyTorch: per encoder layer 4·(E²+E) + 2·(E·F) + F + E + 4·E, per decoder
    // layer 8·(E²+E) + 2·E·F + F + E + 6·E, plus two final norms.
    let (e, f) = (8, 16);
    let enc = 4 * (e * e + e) + 2 * e * f + f + e + 4 * e;
    let dec = 8 * (e * e + e) + 2 * e * f + f + e + 6 * e;
    assert_eq!(model.num_parameters(), 2 * enc + dec + 4 * e);
    let s2s = Seq2SeqTransformerConfig::new(
        cfg.with_num_encoder_layers(1).with_num_decoder_layers(1),
        5,
        7,
    )
    .with_max_len(10)
    .init::<f32>(&mut Rng::seed_from(2))
    .unwrap();
    let names: Vec<String> = s2s.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[..2], ["src_embed.weight", "tgt_embed.weight"]);
    assert_eq!(
        names[2],
        "transformer.encoder.layers.0.self_attn.in_proj_weight"
    );
    assert_eq!(names.last().unwrap(), "generator.bias");
}

/// The two stacks are one generic type underneath, but summaries and debug
/// output still call them by their PyTorch names.
#[test]
fn stacks_keep_their_own_names() {
    let cfg = TransformerConfig::new(8, 2).with_dim_feedforward(16);
    let model = cfg
        .with_num_encoder_layers(1)
        .with_num_decoder_layers(1)
        .init::<f32>(&mut Rng::seed_from(3))
        .unwrap();
    let mut children = Vec::new();
    model.visit_children(&mut |n, m| children.push((n.to_string(), m.type_name())));
    assert_eq!(
        children,
        [
            ("encoder".to_string(), "TransformerEncoder"),
            ("decoder".to_string(), "TransformerDecoder")
        ]
    );
    assert!(format!("{:?}", model.encoder).starts_with("TransformerEncoder { layers: ["));
    assert!(format!("{:?}", model.decoder).starts_with("TransformerDecoder { layers: ["));
}

#[test]
fn eval_turns_off_every_dropout_inside() {
    let cfg = TransformerConfig::new(8, 2).with_dim_feedforward(16);
    let noisy = cfg
        .with_dropout(0.3)
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(2)
        .init::<f64>(&mut Rng::seed_from(3))
        .unwrap();
    let clean = cfg
        .with_dropout(0.0)
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(2)
        .init::<f64>(&mut Rng::seed_from(4))
        .unwrap();
    for ((a, pa), (b, pb)) in clean
        .named_parameters()
        .iter()
        .zip(noisy.named_parameters())
    {
        assert_eq!(a, &b);
        pa.set_value(pb.value());
    }
    let mut rng = Rng::seed_from(5);
    let src = Var::constant(Tensor::rand_normal(&[2, 5, 8], 0.0, 1.0, &mut rng));
    let tgt = Var::constant(Tensor::rand_normal(&[2, 4, 8], 0.0, 1.0, &mut rng));
    let reference = run(&clean, &src, &tgt);
    assert!(noisy.is_training());
    let a = run(&noisy, &src, &tgt);
    assert_ne!(
        a, reference,
        "dropout 0.3 in training mode changes the output"
    );
    assert_ne!(
        a,
        run(&noisy, &src, &tgt),
        "each training pass draws new masks"
    );
    noisy.eval();
    assert!(!noisy.is_training());
    assert!(noisy
        .encoder
        .layers
        .iter()
        .all(|l| !l.self_attn.is_training()));
    assert_eq!(run(&noisy, &src, &tgt), reference);
    assert_eq!(run(&noisy, &src, &tgt), reference);
    noisy.train();
    assert_ne!(run(&noisy, &src, &tgt), reference);
}

#[test]
fn saved_transformer_loads_strictly_into_a_fresh_model() {
    let cfg = TransformerConfig::new(8, 2)
        .with_dim_feedforward(16)
        .with_norm_first(true);
    let original = cfg
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(2)
        .init::<f64>(&mut Rng::seed_from(6))
        .unwrap();
    let fresh = cfg
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(2)
        .init::<f64>(&mut Rng::seed_from(7))
        .unwrap();
    original.eval();
    fresh.eval();
    let mut rng = Rng::seed_from(8);
    let src = Var::constant(Tensor::rand_normal(&[2, 5, 8], 0.0, 1.0, &mut rng));
    let tgt = Var::constant(Tensor::rand_normal(&[2, 3, 8], 0.0, 1.0, &mut rng));
    let want = run(&original, &src, &tgt);
    assert_ne!(run(&fresh, &src, &tgt), want);
    let path = std::env::temp_dir().join(format!(
        "nn_attention_transformer_{}.safetensors",
        std::process::id()
    ));
    save(&original, &path).unwrap();
    let report = load(&fresh, &path, LoadMode::Strict).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(run(&fresh, &src, &tgt), want);
}
