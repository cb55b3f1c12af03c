//! Behaviour beyond the fixtures: variable-length batches, bidirectional
//! semantics, cells against sequence layers, truncated BPTT, errors.

use nn_autograd::Var;
use nn_rnn::{
    truncated_bptt, GruCellConfig, GruConfig, LstmCellConfig, LstmConfig, Module, Nonlinearity,
    RnnCellConfig, RnnConfig,
};
use nn_tensor::{Rng, Tensor};

fn max_diff(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.max_abs_diff(b)
}

#[test]
fn padding_never_changes_a_shorter_sequence() {
    let mut rng = Rng::seed_from(11);
    let cfg = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .with_bidirectional(true);
    let lstm = cfg.init::<f64>(&mut rng).unwrap();
    let (steps, n) = (6, 3);
    let lengths = [6, 2, 4];
    let x = Tensor::<f64>::rand_normal(&[steps, n, 3], 0.0, 1.0, &mut rng);
    let x2 = {
        // Different garbage in the padding.
        let mut v = x.to_vec();
        for t in 0..steps {
            for (b, &len) in lengths.iter().enumerate() {
                if t >= len {
                    for f in 0..3 {
                        v[(t * n + b) * 3 + f] = 100.0 * (t + f) as f64;
                    }
                }
            }
        }
        Tensor::from_vec(v, &[steps, n, 3])
    };
    let run = |x: &Tensor<f64>| {
        lstm.try_forward(&Var::from(x), None, Some(&lengths))
            .unwrap()
    };
    let (y1, (h1, c1)) = run(&x);
    let (y2, (h2, c2)) = run(&x2);
    assert!(max_diff(y1.as_tensor(), y2.as_tensor()) < 1e-12);
    assert!(max_diff(h1.as_tensor(), h2.as_tensor()) < 1e-12);
    assert!(max_diff(c1.as_tensor(), c2.as_tensor()) < 1e-12);
    // Each sequence alone (batch of one, exact length) gives the same results.
    for (b, &len) in lengths.iter().enumerate() {
        let xb = x.narrow(1, b, 1).narrow(0, 0, len);
        let (yb, (hb, cb)) = lstm.forward(xb, None);
        let y_pad = y1.value().narrow(1, b, 1);
        assert!(
            max_diff(yb.as_tensor(), &y_pad.narrow(0, 0, len)) < 1e-12,
            "batch {b}"
        );
        assert!(y_pad
            .narrow(0, len, steps - len)
            .as_slice()
            .iter()
            .all(|&v| v == 0.0));
        assert!(max_diff(hb.as_tensor(), &h1.value().narrow(1, b, 1)) < 1e-12);
        assert!(max_diff(cb.as_tensor(), &c1.value().narrow(1, b, 1)) < 1e-12);
    }
}

#[test]
fn reverse_direction_reads_the_sequence_backwards() {
    let mut rng = Rng::seed_from(5);
    let bi = GruConfig::new(2, 3)
        .with_bidirectional(true)
        .init::<f64>(&mut rng)
        .unwrap();
    let fwd = GruConfig::new(2, 3).init::<f64>(&mut rng).unwrap();
    // Give the unidirectional GRU the reverse weights of the bidirectional one.
    for ((_, p), (_, q)) in fwd
        .named_parameters()
        .iter()
        .zip(&bi.named_parameters()[4..])
    {
        p.set_value(q.value());
    }
    let x = Tensor::<f64>::rand_normal(&[5, 2, 2], 0.0, 1.0, &mut rng);
    let rev: Vec<usize> = (0..5).rev().collect();
    let (y_bi, h_bi) = bi.forward(&x, None);
    let (y_r, h_r) = fwd.forward(x.index_select(0, &rev), None);
    let y_bi_rev = y_bi.value().narrow(2, 3, 3);
    assert!(max_diff(&y_bi_rev, &y_r.value().index_select(0, &rev)) < 1e-12);
    assert!(max_diff(&h_bi.value().narrow(0, 1, 1), h_r.as_tensor()) < 1e-12);
}

