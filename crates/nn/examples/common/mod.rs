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
    /// (`seed` is always allowed). Exits with a usage message on anything else.
    pub fn parse(example: &'static str, allowed: &[&'static str]) -> Args {
        let mut allowed = allowed.to_vec();
        allowed.push("seed");
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
        "usage: cargo run --release -p nn --example {example} -- {}",
        flags.join(" ")
    );
    std::process::exit(2)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared folder next to the workspace (`../shared`), where the
/// course's data and pretrained weights live.
pub fn shared_dir() -> PathBuf {
    workspace_root().join("../shared")
}

/// The MNIST directory: `--data DIR`, else `NN_DATA_DIR`, else
/// `../shared/data/mnist` next to the workspace. Exits non-zero with
/// download instructions when it does not hold MNIST.
pub fn mnist_dir(args: &Args) -> PathBuf {
    let dir = match (args.text("data"), std::env::var_os("NN_DATA_DIR")) {
        (Some(d), _) => PathBuf::from(d),
        (None, Some(d)) if !d.is_empty() => PathBuf::from(d),
        _ => shared_dir().join("data/mnist"),
    };
    let has = |stem: &str| dir.join(stem).exists() || dir.join(format!("{stem}.gz")).exists();
    if !has("t10k-images-idx3-ubyte") {
        eprintln!("MNIST was not found in {}.", dir.display());
        eprintln!("{}", nn::data::mnist::MNIST_HELP);
        eprintln!("Then run with --data DIR (or NN_DATA_DIR=DIR).");
        std::process::exit(1);
    }
    dir
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
    pub train: nn::data::TensorDataset<f32>,
    /// The validation split (for early stopping).
    pub validation: nn::data::TensorDataset<f32>,
    /// The test split (touched once, at the end).
    pub test: nn::data::TensorDataset<f32>,
}

/// Splits `data` by `(train, validation, test)` fractions with `seed`,
/// stratified, and standardises the features.
pub fn standardised_splits(
    data: &nn::data::Classification,
    fractions: (f64, f64, f64),
    seed: u64,
) -> StandardisedSplits {
    let ds = data.cast::<f32>().to_dataset();
    let s = ds
        .split(
            nn::data::SplitFractions::new(fractions.0, fractions.1, fractions.2),
            seed,
            true,
        )
        .expect("valid split fractions");
    let scaler =
        nn::data::StandardScaler::fit(s.train.features()).expect("non-empty training split");
    let scale = |d: &nn::data::TensorDataset<f32>| {
        d.with_features(scaler.transform(d.features()).expect("same columns"))
            .expect("same rows")
    };
    StandardisedSplits {
        train: scale(&s.train),
        validation: scale(&s.validation),
        test: scale(&s.test),
    }
}

/// Classification accuracy of `model` on `set`, in eval mode (dropout off,
/// batch norm on its running statistics), in batches of `batch_size`; the
/// model is back in training mode afterwards.
pub fn accuracy_on<M>(model: &M, set: &nn::data::TensorDataset<f32>, batch_size: usize) -> f64
where
    M: nn::layers::Module<f32> + nn::layers::Forward<f32>,
{
    use nn::prelude::{no_grad, Var};
    model.eval();
    let loader = nn::data::DataLoader::new(set, batch_size).expect("batch size");
    let mut correct = 0usize;
    for batch in loader.epoch(0) {
        let batch = batch.unwrap_or_else(|e| panic!("in-memory batch: {e}"));
        let logits = no_grad(|| model.forward(&Var::constant(batch.features.clone())));
        correct += logits
            .value()
            .argmax(1)
            .iter()
            .zip(batch.classes())
            .filter(|(p, y)| p == y)
            .count();
    }
    model.train();
    correct as f64 / set.len() as f64
}
