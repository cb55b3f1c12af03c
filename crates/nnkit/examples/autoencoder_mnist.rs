//! An MLP autoencoder on MNIST: 784-256-32 encoder and 32-256-784 decoder
//! (ReLU), trained with BCE on the pixels in `[0, 1]` (Adam lr 1e-3,
//! batches of 128). Reports the test reconstruction MSE per pixel and
//! writes a PNG of test inputs (top row) above their reconstructions.
//!
//! ```text
//! cargo run --release -p nnkit --example autoencoder_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod generative_cli;

use std::time::Instant;

use generative_cli as cli;
use nnkit::generative::{AutoencoderConfig, ReconstructionLoss};
use nnkit::layers::{Module, Relu};
use nnkit::optim::AdamConfig;
use nnkit::prelude::{Rng, Tensor};

const NAME: &str = "autoencoder_mnist";
const CODE: usize = 32;

fn main() {
    let (args, train, test) = cli::setup(NAME, 5);

    let mut rng = Rng::seed_from(args.seed);
    let encoder = cli::mlp(NAME, &[784, 256, CODE], Relu, &mut rng);
    let decoder = cli::mlp(NAME, &[CODE, 256, 784], Relu, &mut rng);
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
    let loader = cli::shuffled(NAME, train.into_dataset(), 128, args.seed);
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
    cli::report(
        NAME,
        &args,
        serde_json::json!({
            "code_size": CODE,
            "test_mse": (test_mse * 1e6).round() / 1e6,
            "train_bce": (train_loss * 1e5).round() / 1e5,
            "train_seconds": (seconds * 10.0).round() / 10.0,
        }),
    );
}
