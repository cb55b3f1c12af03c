//! Command line, MNIST loading and figure folders shared by the
//! generative examples (`autoencoder_mnist`, `vae_mnist`, `gan_mnist`,
//! `cgan_mnist`).

use std::path::{Path, PathBuf};
use std::process::exit;

use nn::data::{load_mnist, ImageLayout, Mnist, MnistSplit};

/// The flags every generative example takes.
pub struct Args {
    /// `--seed N` (default 0).
    pub seed: u64,
    /// `--data DIR`, else `NN_DATA_DIR`, else `../shared/data/mnist` next to
    /// the workspace root.
    pub data: PathBuf,
    /// `--epochs N`.
    pub epochs: usize,
    /// `--out DIR` for PNGs (default `target/figures/<example>` in the workspace).
    pub out: PathBuf,
}

fn workspace_root() -> PathBuf {
    // crates/nn → crates → the workspace root
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.join("../.."))
}

fn usage(name: &str, default_epochs: usize) -> String {
    format!(
        "usage: cargo run --release -p nn --example {name} -- [--seed N] [--data DIR] [--epochs N (default {default_epochs})] [--out DIR]"
    )
}

/// Parses the flags; prints the usage and exits with status 2 on a bad one.
pub fn parse(name: &str, default_epochs: usize) -> Args {
    let root = workspace_root();
    let mut args = Args {
        seed: 0,
        data: match std::env::var_os("NN_DATA_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => root
                .parent()
                .map(|outside| outside.join("shared/data/mnist"))
                .unwrap_or_else(|| root.join("../shared/data/mnist")),
        },
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
            eprintln!("{name}: {}", nn::data::mnist::MNIST_HELP);
            exit(1);
        }
    }
}

/// Saves a `[count, 784]` batch as a grid of 28×28 images, `cols` per row.
pub fn save_grid(name: &str, path: &Path, images: &nn::tensor::Tensor<f32>, cols: usize) {
    let n = images.shape()[0];
    let grid = images.reshape(&[n, 28, 28]);
    match nn::train::figures::save_image_grid(path, &grid, cols, 2) {
        Ok(()) => println!("{name}: wrote {}", path.display()),
        Err(e) => eprintln!("{name}: cannot write {}: {e}", path.display()),
    }
}

/// Exits with status 1 after printing an error from the library.
pub fn fail(name: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{name}: {e}");
    exit(1)
}

/// The GANs' MLP: `Linear` layers through `sizes` with LeakyReLU(0.2) between
/// them (none after the last); a bad size stops the example `name`.
#[allow(dead_code)] // only the GAN examples build MLPs this way
pub fn leaky_mlp(
    name: &str,
    sizes: &[usize],
    rng: &mut nn::prelude::Rng,
) -> nn::layers::Sequential<f32> {
    use nn::layers::{LeakyRelu, LinearConfig, Sequential};
    let mut s = Sequential::new();
    for (i, w) in sizes.windows(2).enumerate() {
        s = s.append(
            LinearConfig::new(w[0], w[1])
                .init(rng)
                .unwrap_or_else(|e| fail(name, e)),
        );
        if i + 2 < sizes.len() {
            s = s.append(LeakyRelu::new(0.2).unwrap_or_else(|e| fail(name, e)));
        }
    }
    s
}
