//! Softmax regression (multinomial logistic regression): one linear layer
//! producing a logit per class, trained with cross-entropy, on iris (4
//! features, 3 classes) and on the 8×8 digits (64 features, 10 classes).
//!
//! `cargo run --release -p nn --example softmax_regression -- [--seed N] [--epochs N]`

mod common;

use nn::data::{digits, iris, Batch, Classification, DataLoader};
use nn::optim::AdamConfig;
use nn::prelude::*;
use nn_layers::{CrossEntropyLoss, Forward, Linear, LinearConfig, Module};
use nn_train::{evaluate, Accuracy, EarlyStopping, Evaluation, Metric, Mode, Trainer};

/// Trains softmax regression on `data` and returns the test accuracy.
fn softmax_regression(name: &str, data: &Classification, seed: u64, epochs: usize, lr: f64) -> f64 {
    let s = common::standardised_splits(data, (0.6, 0.2, 0.2), seed);
    let (features, classes) = (s.train.features().shape()[1], data.num_classes());
    eprintln!(
        "{name}: {} train, {} validation, {} test samples; {features} features, {classes} classes",
        s.train.len(),
        s.validation.len(),
        s.test.len()
    );
    let mut rng = Rng::seed_from(seed);
    let model: Linear<f32> = LinearConfig::new(features, classes)
        .init(&mut rng)
        .expect("linear layer");
    let mut opt = AdamConfig::new(lr).init(model.named_parameters()).expect("Adam");
    let ce = CrossEntropyLoss::default();
    let train = DataLoader::new(&s.train, 32).expect("batch size").shuffle(seed);
    let val = DataLoader::full_batch(&s.validation);
    let eval = |m: &Linear<f32>, b: &Batch<f32>| {
        let logits = m.forward(&Var::constant(b.features.clone()));
        Evaluation::new(&ce.forward(&logits, b.classes()), &logits)
    };
    let report = Trainer::new(epochs)
        .seed(seed)
        .metric(Accuracy::new())
        .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 20, 1e-4), true)
        .fit(
            &model,
            &mut opt,
            &train,
            Some(&val),
            |m, b, _| ce.forward(&m.forward(&Var::constant(b.features.clone())), b.classes()),
            eval,
        )
        .expect("training");
    let mut metrics: Vec<Box<dyn Metric<f32>>> = vec![Box::new(Accuracy::new())];
    let test = evaluate(&model, &DataLoader::full_batch(&s.test), eval, &mut metrics)
        .expect("test evaluation");
    eprintln!(
        "{name}: best epoch {:?} of {}; test accuracy {:.2} %",
        report.best_epoch,
        report.epochs_run,
        100.0 * test["accuracy"]
    );
    test["accuracy"]
}

fn main() {
    let args = common::Args::parse("softmax_regression", &["epochs", "lr"]);
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 200);
    let lr: f64 = args.get("lr", 0.01);
    let iris_acc = softmax_regression("iris", &iris(), seed, epochs, lr);
    let digits_acc = softmax_regression("digits", &digits(), seed, epochs, lr);
    common::print_result(serde_json::json!({
        "example": "softmax_regression",
        "seed": seed,
        "iris_test_accuracy": iris_acc,
        "digits_test_accuracy": digits_acc,
    }));
}
