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

mod generative_cli;
mod mnist_judge;

use std::time::Instant;

use generative_cli as cli;
use mnist_judge as judge;
use nnkit::generative::{train_two_player_epoch, Gan, GanConfig, GanTrainer, TwoPlayerSchedule};
use nnkit::layers::{Forward, LeakyRelu, Module, Sequential, Tanh};
use nnkit::prelude::Rng;

const NAME: &str = "gan_mnist";
const LATENT: usize = 64;

fn main() {
    let (args, train, test) = cli::setup(NAME, 10);
    let (classifier, classifier_accuracy) = judge::train(NAME, &train, &test, args.seed);

    let mut rng = Rng::seed_from(args.seed);
    let leaky = LeakyRelu::new(0.2).unwrap_or_else(|e| cli::fail(NAME, e));
    let generator = cli::mlp(NAME, &[LATENT, 256, 512, 784], leaky, &mut rng).append(Tanh);
    let discriminator = cli::mlp(NAME, &[784, 512, 256, 1], leaky, &mut rng);
    let gan = GanConfig::new(LATENT)
        .with_label_smoothing(0.9)
        .init(generator, discriminator)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    let (generator_optimizer, discriminator_optimizer) =
        cli::gan_optimizers(NAME, &gan.generator, &gan.discriminator);
    let mut trainer = GanTrainer {
        gan: &gan,
        generator_optimizer,
        discriminator_optimizer,
        rng: rng.fork(),
    };
    println!(
        "{NAME}: generator {} and discriminator {} parameters",
        gan.generator.num_parameters(),
        gan.discriminator.num_parameters()
    );

    let loader = cli::gan_batches(NAME, train, args.seed);
    let fixed_noise = gan.sample_noise(64, &mut rng);
    let start = Instant::now();
    let mut history = Vec::new();
    let mut quality = Vec::new();
    for epoch in 0..args.epochs {
        let batches = loader.epoch(epoch as u64).map(|b| b.map(|b| b.features));
        let e = train_two_player_epoch(&mut trainer, batches, TwoPlayerSchedule::default())
            .unwrap_or_else(|e: nnkit::data::DataError| cli::fail(NAME, e));
        // The same 1,000 noise vectors every epoch, so epochs compare.
        let q = sample_quality(&gan, &classifier, &mut Rng::seed_from(args.seed + 1));
        println!(
            "{NAME}: epoch {:>2}/{}  D loss {:.3}  G loss {:.3}  D(x) {:.3}  D(G(z)) {:.3}  judge confidence {:.3}  class entropy {:.3}  digits covered {}  {:.0} s",
            epoch + 1,
            args.epochs,
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
        let samples = gan
            .try_generate_from(&fixed_noise)
            .unwrap_or_else(|e| cli::fail(NAME, e));
        cli::save_grid(
            NAME,
            &args.out.join(format!("gan_epoch_{:02}.png", epoch + 1)),
            &samples,
            8,
        );
        history.push(e);
    }
    let r = |x: f64| (x * 1e4).round() / 1e4;
    let last = history.last().copied().unwrap_or_default();
    let q = quality.last().copied().unwrap_or_default();
    cli::report(
        NAME,
        &args,
        serde_json::json!({
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
        }),
    );
}

/// The judge's verdict on 1,000 samples from the generator.
fn sample_quality<G, D>(
    gan: &Gan<f32, G, D>,
    classifier: &Sequential<f32>,
    rng: &mut Rng,
) -> judge::SampleQuality
where
    G: Forward<f32>,
    D: Forward<f32>,
{
    let samples = gan
        .try_generate(1000, rng)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    // Back from the generator's [-1, 1] to the classifier's [0, 1].
    let pixels = (samples + 1.0) * 0.5;
    judge::sample_quality(classifier, &pixels)
}
