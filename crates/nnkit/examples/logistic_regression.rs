//! Logistic regression on the breast cancer data (30 standardised
//! features, malignant or benign): one linear unit whose output is a logit,
//! trained with binary cross-entropy, with early stopping on the validation loss.
//!
//! `cargo run --release -p nnkit --example logistic_regression -- [--seed N] [--epochs N] [--lr X]`

mod common;

use nnkit::data::{breast_cancer, Batch, DataLoader, SplitFractions};
use nnkit::layers::{BceWithLogitsLoss, Forward, Linear, LinearConfig, Module};
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;
use nnkit::train::{Accuracy, EarlyStopping, Evaluation, Mode, StepContext, Trainer};

/// The classes as the `[B, 1]` float targets binary cross-entropy takes.
fn targets(b: &Batch<f32>) -> Tensor<f32> {
    Tensor::from_vec(
        b.classes().iter().map(|&c| c as f32).collect(),
        &[b.len(), 1],
    )
}

fn main() {
    let args = common::Args::parse("logistic_regression", &["epochs", "lr", "batch-size"]);
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 200);
    let lr: f64 = args.get("lr", 0.01);
    let batch_size: usize = args.get("batch-size", 32);

    // Stratified 70 / 15 / 15 split, standardised on the training split only.
    let s = (breast_cancer().cast::<f32>().to_dataset())
        .split(SplitFractions::new(0.7, 0.15, 0.15), seed, true)
        .and_then(|s| s.standardised())
        .expect("a valid split");
    eprintln!(
        "breast cancer: {} train, {} validation, {} test samples, 30 features",
        s.train.len(),
        s.validation.len(),
        s.test.len()
    );

    let mut rng = Rng::seed_from(seed);
    let model: Linear<f32> = LinearConfig::new(30, 1)
        .init(&mut rng)
        .expect("linear layer");
    let mut opt = AdamConfig::new(lr)
        .init(model.named_parameters())
        .expect("Adam");
    let bce = BceWithLogitsLoss::new();
    let train = DataLoader::new(&s.train, batch_size)
        .expect("batch size")
        .shuffle(seed);
    let val = DataLoader::full_batch(&s.validation);
    let eval = |m: &Linear<f32>, b: &Batch<f32>| {
        let logits = m.forward(b.inputs());
        Evaluation::new(&bce.forward(&logits, targets(b)), &logits)
    };
    let step = |m: &Linear<f32>, b: &Batch<f32>, _: &mut StepContext<'_>| {
        bce.forward(&m.forward(b.inputs()), targets(b))
    };
    let mut trainer = Trainer::custom(&model, &mut opt, step, eval)
        .epochs(epochs)
        .seed(seed)
        .metric(Accuracy::new())
        .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 20, 1e-4).restore_best_weights());
    let report = trainer.fit(&train, &val).expect("training");

    let test = trainer
        .evaluate(&DataLoader::full_batch(&s.test))
        .expect("test evaluation");
    let acc = test["accuracy"];
    eprintln!(
        "best epoch {:?}; test loss {:.4}, test accuracy {:.2} %",
        report.best_epoch,
        test["loss"],
        100.0 * acc
    );
    println!(
        "{}",
        serde_json::json!({
            "example": "logistic_regression",
            "seed": seed,
            "test_accuracy": acc,
            "test_loss": test["loss"],
            "epochs_run": report.epochs_run,
            "best_epoch": report.best_epoch,
        })
    );
}
