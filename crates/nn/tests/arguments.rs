//! Argument checks that had no test in their own crate (issue 10: every
//! public constructor and function checks its arguments and names the
//! argument and its value). The checks the crates already test are listed
//! in the reliability report; these fill the gaps, one test per check
//! (the recurrent stacks check sizes and dropout, but nn-rnn had no test).

use nn::attention::MultiHeadAttention;
use nn::conv::layers::Conv2dConfig;
use nn::prelude::*;

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
#[should_panic(expected = "MultiHeadAttention: embed_dim 10 must be divisible by num_heads 3")]
fn multihead_attention_heads_must_divide_the_embedding() {
    MultiHeadAttention::<f32>::new(10, 3, 0.0, true, &mut Rng::seed_from(0));
}

#[test]
#[should_panic(expected = "MultiHeadAttention: embed_dim 8 must be divisible by num_heads 0")]
fn multihead_attention_zero_heads() {
    MultiHeadAttention::<f32>::new(8, 0, 0.0, true, &mut Rng::seed_from(0));
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

#[test]
#[should_panic(expected = "num_layers and hidden_size must be at least 1")]
fn lstm_zero_hidden_size() {
    nn::rnn::Lstm::<f32>::new(nn::rnn::RecurrentConfig::new(3, 0), &mut Rng::seed_from(0));
}

#[test]
#[should_panic(expected = "dropout must be in [0, 1), got 1")]
fn gru_dropout_of_one() {
    let config = nn::rnn::RecurrentConfig::new(3, 4)
        .num_layers(2)
        .dropout(1.0);
    nn::rnn::Gru::<f32>::new(config, &mut Rng::seed_from(0));
}
