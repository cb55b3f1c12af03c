//! A multilayer perceptron 784-256-128-10 with ReLU on MNIST: Adam with a
//! cosine learning-rate schedule, mini-batches of 128, cross-entropy.
//!
//! `cargo run --release -p nnkit --example mlp_mnist -- [--data DIR] [--epochs N] [--seed N] [--threads N] [--lr X] [--batch-size N]`
//!
//! The final JSON line carries `weights_sha256`, a hash of every
//! parameter's little-endian bytes in `state_dict` order: two runs with the
//! same seed (and thread count) must print the same hash.

mod common;

use std::time::Instant;

use nnkit::data::ImageLayout;
use nnkit::layers::{Module, Relu};
use nnkit::prelude::*;

fn main() {
    let args = common::Args::parse(
        "mlp_mnist",
        &["data", "epochs", "threads", "lr", "batch-size"],
    );
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 10);
    let lr: f64 = args.get("lr", 1e-3);
    let batch_size: usize = args.get("batch-size", 128);
    let threads = common::threads(&args);
    let (train_set, test_set) = common::mnist_normalised(&args, ImageLayout::Flat);

    let model =
        common::mlp(&[784, 256, 128, 10], Relu, &mut Rng::seed_from(seed)).expect("linear layers");
    eprintln!(
        "model: 784-256-128-10, {} parameters; {threads} threads",
        model.num_parameters()
    );
    let how = common::ClassifierTraining {
        epochs,
        lr,
        batch_size,
        test_batch_size: 1000,
        seed,
    };
    let start = Instant::now();
    let fit = common::fit_classifier(&model, &train_set, &test_set, &how);
    let train_seconds = start.elapsed().as_secs_f64();
    let (acc, seconds_per_epoch) = (fit.test_accuracy, fit.seconds_per_epoch);
    eprintln!(
        "test accuracy {:.2} % after {epochs} epochs ({seconds_per_epoch:.2} s per epoch, {train_seconds:.1} s in all)",
        100.0 * acc
    );
    if acc < 0.98 {
        eprintln!("below the 98.0 % target");
    }
    common::print_result(serde_json::json!({
        "example": "mlp_mnist",
        "seed": seed,
        "threads": threads,
        "test_accuracy": acc,
        "test_loss": fit.test_loss,
        "epochs": epochs,
        "seconds_per_epoch": seconds_per_epoch,
        "weights_sha256": common::weights_sha256(&model),
    }));
}
