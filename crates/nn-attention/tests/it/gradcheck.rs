//! Finite-difference checks (f64) of attention and Transformer layers over
//! random shapes, masks and settings.

use nn_attention::{
    scaled_dot_product_attention, soft_attention, Activation, AdditiveAttentionConfig,
    BilinearScoreConfig, DecoderMasks, Mask, Module, MultiHeadAttentionConfig,
    TransformerDecoderLayerConfig, TransformerEncoderLayerConfig,
};
use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
use nn_autograd::{Parameter, Var};
use nn_tensor::{Rng, Tensor};
use proptest::prelude::*;

fn cfg() -> GradCheckConfig {
    GradCheckConfig {
        step: 1e-6,
        tolerance: 1e-6,
    }
}

/// A padding mask that leaves at least one key per row.
fn random_padding(n: usize, s: usize, rng: &mut Rng) -> Mask {
    let lengths: Vec<usize> = (0..n).map(|_| 1 + rng.below(s)).collect();
    Mask::padding(&lengths, s)
}

fn normal(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, rng)
}

/// The worst relative error between the analytic gradient of every
/// parameter and central differences, for `J = Σ f() ⊙ w` with fixed `w`.
fn param_gradient_error(f: impl Fn() -> Var<f64>, params: &[(String, Parameter<f64>)]) -> f64 {
    let y = f();
    let w = Tensor::rand_uniform(y.shape(), 0.5, 1.5, &mut Rng::seed_from(9));
    let grads = y.backward_with(w.clone());
    let j = || f().value().mul(&w).sum_all().item();
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for (name, p) in params {
        let g = grads
            .get_id(p.id())
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .clone();
        for i in 0..p.numel() {
            let orig = p.value().as_slice()[i];
            p.update(|t| t.as_mut_slice()[i] = orig + h);
            let plus = j();
            p.update(|t| t.as_mut_slice()[i] = orig - h);
            let minus = j();
            p.update(|t| t.as_mut_slice()[i] = orig);
            let num = (plus - minus) / (2.0 * h);
            worst = worst.max((g.as_slice()[i] - num).abs() / num.abs().max(1.0));
        }
    }
    worst
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn sdpa_gradients(n in 1usize..3, heads in 1usize..3, l in 1usize..4, e in 1usize..4,
                      causal in any::<bool>(), padded in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Rng::seed_from(seed);
        let s = if causal { l } else { 1 + rng.below(4) };
        // With a causal mask, padding must not hide key 0 (it is some query's only key).
        let kpm = (padded && !causal).then(|| random_padding(n, s, &mut rng));
        let inputs = vec![normal(&[n, heads, l, e], &mut rng), normal(&[n, heads, s, e], &mut rng),
                          normal(&[n, heads, s, 2], &mut rng)];
        let r = check_gradients(|v| {
            scaled_dot_product_attention(&v[0], &v[1], &v[2], causal, kpm.as_ref(), false).unwrap().0
        }, &inputs, cfg());
        prop_assert!(r.passed, "{r}");
    }

    #[test]
    fn multihead_gradients_self_and_cross(n in 1usize..3, heads in 1usize..3, l in 1usize..4,
                                          cross in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Rng::seed_from(seed);
        let e = 2 * heads;
        let s = if cross { 1 + rng.below(4) } else { l };
        let mha = MultiHeadAttentionConfig::new(e, heads).init::<f64>(&mut rng).unwrap();
        let kpm = random_padding(n, s, &mut rng);
        let am = (!cross).then(|| Mask::causal(l));
        let inputs = vec![normal(&[n, l, e], &mut rng), normal(&[n, s, e], &mut rng)];
        let f = |v: &[Var<f64>]| {
            let (q, kv) = (&v[0], if cross { &v[1] } else { &v[0] });
            mha.forward(q, kv, kv, am.as_ref(), Some(&kpm), false).0
        };
        let r = check_gradients(f, &inputs, cfg());
        prop_assert!(r.passed, "inputs: {r}");
        let consts: Vec<Var<f64>> = inputs.iter().map(|t| Var::constant(t.clone())).collect();
        let err = param_gradient_error(|| f(&consts), &mha.named_parameters());
        prop_assert!(err < 1e-6, "parameters: {err:e}");
    }

    #[test]
    fn additive_and_bilinear_gradients(n in 1usize..3, s in 1usize..4, seed in any::<u64>()) {
        let mut rng = Rng::seed_from(seed);
        let mask = random_padding(n, s, &mut rng);
        let add = AdditiveAttentionConfig::new(3, 2, 4).init::<f64>(&mut rng).unwrap();
        let bil = BilinearScoreConfig::new(3, 2).init::<f64>(&mut rng).unwrap();
        let inputs = vec![normal(&[n, 3], &mut rng), normal(&[n, s, 2], &mut rng), normal(&[n, s, 2], &mut rng)];
        let r = check_gradients(|v| add.try_forward(&v[0], &v[1], &v[2], Some(&mask)).unwrap().0, &inputs, cfg());
        prop_assert!(r.passed, "additive: {r}");
        let r = check_gradients(|v| {
            let q = v[0].reshape([n, 1, 3]);
            soft_attention(&bil.scores(&q, &v[1]).unwrap(), &v[2], Some(&mask)).unwrap().0
        }, &inputs, cfg());
        prop_assert!(r.passed, "bilinear: {r}");
    }

    #[test]
    fn transformer_layer_gradients(norm_first in any::<bool>(), gelu in any::<bool>(),
                                   l in 1usize..4, seed in any::<u64>()) {
        let mut rng = Rng::seed_from(seed);
        let act = if gelu { Activation::Gelu } else { Activation::Relu };
        let c = TransformerEncoderLayerConfig::new(4, 2).with_dim_feedforward(6).with_dropout(0.0)
            .with_activation(act).with_norm_first(norm_first);
        let enc = c.init::<f64>(&mut rng).unwrap();
        let dec = TransformerDecoderLayerConfig { options: c.options }.init::<f64>(&mut rng).unwrap();
        let mask = Mask::causal(l);
        let mpad = random_padding(2, 3, &mut rng);
        let inputs = vec![normal(&[2, l, 4], &mut rng), normal(&[2, 3, 4], &mut rng)];
        let r = check_gradients(|v| enc.forward(&v[0], Some(&mask), None), &inputs[..1], cfg());
        prop_assert!(r.passed, "encoder: {r}");
        let x = Var::constant(inputs[0].clone());
        let err = param_gradient_error(|| enc.forward(&x, Some(&mask), None), &enc.named_parameters());
        prop_assert!(err < 1e-6, "encoder parameters: {err:e}");
        let masks = DecoderMasks { tgt_mask: Some(&mask), memory_key_padding_mask: Some(&mpad), ..Default::default() };
        let r = check_gradients(|v| dec.forward(&v[0], &v[1], masks), &inputs, cfg());
        prop_assert!(r.passed, "decoder: {r}");
    }
}
