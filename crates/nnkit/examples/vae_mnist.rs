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

mod common;

use std::path::Path;
use std::time::Instant;

use nnkit::generative::{Vae, VaeConfig};
use nnkit::prelude::*;

const NAME: &str = "vae_mnist";
const LATENT: usize = 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(NAME, &["data", "epochs", "out"]);
    let seed: u64 = args.get("seed", 0);
    let epochs: usize = args.get("epochs", 10);
    let out = args.figures_dir()?;

    // MNIST as [N, 784] pixels in [0, 1] (the Bernoulli likelihood's range).
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::ZeroToOne)?;
    println!("{NAME}: {mnist}");
    let (train, test) = (mnist.train, mnist.test);

    let mut rng = Rng::seed_from(seed);
    // The encoder's last layer is fc21 and fc22 of PyTorch's example side
    // by side: means then log-variances.
    let encoder = Sequential::new()
        .append(LinearConfig::new(784, 400).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(400, 2 * LATENT).init(&mut rng)?);
    let decoder = Sequential::new()
        .append(LinearConfig::new(LATENT, 400).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(400, 784).init(&mut rng)?);
    let vae = VaeConfig::new(LATENT).init(encoder, decoder, &mut rng)?;
    let mut opt = AdamConfig::new(1e-3).init(vae.named_parameters())?;
    println!("{NAME}: {} parameters", vae.num_parameters());

    // A loop of its own rather than a `Trainer`: each step reports the
    // ELBO's two terms, which the log and the JSON line show.
    let test_images = test.images.clone();
    let loader = DataLoader::new(train.into_dataset(), 128)?.shuffle(seed);
    let start = Instant::now();
    let (mut train_elbo, mut test_elbo) = (f64::NAN, f64::NAN);
    let (mut test_recon, mut test_kl) = (f64::NAN, f64::NAN);
    for epoch in 0..epochs {
        let (mut total, mut seen) = (0.0, 0usize);
        for batch in loader.epoch(epoch as u64) {
            let batch = batch?;
            let loss = vae.try_loss(&batch.features, &mut rng)?;
            if !loss.neg_elbo().is_finite() {
                return Err(format!("the loss diverged in epoch {}", epoch + 1).into());
            }
            opt.step(&loss.total.backward());
            total += loss.neg_elbo() * loss.batch_size as f64;
            seen += loss.batch_size;
        }
        train_elbo = total / seen as f64;
        (test_elbo, test_recon, test_kl) = evaluate(&vae, &test_images, &mut rng)?;
        println!(
            "{NAME}: epoch {:>2}/{}  train -ELBO {train_elbo:.2}  test -ELBO {test_elbo:.2} (reconstruction {test_recon:.2} + KL {test_kl:.2}) nats/image  {:.0} s",
            epoch + 1,
            epochs,
            start.elapsed().as_secs_f64()
        );
    }
    let seconds = start.elapsed().as_secs_f64();

    let samples = vae.sample_prior(64, &mut rng);
    save_grid(&out.join("vae_prior_samples.png"), &samples, 8)?;
    // One row per pair of digits d → d+1, 10 steps between the first test
    // images of each.
    let first_of = |d: usize| test.labels.iter().position(|&l| l == d).unwrap_or(0);
    let mut rows = Vec::new();
    for d in 0..9 {
        let a = test_images.narrow(0, first_of(d), 1);
        let b = test_images.narrow(0, first_of(d + 1), 1);
        rows.push(vae.try_interpolate(&a, &b, 10)?);
    }
    let rows: Vec<&Tensor<f32>> = rows.iter().collect();
    save_grid(
        &out.join("vae_interpolation.png"),
        &Tensor::concat(&rows, 0),
        10,
    )?;
    let recon = vae.reconstruct(&test_images.narrow(0, 0, 16));
    let pair = Tensor::concat(&[&test_images.narrow(0, 0, 16), &recon], 0);
    save_grid(&out.join("vae_reconstructions.png"), &pair, 16)?;

    let json = serde_json::json!({
            "example": NAME,
            "seed": seed,
            "epochs": epochs,
            "latent_dim": LATENT,
            "test_neg_elbo": round(test_elbo),
            "test_reconstruction": round(test_recon),
            "test_kl": round(test_kl),
            "train_neg_elbo": round(train_elbo),
            "train_seconds": round(seconds),
    });
    println!("{json}");
    Ok(())
}

/// Mean test negative ELBO, reconstruction and KL per image (nats), one
/// posterior sample per image.
fn evaluate<E: Forward<f32>, D: Forward<f32>>(
    vae: &Vae<f32, E, D>,
    images: &Tensor<f32>,
    rng: &mut Rng,
) -> Result<(f64, f64, f64), nnkit::tensor::TensorError> {
    let n = images.shape()[0];
    let (mut recon, mut kl) = (0.0, 0.0);
    let mut start = 0;
    while start < n {
        let len = 1000.min(n - start);
        let loss = no_grad(|| vae.try_loss(&images.narrow(0, start, len), rng))?;
        recon += loss.reconstruction * len as f64;
        kl += loss.kl * len as f64;
        start += len;
    }
    Ok(((recon + kl) / n as f64, recon / n as f64, kl / n as f64))
}

/// Saves a `[count, 784]` batch as a PNG grid of 28×28 digits, `cols` per row.
fn save_grid(path: &Path, images: &Tensor<f32>, cols: usize) -> std::io::Result<()> {
    let grid = images.reshape([images.shape()[0], 28, 28]);
    nnkit::train::figures::save_image_grid(path, &grid, cols, 2)?;
    println!("{NAME}: wrote {}", path.display());
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
