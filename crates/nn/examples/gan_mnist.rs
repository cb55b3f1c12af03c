//! An MLP GAN on MNIST (pixels scaled to `[-1, 1]`): generator 64-256-512-784
//! (LeakyReLU 0.2, Tanh), discriminator 784-512-256-1 (LeakyReLU 0.2),
//! non-saturating generator loss, one-sided label smoothing (real label 0.9),
//! Adam lr 2e-4 with betas (0.5, 0.999) for each player, batches of 64.
//! Writes a grid of samples from the same fixed noise after every epoch, and
//! reports both losses and the mean D(x), D(G(z)) per epoch.
//!
//! ```text
//! cargo run --release -p nn --example gan_mnist -- [--seed N] [--data DIR] [--epochs N] [--out DIR]
//! ```

mod generative_cli;

use std::time::Instant;

use generative_cli as cli;
use nn::data::{DataLoader, MnistSplit};
use nn::generative::{train_two_player_epoch, GanConfig, GanTrainer, TwoPlayerSchedule};
use nn::layers::{LeakyRelu, LinearConfig, Module, Sequential, Tanh};
use nn::optim::AdamConfig;
use nn::prelude::Rng;

const NAME: &str = "gan_mnist";
const LATENT: usize = 64;

fn mlp(sizes: &[usize], rng: &mut Rng) -> Sequential<f32> {
    let mut s = Sequential::new();
    for (i, w) in sizes.windows(2).enumerate() {
        s = s.append(
            LinearConfig::new(w[0], w[1])
                .init(rng)
                .unwrap_or_else(|e| cli::fail(NAME, e)),
        );
        if i + 2 < sizes.len() {
            s = s.append(LeakyRelu::new(0.2).unwrap_or_else(|e| cli::fail(NAME, e)));
        }
    }
    s
}

fn main() {
    let args = cli::parse(NAME, 10);
    let train = cli::mnist(NAME, &args, MnistSplit::Train);
    println!(
        "{NAME}: {} training images from {}",
        train.len(),
        args.data.display()
    );

    let mut rng = Rng::seed_from(args.seed);
    let generator = mlp(&[LATENT, 256, 512, 784], &mut rng).append(Tanh);
    let discriminator = mlp(&[784, 512, 256, 1], &mut rng);
    let gan = GanConfig::new(LATENT)
        .with_label_smoothing(0.9)
        .init(generator, discriminator)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    let adam = AdamConfig::new(2e-4).with_betas(0.5, 0.999);
    let mut trainer = GanTrainer {
        gan: &gan,
        generator_optimizer: adam
            .init(gan.generator.named_parameters())
            .unwrap_or_else(|e| cli::fail(NAME, e)),
        discriminator_optimizer: adam
            .init(gan.discriminator.named_parameters())
            .unwrap_or_else(|e| cli::fail(NAME, e)),
        rng: rng.fork(),
    };
    println!(
        "{NAME}: generator {} and discriminator {} parameters",
        gan.generator.num_parameters(),
        gan.discriminator.num_parameters()
    );

    // Pixels to [-1, 1], the generator's Tanh range.
    let images = train.images.mul_scalar(2.0).add_scalar(-1.0);
    let data = train
        .into_dataset()
        .with_features(images)
        .unwrap_or_else(|e| cli::fail(NAME, e));
    let loader = DataLoader::new(data, 64)
        .unwrap_or_else(|e| cli::fail(NAME, e))
        .shuffle(args.seed)
        .drop_last(true);
    let fixed_noise = gan.sample_noise(64, &mut rng);
    let start = Instant::now();
    let mut history = Vec::new();
    for epoch in 0..args.epochs {
        let batches = loader.epoch(epoch as u64).map(|b| b.map(|b| b.features));
        let e = train_two_player_epoch(&mut trainer, batches, TwoPlayerSchedule::default())
            .unwrap_or_else(|e: nn::data::DataError| cli::fail(NAME, e));
        println!(
            "{NAME}: epoch {:>2}/{}  D loss {:.3}  G loss {:.3}  D(x) {:.3}  D(G(z)) {:.3}  {:.0} s",
            epoch + 1,
            args.epochs,
            e.discriminator_loss,
            e.generator_loss,
            e.d_real,
            e.d_fake,
            start.elapsed().as_secs_f64()
        );
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
    println!(
        "{}",
        serde_json::json!({
            "example": NAME,
            "seed": args.seed,
            "epochs": args.epochs,
            "latent_dim": LATENT,
            "d_loss": r(last.discriminator_loss),
            "g_loss": r(last.generator_loss),
            "d_real": r(last.d_real),
            "d_fake": r(last.d_fake),
            "d_loss_per_epoch": history.iter().map(|e| r(e.discriminator_loss)).collect::<Vec<_>>(),
            "g_loss_per_epoch": history.iter().map(|e| r(e.generator_loss)).collect::<Vec<_>>(),
            "d_real_per_epoch": history.iter().map(|e| r(e.d_real)).collect::<Vec<_>>(),
            "d_fake_per_epoch": history.iter().map(|e| r(e.d_fake)).collect::<Vec<_>>(),
            "train_seconds": (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
}
