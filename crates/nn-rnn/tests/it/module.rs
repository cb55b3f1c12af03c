//! The recurrent layers as nn-layers `Module`s: names, counts, modes, saving.

use nn_autograd::Var;
use nn_layers::serialize::{load, save};
use nn_layers::LoadMode;
use nn_rnn::{
    GruCellConfig, LstmCellConfig, LstmConfig, Module, Nonlinearity, RnnCellConfig, RnnConfig,
};
use nn_tensor::{Rng, Tensor};

#[test]
fn parameter_counts_match_pytorch() {
    let mut rng = Rng::seed_from(0);
    // nn.LSTM(10, 20): 4·20·10 + 4·20·20 + 2·4·20.
    let lstm = LstmConfig::new(10, 20).init::<f32>(&mut rng).unwrap();
    assert_eq!(lstm.num_parameters(), 2560);
    // nn.RNN(4, 3, num_layers=2, bidirectional=True, bias=False).
    let rnn = RnnConfig::new(4, 3)
        .with_num_layers(2)
        .with_bidirectional(true)
        .with_bias(false)
        .init::<f32>(&mut rng)
        .unwrap();
    assert_eq!(
        rnn.num_parameters(),
        2 * (3 * 4 + 3 * 3) + 2 * (3 * 6 + 3 * 3)
    );
    // nn.GRUCell(5, 7): 3·7·5 + 3·7·7 + 2·3·7.
    assert_eq!(
        GruCellConfig::new(5, 7)
            .init::<f32>(&mut rng)
            .unwrap()
            .num_parameters(),
        294
    );
}

#[test]
fn visitor_names_are_pytorch_state_dict_names() {
    let mut rng = Rng::seed_from(1);
    let lstm = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init::<f32>(&mut rng)
        .unwrap();
    let names: Vec<String> = lstm.state_dict().into_iter().map(|(n, _)| n).collect();
    let mut want = Vec::new();
    for k in 0..2 {
        for d in ["", "_reverse"] {
            for w in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
                want.push(format!("{w}_l{k}{d}"));
            }
        }
    }
    assert_eq!(names, want);
    let cell = LstmCellConfig::new(3, 4).init::<f32>(&mut rng).unwrap();
    let names: Vec<String> = cell
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]);
    let cell = RnnCellConfig::new(3, 4)
        .with_bias(false)
        .with_nonlinearity(Nonlinearity::Relu)
        .init::<f32>(&mut rng)
        .unwrap();
    assert_eq!(cell.type_name(), "RnnCell");
    assert_eq!(cell.named_parameters().len(), 2);
}

#[test]
fn eval_turns_off_inter_layer_dropout() {
    let mut rng = Rng::seed_from(2);
    let lstm = LstmConfig::new(3, 6)
        .with_num_layers(3)
        .with_dropout(0.5)
        .init::<f64>(&mut rng)
        .unwrap();
    let plain = LstmConfig::new(3, 6)
        .with_num_layers(3)
        .init::<f64>(&mut rng)
        .unwrap();
    for ((_, a), (_, b)) in plain.named_parameters().iter().zip(lstm.named_parameters()) {
        a.set_value(b.value());
    }
    let x = Var::constant(Tensor::<f64>::rand_normal(&[4, 2, 3], 0.0, 1.0, &mut rng));
    let reference = plain.forward(&x, None).0.value().clone();
    assert!(lstm.is_training());
    assert_ne!(lstm.forward(&x, None).0.as_tensor(), &reference);
    lstm.eval();
    assert!(!lstm.is_training());
    assert_eq!(lstm.forward(&x, None).0.as_tensor(), &reference);
    lstm.train();
    assert_ne!(lstm.forward(&x, None).0.as_tensor(), &reference);
}

#[test]
fn saved_lstm_loads_strictly_into_a_fresh_model() {
    let cfg = LstmConfig::new(5, 7)
        .with_num_layers(2)
        .with_bidirectional(true);
    let original = cfg.init::<f32>(&mut Rng::seed_from(3)).unwrap();
    let fresh = cfg.init::<f32>(&mut Rng::seed_from(4)).unwrap();
    let x = Var::constant(Tensor::<f32>::rand_normal(
        &[6, 2, 5],
        0.0,
        1.0,
        &mut Rng::seed_from(5),
    ));
    let (y0, (h0, c0)) = original.forward(&x, None);
    assert_ne!(fresh.forward(&x, None).0.value(), y0.value());
    let path = std::env::temp_dir().join(format!("nn_rnn_lstm_{}.safetensors", std::process::id()));
    save(&original, &path).unwrap();
    let report = load(&fresh, &path, LoadMode::Strict).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(report.is_complete(), "{report}");
    let (y1, (h1, c1)) = fresh.forward(&x, None);
    assert_eq!(y1.value(), y0.value());
    assert_eq!(h1.value(), h0.value());
    assert_eq!(c1.value(), c0.value());
}
