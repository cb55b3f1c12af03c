//! What every example shares: flag parsing, data locations and the final JSON line.
//!
//! Flags are `--name value` (or `--name=value`); a flag given without a
//! value is `true`. Unknown flags are an error, so a typo does not silently
//! run with defaults.

#![allow(dead_code)] // each example uses a different part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The parsed command line.
pub struct Args {
    example: &'static str,
    values: BTreeMap<String, String>,
    allowed: Vec<&'static str>,
}

impl Args {
    /// Parses `std::env::args()`, accepting only the flags in `allowed`
    /// (`seed` and `download` are always allowed). Exits with a usage
    /// message on anything else.
    pub fn parse(example: &'static str, allowed: &[&'static str]) -> Args {
        let mut allowed = allowed.to_vec();
        allowed.extend(["seed", "download"]);
        let mut values = BTreeMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                usage(example, &allowed, &format!("unexpected argument `{arg}`"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let v = match it.peek() {
                        Some(next) if !next.starts_with("--") => it.next().unwrap(),
                        _ => "true".to_string(),
                    };
                    (flag.to_string(), v)
                }
            };
            if !allowed.contains(&name.as_str()) {
                usage(example, &allowed, &format!("unknown flag `--{name}`"));
            }
            values.insert(name, value);
        }
        Args {
            example,
            values,
            allowed,
        }
    }

    /// The value of `--name` parsed as `V`, or `default`.
    pub fn get<V: FromStr>(&self, name: &str, default: V) -> V {
        match self.values.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                usage(
                    self.example,
                    &self.allowed,
                    &format!("`--{name} {v}`: cannot parse the value"),
                )
            }),
        }
    }

    /// The value of `--name` as text, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `--seed`, default 42.
    pub fn seed(&self) -> u64 {
        self.get("seed", 42)
    }
}

