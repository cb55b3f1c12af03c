//! The VAE objective against a hand computation, and its behaviour.
#![allow(clippy::needless_range_loop)] // the hand computation reads like the formula

use nn_autograd::{Parameter, Reduction};
use nn_generative::{Likelihood, VaeConfig};
use nn_layers::prelude::*;

fn linear(w: Vec<f64>, b: Vec<f64>, out: usize, inp: usize) -> Linear<f64> {
    Linear::from_parameters(
        Parameter::new(Tensor::from_vec(w, &[out, inp])),
        Some(Parameter::new(Tensor::from_vec(b, &[out]))),
    )
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Encoder 3 → 2 (mu, logvar of a 1-D latent), decoder 1 → 3; two examples.
struct Tiny {
    enc_w: Vec<f64>,
    enc_b: Vec<f64>,
    dec_w: Vec<f64>,
    dec_b: Vec<f64>,
    x: Vec<f64>,
    eps: Vec<f64>,
}

fn tiny() -> Tiny {
    Tiny {
        enc_w: vec![0.2, -0.4, 0.1, 0.3, 0.5, -0.2],
        enc_b: vec![0.05, -0.3],
        dec_w: vec![0.7, -1.1, 0.4],
        dec_b: vec![0.1, 0.0, -0.2],
        x: vec![1.0, 0.0, 0.5, 0.25, 1.0, 0.0],
        eps: vec![0.3, -1.2],
    }
}

/// (Σ BCE, Σ KL) over the batch, by hand.
fn by_hand(t: &Tiny) -> (f64, f64) {
    let (mut bce, mut kl) = (0.0, 0.0);
    for n in 0..2 {
        let x = &t.x[n * 3..n * 3 + 3];
        let mu = t.enc_b[0] + (0..3).map(|j| t.enc_w[j] * x[j]).sum::<f64>();
        let lv = t.enc_b[1] + (0..3).map(|j| t.enc_w[3 + j] * x[j]).sum::<f64>();
        let z = mu + (0.5 * lv).exp() * t.eps[n];
        for j in 0..3 {
            let p = sigmoid(t.dec_w[j] * z + t.dec_b[j]);
            bce -= x[j] * p.ln() + (1.0 - x[j]) * (1.0 - p).ln();
        }
        kl += -0.5 * (1.0 + lv - mu * mu - lv.exp());
    }
    (bce, kl)
}

fn build(t: &Tiny, config: VaeConfig) -> nn_generative::Vae<f64, Linear<f64>, Linear<f64>> {
    config
        .init(
            linear(t.enc_w.clone(), t.enc_b.clone(), 2, 3),
            linear(t.dec_w.clone(), t.dec_b.clone(), 3, 1),
            &mut Rng::seed_from(0),
        )
        .unwrap()
}

#[test]
fn loss_is_summed_bce_plus_kl() {
    let t = tiny();
    let (bce, kl) = by_hand(&t);
    let x = Tensor::from_vec(t.x.clone(), &[2, 3]);
    let eps = Tensor::from_vec(t.eps.clone(), &[2, 1]);

    let vae = build(&t, VaeConfig::new(1));
    let loss = vae.try_loss_with_noise(&x, &eps).unwrap();
    assert!((loss.total.value().item() - (bce + kl)).abs() < 1e-12);
    assert!((loss.reconstruction - bce / 2.0).abs() < 1e-12);
    assert!((loss.kl - kl / 2.0).abs() < 1e-12);
    assert!((loss.neg_elbo() - (bce + kl) / 2.0).abs() < 1e-12);
    assert_eq!(loss.batch_size, 2);

    // β weighs only the KL term of what is trained; BatchMean divides by N.
    let vae = build(
        &t,
        VaeConfig::new(1)
            .with_beta(0.5)
            .with_reduction(Reduction::BatchMean),
    );
    let loss = vae.try_loss_with_noise(&x, &eps).unwrap();
    assert!((loss.total.value().item() - (bce + 0.5 * kl) / 2.0).abs() < 1e-12);
    assert!((loss.neg_elbo() - (bce + kl) / 2.0).abs() < 1e-12);
}

#[test]
fn gaussian_likelihood_adds_the_log_density_terms() {
    let t = tiny();
    let x = Tensor::from_vec(t.x.clone(), &[2, 3]);
    let eps = Tensor::from_vec(t.eps.clone(), &[2, 1]);
    let std = 0.3;
    let vae = build(
        &t,
        VaeConfig::new(1).with_likelihood(Likelihood::Gaussian { std }),
    );
    let loss = vae.try_loss_with_noise(&x, &eps).unwrap();
    let mut want = 0.0;
    for n in 0..2 {
        let xs = &t.x[n * 3..n * 3 + 3];
        let mu = t.enc_b[0] + (0..3).map(|j| t.enc_w[j] * xs[j]).sum::<f64>();
        let lv = t.enc_b[1] + (0..3).map(|j| t.enc_w[3 + j] * xs[j]).sum::<f64>();
        let z = mu + (0.5 * lv).exp() * t.eps[n];
        for j in 0..3 {
            let m = t.dec_w[j] * z + t.dec_b[j];
            want += (xs[j] - m).powi(2) / (2.0 * std * std)
                + 0.5 * (2.0 * std::f64::consts::PI * std * std).ln();
        }
    }
    assert!((loss.reconstruction - want / 2.0).abs() < 1e-12);
}

#[test]
fn every_parameter_gets_a_finite_gradient() {
    let t = tiny();
    let vae = build(&t, VaeConfig::new(1));
    let x = Tensor::from_vec(t.x.clone(), &[2, 3]);
    let grads = vae.loss(&x, &mut Rng::seed_from(0)).total.backward();
    let names: Vec<String> = vae.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "encoder.weight",
            "encoder.bias",
            "decoder.weight",
            "decoder.bias"
        ]
    );
    for p in vae.parameters() {
        assert!(grads.get_id(p.id()).unwrap().all_finite());
    }
}

