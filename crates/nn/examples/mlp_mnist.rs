//! A multilayer perceptron 784-256-128-10 with ReLU on MNIST: Adam with a
//! cosine learning-rate schedule, mini-batches of 128, cross-entropy.
//!
//! `cargo run --release -p nn --example mlp_mnist -- [--data DIR] [--epochs N] [--seed N] [--threads N] [--lr X] [--batch-size N]`
//!
//! The final JSON line carries `weights_sha256`, a hash of every
//! parameter's little-endian bytes in `state_dict` order: two runs with the
//! same seed (and thread count) must print the same hash.

mod common;

use std::time::Instant;

use nn::data::{load_mnist, Batch, DataLoader, ImageLayout, MnistSplit, TensorDataset};
use nn::layers::{CrossEntropyLoss, Forward, LinearConfig, Module, Relu, Sequential};
use nn::optim::{AdamConfig, CosineAnnealingLr};
use nn::prelude::*;
use nn::train::{evaluate, Accuracy, Evaluation, Metric, Trainer};
use sha2::{Digest, Sha256};

/// MNIST's usual normalisation (the training set's mean and standard
/// deviation of pixel/255), the one PyTorch's examples use.
fn normalise(images: &Tensor<f32>) -> Tensor<f32> {
    images.add_scalar(-0.1307).mul_scalar(1.0 / 0.3081)
}

/// SHA-256 of every parameter's little-endian bytes, in `state_dict` order.
fn weights_sha256(model: &Sequential<f32>) -> String {
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
        "mlp_mnist",
        &["data", "epochs", "threads", "lr", "batch-size"],
    );
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 10);
    let lr: f64 = args.get("lr", 1e-3);
    let batch_size: usize = args.get("batch-size", 128);
    if args.text("threads").is_some() {
        nn::tensor::set_num_threads(args.get("threads", 1));
    }
    let dir = common::mnist_dir(&args);
    let load = |split| {
        let m = load_mnist(Some(&dir), split, ImageLayout::Flat).unwrap_or_else(|e| {
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
    let mut linear = |i, o| {
        LinearConfig::new(i, o)
            .init::<f32>(&mut rng)
            .expect("linear layer")
    };
    let model = Sequential::new()
        .append(linear(784, 256))
        .append(Relu)
        .append(linear(256, 128))
        .append(Relu)
        .append(linear(128, 10));
    eprintln!(
        "model: 784-256-128-10, {} parameters",
        model.num_parameters()
    );
    let mut opt = AdamConfig::new(lr)
        .init(model.named_parameters())
        .expect("Adam");
    let ce = CrossEntropyLoss::default();
    let train = DataLoader::new(&train_set, batch_size)
        .expect("batch size")
        .shuffle(seed);
    let eval = |m: &Sequential<f32>, b: &Batch<f32>| {
        let logits = m.forward(&Var::constant(b.features.clone()));
        Evaluation::new(&ce.forward(&logits, b.classes()), &logits)
    };
    let start = Instant::now();
    let report = Trainer::new(epochs)
        .seed(seed)
        .schedule(CosineAnnealingLr::new(epochs as u64, 0.0).expect("schedule"))
        .fit(
            &model,
            &mut opt,
            &train,
            None::<&DataLoader<&TensorDataset<f32>>>,
            |m, b, _| ce.forward(&m.forward(&Var::constant(b.features.clone())), b.classes()),
            eval,
        )
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    let train_seconds = start.elapsed().as_secs_f64();
    let seconds_per_epoch =
        report.history.series("seconds").iter().sum::<f64>() / epochs.max(1) as f64;

    let mut metrics: Vec<Box<dyn Metric<f32>>> = vec![Box::new(Accuracy::new())];
    let test_loader = DataLoader::new(&test_set, 1000).expect("batch size");
    let test = evaluate(&model, &test_loader, eval, &mut metrics).expect("test evaluation");
    let acc = test["accuracy"];
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
        "threads": nn::tensor::num_threads(),
        "test_accuracy": acc,
        "test_loss": test["loss"],
        "epochs": epochs,
        "seconds_per_epoch": seconds_per_epoch,
        "weights_sha256": weights_sha256(&model),
    }));
}
