//! LeNet-5 (with batch norm after each convolution) on the real MNIST: Adam
//! with a cosine learning-rate schedule, mini-batches of 64, cross-entropy.
//! Saves the learned first-layer filters (`conv1.weight`, six 5×5 kernels)
//! as a PNG.
//!
//! `cargo run --release -p nnkit --example lenet_mnist -- [--data DIR] [--epochs N] [--seed N] [--threads N] [--lr X] [--batch-size N] [--batch-norm true|false] [--filters PATH]`
//!
//! The final JSON line carries `weights_sha256`, a hash of every
//! parameter's little-endian bytes in `state_dict` order (the same hash as
//! `mlp_mnist`): two runs with the same seed and thread count print the
//! same hash.

mod common;

use std::path::PathBuf;

use nnkit::conv::layers::{LeNet5, LeNet5Config};
use nnkit::data::ImageLayout;
use nnkit::layers::Module;
use nnkit::prelude::*;
use nnkit::train::figures::save_image_grid;

fn main() {
    let args = common::Args::parse(
        "lenet_mnist",
        &[
            "data",
            "epochs",
            "threads",
            "lr",
            "batch-size",
            "batch-norm",
            "filters",
        ],
    );
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 6);
    let lr: f64 = args.get("lr", 2e-3);
    let batch_size: usize = args.get("batch-size", 64);
    let batch_norm: bool = args.get("batch-norm", true);
    let filters_path = args
        .text("filters")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lenet_mnist_conv1_filters.png"));
    let threads = common::threads(&args);
    let (train_set, test_set) = common::mnist_normalised(&args, ImageLayout::Nchw);

    let mut rng = Rng::seed_from(seed);
    let model: LeNet5<f32> = LeNet5Config::new(1, 10)
        .with_batch_norm(batch_norm)
        .init(&mut rng)
        .expect("LeNet-5");
    eprintln!(
        "model: LeNet-5{}, {} parameters; {threads} threads",
        if batch_norm { " with batch norm" } else { "" },
        model.num_parameters()
    );
    let how = common::ClassifierTraining {
        epochs,
        lr,
        batch_size,
        test_batch_size: 1000,
        seed,
    };
    let fit = common::fit_classifier(&model, &train_set, &test_set, &how);
    let (acc, seconds_per_epoch) = (fit.test_accuracy, fit.seconds_per_epoch);
    eprintln!(
        "test accuracy {:.2} % after {epochs} epochs ({seconds_per_epoch:.1} s per epoch)",
        100.0 * acc
    );
    if acc < 0.99 {
        eprintln!("below the 99.0 % target");
    }
    // conv1.weight is [6, 1, 5, 5]: one grey 5×5 image per filter.
    let filters_saved = match save_image_grid(&filters_path, &model.conv1.weight.value(), 6, 12) {
        Ok(()) => {
            eprintln!("first-layer filters saved to {}", filters_path.display());
            true
        }
        Err(e) => {
            eprintln!(
                "could not save the filters to {}: {e}",
                filters_path.display()
            );
            false
        }
    };
    common::print_result(serde_json::json!({
        "example": "lenet_mnist",
        "seed": seed,
        "threads": threads,
        "batch_norm": batch_norm,
        "test_accuracy": acc,
        "epochs": epochs,
        "seconds_per_epoch": common::round(seconds_per_epoch, 2),
        "filters_png": if filters_saved { Some(filters_path.display().to_string()) } else { None },
        "weights_sha256": common::weights_sha256(&model),
    }));
}
