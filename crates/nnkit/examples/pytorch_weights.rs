//! Weights trained by PyTorch, run by this library: loads
//! `fixtures/pretrained/<model>.safetensors` (PyTorch `state_dict` names;
//! `--pretrained DIR` or `NN_PRETRAINED=DIR` for another folder)
//! into the library's own model, evaluates the whole MNIST test set with the
//! preprocessing PyTorch used, and compares with `<model>.expected.json`:
//! the number of correct answers must be equal, and the first logits and
//! predictions must agree.
//!
//! Models: `mlp_mnist` (an MLP on flattened images) and `lenet_bn_mnist`
//! (LeNet-5 with batch norm on `[N, 1, 28, 28]` images, run in eval mode on
//! the running statistics and counters stored in the file).
//!
//! `cargo run --release -p nnkit --example pytorch_weights -- --model mlp_mnist|lenet_bn_mnist [--data DIR] [--pretrained DIR] [--seed N]`

mod common;

use std::path::PathBuf;

use nnkit::conv::layers::LeNet5Config;
use nnkit::layers::serialize;
use nnkit::layers::{Forward, LoadMode, Module, Relu, Sequential};
use nnkit::prelude::*;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("pytorch_weights: {msg}");
    std::process::exit(1)
}

/// `nn.Sequential(Linear(784,256), ReLU, Linear(256,128), ReLU, Linear(128,10))`:
/// the same layer indices, hence the same `state_dict` names (`0.weight`, …).
fn mlp_mnist(seed: u64) -> Sequential<f32> {
    let mut rng = Rng::seed_from(seed);
    let mut linear = |i, o| {
        LinearConfig::new(i, o)
            .init(&mut rng)
            .expect("linear layer")
    };
    Sequential::new()
        .append(linear(784, 256))
        .append(Relu)
        .append(linear(256, 128))
        .append(Relu)
        .append(linear(128, 10))
}

/// PyTorch's LeNet-5 with `BatchNorm2d` after each convolution: children
/// `conv1`, `bn1`, `conv2`, `bn2`, `fc1`, `fc2`, `fc3`, as in the file.
fn lenet_bn_mnist(seed: u64) -> nnkit::conv::layers::LeNet5<f32> {
    LeNet5Config::new(1, 10)
        .with_batch_norm(true)
        .init(&mut Rng::seed_from(seed))
        .expect("LeNet-5")
}

/// The model named `name` with random initial weights, and the image layout it reads.
fn build(name: &str, seed: u64) -> (Box<dyn Forward<f32>>, ImageLayout) {
    match name {
        "mlp_mnist" => (Box::new(mlp_mnist(seed)), ImageLayout::Flat),
        "lenet_bn_mnist" => (Box::new(lenet_bn_mnist(seed)), ImageLayout::Nchw),
        other => fail(format!(
            "unknown --model `{other}` (available: mlp_mnist, lenet_bn_mnist)"
        )),
    }
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_f64())
                .map(|x| x as f32)
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    let args = common::Args::parse("pytorch_weights", &["model", "data", "pretrained"]);
    let seed = args.seed();
    let name = args.text("model").unwrap_or("mlp_mnist");
    // Random initial weights (from --seed), every one of which the file must replace.
    let (model, layout) = build(name, seed);
    let pretrained = args
        .text("pretrained")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("NN_PRETRAINED").map(PathBuf::from))
        .unwrap_or_else(|| common::workspace_root().join("fixtures/pretrained"));
    let weights = pretrained.join(format!("{name}.safetensors"));
    let expected_path = pretrained.join(format!("{name}.expected.json"));
    let expected: serde_json::Value = std::fs::read_to_string(&expected_path)
        .map_err(|e| format!("{}: {e}", expected_path.display()))
        .and_then(|t| {
            serde_json::from_str(&t).map_err(|e| format!("{}: {e}", expected_path.display()))
        })
        .unwrap_or_else(|e| fail(e));
    eprintln!(
        "{name}: {}",
        expected["description"]
            .as_str()
            .unwrap_or("(no description)")
    );
    eprintln!(
        "preprocessing: {}",
        expected["preprocessing"].as_str().unwrap_or("(not given)")
    );

    let report = serialize::load(&*model, &weights, LoadMode::Strict)
        .unwrap_or_else(|e| fail(format!("{}: {e}", weights.display())));
    eprintln!("loaded {}: {report}", weights.display());
    model.eval();

    // pixel/255 (done by the loader), then (x - 0.1307) / 0.3081; flattened
    // row-major for the MLP, [N, 1, 28, 28] for LeNet.
    let dir = common::mnist_dir(&args);
    let test = load_mnist(Some(&dir), MnistSplit::Test, layout).unwrap_or_else(|e| fail(e));
    let x = MnistNormalization::MeanStd.apply(&test.images);
    let n = test.len();

    let mut predictions = Vec::with_capacity(n);
    let mut first_logits = Vec::new();
    no_grad(|| {
        for start in (0..n).step_by(1000) {
            let len = 1000.min(n - start);
            let batch = x.narrow(0, start, len);
            let logits = model.forward(batch).value().clone();
            if start == 0 {
                first_logits = logits.narrow(0, 0, 32.min(len)).to_vec();
            }
            predictions.extend(logits.argmax(1));
        }
    });
    let test_correct = predictions
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| p == l)
        .count();
    let expected_correct = expected["test_correct"].as_u64().unwrap_or(u64::MAX) as usize;

    // The finer checks: the first 32 rows of logits and the first 1000 predictions.
    let want_logits = f32s(&expected["logits_first_32"]["data"]);
    let max_logit_diff = first_logits
        .iter()
        .zip(&want_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let want_pred: Vec<usize> = expected["predictions_first_1000"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as usize)
                .collect()
        })
        .unwrap_or_default();
    let pred_agree = predictions
        .iter()
        .zip(&want_pred)
        .filter(|(a, b)| a == b)
        .count();
    eprintln!(
        "test set: {test_correct} / {n} correct here, {expected_correct} in PyTorch; \
         first 32 logits differ by at most {max_logit_diff:.2e}; \
         first {} predictions agree on {pred_agree}",
        want_pred.len()
    );
    let ok = test_correct == expected_correct
        && want_logits.len() == first_logits.len()
        && pred_agree == want_pred.len();
    println!(
        "{}",
        serde_json::json!({
            "example": "pytorch_weights",
            "model": name,
            "seed": seed,
            "test_correct": test_correct,
            "expected_correct": expected_correct,
            "equal": test_correct == expected_correct,
            "test_accuracy": test_correct as f64 / n as f64,
            "max_abs_logit_diff_first_32": max_logit_diff,
            "predictions_agree_first_1000": pred_agree,
        })
    );
    if !ok {
        fail("the results differ from PyTorch's");
    }
}