#[test]
fn sampling_reconstruction_and_interpolation_have_the_data_shape() {
    let t = tiny();
    let vae = build(&t, VaeConfig::new(1));
    let mut rng = Rng::seed_from(1);
    let s = vae.sample_prior(5, &mut rng);
    assert_eq!(s.shape(), &[5, 3]);
    assert!(s.to_vec().iter().all(|&p| (0.0..=1.0).contains(&p)));
    let x = Tensor::from_vec(t.x.clone(), &[2, 3]);
    assert_eq!(vae.reconstruct(&x).shape(), &[2, 3]);
    let a = x.narrow(0, 0, 1);
    let b = x.narrow(0, 1, 1);
    let path = vae.interpolate(&a, &b, 4);
    assert_eq!(path.shape(), &[4, 3]);
    // The ends are the reconstructions of the two inputs.
    let r = vae.reconstruct(&x);
    assert!(path.narrow(0, 0, 1).max_abs_diff(&r.narrow(0, 0, 1)) < 1e-12);
    assert!(path.narrow(0, 3, 1).max_abs_diff(&r.narrow(0, 1, 1)) < 1e-12);
    assert!(vae.try_interpolate(&a, &b, 1).is_err());
}

#[test]
fn a_wrong_encoder_width_is_named() {
    let t = tiny();
    let vae = build(&t, VaeConfig::new(2)); // the encoder gives 2 = 2·1 columns, not 4
    let x = Tensor::from_vec(t.x.clone(), &[2, 3]);
    let e = vae
        .try_loss(&x, &mut Rng::seed_from(0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Vae::encode") && e.contains("[2, 2]") && e.contains("[N, 4]"),
        "{e}"
    );
    assert!(VaeConfig::new(0)
        .init::<f64, _, _>(Relu, Relu, &mut Rng::seed_from(0))
        .is_err());
}

#[test]
fn training_lowers_the_negative_elbo() {
    // Two prototype patterns with pixel noise: a 1-D latent is enough.
    let mut rng = Rng::seed_from(7);
    let protos = [
        [1.0, 1.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0, 1.0, 0.0, 1.0],
    ];
    let mut data = Vec::new();
    for i in 0..64 {
        for &p in &protos[i % 2] {
            data.push(if rng.uniform_f64() < 0.1 { 1.0 - p } else { p });
        }
    }
    let x = Tensor::<f64>::from_vec(data, &[64, 6]);
    let vae = VaeConfig::new(1)
        .with_reduction(Reduction::BatchMean)
        .init(
            Sequential::new()
                .append(LinearConfig::new(6, 16).init(&mut rng).unwrap())
                .append(Relu)
                .append(LinearConfig::new(16, 2).init(&mut rng).unwrap()),
            Sequential::new()
                .append(LinearConfig::new(1, 16).init(&mut rng).unwrap())
                .append(Relu)
                .append(LinearConfig::new(16, 6).init(&mut rng).unwrap()),
            &mut rng,
        )
        .unwrap();
    let mut opt = nn_optim::AdamConfig::new(1e-2)
        .init(vae.named_parameters())
        .unwrap();
    let first = vae.loss(&x, &mut rng).neg_elbo();
    let mut last = first;
    for _ in 0..300 {
        let loss = vae.loss(&x, &mut rng);
        last = loss.neg_elbo();
        opt.step(&loss.total.backward());
    }
    // 6 fair coins cost 6·ln 2 ≈ 4.16 nats; the two patterns with 10 % flips
    // cost about ln 2 + 6·H(0.1) ≈ 2.64.
    assert!(first > 4.0, "first {first}");
    assert!(last < 3.3, "negative ELBO {first} → {last}");
}
