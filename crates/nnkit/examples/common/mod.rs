//! What the examples share: flag parsing and where the data is. Everything
//! else (the data preparation, the model, the training) is in each example.
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

    /// The folder for the example's figures: `--out DIR`, else
    /// `target/figures/<example>` in the workspace; created if missing.
    pub fn figures_dir(&self) -> std::io::Result<PathBuf> {
        let dir = self
            .text("out")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/figures").join(self.example));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
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
