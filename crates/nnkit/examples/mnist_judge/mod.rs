//! The judge of the GAN examples (`gan_mnist`, `cgan_mnist`): a small CNN
//! trained with this library on the real MNIST labels, which then scores
//! generated digits.
//!
//! * `cgan_mnist` asks it whether each sample shows the digit that was asked
//!   for (`classifier_agreement`);
//! * `gan_mnist` asks how sure it is about each sample and which digits the
//!   samples cover ([`SampleQuality`]), a small-scale cousin of the Inception
//!   score: sharp, recognisable digits get confident predictions, and a
//!   generator that collapsed onto a few modes leaves digits out.

#![allow(dead_code)] // each example uses a different part

use nnkit::conv::layers::{Conv2dConfig, MaxPool2dConfig};
use nnkit::data::{DataLoader, Mnist};
use nnkit::layers::{Flatten, Forward, LinearConfig, Module, Relu, Sequential};
use nnkit::optim::AdamConfig;
use nnkit::prelude::{no_grad, Rng, Tensor};

/// A description of the judge for the JSON line.
pub const DESCRIPTION: &str = "cnn conv3x3x16-pool-conv3x3x32-pool-linear";

/// A share of the samples at least this large counts a digit as covered
/// (10 of 1,000 samples).
pub const COVERAGE_SHARE: f64 = 0.01;

/// The judge: a small CNN (conv 3×3 ×16, pool, conv 3×3 ×32, pool, linear
/// 1568 → 10; ReLU) trained for 2 epochs on the real training images
/// (pixels in [0, 1]); says how it did, and returns it with its test
/// accuracy.
pub fn train(
    name: &str,
    train: &Mnist,
    test: &Mnist,
    seed: u64,
) -> Result<(Sequential<f32>, f64), Box<dyn std::error::Error>> {
    let start = std::time::Instant::now();
    let mut rng = Rng::seed_from(seed ^ 0xC1A5);
    let conv = |i, o, rng: &mut Rng| Conv2dConfig::new(i, o, 3).with_padding(1).init(rng);
    let pool = |rng: &mut Rng| MaxPool2dConfig::new(2).init(rng);
    let model = Sequential::new()
        .append(conv(1, 16, &mut rng)?)
        .append(Relu)
        .append(pool(&mut rng)?)
        .append(conv(16, 32, &mut rng)?)
        .append(Relu)
        .append(pool(&mut rng)?)
        .append(Flatten::default())
        .append(LinearConfig::new(32 * 7 * 7, 10).init(&mut rng)?);
    let mut opt = AdamConfig::new(1e-3).init(model.named_parameters())?;
    let loader = DataLoader::new(train.clone().into_dataset(), 128)?.shuffle(seed);
    for epoch in 0..2 {
        for batch in loader.epoch(epoch) {
            let batch = batch?;
            let logits = model.forward(as_images(&batch.features));
            let loss = logits.cross_entropy(batch.targets());
            opt.step(&loss.backward());
        }
    }
    let predicted = predict(&model, &test.images);
    let hits = predicted
        .iter()
        .zip(&test.labels)
        .filter(|((digit, _), label)| digit == *label)
        .count();
    let accuracy = hits as f64 / test.labels.len().max(1) as f64;
    println!(
        "{name}: judge classifier (CNN) test accuracy {accuracy:.4}  {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok((model, accuracy))
}

/// `[N, 784]` → `[N, 1, 28, 28]`.
fn as_images(flat: &Tensor<f32>) -> Tensor<f32> {
    flat.reshape([flat.shape()[0], 1, 28, 28])
}

/// The judge's digit and its probability for each row of `[N, 784]` pixels
/// in [0, 1], evaluated in chunks of 1,000.
pub fn predict(model: &Sequential<f32>, pixels: &Tensor<f32>) -> Vec<(usize, f64)> {
    let n = pixels.shape()[0];
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = 1000.min(n - start);
        let x = as_images(&pixels.narrow(0, start, len));
        let probs = no_grad(|| model.forward(x).softmax(1));
        for row in probs.value().to_f64_vec().chunks(10) {
            let (digit, p) =
                row.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (d, &p)| {
                        if p > best.1 {
                            (d, p)
                        } else {
                            best
                        }
                    });
            out.push((digit, p));
        }
        start += len;
    }
    out
}

/// The fraction of samples the judge labels as the digit asked for.
pub fn agreement(model: &Sequential<f32>, pixels: &Tensor<f32>, asked: &[usize]) -> f64 {
    let predicted = predict(model, pixels);
    let hits = predicted
        .iter()
        .zip(asked)
        .filter(|((digit, _), want)| digit == *want)
        .count();
    hits as f64 / asked.len().max(1) as f64
}

/// What the judge thinks of a set of unconditional samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleQuality {
    /// The mean over samples of the judge's top probability: near 1 for
    /// clear digits, near 0.1 for noise.
    pub confidence: f64,
    /// The entropy (nats) of the histogram of predicted digits: ln 10 ≈ 2.303
    /// when every digit is drawn equally often, 0 after a collapse onto one.
    pub class_entropy: f64,
    /// The digits that get at least [`COVERAGE_SHARE`] of the samples.
    pub class_coverage: usize,
    /// How many samples the judge gave each digit.
    pub histogram: [usize; 10],
}

/// Scores `[N, 784]` samples with pixels in [0, 1].
pub fn sample_quality(model: &Sequential<f32>, pixels: &Tensor<f32>) -> SampleQuality {
    let predicted = predict(model, pixels);
    let n = predicted.len().max(1) as f64;
    let mut histogram = [0usize; 10];
    for &(digit, _) in &predicted {
        histogram[digit] += 1;
    }
    let shares = histogram.map(|c| c as f64 / n);
    SampleQuality {
        confidence: predicted.iter().map(|&(_, p)| p).sum::<f64>() / n,
        class_entropy: shares
            .iter()
            .filter(|&&s| s > 0.0)
            .map(|&s| -s * s.ln())
            .sum(),
        class_coverage: shares.iter().filter(|&&s| s >= COVERAGE_SHARE).count(),
        histogram,
    }
}
