//! Argument checks that had no test in their own crate (issue 10: every
//! public constructor and function checks its arguments and names the
//! argument and its value). The checks the crates already test are listed
//! in the reliability report; these fill the gaps, one test per check
//! (the recurrent stacks check sizes and dropout, but nn-rnn had no test).

use nnkit::attention::{
    AdditiveAttentionConfig, BilinearScoreConfig, LearnedPositionEmbeddingConfig,
    MultiHeadAttentionConfig, PositionalEncodingConfig, Seq2SeqTransformerConfig,
    TransformerConfig, TransformerDecoderConfig, TransformerDecoderLayerConfig,
    TransformerEncoderConfig, TransformerEncoderLayerConfig,
};
use nnkit::conv::layers::{
    AdaptiveAvgPool2dConfig, AvgPool2dConfig, Conv2dConfig, MaxPool2dConfig,
};
use nnkit::conv::MaxPoolOptions;
use nnkit::generative::{
    AutoencoderConfig, ConditionalGanConfig, ConditionedConfig, Corruption, GanConfig,
    LabelEncoding, VaeConfig,
};
use nnkit::prelude::*;
use nnkit::rnn::{
    GruCellConfig, GruConfig, LstmCellConfig, LstmConfig, Nonlinearity, RnnCellConfig, RnnConfig,
};

fn named() -> Vec<(String, Parameter<f64>)> {
    vec![("w".into(), Parameter::new(Tensor::zeros(&[2])))]
}

#[test]
fn adam_nan_lr() {
    let e = AdamConfig::new(f64::NAN).init(named()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Adam: invalid lr = NaN, expected a finite value >= 0"
    );
}

#[test]
fn adamw_negative_lr() {
    let e = AdamWConfig::new(-1e-3).init(named()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "AdamW: invalid lr = -0.001, expected a finite value >= 0"
    );
}

#[test]
fn rmsprop_nan_lr() {
    let e = RmsPropConfig::new(f64::NAN).init(named()).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("invalid lr = NaN"), "{e}");
}

#[test]
fn adagrad_negative_lr() {
    let e = AdagradConfig::new(-0.5).init(named()).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("invalid lr = -0.5"), "{e}");
}

#[test]
fn multihead_attention_heads_must_divide_the_embedding() {
    let e = error_of(MultiHeadAttentionConfig::new(10, 3).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("MultiHeadAttention: embed_dim 10 must be divisible by num_heads 3"),
        "{e}"
    );
}

