//! LeNet-5 (with batch norm after each convolution) on the real MNIST: Adam
//! with a cosine learning-rate schedule, mini-batches of 64, cross-entropy.
//! Saves the learned first-layer filters (`conv1.weight`, six 5×5 kernels)
//! as a PNG.
//!
//! `cargo run --release -p nn --example lenet_mnist -- [--data DIR] [--epochs N] [--seed N] [--threads N] [--lr X] [--batch-size N] [--batch-norm true|false] [--filters PATH]`
//!
//! The final JSON line carries `weights_sha256`, a hash of every
//! parameter's little-endian bytes in `state_dict` order (the same hash as
//! `mlp_mnist`): two runs with the same seed and thread count print the
//! same hash.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use nn::conv::layers::{LeNet5, LeNet5Config};
use nn::data::{load_mnist, DataLoader, ImageLayout, MnistSplit, TensorDataset};
use nn::layers::{CrossEntropyLoss, Forward, Module};
use nn::optim::{AdamConfig, CosineAnnealingLr, Scheduler};
use nn::prelude::*;
use nn::train::figures::save_image_grid;
use nn::train::Progress;
use sha2::{Digest, Sha256};

/// MNIST's usual normalisation (the training set's mean and standard
/// deviation of pixel/255), the one PyTorch's examples use.
fn normalise(images: &Tensor<f32>) -> Tensor<f32> {
    images.add_scalar(-0.1307).mul_scalar(1.0 / 0.3081)
}

/// SHA-256 of every parameter's little-endian bytes, in `state_dict` order.
fn weights_sha256(model: &LeNet5<f32>) -> String {
    let mut h = Sha256::new();
    for (_, p) in model.named_parameters() {
        for x in p.value().as_slice() {
            h.update(x.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

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
    if args.text("threads").is_some() {
        nn::tensor::set_num_threads(args.get("threads", 1));
    }
    let dir = common::mnist_dir(&args);
    let load = |split| {
        let m = load_mnist(Some(&dir), split, ImageLayout::Nchw).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        TensorDataset::classification(normalise(&m.images), m.labels).expect("one label per image")
    };
    let (train_set, test_set) = (load(MnistSplit::Train), load(MnistSplit::Test));
    eprintln!(
        "MNIST from {}: {} training and {} test images; {} threads",
        dir.display(),
        train_set.len(),
        test_set.len(),
        nn::tensor::num_threads()
    );

    let mut rng = Rng::seed_from(seed);
    let model: LeNet5<f32> = LeNet5Config::new(1, 10)
        .with_batch_norm(batch_norm)
        .init(&mut rng)
        .expect("LeNet-5");
    eprintln!(
        "model: LeNet-5{}, {} parameters",
        if batch_norm { " with batch norm" } else { "" },
        model.num_parameters()
    );
    let mut opt = AdamConfig::new(lr)
        .init(model.named_parameters())
        .expect("Adam");
    let mut schedule = Scheduler::new(
        CosineAnnealingLr::new(epochs as u64, 0.0).expect("schedule"),
        &mut opt,
    );
    let ce = CrossEntropyLoss::default();
    let train = DataLoader::new(&train_set, batch_size)
        .expect("batch size")
        .shuffle(seed);

    let mut epoch_seconds = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let start = Instant::now();
        let mut progress = Progress::new(
            &format!("epoch {}/{epochs}", epoch + 1),
            train.num_batches() as u64,
        );
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for batch in train.epoch(epoch as u64) {
            let batch = batch.unwrap_or_else(|e| panic!("in-memory batch: {e}"));
            let logits = model.forward(&Var::constant(batch.features.clone()));
            let loss = ce.forward(&logits, batch.classes());
            opt.step(&loss.backward());
            loss_sum += loss.value().item() as f64 * batch.len() as f64;
            seen += batch.len();
            progress.advance(1, &format!("loss {:.4}", loss_sum / seen as f64));
        }
        let seconds = start.elapsed().as_secs_f64();
        epoch_seconds.push(seconds);
        schedule.step(&mut opt);
        let test_acc = common::accuracy_on(&model, &test_set, 1000);
        progress.finish(&format!(
            "epoch {}/{epochs}: train loss {:.4}, test accuracy {:.2} %, {seconds:.1} s",
            epoch + 1,
            loss_sum / seen.max(1) as f64,
            100.0 * test_acc
        ));
    }
    let seconds_per_epoch = epoch_seconds.iter().sum::<f64>() / epochs.max(1) as f64;
    let acc = common::accuracy_on(&model, &test_set, 1000);
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
        "threads": nn::tensor::num_threads(),
        "batch_norm": batch_norm,
        "test_accuracy": acc,
        "epochs": epochs,
        "seconds_per_epoch": common::round(seconds_per_epoch, 2),
        "filters_png": if filters_saved { Some(filters_path.display().to_string()) } else { None },
        "weights_sha256": weights_sha256(&model),
    }));
}
