//! Two lessons on the digits data (8×8 images, 10 classes).
//!
//! 1. Full-batch, stochastic and mini-batch gradient descent are one loop
//!    with three batch sizes (N, 1 and 32). On softmax regression we print
//!    the loss on the whole training set after every epoch and the wall time:
//!    full-batch makes one careful step per epoch, stochastic makes N noisy
//!    ones, mini-batch sits in between and uses the hardware best.
//! 2. Over-fitting: a far too large MLP (64-512-512-10) on a small training
//!    split drives its training loss to zero while the validation loss turns
//!    back up. Early stopping watches the validation loss, stops after
//!    `patience` epochs without improvement and restores the weights of the
//!    best epoch; we compare its test accuracy with training for all epochs.
//!    A fraction of the training labels is replaced by random ones
//!    (`--label-noise`, default 0.2): memorising them is exactly the
//!    "fitting noise" that hurts on new data.
//!
//! `cargo run --release -p nnkit --example gd_variants -- [--seed N] [--epochs N] [--overfit-epochs N] [--patience N] [--label-noise P]`

mod common;

use nnkit::data::{digits, DataLoader, SplitFractions, Splits, TensorDataset};
use nnkit::layers::{Linear, LinearConfig, Module, Relu, Sequential};
use nnkit::optim::{AdamConfig, SgdConfig};
use nnkit::prelude::*;
use nnkit::train::{EarlyStopping, FitReport, Mode, Trainer};

/// Softmax regression trained with plain SGD at the given batch size;
/// returns the training-set loss after each epoch and the seconds taken.
fn descend(
    train: &TensorDataset<f32>,
    batch: usize,
    lr: f64,
    epochs: usize,
    seed: u64,
) -> (Vec<f64>, f64) {
    let mut rng = Rng::seed_from(seed);
    let model: Linear<f32> = LinearConfig::new(64, 10)
        .init(&mut rng)
        .expect("linear layer");
    let mut opt = SgdConfig::new(lr)
        .init(model.named_parameters())
        .expect("SGD");
    let loader = DataLoader::new(train, batch)
        .expect("batch size")
        .shuffle(seed);
    // The "validation" pass runs over the training set itself: what we
    // compare here is how fast each variant minimises the training loss.
    let whole = DataLoader::full_batch(train);
    let report = Trainer::classification(&model, &mut opt)
        .epochs(epochs)
        .seed(seed)
        .quiet()
        .fit(&loader, &whole)
        .expect("training");
    (
        report.history.series("val_loss"),
        report.history.series("seconds").iter().sum(),
    )
}

/// Stratified `(train, validation, test)` splits of the digits with
/// features standardised on the training split.
fn digit_splits(fractions: (f64, f64, f64), seed: u64) -> Splits<f32> {
    let (a, b, c) = fractions;
    (digits().cast::<f32>().to_dataset())
        .split(SplitFractions::new(a, b, c), seed, true)
        .and_then(|s| s.standardised())
        .expect("a valid split")
}

/// A far too large MLP for 180 samples: 64-512-512-10.
fn big_mlp(seed: u64) -> Sequential<f32> {
    let mut rng = Rng::seed_from(seed);
    let mut linear = |i, o| {
        LinearConfig::new(i, o)
            .init(&mut rng)
            .expect("linear layer")
    };
    Sequential::new()
        .append(linear(64, 512))
        .append(Relu)
        .append(linear(512, 512))
        .append(Relu)
        .append(linear(512, 10))
}

/// Trains the big MLP (same initial weights every time) and returns the
/// report and the test accuracy.
fn overfit(
    s: &Splits<f32>,
    epochs: usize,
    early_stopping: Option<EarlyStopping>,
    seed: u64,
) -> (FitReport, f64) {
    let model = big_mlp(seed);
    let mut opt = AdamConfig::new(1e-3)
        .init(model.named_parameters())
        .expect("Adam");
    let train = DataLoader::new(&s.train, 16)
        .expect("batch size")
        .shuffle(seed);
    let val = DataLoader::full_batch(&s.validation);
    let mut trainer = Trainer::classification(&model, &mut opt)
        .epochs(epochs)
        .seed(seed)
        .quiet();
    if let Some(es) = early_stopping {
        trainer = trainer.early_stopping(es.restore_best_weights());
    }
    let report = trainer.fit(&train, &val).expect("training");
    let test = trainer
        .evaluate(&DataLoader::full_batch(&s.test))
        .expect("test evaluation");
    (report, test["accuracy"])
}