#[test]
fn cells_match_one_layer_sequences_step_by_step() {
    let mut rng = Rng::seed_from(8);
    let x = Tensor::<f64>::rand_normal(&[4, 2, 3], 0.0, 1.0, &mut rng);
    let steps: Vec<Var<f64>> = (0..4)
        .map(|t| Var::constant(x.narrow(0, t, 1).reshape([2, 3])))
        .collect();
    let copy = |from: Vec<(String, nn_autograd::Parameter<f64>)>,
                to: Vec<(String, nn_autograd::Parameter<f64>)>| {
        for ((_, a), (_, b)) in from.iter().zip(&to) {
            b.set_value(a.value());
        }
    };

    let lstm = LstmConfig::new(3, 4).init::<f64>(&mut rng).unwrap();
    let cell = LstmCellConfig::new(3, 4).init::<f64>(&mut rng).unwrap();
    copy(lstm.named_parameters(), cell.named_parameters());
    let (y, (h_n, c_n)) = lstm.forward(&x, None);
    let mut state: Option<(Var<f64>, Var<f64>)> = None;
    for (t, xt) in steps.iter().enumerate() {
        let s = cell.forward(xt, state.as_ref().map(|(h, c)| (h, c)));
        assert!(max_diff(s.0.as_tensor(), &y.value().narrow(0, t, 1).reshape([2, 4])) < 1e-12);
        state = Some(s);
    }
    let (h, c) = state.unwrap();
    assert!(max_diff(h.as_tensor(), &h_n.value().reshape([2, 4])) < 1e-12);
    assert!(max_diff(c.as_tensor(), &c_n.value().reshape([2, 4])) < 1e-12);

    let gru = GruConfig::new(3, 4).init::<f64>(&mut rng).unwrap();
    let gcell = GruCellConfig::new(3, 4).init::<f64>(&mut rng).unwrap();
    copy(gru.named_parameters(), gcell.named_parameters());
    let rnn = RnnConfig::new(3, 4)
        .with_nonlinearity(Nonlinearity::Relu)
        .init::<f64>(&mut rng)
        .unwrap();
    let rcell = RnnCellConfig::new(3, 4)
        .with_nonlinearity(Nonlinearity::Relu)
        .init::<f64>(&mut rng)
        .unwrap();
    copy(rnn.named_parameters(), rcell.named_parameters());
    let (_, hg) = gru.forward(&x, None);
    let (_, hr) = rnn.forward(x, None);
    let (mut g, mut r) = (None, None);
    for xt in &steps {
        g = Some(gcell.forward(xt, g.as_ref()));
        r = Some(rcell.forward(xt, r.as_ref()));
    }
    assert!(max_diff(g.unwrap().as_tensor(), &hg.value().reshape([2, 4])) < 1e-12);
    assert!(max_diff(r.unwrap().as_tensor(), &hr.value().reshape([2, 4])) < 1e-12);
}

#[test]
fn truncated_bptt_carries_values_but_not_the_graph() {
    let mut rng = Rng::seed_from(2);
    let lstm = LstmConfig::new(2, 3).init::<f64>(&mut rng).unwrap();
    let x = Tensor::<f64>::rand_normal(&[9, 2, 2], 0.0, 1.0, &mut rng);
    let (_, (h_full, _)) = lstm.forward(&x, None);
    let mut leaves = Vec::new();
    let (state, _) = truncated_bptt(
        &x,
        0,
        4,
        None,
        |chunk, state: Option<(Var<f64>, Var<f64>)>| {
            if let Some((h, _)) = &state {
                assert!(!h.requires_grad(), "carried state must be detached");
            }
            let xv = Var::leaf(chunk);
            let (y, (h, c)) = lstm.forward(&xv, state.as_ref().map(|(h, c)| (h, c)));
            let g = y.sum().backward();
            assert!(g.get(&xv).is_some());
            leaves.push(xv);
            (Some((h, c)), ())
        },
    )
    .unwrap();
    assert_eq!(leaves.len(), 3);
    let (h, _) = state.unwrap();
    // Same values as the untruncated run.
    assert!(max_diff(h.as_tensor(), h_full.as_tensor()) < 1e-12);
}

