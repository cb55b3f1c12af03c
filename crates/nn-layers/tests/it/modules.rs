//! Behaviour of the Module abstraction and the layers through the public API.

use nn_layers::init::rows_identical;
use nn_layers::prelude::*;

/// A custom module with a derived `Module`: fc2(relu(fc1(x))).
#[derive(Module)]
struct Mlp<T: Element> {
    fc1: Linear<T>,
    drop: Dropout,
    fc2: Linear<T>,
}

impl<T: Element> Forward<T> for Mlp<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        let h = self.drop.try_forward(&self.fc1.try_forward(x)?.relu())?;
        self.fc2.try_forward(&h)
    }
}

fn mlp<T: Element>(rng: &mut Rng, hidden: usize) -> Mlp<T> {
    Mlp {
        fc1: LinearConfig::new(3, hidden).init(rng).unwrap(),
        drop: DropoutConfig::new(0.5).init(rng).unwrap(),
        fc2: LinearConfig::new(hidden, 2).init(rng).unwrap(),
    }
}

#[test]
fn custom_mlp_has_dotted_names_counts_modes_and_freezing() {
    let mut rng = Rng::seed_from(0);
    let m = mlp::<f64>(&mut rng, 4);
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
    assert_eq!(m.num_parameters(), 3 * 4 + 4 + 4 * 2 + 2);
    assert_eq!(m.type_name(), "Mlp");
    let mut children = Vec::new();
    m.visit_children(&mut |n, c| children.push(format!("{n}:{}", c.type_name())));
    assert_eq!(children, ["fc1:Linear", "drop:Dropout", "fc2:Linear"]);

    // eval reaches the dropout inside: the forward becomes deterministic.
    let x = Var::constant(Tensor::rand_normal(&[8, 3], 0.0, 1.0, &mut rng));
    assert!(m.is_training());
    m.eval();
    assert!(!m.is_training());
    assert_eq!(m.forward(&x).value(), m.forward(&x).value());
    m.train();
    assert!(m.is_training());

    // Freezing: no gradient for frozen parameters, counts follow.
    m.fc1.freeze();
    assert_eq!(m.num_trainable_parameters(), 4 * 2 + 2);
    let grads = m.forward(&x).sum().backward();
    assert!(grads.get_id(m.fc1.weight.id()).is_none());
    assert!(grads.get_id(m.fc2.weight.id()).is_some());
    m.unfreeze();
    assert_eq!(m.num_trainable_parameters(), m.num_parameters());
}

#[test]
fn sequential_names_buffers_and_errors_like_pytorch() {
    let mut rng = Rng::seed_from(1);
    let model = Sequential::<f32>::new()
        .append(LinearConfig::new(5, 4).init(&mut rng).unwrap())
        .append(
            BatchNormConfig::new(4)
                .init(&mut Rng::seed_from(0))
                .unwrap(),
        )
        .append(
            PreluConfig::new(4)
                .init::<f32>(&mut Rng::seed_from(0))
                .unwrap(),
        )
        .append(Flatten::default())
        .append(
            LinearConfig::new(4, 2)
                .with_bias(false)
                .init(&mut rng)
                .unwrap(),
        );
    let sd: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        sd,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "2.weight",
            "4.weight",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked"
        ]
    );
    let x = Var::constant(Tensor::rand_normal(&[6, 5], 0.0, 1.0, &mut rng));
    assert_eq!(model.forward(&x).shape(), &[6, 2]);
    let e = model
        .try_forward(&Var::constant(Tensor::zeros(&[6, 7])))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer 0 (Linear)") && e.contains("[6, 7]"),
        "{e}"
    );
}

