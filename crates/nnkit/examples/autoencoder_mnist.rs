//! An MLP autoencoder on MNIST: 784-256-32 encoder and 32-256-784 decoder
//! (ReLU), trained with BCE on the pixels in `[0, 1]` (Adam lr 1e-3,
//! batches of 128). Reports the test reconstruction MSE per pixel and
//! writes a PNG of test inputs (top row) above their reconstructions.
//!
//! ```text
//! cargo run --release -p nnkit --example autoencoder_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod common;

use nnkit::generative::{AutoencoderConfig, ReconstructionLoss};
use nnkit::prelude::*;
use nnkit::train::{Evaluation, Trainer};

const CODE: usize = 32;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("autoencoder_mnist", &["data", "epochs", "out"]);
    let seed: u64 = args.get("seed", 0);
    let epochs: usize = args.get("epochs", 5);
    let out = args.figures_dir()?;

    // MNIST as [N, 784] pixels in [0, 1]: the autoencoder's input is also
    // its target, so the labels are not used.
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::ZeroToOne)?;
    println!("autoencoder_mnist: {mnist}");
    let (train, test) = (mnist.train, mnist.test);
    let test_images = test.images.clone();
    let train_batches = DataLoader::new(train.into_dataset(), 128)?.shuffle(seed);
    let test_batches = DataLoader::new(test.into_dataset(), 1000)?;

    // Encoder 784 → 256 → 32 and decoder 32 → 256 → 784; the decoder ends
    // in logits, which the BCE-with-logits loss turns into pixels.
    let mut rng = Rng::seed_from(seed);
    let encoder = Sequential::new()
        .append(LinearConfig::new(784, 256).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(256, CODE).init(&mut rng)?);
    let decoder = Sequential::new()
        .append(LinearConfig::new(CODE, 256).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(256, 784).init(&mut rng)?);
    let ae = AutoencoderConfig::new()
        .with_loss(ReconstructionLoss::BceWithLogits)
        .init(encoder, decoder, &mut rng)?;
    let mut opt = AdamConfig::new(1e-3).init(ae.named_parameters())?;
    println!(
        "autoencoder_mnist: {} parameters, code size {CODE}",
        ae.num_parameters()
    );
    let before = ae.try_reconstruction_mse(&test_images)?;
    println!("autoencoder_mnist: before training, test MSE {before:.5}");

    // Trained on the autoencoder's own BCE loss (`train_loss`); validated
    // on the reconstruction MSE per pixel (`val_loss`), the figure the
    // docs quote.
    let mut trainer = Trainer::custom(
        &ae,
        &mut opt,
        |ae, batch, ctx| ae.loss(&batch.features, ctx.rng),
        |ae, batch| {
            let recon = ae.reconstruct(&batch.features);
            let mse = (&recon - &batch.features).powf(2.0).mean_all();
            Evaluation {
                loss: mse.item() as f64,
                output: recon,
            }
        },
    )
    .epochs(epochs)
    .seed(seed);
    let report = trainer.fit(&train_batches, &test_batches)?;
    let train_bce = report.history.last("train_loss").unwrap_or(f64::NAN);
    let test_mse = report.history.last("val_loss").unwrap_or(before);
    let seconds = report.history.series("seconds").iter().sum::<f64>();
    if !train_bce.is_finite() && epochs > 0 {
        return Err("the training loss diverged".into());
    }

    // Sixteen test digits (top row) above their reconstructions.
    let inputs = test_images.narrow(0, 0, 16);
    let recon = ae.reconstruct(&inputs);
    let grid = Tensor::concat(&[&inputs, &recon], 0).reshape([32, 28, 28]);
    let path = out.join("autoencoder_reconstructions.png");
    nnkit::train::figures::save_image_grid(&path, &grid, 16, 2)?;
    println!("autoencoder_mnist: wrote {}", path.display());

    let json = serde_json::json!({
        "example": "autoencoder_mnist",
        "seed": seed,
        "epochs": epochs,
        "code_size": CODE,
        "test_mse": (test_mse * 1e6).round() / 1e6,
        "train_bce": (train_bce * 1e5).round() / 1e5,
        "train_seconds": (seconds * 10.0).round() / 10.0,
    });
    println!("{json}");
    Ok(())
}
