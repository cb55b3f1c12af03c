//! Loads the real MNIST files from the data folder: `NN_DATA_DIR`, else
//! `data` at the workspace root (`.ci/run` points `NN_DATA_DIR` at the
//! shared data when it is there). When they are absent the tests print a
//! note and pass: the synthetic tests in `src/idx.rs` and `src/mnist.rs`
//! cover the logic.

use std::path::PathBuf;

use nn_data::{load_mnist, ImageLayout, MnistSplit};

fn mnist_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("NN_DATA_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")),
    ];
    let found = candidates.into_iter().flatten().find(|d| {
        d.join("t10k-labels-idx1-ubyte.gz").is_file()
            || d.join("mnist/t10k-labels-idx1-ubyte.gz").is_file()
    });
    if found.is_none() {
        eprintln!("note: MNIST not found (set NN_DATA_DIR); skipping the real-file test");
    }
    found
}

fn class_counts(labels: &[usize]) -> Vec<usize> {
    let mut c = vec![0; 10];
    for &l in labels {
        c[l] += 1;
    }
    c
}

#[test]
fn real_mnist_test_split() {
    let Some(dir) = mnist_dir() else { return };
    let m = load_mnist(Some(&dir), MnistSplit::Test, ImageLayout::Nchw).unwrap();
    assert_eq!(m.images.shape(), &[10_000, 1, 28, 28]);
    assert_eq!(m.len(), 10_000);
    assert_eq!(&m.labels[..5], &[7, 2, 1, 0, 4]);
    assert_eq!(
        class_counts(&m.labels),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(m.images.min_all(), 0.0);
    assert_eq!(m.images.max_all(), 1.0);
    // The corners of a centred digit are blank.
    assert_eq!(m.images.get(&[0, 0, 0, 0]), 0.0);
    let flat = load_mnist(Some(&dir), MnistSplit::Test, ImageLayout::Flat).unwrap();
    assert_eq!(flat.images.shape(), &[10_000, 784]);
    assert_eq!(flat.images.as_slice(), m.images.as_slice());
}

#[test]
fn real_mnist_train_split() {
    let Some(dir) = mnist_dir() else { return };
    let m = load_mnist(Some(&dir), MnistSplit::Train, ImageLayout::Flat).unwrap();
    assert_eq!(m.images.shape(), &[60_000, 784]);
    assert_eq!(&m.labels[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(
        class_counts(&m.labels),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    // Mean pixel intensity of the training set, the well-known 0.1307.
    let mean = m
        .images
        .as_slice()
        .iter()
        .map(|&x| f64::from(x))
        .sum::<f64>()
        / (60_000.0 * 784.0);
    assert!((mean - 0.1307).abs() < 1e-4, "mean {mean}");
}