#[test]
fn bad_shapes_are_reported_with_the_operation() {
    let mut rng = Rng::seed_from(1);
    let lstm = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .init::<f32>(&mut rng)
        .unwrap();
    let x = Var::constant(Tensor::zeros(&[5, 2, 7]));
    let e = lstm.try_forward(&x, None, None).unwrap_err().to_string();
    assert!(
        e.contains("Lstm::forward") && e.contains("input_size 3"),
        "{e}"
    );
    let x = Var::constant(Tensor::zeros(&[5, 2, 3]));
    let h = Var::constant(Tensor::zeros(&[1, 2, 4]));
    let e = lstm
        .try_forward(&x, Some((&h, &h)), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("h0"), "{e}");
    let e = lstm
        .try_forward(&x, None, Some(&[5, 6]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lengths"), "{e}");
}

#[test]
fn dropout_between_layers_only_in_training() {
    let mut rng = Rng::seed_from(3);
    let gru = GruConfig::new(2, 8)
        .with_num_layers(2)
        .with_dropout(0.5)
        .init::<f64>(&mut rng)
        .unwrap();
    let x = Var::constant(Tensor::<f64>::rand_normal(&[5, 2, 2], 0.0, 1.0, &mut rng));
    let a = gru.forward(&x, None).0.value().clone();
    let b = gru.forward(&x, None).0.value().clone();
    assert!(
        max_diff(&a, &b) > 1e-6,
        "two training passes draw different masks"
    );
    gru.eval();
    let c = gru.forward(&x, None).0.value().clone();
    let d = gru.forward(&x, None).0.value().clone();
    assert_eq!(c, d);
}

#[test]
fn zero_sizes_are_errors_naming_the_layer_and_the_value() {
    let rng = &mut Rng::seed_from(0);
    let msg = |e: nn_tensor::TensorError| e.to_string();
    let cases = [
        (
            msg(LstmConfig::new(3, 0).init::<f32>(rng).unwrap_err()),
            "Lstm: hidden_size = 0, expected at least 1",
        ),
        (
            msg(GruConfig::new(0, 4).init::<f32>(rng).unwrap_err()),
            "Gru: input_size = 0, expected at least 1",
        ),
        (
            msg(RnnConfig::new(3, 4)
                .with_num_layers(0)
                .init::<f32>(rng)
                .unwrap_err()),
            "Rnn: num_layers = 0, expected at least 1",
        ),
        (
            msg(LstmConfig::new(3, 4)
                .with_num_layers(2)
                .with_dropout(1.0)
                .init::<f32>(rng)
                .unwrap_err()),
            "Lstm: dropout = 1, expected a value in [0, 1)",
        ),
        (
            msg(RnnCellConfig::new(0, 4).init::<f32>(rng).unwrap_err()),
            "RnnCell: input_size = 0, expected at least 1",
        ),
        (
            msg(LstmCellConfig::new(3, 0).init::<f32>(rng).unwrap_err()),
            "LstmCell: hidden_size = 0, expected at least 1",
        ),
        (
            msg(GruCellConfig::new(3, 0).init::<f32>(rng).unwrap_err()),
            "GruCell: hidden_size = 0, expected at least 1",
        ),
    ];
    for (got, want) in cases {
        assert!(got.contains(want), "{got:?} should contain {want:?}");
    }
}

/// Recurrent (variational) dropout draws one mask per sequence: a hidden
/// unit it drops feeds `W_hh` at no step, so its whole column of
/// `weight_hh`'s gradient is exactly zero; with a fresh mask per step
/// (the practice the course warns against) almost no column would be.
#[test]
fn recurrent_dropout_reuses_one_mask_at_every_step() {
    let mut rng = Rng::seed_from(11);
    let hidden = 16;
    for kind in ["lstm", "gru"] {
        let x = Tensor::<f64>::rand_normal(&[8, 1, 3], 0.0, 1.0, &mut rng);
        let (y, weight_hh) = if kind == "lstm" {
            let m = LstmConfig::new(3, hidden)
                .with_recurrent_dropout(0.5)
                .init::<f64>(&mut rng)
                .unwrap();
            (m.forward(&x, None).0, m.weights(0, 0).weight_hh.clone())
        } else {
            let m = GruConfig::new(3, hidden)
                .with_recurrent_dropout(0.5)
                .init::<f64>(&mut rng)
                .unwrap();
            (m.forward(&x, None).0, m.weights(0, 0).weight_hh.clone())
        };
        let grads = y.sum().backward();
        let g = grads.get_id(weight_hh.id()).unwrap();
        let rows = g.shape()[0];
        let zero_columns = (0..hidden)
            .filter(|&j| (0..rows).all(|r| g.as_slice()[r * hidden + j] == 0.0))
            .count();
        assert!(
            (4..=12).contains(&zero_columns),
            "{kind}: {zero_columns} of {hidden} units dropped at every step (p = 0.5)"
        );
    }
}

/// In eval mode recurrent dropout is the identity: the layer computes what
/// the same weights compute without the option (on the fused path).
#[test]
fn recurrent_dropout_is_the_identity_in_eval_mode() {
    let x = Tensor::<f64>::rand_normal(&[6, 2, 3], 0.0, 1.0, &mut Rng::seed_from(2));
    let plain = LstmConfig::new(3, 5)
        .init::<f64>(&mut Rng::seed_from(7))
        .unwrap();
    let dropped = LstmConfig::new(3, 5)
        .with_recurrent_dropout(0.3)
        .init::<f64>(&mut Rng::seed_from(7))
        .unwrap();
    let train = dropped.forward(&x, None).0.value().clone();
    assert!(max_diff(&train, &plain.forward(&x, None).0.value()) > 1e-3);
    dropped.eval();
    assert_eq!(
        dropped.forward(&x, None).0.value(),
        plain.forward(&x, None).0.value()
    );
}

/// A layer-normalised layer has a gain and a bias per norm, named after
/// PyTorch's weights (`ln_ih_weight_l0` beside `weight_ih_l0`), in order.
#[test]
fn layer_norm_adds_named_gains_and_biases() {
    let lstm = LstmConfig::new(3, 4)
        .with_layer_norm(true)
        .with_bidirectional(true)
        .init::<f64>(&mut Rng::seed_from(1))
        .unwrap();
    let names: Vec<String> = lstm
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names[..10],
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "ln_ih_weight_l0",
            "ln_ih_bias_l0",
            "ln_hh_weight_l0",
            "ln_hh_bias_l0",
            "ln_c_weight_l0",
            "ln_c_bias_l0",
        ]
    );
    assert_eq!(names.len(), 20);
    assert_eq!(names[19], "ln_c_bias_l0_reverse");
    let gru = GruConfig::new(3, 4)
        .with_layer_norm(true)
        .init::<f64>(&mut Rng::seed_from(1))
        .unwrap();
    assert_eq!(gru.named_parameters().len(), 8, "GRU: no cell norm");
}