#[test]
fn multihead_attention_zero_heads() {
    let e = error_of(MultiHeadAttentionConfig::new(8, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("MultiHeadAttention: num_heads = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn conv2d_layer_kernel_larger_than_padded_input() {
    let conv = Conv2dConfig::new(1, 2, 5)
        .with_padding(1)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap();
    let x = Var::constant(Tensor::zeros(&[1, 1, 2, 2]));
    let e = conv.try_forward(&x).unwrap_err().to_string();
    assert!(
        e.starts_with("conv2d: input [1, 1, 2, 2], weight [2, 1, 5, 5]")
            && e.contains("kernel 5")
            && e.contains("more than the padded input 4"),
        "{e}"
    );
}

/// The message of a constructor's error.
fn error_of<T: std::fmt::Debug>(r: Result<T, TensorError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn lstm_zero_hidden_size() {
    let e = error_of(LstmConfig::new(3, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Lstm: hidden_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn gru_dropout_of_one() {
    let config = GruConfig::new(3, 4).with_num_layers(2).with_dropout(1.0);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Gru: dropout = 1, expected a value in [0, 1)"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Attention: MultiHeadAttention, Transformer layers and stacks, positions, scores.

#[test]
fn multihead_attention_zero_embed_dim() {
    let e = error_of(MultiHeadAttentionConfig::new(0, 2).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("MultiHeadAttention: embed_dim = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn multihead_attention_dropout_of_one() {
    let e = error_of(
        MultiHeadAttentionConfig::new(8, 2)
            .with_dropout(1.0)
            .init::<f32>(&mut Rng::seed_from(0)),
    );
    assert!(
        e.contains("MultiHeadAttention: dropout = 1, expected a value in [0, 1)"),
        "{e}"
    );
}

#[test]
fn multihead_attention_negative_dropout() {
    let e = error_of(
        MultiHeadAttentionConfig::new(8, 2)
            .with_dropout(-0.1)
            .init::<f32>(&mut Rng::seed_from(0)),
    );
    assert!(
        e.contains("MultiHeadAttention: dropout = -0.1, expected a value in [0, 1)"),
        "{e}"
    );
}

#[test]
fn multihead_attention_nan_dropout() {
    let e = error_of(
        MultiHeadAttentionConfig::new(8, 2)
            .with_dropout(f64::NAN)
            .init::<f32>(&mut Rng::seed_from(0)),
    );
    assert!(
        e.contains("MultiHeadAttention: dropout = NaN, expected a value in [0, 1)"),
        "{e}"
    );
}

#[test]
fn transformer_layer_heads_must_divide_d_model() {
    let e = error_of(TransformerEncoderLayerConfig::new(10, 4).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "TransformerEncoderLayer: d_model 10 must be divisible by nhead 4"
    );
}

#[test]
fn transformer_layer_zero_sizes() {
    let rng = &mut Rng::seed_from(0);
    let e = error_of(TransformerEncoderLayerConfig::new(0, 2).init::<f32>(rng));
    assert_eq!(
        e,
        "TransformerEncoderLayer: d_model = 0, expected at least 1"
    );
    let e = error_of(TransformerEncoderLayerConfig::new(8, 0).init::<f32>(rng));
    assert_eq!(e, "TransformerEncoderLayer: nhead = 0, expected at least 1");
}

#[test]
fn transformer_layer_zero_feedforward() {
    let config = TransformerDecoderLayerConfig::new(8, 2).with_dim_feedforward(0);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "TransformerDecoderLayer: dim_feedforward = 0, expected at least 1"
    );
}

#[test]
fn transformer_layer_dropout_above_one() {
    let config = TransformerEncoderLayerConfig::new(8, 2).with_dropout(1.5);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "TransformerEncoderLayer: dropout = 1.5, expected a value in [0, 1)"
    );
}

#[test]
fn transformer_layer_negative_or_zero_eps() {
    for (eps, shown) in [(-1e-3, "-0.001"), (0.0, "0")] {
        let config = TransformerEncoderLayerConfig::new(8, 2).with_layer_norm_eps(eps);
        let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
        assert_eq!(
            e,
            format!(
                "TransformerEncoderLayer: layer_norm_eps = {shown}, expected a finite value > 0"
            )
        );
    }
}

#[test]
fn transformer_encoder_zero_layers() {
    let layer = TransformerEncoderLayerConfig::new(8, 2);
    let e = error_of(
        TransformerEncoderConfig::new(layer, 0)
            .with_final_norm(true)
            .init::<f32>(&mut Rng::seed_from(0)),
    );
    assert_eq!(e, "TransformerEncoder: num_layers = 0, expected at least 1");
}

#[test]
fn transformer_decoder_zero_layers() {
    let layer = TransformerDecoderLayerConfig::new(8, 2);
    let e = error_of(TransformerDecoderConfig::new(layer, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(e, "TransformerDecoder: num_layers = 0, expected at least 1");
}

#[test]
fn transformer_stack_names_itself_for_a_bad_layer() {
    let layer = TransformerDecoderLayerConfig::new(6, 4);
    let e = error_of(TransformerDecoderConfig::new(layer, 2).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "TransformerDecoder: d_model 6 must be divisible by nhead 4"
    );
}

#[test]
fn transformer_zero_decoder_layers() {
    let config = TransformerConfig::new(8, 2)
        .with_num_encoder_layers(1)
        .with_num_decoder_layers(0);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "Transformer: num_decoder_layers = 0, expected at least 1"
    );
}

#[test]
fn seq2seq_transformer_empty_vocabulary() {
    let transformer = TransformerConfig::new(8, 2)
        .with_num_encoder_layers(1)
        .with_num_decoder_layers(1);
    let config = Seq2SeqTransformerConfig::new(transformer, 5, 0).with_max_len(16);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(e, "Seq2SeqTransformer: tgt_vocab = 0, expected at least 1");
    let config = Seq2SeqTransformerConfig::new(transformer.with_dropout(-0.5), 5, 5);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "Seq2SeqTransformer: dropout = -0.5, expected a value in [0, 1)"
    );
}

#[test]
fn positional_encoding_zero_length() {
    let e = error_of(PositionalEncodingConfig::new(0, 8).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(e, "PositionalEncoding: max_len = 0, expected at least 1");
}

#[test]
fn learned_position_embedding_zero_width() {
    let e =
        error_of(LearnedPositionEmbeddingConfig::new(16, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "LearnedPositionEmbedding: d_model = 0, expected at least 1"
    );
}

#[test]
fn bilinear_score_zero_key_size() {
    let e = error_of(BilinearScoreConfig::new(4, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(e, "BilinearScore: dk = 0, expected at least 1");
}

#[test]
fn additive_attention_zero_width() {
    let e = error_of(AdditiveAttentionConfig::new(4, 4, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "AdditiveAttention: attention_dim = 0, expected at least 1"
    );
}

// ---------------------------------------------------------------------------
// Recurrent cells and sequence layers.

#[test]
fn rnn_cell_zero_input() {
    let e = error_of(RnnCellConfig::new(0, 4).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("RnnCell: input_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn rnn_cell_zero_hidden() {
    let config = RnnCellConfig::new(3, 0).with_nonlinearity(Nonlinearity::Relu);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("RnnCell: hidden_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn lstm_cell_zero_input() {
    let e = error_of(LstmCellConfig::new(0, 4).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("LstmCell: input_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn lstm_cell_zero_hidden() {
    let e = error_of(LstmCellConfig::new(3, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("LstmCell: hidden_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn gru_cell_zero_input() {
    let e = error_of(GruCellConfig::new(0, 4).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("GruCell: input_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn gru_cell_zero_hidden() {
    let e = error_of(GruCellConfig::new(3, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("GruCell: hidden_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn rnn_zero_input() {
    let e = error_of(RnnConfig::new(0, 4).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Rnn: input_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn rnn_zero_layers() {
    let config = RnnConfig::new(3, 4)
        .with_num_layers(0)
        .with_nonlinearity(Nonlinearity::Relu);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Rnn: num_layers = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn lstm_zero_layers() {
    let config = LstmConfig::new(3, 4).with_num_layers(0);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Lstm: num_layers = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn gru_zero_hidden() {
    let e = error_of(GruConfig::new(3, 0).init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Gru: hidden_size = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn lstm_nan_dropout() {
    let config = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .with_dropout(f64::NAN);
    let e = error_of(config.init::<f32>(&mut Rng::seed_from(0)));
    assert!(
        e.contains("Lstm: dropout = NaN, expected a value in [0, 1)"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Generative models (fallible constructors).

fn linear(i: usize, o: usize) -> Linear<f32> {
    LinearConfig::new(i, o)
        .init(&mut Rng::seed_from(0))
        .unwrap()
}

#[test]
fn vae_zero_latent_dim() {
    let e = VaeConfig::new(0)
        .init(linear(4, 2), linear(1, 4), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "VaeConfig::init: latent_dim = 0, expected at least 1"
    );
}

#[test]
fn vae_nan_beta() {
    let e = VaeConfig::new(1)
        .with_beta(f64::NAN)
        .init(linear(4, 2), linear(1, 4), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "VaeConfig::init: beta = NaN, expected a finite value >= 0"
    );
}

#[test]
fn gan_zero_latent_dim() {
    let e = GanConfig::new(0)
        .init(linear(1, 4), linear(4, 1), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .ends_with("latent_dim = 0, expected at least 1"),
        "{e}"
    );
}

#[test]
fn gan_real_label_above_one() {
    let e = GanConfig::new(2)
        .with_label_smoothing(1.5)
        .init(linear(2, 4), linear(4, 1), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .ends_with("real_label = 1.5, expected a value in (0, 1]"),
        "{e}"
    );
}

#[test]
fn conditioned_zero_classes() {
    let e = ConditionedConfig::new(0)
        .with_label_encoding(LabelEncoding::Embedding { dim: 2 })
        .init(linear(4, 1), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "Conditioned: num_classes = 0, expected at least 1"
    );
}

#[test]
fn conditional_gan_zero_classes() {
    let e = ConditionalGanConfig::new(2, 0)
        .init(linear(3, 1), linear(1, 1), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "ConditionalGan: num_classes = 0, expected at least 1"
    );
}

#[test]
fn autoencoder_masking_probability_of_one() {
    let e = AutoencoderConfig::new()
        .with_corruption(Corruption::Masking { p: 1.0 })
        .init(linear(4, 2), linear(2, 4), &mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert!(e.to_string().contains("Masking { p: 1.0 }"), "{e}");
}

// ---------------------------------------------------------------------------
// Convolution layers and pooling.

#[test]
fn conv2d_zero_in_channels() {
    let e = Conv2dConfig::new(0, 4, 3)
        .init::<f32>(&mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert!(e.to_string().contains("in_channels = 0"), "{e}");
}

#[test]
fn conv2d_groups_not_dividing_channels() {
    let e = Conv2dConfig::new(4, 6, 3)
        .with_groups(4)
        .init::<f32>(&mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("out_channels = 6") && e.to_string().contains("groups = 4"),
        "{e}"
    );
}

#[test]
fn conv2d_zero_kernel() {
    let e = Conv2dConfig::new(1, 4, 0)
        .init::<f32>(&mut Rng::seed_from(0))
        .err()
        .unwrap();
    assert!(e.to_string().contains("kernel_size [0, 0]"), "{e}");
}

#[test]
fn max_pool2d_zero_stride() {
    let e = error_of(
        MaxPool2dConfig::new(2)
            .with_stride(0)
            .init(&mut Rng::seed_from(0)),
    );
    assert_eq!(
        e,
        "MaxPool2d: stride = [0, 0], expected every value at least 1"
    );
    // The functional form checks at the call.
    let x = Var::constant(Tensor::<f32>::zeros(&[1, 1, 4, 4]));
    let e = nnkit::conv::try_max_pool2d_with_indices(&x, &MaxPoolOptions::new(2).stride(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("stride must be positive, got 0"), "{e}");
}

#[test]
fn avg_pool2d_padding_over_half_the_kernel() {
    let pool = AvgPool2dConfig::new(2)
        .with_padding(2)
        .init(&mut Rng::seed_from(0))
        .unwrap();
    let x = Var::constant(Tensor::<f32>::zeros(&[1, 1, 4, 4]));
    let e = pool.try_forward(&x).unwrap_err().to_string();
    assert!(
        e.contains("padding 2 must be at most half the kernel span 2"),
        "{e}"
    );
}

#[test]
fn adaptive_avg_pool2d_zero_output() {
    let e = error_of(AdaptiveAvgPool2dConfig::new([0, 1]).init(&mut Rng::seed_from(0)));
    assert_eq!(
        e,
        "AdaptiveAvgPool2d: output_size = [0, 1], expected every value at least 1"
    );
}
