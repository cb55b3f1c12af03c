//! Finite-difference checks (f64) of the fused recurrence's hand-written
//! backward, for every cell kind, random shapes, with and without bias and
//! variable lengths; and of whole stacked bidirectional layers.

use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
use nn_autograd::Var;
use nn_rnn::{
    recurrence, CellKind, GruConfig, LstmConfig, Nonlinearity, RecurrentConfig, RnnConfig,
};
use nn_tensor::{Rng, Tensor};
use proptest::prelude::*;

fn cfg() -> GradCheckConfig {
    GradCheckConfig {
        step: 1e-6,
        tolerance: 1e-6,
    }
}

fn flat(vs: &[&Var<f64>]) -> Var<f64> {
    let parts: Vec<Var<f64>> = vs.iter().map(|v| v.reshape([v.value().numel()])).collect();
    Var::concat(&parts.iter().collect::<Vec<_>>(), 0)
}

fn kind_strategy() -> impl Strategy<Value = CellKind> {
    prop_oneof![
        Just(CellKind::RnnTanh),
        Just(CellKind::RnnRelu),
        Just(CellKind::Lstm),
        Just(CellKind::Gru)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn recurrence_gradients_match_finite_differences(
        kind in kind_strategy(),
        steps in 1usize..5,
        n in 1usize..4,
        h in 1usize..4,
        bias in any::<bool>(),
        ragged in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let gh = kind.gates() * h;
        let lengths: Option<Vec<usize>> =
            ragged.then(|| (0..n).map(|_| 1 + rng.below(steps)).collect());
        let mut inputs = vec![
            Tensor::<f64>::rand_normal(&[steps, n, gh], 0.0, 1.0, &mut rng),
            Tensor::rand_normal(&[n, h], 0.0, 1.0, &mut rng),
        ];
        if kind.has_cell() {
            inputs.push(Tensor::rand_normal(&[n, h], 0.0, 1.0, &mut rng));
        }
        inputs.push(Tensor::rand_normal(&[gh, h], 0.0, 0.7, &mut rng));
        if bias {
            inputs.push(Tensor::rand_normal(&[gh], 0.0, 0.5, &mut rng));
        }
        let report = check_gradients(
            |v| {
                let mut it = v.iter();
                let xg = it.next().unwrap();
                let h0 = it.next().unwrap();
                let c0 = if kind.has_cell() { it.next() } else { None };
                let w = it.next().unwrap();
                let b = it.next();
                let r = recurrence(kind, xg, h0, c0, w, b, lengths.as_deref()).unwrap();
                let mut outs = vec![&r.output, &r.h_n];
                outs.extend(r.c_n.as_ref());
                flat(&outs)
            },
            &inputs,
            cfg(),
        );
        prop_assert!(report.passed, "{kind:?}: {report}");
    }

    #[test]
    fn stacked_bidirectional_layers_have_exact_input_gradients(
        which in 0usize..3,
        batch_first in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let (steps, n, i, h) = (4, 3, 2, 3);
        let recurrent = RecurrentConfig {
            num_layers: 2,
            bidirectional: true,
            batch_first,
            ..RecurrentConfig::new(i, h)
        };
        let lengths = vec![4, 2, 3];
        let xs = if batch_first { [n, steps, i] } else { [steps, n, i] };
        let inputs = vec![
            Tensor::<f64>::rand_normal(&xs, 0.0, 1.0, &mut rng),
            Tensor::rand_normal(&[4, n, h], 0.0, 1.0, &mut rng),
            Tensor::rand_normal(&[4, n, h], 0.0, 1.0, &mut rng),
        ];
        let lstm = LstmConfig { recurrent }.init::<f64>(&mut rng).unwrap();
        let gru = GruConfig { recurrent }.init::<f64>(&mut rng).unwrap();
        let rnn = RnnConfig { recurrent, nonlinearity: Nonlinearity::Tanh }.init::<f64>(&mut rng).unwrap();
        let report = check_gradients(
            |v| match which {
                0 => {
                    let (y, (hn, cn)) = lstm.try_forward(&v[0], Some((&v[1], &v[2])), Some(&lengths)).unwrap();
                    flat(&[&y, &hn, &cn])
                }
                1 => {
                    let (y, hn) = gru.try_forward(&v[0], Some(&v[1]), Some(&lengths)).unwrap();
                    flat(&[&y, &hn, &v[2]])
                }
                _ => {
                    let (y, hn) = rnn.try_forward(&v[0], Some(&v[1]), Some(&lengths)).unwrap();
                    flat(&[&y, &hn, &v[2]])
                }
            },
            &inputs,
            cfg(),
        );
        prop_assert!(report.passed, "{report}");
    }
}

/// A random binary tree over `leaves` leaves: split the leaf range at a
/// random point, recursively.
fn random_tree(leaves: usize, rng: &mut Rng) -> nn_rnn::Tree {
    if leaves == 1 {
        return nn_rnn::Tree::leaf();
    }
    let left = 1 + rng.below(leaves - 1);
    nn_rnn::Tree::join(&random_tree(left, rng), &random_tree(leaves - left, rng))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The recursive network over a random forest: gradients of the leaves,
    /// the weight and the bias, through every node's state (not only the
    /// roots), so a dropped gradient of an inner node shows.
    #[test]
    fn tree_rnn_gradients_match_finite_differences(
        sizes in prop::collection::vec(1usize..6, 1..4),
        d in 1usize..4,
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let trees: Vec<nn_rnn::Tree> = sizes.iter().map(|&l| random_tree(l, &mut rng)).collect();
        let forest = nn_rnn::Forest::new(&trees).unwrap();
        let mut inputs = vec![
            Tensor::<f64>::rand_normal(&[forest.num_leaves(), d], 0.0, 1.0, &mut rng),
            Tensor::rand_normal(&[d, 2 * d], 0.0, 0.7, &mut rng),
        ];
        if bias {
            inputs.push(Tensor::rand_normal(&[d], 0.0, 0.5, &mut rng));
        }
        let probe = Tensor::<f64>::rand_normal(&[forest.num_nodes(), d], 0.0, 1.0, &mut rng);
        let r = check_gradients(
            |v| {
                let out = nn_rnn::tree_rnn(&forest, &v[0], &v[1], v.get(2)).unwrap();
                out.states.mul(&Var::constant(probe.clone())).sum().add(&out.roots.sum())
            },
            &inputs,
            cfg(),
        );
        prop_assert!(r.passed, "{}", r);
    }
}

/// A stacked bidirectional LSTM and GRU with both options of the
/// step-by-step path, in training mode: each evaluation runs on a clone of
/// the layer, whose generator copy draws the same recurrent masks.
#[test]
fn layer_norm_and_recurrent_dropout_layers_have_exact_input_gradients() {
    let mut rng = Rng::seed_from(21);
    let (steps, n, i, h) = (3, 2, 2, 3);
    let inputs = vec![
        Tensor::<f64>::rand_normal(&[steps, n, i], 0.0, 1.0, &mut rng),
        Tensor::rand_normal(&[4, n, h], 0.0, 1.0, &mut rng),
        Tensor::rand_normal(&[4, n, h], 0.0, 1.0, &mut rng),
    ];
    let lengths = [3, 2];
    let lstm = LstmConfig::new(i, h)
        .with_num_layers(2)
        .with_bidirectional(true)
        .with_layer_norm(true)
        .with_recurrent_dropout(0.4)
        .init::<f64>(&mut rng)
        .unwrap();
    let report = check_gradients(
        |v| {
            let (y, (hn, cn)) = lstm
                .clone()
                .try_forward(&v[0], Some((&v[1], &v[2])), Some(&lengths))
                .unwrap();
            flat(&[&y, &hn, &cn])
        },
        &inputs,
        cfg(),
    );
    assert!(report.passed, "lstm: {report}");
    let gru = GruConfig::new(i, h)
        .with_num_layers(2)
        .with_bidirectional(true)
        .with_layer_norm(true)
        .with_recurrent_dropout(0.4)
        .init::<f64>(&mut rng)
        .unwrap();
    let report = check_gradients(
        |v| {
            let (y, hn) = gru
                .clone()
                .try_forward(&v[0], Some(&v[1]), Some(&lengths))
                .unwrap();
            flat(&[&y, &hn, &v[2]])
        },
        &inputs,
        cfg(),
    );
    assert!(report.passed, "gru: {report}");
}
