//! Finite-difference gradient checks (f64) for every layer with parameters,
//! through the public layer API, over random shapes and values.
//!
//! The input goes through `nn_autograd::gradcheck::check_gradients`; the
//! parameters, which live inside the layer, are perturbed in place through
//! `Parameter::update` and compared with the gradient `backward` stores
//! under their ids, with the same objective `J = Σ y ⊙ w`.

use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
use nn_layers::prelude::*;
use proptest::prelude::{prop_assert, proptest, ProptestConfig};

const TOL: f64 = 1e-6;
const H: f64 = 1e-6;

/// Checks d/dx and d/dparam of `Σ layer(x) ⊙ w` for fixed random weights `w`.
fn check_layer(layer: &dyn Forward<f64>, x: &Tensor<f64>, check_input: bool) -> Result<(), String> {
    if check_input {
        let r = check_gradients(
            |v| layer.try_forward(&v[0]).unwrap(),
            std::slice::from_ref(x),
            GradCheckConfig::default(),
        );
        if !r.passed {
            return Err(format!("{} input: {r}", layer.type_name()));
        }
    }
    let probe = layer.try_forward(&Var::constant(x.clone())).unwrap();
    let w = Tensor::<f64>::rand_uniform(probe.shape(), 0.5, 1.5, &mut Rng::seed_from(11));
    let objective = || {
        layer
            .try_forward(&Var::constant(x.clone()))
            .unwrap()
            .value()
            .mul(&w)
            .sum_all()
            .item()
    };
    let grads = layer
        .try_forward(&Var::constant(x.clone()))
        .unwrap()
        .backward_with(w.clone());
    for (name, p) in layer.named_parameters() {
        let analytic = grads
            .get_id(p.id())
            .cloned()
            .ok_or_else(|| format!("{}: no gradient for {name}", layer.type_name()))?;
        for j in 0..p.numel() {
            let orig = p.value().as_slice()[j];
            p.update(|v| v.as_mut_slice()[j] = orig + H);
            let plus = objective();
            p.update(|v| v.as_mut_slice()[j] = orig - H);
            let minus = objective();
            p.update(|v| v.as_mut_slice()[j] = orig);
            let numeric = (plus - minus) / (2.0 * H);
            let a = analytic.as_slice()[j];
            let err = (a - numeric).abs() / numeric.abs().max(1.0);
            if err > TOL {
                return Err(format!(
                    "{} {name}[{j}]: analytic {a}, numeric {numeric}, error {err:e}",
                    layer.type_name()
                ));
            }
        }
    }
    Ok(())
}

/// Random parameters so the checks do not sit on the all-ones/zeros starts.
fn randomise(m: &dyn Module<f64>, rng: &mut Rng) {
    for p in m.parameters() {
        p.update(|v| *v = Tensor::rand_uniform(v.shape(), -1.0, 1.0, rng));
    }
}

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(12)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn linear_gradients(batch in 1usize..4, lead in 1usize..3, inp in 1usize..5, out in 1usize..5, bias: bool, seed: u64) {
        let mut rng = Rng::seed_from(seed);
        let fc = LinearConfig::new(inp, out).with_bias(bias).init::<f64>(&mut rng).unwrap();
        let x = Tensor::rand_normal(&[batch, lead, inp], 0.0, 1.0, &mut rng);
        prop_assert!(check_layer(&fc, &x, true).is_ok(), "{:?}", check_layer(&fc, &x, true));
    }

    #[test]
    fn batch_norm1d_train_gradients(n in 2usize..5, c in 1usize..4, l in 0usize..3, seed: u64) {
        let mut rng = Rng::seed_from(seed);
        let bn = BatchNormConfig::new(c).init::<f64>(&mut Rng::seed_from(0)).unwrap();
        randomise(&bn, &mut rng);
        let shape = if l == 0 { vec![n, c] } else { vec![n, c, l] };
        let x = Tensor::rand_normal(&shape, 0.5, 2.0, &mut rng);
        let r = check_layer(&bn, &x, true);
        prop_assert!(r.is_ok(), "{:?}", r);
        // Eval mode too (running stats are constants).
        bn.eval();
        let r = check_layer(&bn, &x, true);
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    #[test]
    fn layer_norm_gradients(n in 1usize..4, a in 1usize..4, b in 2usize..4, two_dims: bool, seed: u64) {
        let mut rng = Rng::seed_from(seed);
        let shape = if two_dims { vec![a, b] } else { vec![b] };
        let ln = LayerNormConfig::new(&shape).init::<f64>(&mut Rng::seed_from(0)).unwrap();
        randomise(&ln, &mut rng);
        let x = Tensor::rand_normal(&[n, a, b], 0.0, 1.5, &mut rng);
        let r = check_layer(&ln, &x, true);
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    #[test]
    fn prelu_gradients(n in 1usize..4, c in 1usize..4, l in 1usize..4, shared: bool, seed: u64) {
        let mut rng = Rng::seed_from(seed);
        let p = PreluConfig::new(if shared { 1 } else { c }).init::<f64>(&mut Rng::seed_from(0)).unwrap();
        randomise(&p, &mut rng);
        // Keep inputs away from the kink at 0, where the derivative jumps.
        let x = Tensor::<f64>::rand_uniform(&[n, c, l], 0.05, 2.0, &mut rng)
            .mul(&Tensor::rand_bernoulli(&[n, c, l], 0.5, &mut rng).mul_scalar(2.0).add_scalar(-1.0));
        let r = check_layer(&p, &x, true);
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    #[test]
    fn embedding_gradients(rows in 1usize..6, dim in 1usize..4, len in 1usize..7, pad: bool, seed: u64) {
        let mut rng = Rng::seed_from(seed);
        let mut cfg = EmbeddingConfig::new(rows, dim);
        if pad {
            cfg = cfg.with_padding_idx(0);
        }
        let emb = cfg.init::<f64>(&mut rng).unwrap();
        let idx: Vec<f64> = (0..len).map(|_| rng.below(rows) as f64).collect();
        let x = Tensor::from_vec(idx, &[len]);
        // The indices are not differentiable; only the table is checked, and
        // the padding row (when used) must get zero gradient, which the
        // finite difference of a padded lookup does not see: skip it then.
        if pad && x.as_slice().contains(&0.0) {
            let g = emb.forward(Var::constant(x.clone())).sum().backward();
            let gw = g.get_id(emb.weight.id()).unwrap();
            prop_assert!(gw.as_slice()[..dim].iter().all(|&v| v == 0.0));
        } else {
            let r = check_layer(&emb, &x, false);
            prop_assert!(r.is_ok(), "{:?}", r);
        }
    }
}

/// `y = x ⊙ w + w`, whose backward wrongly ignores the `x ⊙ w` path for `w`:
/// the checker must catch it (a check that cannot fail proves nothing).
struct WrongGradient {
    w: Parameter<f64>,
}

impl Module<f64> for WrongGradient {
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<f64>)) {
        f("w", &self.w);
    }
}

impl Forward<f64> for WrongGradient {
    fn try_forward(&self, x: &Var<f64>) -> Result<Var<f64>, TensorError> {
        x.mul_tensor(&self.w.value()).try_add(&self.w.var())
    }
}

#[test]
fn the_layer_checker_catches_a_wrong_parameter_gradient() {
    let layer = WrongGradient {
        w: Parameter::new(Tensor::from_vec(vec![0.5, -1.0], &[2])),
    };
    let x = Tensor::from_vec(vec![2.0, 3.0], &[2]);
    let e = check_layer(&layer, &x, false).unwrap_err();
    assert!(e.contains("w[0]"), "{e}");
}
