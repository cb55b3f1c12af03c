//! Command line, MNIST loading and figure folders shared by the
//! generative examples (`autoencoder_mnist`, `vae_mnist`, `gan_mnist`,
//! `cgan_mnist`).

#![allow(dead_code)] // each example uses a different part

use std::path::{Path, PathBuf};
use std::process::exit;

use nnkit::data::{load_mnist, DataLoader, ImageLayout, Mnist, MnistSplit, TensorDataset};
use nnkit::layers::Module;
use nnkit::optim::{Adam, AdamConfig};

/// The flags every generative example takes.
pub struct Args {
    /// `--seed N` (default 0).
    pub seed: u64,
    /// `--data DIR`, else the data folder (`$NN_DATA_DIR`, else `data`;
    /// its `mnist/` sub-directory when there is one).
    pub data: PathBuf,
    /// `--epochs N`.
    pub epochs: usize,
    /// `--out DIR` for PNGs (default `target/figures/<example>` in the workspace).
    pub out: PathBuf,
}

fn workspace_root() -> PathBuf {
    // crates/nnkit → crates → the workspace root
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.join("../.."))
}

fn usage(name: &str, default_epochs: usize) -> String {
    format!(
        "usage: cargo run --release -p nnkit --example {name} -- [--seed N] [--data DIR] [--epochs N (default {default_epochs})] [--out DIR]"
    )
}

/// Parses the flags; prints the usage and exits with status 2 on a bad one.
pub fn parse(name: &str, default_epochs: usize) -> Args {
    let root = workspace_root();
    let mut args = Args {
        seed: 0,
        data: nnkit::data::data_root(),
        epochs: default_epochs,
        out: root.join("target/figures").join(name),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{}", usage(name, default_epochs));
            exit(0);
        }
        let Some(value) = it.next() else {
            eprintln!(
                "{name}: {flag} needs a value\n{}",
                usage(name, default_epochs)
            );
            exit(2);
        };
        let bad = |what: &str| -> ! {
            eprintln!(
                "{name}: {flag} {value:?} is not {what}\n{}",
                usage(name, default_epochs)
            );
            exit(2)
        };
        match flag.as_str() {
            "--seed" => args.seed = value.parse().unwrap_or_else(|_| bad("an integer")),
            "--epochs" => args.epochs = value.parse().unwrap_or_else(|_| bad("an integer")),
            "--data" => args.data = PathBuf::from(&value),
            "--out" => args.out = PathBuf::from(&value),
            _ => {
                eprintln!(
                    "{name}: unknown flag {flag}\n{}",
                    usage(name, default_epochs)
                );
                exit(2);
            }
        }
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("{name}: cannot create {}: {e}", args.out.display());
        exit(1);
    }
    args
}

/// How every generative example starts: the flags (see [`parse`]) and the
/// MNIST training and test splits (see [`mnist`]), with a line saying how
/// many images there are.
pub fn setup(name: &str, default_epochs: usize) -> (Args, Mnist, Mnist) {
    let args = parse(name, default_epochs);
    let train = mnist(name, &args, MnistSplit::Train);
    let test = mnist(name, &args, MnistSplit::Test);
    println!(
        "{name}: {} training and {} test images from {}",
        train.len(),
        test.len(),
        args.data.display()
    );
    (args, train, test)
}

/// `data` in shuffled mini-batches of `batch_size` (the order a function
/// of `seed` and the epoch).
pub fn shuffled(
    name: &str,
    data: TensorDataset<f32>,
    batch_size: usize,
    seed: u64,
) -> DataLoader<TensorDataset<f32>> {
    DataLoader::new(data, batch_size)
        .unwrap_or_else(|e| fail(name, e))
        .shuffle(seed)
}

/// The GANs' training data: the images scaled to `[-1, 1]` (the range of
/// the generator's Tanh) with their labels, in shuffled batches of 64; the
/// last, smaller batch is dropped so that both players always see full ones.
pub fn gan_batches(name: &str, train: Mnist, seed: u64) -> DataLoader<TensorDataset<f32>> {
    let images = &train.images * 2.0 - 1.0;
    let data = train
        .into_dataset()
        .with_features(images)
        .unwrap_or_else(|e| fail(name, e));
    shuffled(name, data, 64, seed).drop_last(true)
}

/// The GAN recipe's optimisers, one per player: Adam with lr 2e-4 and
/// betas (0.5, 0.999).
pub fn gan_optimizers(
    name: &str,
    generator: &impl Module<f32>,
    discriminator: &impl Module<f32>,
) -> (Adam<f32>, Adam<f32>) {
    let adam = AdamConfig::new(2e-4).with_betas(0.5, 0.999);
    let init = |m: &dyn Module<f32>| {
        adam.init(m.named_parameters())
            .unwrap_or_else(|e| fail(name, e))
    };
    (init(generator), init(discriminator))
}

/// Loads one MNIST split as `[N, 784]` pixels in `[0, 1]`; when the files
/// are missing, prints the loader's error (which says how to get them) and
/// exits with status 1.
pub fn mnist(name: &str, args: &Args, split: MnistSplit) -> Mnist {
    match load_mnist(Some(&args.data), split, ImageLayout::Flat) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "{name}: cannot load MNIST from {}: {e}",
                args.data.display()
            );
            eprintln!("{name}: {}", nnkit::data::mnist::MNIST_HELP);
            exit(1);
        }
    }
}

/// Saves a `[count, 784]` batch as a grid of 28×28 images, `cols` per row.
pub fn save_grid(name: &str, path: &Path, images: &nnkit::tensor::Tensor<f32>, cols: usize) {
    let n = images.shape()[0];
    let grid = images.reshape([n, 28, 28]);
    match nnkit::train::figures::save_image_grid(path, &grid, cols, 2) {
        Ok(()) => println!("{name}: wrote {}", path.display()),
        Err(e) => eprintln!("{name}: cannot write {}: {e}", path.display()),
    }
}

/// `Linear` layers through `sizes` (`[784, 256, 10]` is 784 → 256 → 10)
/// with `activation` between consecutive ones and none after the last; a
/// bad size stops the example `name`.
pub fn mlp(
    name: &str,
    sizes: &[usize],
    activation: impl nnkit::layers::Forward<f32> + Copy + 'static,
    rng: &mut nnkit::prelude::Rng,
) -> nnkit::layers::Sequential<f32> {
    let mut s = nnkit::layers::Sequential::new();
    for (i, w) in sizes.windows(2).enumerate() {
        let layer = nnkit::layers::LinearConfig::new(w[0], w[1]).init(rng);
        s = s.append(layer.unwrap_or_else(|e| fail(name, e)));
        if i + 2 < sizes.len() {
            s = s.append(activation);
        }
    }
    s
}

/// Prints the JSON line that ends every generative example: the example's
/// name, seed and epochs, then its own `results` (an object).
pub fn report(name: &str, args: &Args, results: serde_json::Value) {
    let mut line = serde_json::json!({
        "example": name,
        "seed": args.seed,
        "epochs": args.epochs,
    });
    if let (Some(line), serde_json::Value::Object(results)) = (line.as_object_mut(), results) {
        line.extend(results);
    }
    println!("{line}");
}

/// Exits with status 1 after printing an error from the library.
pub fn fail(name: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{name}: {e}");
    exit(1)
}
