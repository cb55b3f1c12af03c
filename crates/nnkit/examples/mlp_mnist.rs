//! A multilayer perceptron 784-256-128-10 with ReLU on MNIST: Adam with a
//! cosine learning-rate schedule, mini-batches of 128, cross-entropy.
//!
//! `cargo run --release -p nnkit --example mlp_mnist -- [--data DIR] [--epochs N] [--seed N] [--threads N] [--lr X] [--batch-size N]`
//!
//! The final JSON line carries `weights_sha256`, a hash of every
//! parameter's little-endian bytes in `state_dict` order: two runs with the
//! same seed (and thread count) must print the same hash.

mod common;

use nnkit::optim::CosineAnnealingLr;
use nnkit::prelude::*;
use nnkit::train::Trainer;
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(
        "mlp_mnist",
        &["data", "epochs", "threads", "lr", "batch-size"],
    );
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 10);
    let lr: f64 = args.get("lr", 1e-3);
    let batch_size: usize = args.get("batch-size", 128);
    if let Some(threads) = args.text("threads") {
        nnkit::tensor::set_num_threads(threads.parse()?);
    }

    // MNIST with the usual normalisation: the training set's mean and
    // standard deviation, as in PyTorch's example.
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::MeanStd)?;
    let (train_set, test_set) = mnist.into_datasets();
    let train = DataLoader::new(&train_set, batch_size)?.shuffle(seed);
    let test = DataLoader::new(&test_set, 1000)?;

    let mut rng = Rng::seed_from(seed);
    let model = Sequential::new()
        .append(LinearConfig::new(784, 256).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(256, 128).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(128, 10).init(&mut rng)?);
    let mut opt = AdamConfig::new(lr).init(model.named_parameters())?;
    let threads = nnkit::tensor::num_threads();
    eprintln!(
        "model: 784-256-128-10, {} parameters; {threads} threads",
        model.num_parameters()
    );

    // Cross-entropy and accuracy on the test set after every epoch.
    let mut trainer = Trainer::classification(&model, &mut opt)
        .epochs(epochs)
        .seed(seed)
        .schedule(CosineAnnealingLr::new(epochs as u64, 0.0)?);
    let report = trainer.fit(&train, &test)?;
    let result = trainer.evaluate(&test)?;
    let seconds = report.history.series("seconds").iter().sum::<f64>();
    let acc = result["accuracy"];
    eprintln!(
        "test accuracy {:.2} % after {epochs} epochs ({seconds:.1} s of training)",
        100.0 * acc
    );
    if acc < 0.98 {
        eprintln!("below the 98.0 % target");
    }

    let mut hash = Sha256::new();
    for (_, p) in model.named_parameters() {
        p.value()
            .as_slice()
            .iter()
            .for_each(|x| hash.update(x.to_le_bytes()));
    }
    let hash: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let json = serde_json::json!({
        "example": "mlp_mnist",
        "seed": seed,
        "threads": threads,
        "test_accuracy": acc,
        "test_loss": result["loss"],
        "epochs": epochs,
        "seconds_per_epoch": seconds / epochs.max(1) as f64,
        "weights_sha256": hash,
    });
    println!("{json}");
    Ok(())
}