#[test]
fn batch_norm_running_stats_follow_pytorch_and_eval_uses_them() {
    let bn = BatchNormConfig::new(2)
        .init::<f64>(&mut Rng::seed_from(0))
        .unwrap();
    // [N=2, C=2, L=2]; channel 0 values 1,2,3,4 ; channel 1 values 0,0,2,2.
    let x = Var::constant(Tensor::from_vec(
        vec![1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 2.0, 2.0],
        &[2, 2, 2],
    ));
    let y = bn.forward(&x);
    let mean0 = 2.5;
    let var0: f64 = 1.25;
    assert!((y.value().get(&[0, 0, 0]) - (1.0 - mean0) / (var0 + 1e-5).sqrt()).abs() < 1e-12);
    let rm = bn.running_mean().unwrap().to_vec();
    let rv = bn.running_var().unwrap().to_vec();
    assert!((rm[0] - 0.25).abs() < 1e-12 && (rm[1] - 0.1).abs() < 1e-12);
    // unbiased: var·m/(m−1) with m = 4.
    assert!((rv[0] - (0.9 + 0.1 * var0 * 4.0 / 3.0)).abs() < 1e-12);
    assert!((rv[1] - (0.9 + 0.1 * 1.0 * 4.0 / 3.0)).abs() < 1e-12);
    assert_eq!(bn.num_batches_tracked(), Some(1));
    bn.eval();
    let y = bn.forward(&x);
    let expect = (1.0 - rm[0]) / (rv[0] + 1e-5).sqrt();
    assert!((y.value().get(&[0, 0, 0]) - expect).abs() < 1e-12);
    assert_eq!(bn.num_batches_tracked(), Some(1));
    // Cumulative average when momentum is None.
    let cma = BatchNormConfig::new(1)
        .with_momentum(None)
        .init::<f64>(&mut Rng::seed_from(0))
        .unwrap();
    for v in [2.0, 4.0] {
        cma.forward(Var::constant(Tensor::from_vec(
            vec![v - 1.0, v + 1.0],
            &[2, 1],
        )));
    }
    assert!((cma.running_mean().unwrap().item() - 3.0).abs() < 1e-12);
    assert!(bn
        .try_forward(&Var::constant(Tensor::zeros(&[2, 3])))
        .is_err());
}

#[test]
fn dropout_is_inverted_seeded_and_identity_in_eval() {
    let make = || {
        DropoutConfig::new(0.25)
            .init(&mut Rng::seed_from(7))
            .unwrap()
    };
    let (a, b) = (make(), make());
    let x = Var::constant(Tensor::<f64>::ones(&[10000]));
    let ya = Forward::<f64>::forward(&a, &x);
    assert_eq!(ya.value(), Forward::<f64>::forward(&b, &x).value());
    let kept = ya.value().as_slice().iter().filter(|&&v| v != 0.0).count();
    assert!((kept as f64 / 10000.0 - 0.75).abs() < 0.02);
    assert!(ya
        .value()
        .as_slice()
        .iter()
        .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-12));
    Module::<f64>::eval(&a);
    assert_eq!(Forward::<f64>::forward(&a, &x).value(), x.value());
}

#[test]
fn bad_configs_are_clear_errors() {
    let mut rng = Rng::seed_from(0);
    let e = LinearConfig::new(0, 3)
        .init::<f32>(&mut rng)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("LinearConfig") && e.contains("in_features = 0"),
        "{e}"
    );
    for p in [-0.1, 1.0, 1.5, f64::NAN] {
        let e = DropoutConfig::new(p)
            .init(&mut rng)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside [0, 1)"), "{e}");
    }
    assert!(BatchNormConfig::new(0)
        .init::<f32>(&mut Rng::seed_from(0))
        .is_err());
    let e = BatchNormConfig::new(3)
        .with_eps(0.0)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("eps = 0"), "{e}");
    assert!(BatchNormConfig::new(3)
        .with_momentum(Some(1.5))
        .init::<f32>(&mut Rng::seed_from(0))
        .is_err());
    assert!(LayerNormConfig::new(&[])
        .init::<f32>(&mut Rng::seed_from(0))
        .is_err());
    assert!(LayerNormConfig::new(&[4])
        .with_eps(-1.0)
        .init::<f32>(&mut Rng::seed_from(0))
        .is_err());
    assert!(EmbeddingConfig::new(0, 4).init::<f32>(&mut rng).is_err());
    assert!(EmbeddingConfig::new(3, 4)
        .with_padding_idx(3)
        .init::<f32>(&mut rng)
        .is_err());
    assert!(PreluConfig::new(0)
        .init::<f32>(&mut Rng::seed_from(0))
        .is_err());
    assert!(Softplus::new(0.0, 20.0).is_err());
    assert!(LeakyRelu::new(f64::INFINITY).is_err());
}

