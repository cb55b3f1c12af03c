//! Autoencoders: training reduces the reconstruction error; denoising sees noise.

use nn_generative::{AutoencoderConfig, Corruption, ReconstructionLoss};
use nn_layers::prelude::*;

/// 6-D points on a 2-D plane.
fn plane_data(rng: &mut Rng, n: usize) -> Tensor<f64> {
    let basis = [
        [1.0, 0.5, -0.3, 0.0, 0.8, 0.2],
        [0.0, -0.7, 0.4, 1.0, 0.1, 0.6],
    ];
    let mut d = Vec::new();
    for _ in 0..n {
        let (a, b) = (rng.normal_f64(), rng.normal_f64());
        d.extend(basis[0].iter().zip(&basis[1]).map(|(u, v)| a * u + b * v));
    }
    Tensor::from_vec(d, &[n, 6])
}

#[test]
fn a_linear_autoencoder_learns_a_plane() {
    let mut rng = Rng::seed_from(3);
    let x = plane_data(&mut rng, 128);
    let ae = AutoencoderConfig::new()
        .init(
            LinearConfig::new(6, 2).init::<f64>(&mut rng).unwrap(),
            LinearConfig::new(2, 6).init(&mut rng).unwrap(),
            &mut rng,
        )
        .unwrap();
    let before = ae.try_reconstruction_mse(&x).unwrap();
    let mut opt = nn_optim::AdamConfig::new(1e-2)
        .init(ae.named_parameters())
        .unwrap();
    for _ in 0..600 {
        opt.step(&ae.loss(&x, &mut rng).backward());
    }
    let after = ae.try_reconstruction_mse(&x).unwrap();
    assert!(after < 0.02 * before, "MSE {before} → {after}");
    assert_eq!(ae.encode(&x).shape(), &[128, 2]);
}

#[test]
fn denoising_corrupts_only_the_input() {
    let mut rng = Rng::seed_from(4);
    let x = Tensor::<f64>::rand_uniform(&[16, 6], 0.0, 1.0, &mut rng);
    let enc = LinearConfig::new(6, 3).init::<f64>(&mut rng).unwrap();
    let dec = LinearConfig::new(3, 6).init(&mut rng).unwrap();
    let ae = AutoencoderConfig::new()
        .with_loss(ReconstructionLoss::BceWithLogits)
        .with_corruption(Corruption::Masking { p: 0.5 })
        .init(enc, dec, &mut rng)
        .unwrap();
    // The loss equals BCE(decoder(encoder(masked x)), clean x) for the same draw.
    let masked = Corruption::Masking { p: 0.5 }.apply(&x, &mut Rng::seed_from(9));
    let want = ae
        .try_forward(&Var::constant(masked))
        .unwrap()
        .binary_cross_entropy_with_logits(&x);
    let got = ae.loss(&x, &mut Rng::seed_from(9));
    assert!((got.value().item() - want.value().item()).abs() < 1e-12);
    // Reconstructions (evaluation) use the clean input and are probabilities.
    let r = ae.reconstruct(&x);
    assert!(r.to_vec().iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(AutoencoderConfig::new()
        .with_corruption(Corruption::Masking { p: 1.0 })
        .init::<f64, _, _>(Relu, Relu, &mut rng)
        .is_err());
}

#[test]
fn an_output_of_the_wrong_shape_is_an_error() {
    let mut rng = Rng::seed_from(5);
    let ae = AutoencoderConfig::new()
        .init(
            LinearConfig::new(6, 2).init::<f32>(&mut rng).unwrap(),
            LinearConfig::new(2, 5).init(&mut rng).unwrap(),
            &mut rng,
        )
        .unwrap();
    let e = ae.try_loss(&Tensor::zeros(&[3, 6]), &mut rng).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Autoencoder::loss: shapes [3, 5] and [3, 6] do not match: the decoder's output must have the input's shape"
    );
}
