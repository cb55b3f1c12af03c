//! An MLP GAN on MNIST (pixels scaled to `[-1, 1]`): generator 64-256-512-784
//! (LeakyReLU 0.2, Tanh), discriminator 784-512-256-1 (LeakyReLU 0.2),
//! non-saturating generator loss, one-sided label smoothing (real label 0.9),
//! Adam lr 2e-4 with betas (0.5, 0.999) for each player, batches of 64.
//! Writes a grid of samples from the same fixed noise after every epoch, and
//! reports both losses and the mean D(x), D(G(z)) per epoch.
//!
//! The samples' quality is measured, not eyeballed: a CNN trained with this
//! library on the real MNIST labels (the judge of `cgan_mnist`) classifies
//! 1,000 fresh samples after every epoch. `classifier_confidence` is its
//! mean top probability (clear digits score near 1, noise near 0.1);
//! `class_entropy` is the entropy in nats of the histogram of predicted
//! digits (ln 10 ≈ 2.303 when all digits are drawn equally often) and
//! `class_coverage` counts the digits given at least 1 % of the samples, so
//! a generator that collapsed onto a few digits shows it.
//!
//! ```text
//! cargo run --release -p nnkit --example gan_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod common;
mod mnist_judge;

use std::time::Instant;

use mnist_judge as judge;
use nnkit::generative::{train_two_player_epoch, Gan, GanConfig, GanTrainer, TwoPlayerSchedule};
use nnkit::prelude::*;

const NAME: &str = "gan_mnist";
const LATENT: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(NAME, &["data", "epochs", "out"]);
    let seed: u64 = args.get("seed", 0);
    let epochs: usize = args.get("epochs", 10);
    let out = args.figures_dir()?;

    // MNIST as [N, 784] pixels in [0, 1]; the judge learns the real labels.
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::ZeroToOne)?;
    println!("{NAME}: {mnist}");
    let (train, test) = (mnist.train, mnist.test);
    let (classifier, classifier_accuracy) = judge::train(NAME, &train, &test, seed)?;

    // Generator 64 → 256 → 512 → 784 ending in Tanh; discriminator
    // 784 → 512 → 256 → 1 (a logit); LeakyReLU 0.2 between layers.
    let mut rng = Rng::seed_from(seed);
    let leaky = LeakyRelu::new(0.2)?;
    let generator = Sequential::new()
        .append(LinearConfig::new(LATENT, 256).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(256, 512).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(512, 784).init(&mut rng)?)
        .append(Tanh);
    let discriminator = Sequential::new()
        .append(LinearConfig::new(784, 512).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(512, 256).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(256, 1).init(&mut rng)?);
    let gan = GanConfig::new(LATENT).with_label_smoothing(0.9).init(
        generator,
        discriminator,
        &mut rng,
    )?;
    // The GAN recipe's optimisers, one per player.
    let adam = AdamConfig::new(2e-4).with_betas(0.5, 0.999);
    let mut trainer = GanTrainer {
        gan: &gan,
        generator_optimizer: adam.init(gan.generator.named_parameters())?,
        discriminator_optimizer: adam.init(gan.discriminator.named_parameters())?,
        rng: rng.fork(),
    };
    println!(
        "{NAME}: generator {} and discriminator {} parameters",
        gan.generator.num_parameters(),
        gan.discriminator.num_parameters()
    );

    // The images scaled to [-1, 1] (the range of the generator's Tanh), in
    // shuffled batches of 64; the last, smaller batch is dropped so that
    // both players always see full ones.
    let images = MnistNormalization::MinusOneToOne.apply(&train.images);
    let data = train.into_dataset().with_features(images)?;
    let loader = DataLoader::new(data, 64)?.shuffle(seed).drop_last(true);
    let fixed_noise = gan.sample_noise(64, &mut rng);
    let start = Instant::now();
    let mut history = Vec::new();
    let mut quality = Vec::new();
    for epoch in 0..epochs {
        let batches = loader.epoch(epoch as u64).map(|b| b.map(|b| b.features));
        let e = train_two_player_epoch(&mut trainer, batches, TwoPlayerSchedule::default())?;
        // The same 1,000 noise vectors every epoch, so epochs compare.
        let q = sample_quality(&gan, &classifier, &mut Rng::seed_from(seed + 1))?;
        println!(
            "{NAME}: epoch {:>2}/{}  D loss {:.3}  G loss {:.3}  D(x) {:.3}  D(G(z)) {:.3}  judge confidence {:.3}  class entropy {:.3}  digits covered {}  {:.0} s",
            epoch + 1,
            epochs,
            e.discriminator_loss,
            e.generator_loss,
            e.d_real,
            e.d_fake,
            q.confidence,
            q.class_entropy,
            q.class_coverage,
            start.elapsed().as_secs_f64()
        );
        quality.push(q);
        let samples = gan.try_generate_from(&fixed_noise)?;
        let path = out.join(format!("gan_epoch_{:02}.png", epoch + 1));
        nnkit::train::figures::save_image_grid(&path, &samples.reshape([64, 28, 28]), 8, 2)?;
        println!("{NAME}: wrote {}", path.display());
        history.push(e);
    }
    let r = |x: f64| (x * 1e4).round() / 1e4;
    let last = history.last().copied().unwrap_or_default();
    let q = quality.last().copied().unwrap_or_default();
    let json = serde_json::json!({
            "example": NAME,
            "seed": seed,
            "epochs": epochs,
            "latent_dim": LATENT,
            "classifier_confidence": r(q.confidence),
            "class_entropy": r(q.class_entropy),
            "class_coverage": q.class_coverage,
            "class_histogram": q.histogram,
            "classifier": judge::DESCRIPTION,
            "classifier_test_accuracy": r(classifier_accuracy),
            "classifier_confidence_per_epoch": quality.iter().map(|q| r(q.confidence)).collect::<Vec<_>>(),
            "d_loss": r(last.discriminator_loss),
            "g_loss": r(last.generator_loss),
            "d_real": r(last.d_real),
            "d_fake": r(last.d_fake),
            "d_loss_per_epoch": history.iter().map(|e| r(e.discriminator_loss)).collect::<Vec<_>>(),
            "g_loss_per_epoch": history.iter().map(|e| r(e.generator_loss)).collect::<Vec<_>>(),
            "d_real_per_epoch": history.iter().map(|e| r(e.d_real)).collect::<Vec<_>>(),
            "d_fake_per_epoch": history.iter().map(|e| r(e.d_fake)).collect::<Vec<_>>(),
            "train_seconds": (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    println!("{json}");
    Ok(())
}

/// The judge's verdict on 1,000 samples from the generator.
fn sample_quality<G: Forward<f32>, D: Forward<f32>>(
    gan: &Gan<f32, G, D>,
    classifier: &Sequential<f32>,
    rng: &mut Rng,
) -> Result<judge::SampleQuality, nnkit::tensor::TensorError> {
    let samples = gan.try_generate(1000, rng)?;
    // Back from the generator's [-1, 1] to the classifier's [0, 1].
    let pixels = (samples + 1.0) * 0.5;
    Ok(judge::sample_quality(classifier, &pixels))
}
