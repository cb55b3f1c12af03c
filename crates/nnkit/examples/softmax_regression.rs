//! Softmax regression (multinomial logistic regression): one linear layer
//! producing a logit per class, trained with cross-entropy, on iris (4
//! features, 3 classes) and on the 8×8 digits (64 features, 10 classes).
//!
//! The loss is convex and a linear model has little room to over-fit, so
//! it trains on 80 % of the samples for a fixed number of epochs (no
//! validation split) and is tested on the other 20 %.
//!
//! `cargo run --release -p nnkit --example softmax_regression -- [--seed N] [--epochs N]`

mod common;

use nnkit::data::{digits, iris, Classification, DataLoader, SplitFractions};
use nnkit::layers::{Linear, LinearConfig, Module};
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;
use nnkit::train::Trainer;

/// Trains softmax regression on `data` and returns the test accuracy.
fn softmax_regression(name: &str, data: &Classification, seed: u64, epochs: usize, lr: f64) -> f64 {
    let s = (data.cast::<f32>().to_dataset())
        .split(SplitFractions::new(0.8, 0.0, 0.2), seed, true)
        .and_then(|s| s.standardised())
        .expect("a valid split");
    let (features, classes) = (s.train.features().shape()[1], data.num_classes());
    eprintln!(
        "{name}: {} train, {} test samples; {features} features, {classes} classes",
        s.train.len(),
        s.test.len()
    );
    let mut rng = Rng::seed_from(seed);
    let model: Linear<f32> = LinearConfig::new(features, classes)
        .init(&mut rng)
        .expect("linear layer");
    let mut opt = AdamConfig::new(lr)
        .init(model.named_parameters())
        .expect("Adam");
    let train = DataLoader::new(&s.train, 32)
        .expect("batch size")
        .shuffle(seed);
    let mut trainer = Trainer::classification(&model, &mut opt)
        .epochs(epochs)
        .seed(seed);
    let report = trainer.fit_without_validation(&train).expect("training");
    let test = trainer
        .evaluate(&DataLoader::full_batch(&s.test))
        .expect("test evaluation");
    eprintln!(
        "{name}: {} epochs, final train loss {:.4}; test accuracy {:.2} %",
        report.epochs_run,
        report.history.last("train_loss").unwrap_or(f64::NAN),
        100.0 * test["accuracy"]
    );
    test["accuracy"]
}

fn main() {
    let args = common::Args::parse("softmax_regression", &["epochs", "lr"]);
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 100);
    let lr: f64 = args.get("lr", 0.01);
    let iris_acc = softmax_regression("iris", &iris(), seed, epochs, lr);
    let digits_acc = softmax_regression("digits", &digits(), seed, epochs, lr);
    println!(
        "{}",
        serde_json::json!({
            "example": "softmax_regression",
            "seed": seed,
            "iris_test_accuracy": iris_acc,
            "digits_test_accuracy": digits_acc,
        })
    );
}
