//! Memory does not grow from epoch to epoch: the graph of a training step
//! (every activation it keeps for backward) is freed when the step ends.
//!
//! Measured as this process's resident set (`/proc/self/statm`, Linux only)
//! after each epoch. This file holds one test, so its binary runs nothing
//! else at the same time. A step that leaked its graph would add megabytes
//! per step (the W2 MLP keeps about 1 MB of activations per batch of 128,
//! LeNet-5 about 4 MB per batch of 64); the bound tolerates allocator noise
//! of a few MB but not that.

#![cfg(target_os = "linux")]

use nn::conv::layers::LeNet5Config;
use nn::prelude::*;

/// Resident set size of this process in bytes.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm's second field");
    // The page size on every Linux this runs on (x86-64, aarch64 with 4 kB pages);
    // a larger page would only make the bound looser.
    pages * 4096
}

fn synthetic(n: usize, shape: &[usize]) -> TensorDataset<f32> {
    let mut rng = Rng::seed_from(3);
    let mut full = vec![n];
    full.extend_from_slice(shape);
    let x = Tensor::<f32>::rand_uniform(&full, -1.0, 1.0, &mut rng);
    let y = (0..n).map(|i| i % 10).collect();
    TensorDataset::classification(x, y).unwrap()
}

/// Trains for `epochs` epochs and returns the resident set after each.
fn rss_per_epoch<M: Forward<f32>>(
    model: &M,
    data: &TensorDataset<f32>,
    batch: usize,
    epochs: u64,
) -> Vec<usize> {
    let mut opt = AdamConfig::new(1e-3)
        .init(model.named_parameters())
        .unwrap();
    let loader = DataLoader::new(data, batch).unwrap().shuffle(1);
    (0..epochs)
        .map(|epoch| {
            for b in loader.epoch(epoch) {
                let b = b.unwrap();
                let logits = model.forward(&Var::constant(b.features.clone()));
                let loss = CrossEntropyLoss::default().forward(&logits, b.classes());
                opt.step(&loss.backward());
            }
            rss_bytes()
        })
        .collect()
}

/// Growth of the resident set after the warm-up epochs (allocator pools
/// and optimiser state fill up in the first ones).
fn growth(rss: &[usize]) -> isize {
    let after_warmup = rss[2];
    rss[3..].iter().max().copied().unwrap_or(after_warmup) as isize - after_warmup as isize
}

#[test]
fn training_memory_does_not_grow_from_epoch_to_epoch() {
    const MB: f64 = 1024.0 * 1024.0;
    let mb = |v: &[usize]| {
        v.iter()
            .map(|&b| format!("{:.1}", b as f64 / MB))
            .collect::<Vec<_>>()
    };

    // The W2 MLP: 20 steps of 128 per epoch, 10 epochs.
    let mut rng = Rng::seed_from(0);
    let mlp = Sequential::<f32>::new()
        .append(LinearConfig::new(784, 256).init(&mut rng).unwrap())
        .append(Relu)
        .append(DropoutConfig::new(0.1).init(&mut rng).unwrap())
        .append(LinearConfig::new(256, 128).init(&mut rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(128, 10).init(&mut rng).unwrap());
    let rss = rss_per_epoch(&mlp, &synthetic(20 * 128, &[784]), 128, 10);
    eprintln!("MLP resident set per epoch, MB: {:?}", mb(&rss));
    assert!(
        growth(&rss) < 4 << 20,
        "MLP: resident set grew by {:.1} MB after the warm-up epochs: {:?} MB",
        growth(&rss) as f64 / MB,
        mb(&rss)
    );

    // The W3 LeNet-5 (with batch norm): 8 steps of 64 per epoch, 8 epochs.
    let lenet = LeNet5Config::new(1, 10)
        .with_batch_norm(true)
        .init::<f32>(&mut Rng::seed_from(1))
        .unwrap();
    let rss = rss_per_epoch(&lenet, &synthetic(8 * 64, &[1, 28, 28]), 64, 8);
    eprintln!("LeNet-5 resident set per epoch, MB: {:?}", mb(&rss));
    assert!(
        growth(&rss) < 8 << 20,
        "LeNet-5: resident set grew by {:.1} MB after the warm-up epochs: {:?} MB",
        growth(&rss) as f64 / MB,
        mb(&rss)
    );
}