#[test]
fn layer_shapes_and_activation_modules() {
    let mut rng = Rng::seed_from(2);
    let x = Var::constant(Tensor::<f64>::rand_normal(&[2, 3, 4], 0.0, 1.0, &mut rng));
    let fc = LinearConfig::new(4, 5).init::<f64>(&mut rng).unwrap();
    assert_eq!(fc.forward(&x).shape(), &[2, 3, 5]);
    assert_eq!(fc.forward(Var::constant(Tensor::ones(&[4]))).shape(), &[5]);
    let ln = LayerNormConfig::new(&[3, 4])
        .init::<f64>(&mut Rng::seed_from(0))
        .unwrap();
    let y = ln.forward(&x);
    for n in 0..2 {
        let row = y.value().narrow(0, n, 1);
        assert!(row.mean_all().item().abs() < 1e-12);
    }
    assert_eq!(Flatten::new(0, 1).forward(&x).shape(), &[6, 4]);
    let emb = EmbeddingConfig::new(10, 3)
        .with_padding_idx(0)
        .init::<f64>(&mut rng)
        .unwrap();
    let e = emb.lookup(&[0, 4, 9, 4], &[2, 2]);
    assert_eq!(e.shape(), &[2, 2, 3]);
    assert_eq!(e.value().get(&[0, 0, 1]), 0.0);
    let g = e.sum().backward();
    let gw = g.get_id(emb.weight.id()).unwrap();
    assert_eq!(gw.get(&[4, 0]), 2.0);
    assert_eq!(gw.get(&[0, 0]), 0.0);
    assert!(emb.try_lookup(&[10], &[1]).is_err());
    let idx = Var::constant(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    assert_eq!(emb.forward(&idx).shape(), &[2, 3]);
    assert!(emb
        .try_forward(&Var::constant(Tensor::from_vec(vec![0.5], &[1])))
        .is_err());

    let acts: Vec<Box<dyn Forward<f64>>> = vec![
        Box::new(Relu),
        Box::new(LeakyRelu::default()),
        Box::new(Elu::default()),
        Box::new(Sigmoid),
        Box::new(Tanh),
        Box::new(Gelu::default()),
        Box::new(Gelu {
            approximate: GeluApproximation::Tanh,
        }),
        Box::new(Softplus::default()),
        Box::new(Softmax::new(-1)),
        Box::new(LogSoftmax::new(1)),
        Box::new(
            PreluConfig::new(3)
                .init::<f64>(&mut Rng::seed_from(0))
                .unwrap(),
        ),
    ];
    let v = x.value().as_slice()[0];
    for a in &acts {
        let y = a.forward(&x);
        assert_eq!(y.shape(), x.shape(), "{}", a.type_name());
    }
    assert_eq!(acts[0].forward(&x).value().as_slice()[0], v.max(0.0));
    let p = acts[8].forward(&x).value().sum_dims(&[-1], false);
    assert!(p.as_slice().iter().all(|s| (s - 1.0).abs() < 1e-12));
    assert!(Softmax::new(3).try_forward(&x).is_err());
    assert!(PreluConfig::new(5)
        .init::<f64>(&mut Rng::seed_from(0))
        .unwrap()
        .try_forward(&x)
        .is_err());
}

/// Trains `fc2(sigmoid(fc1(x)))` with plain gradient descent.
fn train(m: &Mlp<f64>, x: &Var<f64>, y: &Var<f64>, steps: usize) {
    m.eval(); // no dropout: the symmetry argument is about the weights alone
    for _ in 0..steps {
        let out = m.fc2.forward(m.fc1.forward(x).sigmoid());
        let grads = out.mse_loss(y).backward();
        for p in m.parameters() {
            let g = grads.get_id(p.id()).unwrap().clone();
            p.update(|v| *v = v.sub(&g.mul_scalar(0.5)));
        }
    }
}

#[test]
fn zero_init_keeps_hidden_units_identical() {
    let mut rng = Rng::seed_from(3);
    let x = Var::constant(Tensor::rand_normal(&[16, 3], 0.0, 1.0, &mut rng));
    let y = Var::constant(Tensor::rand_normal(&[16, 2], 0.0, 1.0, &mut rng));
    let zero = nn_layers::Initializer::Zeros;
    let sym = Mlp::<f64> {
        fc1: LinearConfig::new(3, 6)
            .with_initializer(zero)
            .init(&mut rng)
            .unwrap(),
        drop: DropoutConfig::new(0.0).init(&mut rng).unwrap(),
        fc2: LinearConfig::new(6, 2)
            .with_initializer(zero)
            .init(&mut rng)
            .unwrap(),
    };
    // Biases start random in PyTorch's scheme; zero them too for a fully zero start.
    for p in sym.parameters() {
        p.update(|v| *v = v.mul_scalar(0.0));
    }
    let before = sym.fc2.weight.value();
    train(&sym, &x, &y, 50);
    // Training happened, yet every hidden unit has the same incoming weights
    // and every output sees them with the same weight.
    assert!(sym.fc2.weight.value().max_abs_diff(&before) > 1e-3);
    assert!(rows_identical(&sym.fc1.weight.value(), 1e-12));
    assert!(rows_identical(&sym.fc2.weight.value().t(), 1e-12));
    assert!(sym
        .fc1
        .bias
        .as_ref()
        .unwrap()
        .value()
        .as_slice()
        .windows(2)
        .all(|w| w[0] == w[1]));

    let random = mlp::<f64>(&mut rng, 6);
    train(&random, &x, &y, 50);
    assert!(!rows_identical(&random.fc1.weight.value(), 1e-3));
}