fn usage(example: &str, allowed: &[&str], problem: &str) -> ! {
    let flags: Vec<String> = allowed.iter().map(|f| format!("[--{f} VALUE]")).collect();
    eprintln!("{example}: {problem}");
    eprintln!(
        "usage: cargo run --release -p nnkit --example {example} -- {}",
        flags.join(" ")
    );
    std::process::exit(2)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The MNIST directory: `--data DIR`, else the library's data folder
/// (`$NN_DATA_DIR`, else `data` in the working directory, its `mnist/`
/// sub-directory when there is one). With `--download` the files are
/// fetched there first (checked against their SHA-256). Exits non-zero with
/// download instructions when it does not hold MNIST.
pub fn mnist_dir(args: &Args) -> PathBuf {
    let given = args.text("data").map(PathBuf::from);
    if args.text("download").is_some() {
        let target = given
            .clone()
            .unwrap_or_else(|| nnkit::data::data_root().join("mnist"));
        download(|| nnkit_download::mnist(&target));
    }
    let dir = nnkit::data::mnist::mnist_dir(given.as_deref())
        .unwrap_or_else(|_| given.unwrap_or_else(|| nnkit::data::data_root().join("mnist")));
    let has = |stem: &str| dir.join(stem).exists() || dir.join(format!("{stem}.gz")).exists();
    if !has("t10k-images-idx3-ubyte") {
        eprintln!("MNIST was not found in {}.", dir.display());
        eprintln!("{}", nnkit::data::mnist::MNIST_HELP);
        eprintln!("Then run with --data DIR (or NN_DATA_DIR=DIR), or add --download.");
        std::process::exit(1);
    }
    dir
}

/// The tinyshakespeare text file: `--data FILE`, else
/// `text/tinyshakespeare.txt` in the data folder; fetched first with
/// `--download`.
pub fn tinyshakespeare_path(args: &Args) -> PathBuf {
    let path = args
        .text("data")
        .map(PathBuf::from)
        .unwrap_or_else(|| nnkit::data::data_root().join("text/tinyshakespeare.txt"));
    if args.text("download").is_some() {
        download(|| nnkit_download::tinyshakespeare(&path));
    }
    path
}

/// Runs a download, or explains how to enable it; exits non-zero on failure.
fn download(fetch: impl FnOnce() -> Result<(), String>) {
    if let Err(e) = fetch() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

/// The downloads, present only with the cargo feature `download`.
mod nnkit_download {
    use std::path::Path;

    #[cfg(feature = "download")]
    pub fn mnist(dir: &Path) -> Result<(), String> {
        eprintln!("downloading MNIST into {} ...", dir.display());
        nnkit::data::download::download_mnist(Some(dir))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[cfg(feature = "download")]
    pub fn tinyshakespeare(path: &Path) -> Result<(), String> {
        eprintln!("downloading tinyshakespeare to {} ...", path.display());
        nnkit::data::download::download_tinyshakespeare(Some(path))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[cfg(not(feature = "download"))]
    pub fn mnist(_: &Path) -> Result<(), String> {
        Err(NEEDS_FEATURE.into())
    }

    #[cfg(not(feature = "download"))]
    pub fn tinyshakespeare(_: &Path) -> Result<(), String> {
        Err(NEEDS_FEATURE.into())
    }

    #[cfg(not(feature = "download"))]
    const NEEDS_FEATURE: &str =
        "--download needs the cargo feature `download`: add `--features download` to cargo run";
}

/// Prints the one JSON line that ends every example (on stdout; progress
/// goes to stderr).
pub fn print_result(value: serde_json::Value) {
    println!("{value}");
}

/// Rounds to `digits` decimals for display in the JSON line.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Train, validation and test splits of a classification set, stratified by
/// class, with features standardised on the training split only (so nothing
/// about the validation or test samples leaks into training).
pub struct StandardisedSplits {
    /// The training split.
    pub train: nnkit::data::TensorDataset<f32>,
    /// The validation split (for early stopping).
    pub validation: nnkit::data::TensorDataset<f32>,
    /// The test split (touched once, at the end).
    pub test: nnkit::data::TensorDataset<f32>,
}

/// Splits `data` by `(train, validation, test)` fractions with `seed`,
/// stratified, and standardises the features.
pub fn standardised_splits(
    data: &nnkit::data::Classification,
    fractions: (f64, f64, f64),
    seed: u64,
) -> StandardisedSplits {
    let ds = data.cast::<f32>().to_dataset();
    let s = ds
        .split(
            nnkit::data::SplitFractions::new(fractions.0, fractions.1, fractions.2),
            seed,
            true,
        )
        .expect("valid split fractions");
    let scaler =
        nnkit::data::StandardScaler::fit(s.train.features()).expect("non-empty training split");
    let scale = |d: &nnkit::data::TensorDataset<f32>| {
        d.with_features(scaler.transform(d.features()).expect("same columns"))
            .expect("same rows")
    };
    StandardisedSplits {
        train: scale(&s.train),
        validation: scale(&s.validation),
        test: scale(&s.test),
    }
}

/// `--threads N`, when given, sets the number of threads of the tensor
/// kernels; returns the number they use.
pub fn threads(args: &Args) -> usize {
    if args.text("threads").is_some() {
        nnkit::tensor::set_num_threads(args.get("threads", 1));
    }
    nnkit::tensor::num_threads()
}

/// The MNIST training and test sets (from [`mnist_dir`]) in `layout`, with
/// MNIST's usual normalisation `(pixel/255 − 0.1307) / 0.3081` (the
/// training set's mean and standard deviation, as in PyTorch's examples).
/// Exits with the loader's message when a file is missing or damaged.
pub fn mnist_normalised(
    args: &Args,
    layout: nnkit::data::ImageLayout,
) -> (
    nnkit::data::TensorDataset<f32>,
    nnkit::data::TensorDataset<f32>,
) {
    use nnkit::data::{load_mnist, MnistSplit, TensorDataset};
    let dir = mnist_dir(args);
    let load = |split| {
        let m = load_mnist(Some(&dir), split, layout).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        let x = m.images.add_scalar(-0.1307).mul_scalar(1.0 / 0.3081);
        TensorDataset::classification(x, m.labels).expect("one label per image")
    };
    let (train, test) = (load(MnistSplit::Train), load(MnistSplit::Test));
    eprintln!(
        "MNIST from {}: {} training and {} test images",
        dir.display(),
        train.len(),
        test.len()
    );
    (train, test)
}

/// A multilayer perceptron: `Linear` layers through `sizes` (`[784, 256,
/// 10]` is 784 → 256 → 10) with `activation` between consecutive ones and
/// none after the last. The layers draw their weights from `rng` in order,
/// and their indices (hence the `state_dict` names `0.weight`, `2.weight`,
/// …) are those of PyTorch's `nn.Sequential`.
pub fn mlp<A>(
    sizes: &[usize],
    activation: A,
    rng: &mut nnkit::prelude::Rng,
) -> nnkit::tensor::Result<nnkit::layers::Sequential<f32>>
where
    A: nnkit::layers::Forward<f32> + Copy + 'static,
{
    let mut s = nnkit::layers::Sequential::new();
    for (i, w) in sizes.windows(2).enumerate() {
        s = s.append(nnkit::layers::LinearConfig::new(w[0], w[1]).init(rng)?);
        if i + 2 < sizes.len() {
            s = s.append(activation);
        }
    }
    Ok(s)
}

/// SHA-256 of every parameter's little-endian bytes, in `state_dict` order:
/// two runs with the same seed and thread count give the same hash.
pub fn weights_sha256<M: nnkit::layers::Module<f32>>(model: &M) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (_, p) in model.named_parameters() {
        for x in p.value().as_slice() {
            h.update(x.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How [`fit_classifier`] trains.
pub struct ClassifierTraining {
    /// Passes over the training set.
    pub epochs: usize,
    /// Adam's initial learning rate, annealed to 0 by a cosine over `epochs`.
    pub lr: f64,
    /// Training mini-batch size.
    pub batch_size: usize,
    /// Batch size of the test passes (memory only: the results do not depend on it).
    pub test_batch_size: usize,
    /// Seeds the shuffling.
    pub seed: u64,
}

/// What [`fit_classifier`] measured.
pub struct ClassifierFit {
    /// Mean seconds of an epoch's training pass (the test pass not counted).
    pub seconds_per_epoch: f64,
    /// Accuracy on the test set after the last epoch.
    pub test_accuracy: f64,
    /// Mean cross-entropy on the test set after the last epoch.
    pub test_loss: f64,
}

/// Trains a classifier the way the MNIST examples do: cross-entropy, Adam
/// with a cosine schedule (epoch `e` runs at `lr_at(lr, e)`), shuffled
/// mini-batches; after every epoch the test set is evaluated (in eval mode)
/// and shown with the training loss. Exits with the error if training fails
/// (a diverged loss).
pub fn fit_classifier<M>(
    model: &M,
    train: &nnkit::data::TensorDataset<f32>,
    test: &nnkit::data::TensorDataset<f32>,
    how: &ClassifierTraining,
) -> ClassifierFit
where
    M: nnkit::layers::Module<f32> + nnkit::layers::Forward<f32>,
{
    use nnkit::data::DataLoader;
    use nnkit::optim::{AdamConfig, CosineAnnealingLr};
    use nnkit::train::Trainer;
    let mut opt = AdamConfig::new(how.lr)
        .init(model.named_parameters())
        .expect("Adam");
    let train_loader = DataLoader::new(train, how.batch_size)
        .expect("batch size")
        .shuffle(how.seed);
    let test_loader = DataLoader::new(test, how.test_batch_size).expect("batch size");
    let mut trainer = Trainer::classification(model, &mut opt)
        .epochs(how.epochs)
        .seed(how.seed)
        .schedule(CosineAnnealingLr::new(how.epochs as u64, 0.0).expect("schedule"));
    let report = trainer
        .fit(&train_loader, &test_loader)
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    let seconds = report.history.series("seconds");
    // Measured again rather than read from the history, so that 0 epochs
    // reports the untrained model.
    let test = trainer.evaluate(&test_loader).expect("test evaluation");
    ClassifierFit {
        seconds_per_epoch: seconds.iter().sum::<f64>() / how.epochs.max(1) as f64,
        test_accuracy: test["accuracy"],
        test_loss: test["loss"],
    }
}