/// Why layer norm and not batch norm in a recurrence: the normalised layer's
/// output for one sequence does not depend on the rest of the batch, and
/// multiplying the recurrent weights by a constant leaves it unchanged.
#[test]
fn layer_norm_is_per_sequence_and_invariant_to_the_weights_scale() {
    let mut rng = Rng::seed_from(4);
    let x = Tensor::<f64>::rand_normal(&[5, 3, 2], 0.0, 1.0, &mut rng);
    let lstm = LstmConfig::new(2, 6)
        .with_layer_norm(true)
        .init::<f64>(&mut rng)
        .unwrap();
    let all = lstm.forward(&x, None).0.value().clone();
    let first = lstm.forward(x.narrow(1, 0, 1), None).0.value().clone();
    assert!(max_diff(&all.narrow(1, 0, 1), &first) < 1e-12);
    let w = &lstm.weights(0, 0).weight_hh;
    w.set_value(w.value().mul_scalar(25.0));
    let scaled = lstm.forward(&x, None).0.value().clone();
    assert!(
        max_diff(&all, &scaled) < 1e-3,
        "{}",
        max_diff(&all, &scaled)
    );
}

#[test]
fn bad_recurrent_dropout_is_an_error_naming_the_layer() {
    let e = GruConfig::new(2, 3)
        .with_recurrent_dropout(1.0)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Gru: recurrent_dropout = 1, expected a value in [0, 1)"
    );
}
