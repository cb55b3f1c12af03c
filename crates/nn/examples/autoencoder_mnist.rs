//! An MLP autoencoder on MNIST: 784-256-32 encoder and 32-256-784 decoder
//! (ReLU), trained with BCE on the pixels in `[0, 1]` (Adam lr 1e-3,
//! batches of 128). Reports the test reconstruction MSE per pixel and
//! writes a PNG of test inputs (top row) above their reconstructions.
//!
//! ```text
//! cargo run --release -p nn --example autoencoder_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod generative_cli;

use std::time::Instant;

use generative_cli as cli;
use nn::data::{DataLoader, MnistSplit};
use nn::generative::{AutoencoderConfig, ReconstructionLoss};
use nn::layers::{LinearConfig, Module, Relu, Sequential};
use nn::optim::AdamConfig;
use nn::prelude::{Rng, Tensor};

const NAME: &str = "autoencoder_mnist";
const CODE: usize = 32;

fn main() {
    let args = cli::parse(NAME, 5);
    let train = cli::mnist(NAME, &args, MnistSplit::Train);
    let test = cli::mnist(NAME, &args, MnistSplit::Test);
    println!(
        "{NAME}: {} training and {} test images from {}",
        train.len(),
        test.len(),
        args.data.display()
    );

    let mut rng = Rng::seed_from(args.seed);
    let linear = |i, o, rng: &mut Rng| {
        LinearConfig::new(i, o)
            .init::<f32>(rng)
            .unwrap_or_else(|e| cli::fail(NAME, e))
    };
    let encoder = Sequential::new()
        .append(linear(784, 256, &mut rng))
        .append(Relu)
        .append(linear(256, CODE, &mut rng));
    let decoder = Sequential::new()
        .append(linear(CODE, 256, &mut rng))
        .append(Relu)
        .append(linear(256, 784, &mut rng));
    let ae = AutoencoderConfig::new()
        .with_loss(ReconstructionLoss::BceWithLogits)
        .init(encoder, decoder)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    let mut opt = AdamConfig::new(1e-3)
        .init(ae.named_parameters())
        .unwrap_or_else(|e| cli::fail(NAME, e));
    println!(
        "{NAME}: {} parameters, code size {CODE}",
        ae.num_parameters()
    );

    let test_images = test.images.clone();
    let loader = DataLoader::new(train.into_dataset(), 128)
        .unwrap_or_else(|e| cli::fail(NAME, e))
        .shuffle(args.seed);
    let start = Instant::now();
    let mut test_mse = ae
        .try_reconstruction_mse(&test_images)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    println!("{NAME}: before training, test MSE {test_mse:.5}");
    let mut train_loss = f64::NAN;
    for epoch in 0..args.epochs {
        let (mut total, mut batches) = (0.0, 0usize);
        for batch in loader.epoch(epoch as u64) {
            let batch = batch.unwrap_or_else(|e| cli::fail(NAME, e));
            let loss = ae
                .try_loss(&batch.features, &mut rng)
                .unwrap_or_else(|e| cli::fail(NAME, e));
            let value = loss.value().item() as f64;
            if !value.is_finite() {
                cli::fail(NAME, format!("the loss diverged in epoch {}", epoch + 1));
            }
            opt.step(&loss.backward());
            total += value;
            batches += 1;
        }
        train_loss = total / batches as f64;
        test_mse = ae
            .try_reconstruction_mse(&test_images)
            .unwrap_or_else(|e| cli::fail(NAME, e));
        println!(
            "{NAME}: epoch {:>2}/{}  train BCE {train_loss:.4}  test MSE {test_mse:.5}  {:.0} s",
            epoch + 1,
            args.epochs,
            start.elapsed().as_secs_f64()
        );
    }
    let seconds = start.elapsed().as_secs_f64();

    let inputs = test_images.narrow(0, 0, 16);
    let recon = ae.reconstruct(&inputs);
    cli::save_grid(
        NAME,
        &args.out.join("autoencoder_reconstructions.png"),
        &Tensor::concat(&[&inputs, &recon], 0),
        16,
    );
    println!(
        "{}",
        serde_json::json!({
            "example": NAME,
            "seed": args.seed,
            "epochs": args.epochs,
            "code_size": CODE,
            "test_mse": (test_mse * 1e6).round() / 1e6,
            "train_bce": (train_loss * 1e5).round() / 1e5,
            "train_seconds": (seconds * 10.0).round() / 10.0,
        })
    );
}