fn main() {
    let args = common::Args::parse(
        "gd_variants",
        &["epochs", "overfit-epochs", "patience", "label-noise"],
    );
    let label_noise: f64 = args.get("label-noise", 0.2);
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 15);
    let overfit_epochs: usize = args.get("overfit-epochs", 150);
    let patience: usize = args.get("patience", 10);

    // Part 1: three batch sizes on one problem.
    let s = digit_splits((0.8, 0.0, 0.2), seed);
    let n = s.train.len();
    eprintln!("Part 1: softmax regression on digits, {n} training samples, plain SGD");
    let variants = [
        ("full_batch", n, 0.5),
        ("stochastic", 1, 0.01),
        ("mini_batch", 32, 0.1),
    ];
    let runs: Vec<(Vec<f64>, f64)> = variants
        .iter()
        .map(|&(name, batch, lr)| {
            eprintln!(
                "  {name}: batch size {batch}, lr {lr}, {} updates per epoch",
                n.div_ceil(batch)
            );
            descend(&s.train, batch, lr, epochs, seed)
        })
        .collect();
    eprintln!("  training loss after each epoch:");
    eprintln!(
        "  {:>5} {:>12} {:>12} {:>12}",
        "epoch", "full-batch", "stochastic", "mini-batch"
    );
    for e in 0..epochs {
        eprintln!(
            "  {:>5} {:>12.4} {:>12.4} {:>12.4}",
            e + 1,
            runs[0].0[e],
            runs[1].0[e],
            runs[2].0[e]
        );
    }
    eprintln!(
        "  wall time: full-batch {:.3} s, stochastic {:.3} s, mini-batch {:.3} s",
        runs[0].1, runs[1].1, runs[2].1
    );

    // Part 2: over-fitting and early stopping.
    let mut s = digit_splits((0.1, 0.3, 0.6), seed);
    let mut rng = Rng::seed_from(seed ^ 0x5eed);
    let noisy: Vec<usize> = s
        .train
        .classes()
        .expect("class targets")
        .iter()
        .map(|&c| {
            if rng.uniform_f64() < label_noise {
                rng.below(10)
            } else {
                c
            }
        })
        .collect();
    let flipped = noisy
        .iter()
        .zip(s.train.classes().expect("class targets"))
        .filter(|(a, b)| a != b)
        .count();
    s.train = TensorDataset::classification(s.train.features().clone(), noisy).expect("same rows");
    eprintln!(
        "Part 2: MLP 64-512-512-10 ({} parameters) on {} training samples, {flipped} with a wrong label ({} validation, {} test)",
        big_mlp(seed).num_parameters(),
        s.train.len(),
        s.validation.len(),
        s.test.len()
    );
    let (all, acc_all) = overfit(&s, overfit_epochs, None, seed);
    let val = all.history.series("val_loss");
    let train = all.history.series("train_loss");
    for e in (0..val.len()).filter(|e| e % 10 == 0 || *e + 1 == val.len()) {
        eprintln!(
            "  epoch {:>4}: train loss {:.4}, validation loss {:.4}",
            e + 1,
            train[e],
            val[e]
        );
    }
    let argmin = (0..val.len())
        .min_by(|&a, &b| val[a].total_cmp(&val[b]))
        .unwrap_or(0);
    let es = EarlyStopping::new("val_loss", Mode::Min, patience, 0.0);
    let (early, acc_early) = overfit(&s, overfit_epochs, Some(es), seed);
    let best = early.best_epoch.unwrap_or(0);
    let stopped = early.stopped_epoch.unwrap_or(early.epochs_run);
    let lowest = argmin + 1; // epochs are numbered from 1, as in the report
    eprintln!(
        "  validation loss is lowest after epoch {lowest}; early stopping (patience {patience}) stopped after epoch {stopped} and restored epoch {best}"
    );
    eprintln!(
        "  test accuracy: {:.2} % with early stopping, {:.2} % after all {} epochs",
        100.0 * acc_early,
        100.0 * acc_all,
        all.epochs_run
    );
    println!(
        "{}",
        serde_json::json!({
            "example": "gd_variants",
            "seed": seed,
            "epochs": epochs,
            "final_train_loss": {
                "full_batch": runs[0].0.last(),
                "stochastic": runs[1].0.last(),
                "mini_batch": runs[2].0.last(),
            },
            "seconds": {
                "full_batch": runs[0].1,
                "stochastic": runs[1].1,
                "mini_batch": runs[2].1,
            },
            "stopped_epoch": stopped,
            "best_epoch": best,
            "best_validation_epoch_all_epochs_run": lowest,
            "test_accuracy_early_stopping": acc_early,
            "test_accuracy_all_epochs": acc_all,
            "epochs_all": all.epochs_run,
            "label_noise": label_noise,
        })
    );
}
