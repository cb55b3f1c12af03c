//! A conditional GAN on MNIST (pixels scaled to `[-1, 1]`): the digit's
//! learned 10-dimensional embedding joins the noise at the generator's
//! input (74-256-512-784, LeakyReLU 0.2, Tanh) and the image at the
//! discriminator's (794-512-256-1, LeakyReLU 0.2); non-saturating loss,
//! real label 0.9, Adam lr 2e-4 with betas (0.5, 0.999), batches of 64.
//!
//! Conditioning is measured, not eyeballed: a classifier trained with this
//! library on the real MNIST labels classifies 1,000 generated samples
//! (100 asked for each digit), and `classifier_agreement` is the fraction
//! it labels as the digit that was asked for. Writes a PNG with one row per
//! digit after every epoch.
//!
//! ```text
//! cargo run --release -p nnkit --example cgan_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod common;
mod mnist_judge;

use std::time::Instant;

use mnist_judge as judge;
use nnkit::generative::{
    train_two_player_epoch, ConditionalGan, ConditionalGanConfig, ConditionalGanTrainer,
    LabelEncoding, TwoPlayerSchedule,
};
use nnkit::prelude::*;

const NAME: &str = "cgan_mnist";
const LATENT: usize = 64;
const EMBED: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(NAME, &["data", "epochs", "out"]);
    let seed: u64 = args.get("seed", 0);
    let epochs: usize = args.get("epochs", 15);
    let out = args.figures_dir()?;

    // MNIST as [N, 784] pixels in [0, 1] with their labels.
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::ZeroToOne)?;
    println!("{NAME}: {mnist}");
    let (train, test) = (mnist.train, mnist.test);
    // The clock starts before the judge: `train_seconds` includes its training.
    let start = Instant::now();
    let (classifier, classifier_accuracy) = judge::train(NAME, &train, &test, seed)?;

    // Generator (64 + 10) → 256 → 512 → 784 ending in Tanh; discriminator
    // (784 + 10) → 512 → 256 → 1; LeakyReLU 0.2 between layers. Each
    // player reads the digit's learned embedding next to its input.
    let mut rng = Rng::seed_from(seed);
    let leaky = LeakyRelu::new(0.2)?;
    let generator = Sequential::new()
        .append(LinearConfig::new(LATENT + EMBED, 256).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(256, 512).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(512, 784).init(&mut rng)?)
        .append(Tanh);
    let discriminator = Sequential::new()
        .append(LinearConfig::new(784 + EMBED, 512).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(512, 256).init(&mut rng)?)
        .append(leaky)
        .append(LinearConfig::new(256, 1).init(&mut rng)?);
    let cgan = ConditionalGanConfig::new(LATENT, 10)
        .with_label_encoding(LabelEncoding::Embedding { dim: EMBED })
        .with_label_smoothing(0.9)
        .init(generator, discriminator, &mut rng)?;
    // The GAN recipe's optimisers, one per player.
    let adam = AdamConfig::new(2e-4).with_betas(0.5, 0.999);
    let generator_optimizer = adam.init(cgan.generator.named_parameters())?;
    let discriminator_optimizer = adam.init(cgan.discriminator.named_parameters())?;
    let mut trainer = ConditionalGanTrainer {
        gan: &cgan,
        generator_optimizer,
        discriminator_optimizer,
        rng: rng.fork(),
    };

    // The images scaled to [-1, 1] (the range of the generator's Tanh) with
    // their labels, in shuffled batches of 64; the last, smaller batch is
    // dropped so that both players always see full ones.
    let images = MnistNormalization::MinusOneToOne.apply(&train.images);
    let data = train.into_dataset().with_features(images)?;
    let loader = DataLoader::new(data, 64)?.shuffle(seed).drop_last(true);
    // One row per digit, 10 samples each, from fixed noise.
    let grid_labels: Vec<usize> = (0..10).flat_map(|d| [d; 10]).collect();
    let grid_seed = rng.next_u64();
    let mut last = Default::default();
    let mut agreement = f64::NAN;
    for epoch in 0..epochs {
        let batches = loader
            .epoch(epoch as u64)
            .map(|b| b.map(|b| (b.features.clone(), b.classes().to_vec())));
        last = train_two_player_epoch(&mut trainer, batches, TwoPlayerSchedule::default())?;
        agreement = classifier_agreement(&cgan, &classifier, &mut Rng::seed_from(seed + 1))?;
        println!(
            "{NAME}: epoch {:>2}/{}  D loss {:.3}  G loss {:.3}  D(x) {:.3}  D(G(z)) {:.3}  classifier agreement {:.3}  {:.0} s",
            epoch + 1,
            epochs,
            last.discriminator_loss,
            last.generator_loss,
            last.d_real,
            last.d_fake,
            agreement,
            start.elapsed().as_secs_f64()
        );
        let samples = cgan.try_generate(&grid_labels, &mut Rng::seed_from(grid_seed))?;
        let path = out.join(format!("cgan_epoch_{:02}.png", epoch + 1));
        nnkit::train::figures::save_image_grid(&path, &samples.reshape([100, 28, 28]), 10, 2)?;
        println!("{NAME}: wrote {}", path.display());
    }
    let r = |x: f64| (x * 1e4).round() / 1e4;
    let json = serde_json::json!({
            "example": NAME,
            "seed": seed,
            "epochs": epochs,
            "classifier_agreement": r(agreement),
            "classifier": judge::DESCRIPTION,
            "classifier_test_accuracy": r(classifier_accuracy),
            "d_loss": r(last.discriminator_loss),
            "g_loss": r(last.generator_loss),
            "d_real": r(last.d_real),
            "d_fake": r(last.d_fake),
            "train_seconds": (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    println!("{json}");
    Ok(())
}

/// The fraction of 1,000 samples (100 asked for each digit) that the
/// classifier labels as the digit asked for.
fn classifier_agreement<G: Forward<f32>, D: Forward<f32>>(
    cgan: &ConditionalGan<f32, G, D>,
    classifier: &Sequential<f32>,
    rng: &mut Rng,
) -> Result<f64, nnkit::tensor::TensorError> {
    let labels: Vec<usize> = (0..10).flat_map(|d| [d; 100]).collect();
    let samples: Tensor<f32> = cgan.try_generate(&labels, rng)?;
    // Back from the generator's [-1, 1] to the classifier's [0, 1].
    let pixels = (samples + 1.0) * 0.5;
    Ok(judge::agreement(classifier, &pixels, &labels))
}
