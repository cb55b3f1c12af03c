//! The variational autoencoder of Kingma & Welling on MNIST, with the recipe
//! of PyTorch's reference example: 784-400-20 encoder and 20-400-784
//! decoder (ReLU), Bernoulli pixels (BCE summed over pixels) + KL, Adam
//! lr 1e-3, batches of 128, 10 epochs. Reports the test negative ELBO in
//! nats per image (one posterior sample per image, as PyTorch's test loss),
//! and writes PNGs of samples from the prior and of latent interpolations.
//!
//! ```text
//! cargo run --release -p nnkit --example vae_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod generative_cli;

use std::time::Instant;

use generative_cli as cli;
use nnkit::generative::VaeConfig;
use nnkit::layers::{Module, Relu};
use nnkit::optim::AdamConfig;
use nnkit::prelude::{no_grad, Rng, Tensor};

const NAME: &str = "vae_mnist";
const LATENT: usize = 20;

fn main() {
    let (args, train, test) = cli::setup(NAME, 10);

    let mut rng = Rng::seed_from(args.seed);
    // The last layer is fc21 and fc22 of PyTorch's example side by side:
    // means then log-variances.
    let encoder = cli::mlp(NAME, &[784, 400, 2 * LATENT], Relu, &mut rng);
    let decoder = cli::mlp(NAME, &[LATENT, 400, 784], Relu, &mut rng);
    let vae = VaeConfig::new(LATENT)
        .init(encoder, decoder)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    let mut opt = AdamConfig::new(1e-3)
        .init(vae.named_parameters())
        .unwrap_or_else(|e| cli::fail(NAME, e));
    println!("{NAME}: {} parameters", vae.num_parameters());

    let test_images = test.images.clone();
    let loader = cli::shuffled(NAME, train.into_dataset(), 128, args.seed);
    let start = Instant::now();
    let (mut train_elbo, mut test_elbo) = (f64::NAN, f64::NAN);
    let (mut test_recon, mut test_kl) = (f64::NAN, f64::NAN);
    for epoch in 0..args.epochs {
        let (mut total, mut seen) = (0.0, 0usize);
        for batch in loader.epoch(epoch as u64) {
            let batch = batch.unwrap_or_else(|e| cli::fail(NAME, e));
            let loss = vae
                .try_loss(&batch.features, &mut rng)
                .unwrap_or_else(|e| cli::fail(NAME, e));
            if !loss.neg_elbo().is_finite() {
                cli::fail(NAME, format!("the loss diverged in epoch {}", epoch + 1));
            }
            opt.step(&loss.total.backward());
            total += loss.neg_elbo() * loss.batch_size as f64;
            seen += loss.batch_size;
        }
        train_elbo = total / seen as f64;
        (test_elbo, test_recon, test_kl) = evaluate(&vae, &test_images, &mut rng);
        println!(
            "{NAME}: epoch {:>2}/{}  train -ELBO {train_elbo:.2}  test -ELBO {test_elbo:.2} (reconstruction {test_recon:.2} + KL {test_kl:.2}) nats/image  {:.0} s",
            epoch + 1,
            args.epochs,
            start.elapsed().as_secs_f64()
        );
    }
    let seconds = start.elapsed().as_secs_f64();

    let samples = vae.sample_prior(64, &mut rng);
    cli::save_grid(NAME, &args.out.join("vae_prior_samples.png"), &samples, 8);
    // One row per pair of digits d → d+1, 10 steps between the first test
    // images of each.
    let first_of = |d: usize| test.labels.iter().position(|&l| l == d).unwrap_or(0);
    let mut rows = Vec::new();
    for d in 0..9 {
        let a = test_images.narrow(0, first_of(d), 1);
        let b = test_images.narrow(0, first_of(d + 1), 1);
        rows.push(
            vae.try_interpolate(&a, &b, 10)
                .unwrap_or_else(|e| cli::fail(NAME, e)),
        );
    }
    let rows: Vec<&Tensor<f32>> = rows.iter().collect();
    cli::save_grid(
        NAME,
        &args.out.join("vae_interpolation.png"),
        &Tensor::concat(&rows, 0),
        10,
    );
    let recon = vae.reconstruct(&test_images.narrow(0, 0, 16));
    let pair = Tensor::concat(&[&test_images.narrow(0, 0, 16), &recon], 0);
    cli::save_grid(NAME, &args.out.join("vae_reconstructions.png"), &pair, 16);

    cli::report(
        NAME,
        &args,
        serde_json::json!({
            "latent_dim": LATENT,
            "test_neg_elbo": round(test_elbo),
            "test_reconstruction": round(test_recon),
            "test_kl": round(test_kl),
            "train_neg_elbo": round(train_elbo),
            "train_seconds": round(seconds),
        }),
    );
}

/// Mean test negative ELBO, reconstruction and KL per image (nats), one
/// posterior sample per image.
fn evaluate<E, D>(
    vae: &nnkit::generative::Vae<f32, E, D>,
    images: &Tensor<f32>,
    rng: &mut Rng,
) -> (f64, f64, f64)
where
    E: nnkit::layers::Forward<f32>,
    D: nnkit::layers::Forward<f32>,
{
    let n = images.shape()[0];
    let (mut recon, mut kl) = (0.0, 0.0);
    let mut start = 0;
    while start < n {
        let len = 1000.min(n - start);
        let loss = no_grad(|| vae.try_loss(&images.narrow(0, start, len), rng))
            .unwrap_or_else(|e| cli::fail(NAME, e));
        recon += loss.reconstruction * len as f64;
        kl += loss.kl * len as f64;
        start += len;
    }
    ((recon + kl) / n as f64, recon / n as f64, kl / n as f64)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
