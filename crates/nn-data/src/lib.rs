//! # nn-data
//!
//! Data for the `nn` deep-learning library: data sets, file loaders,
//! preprocessing, splits and mini-batches.
//!
//! * [`dataset`]: the [`Dataset`] trait and the in-memory [`TensorDataset`];
//! * [`loader`]: [`DataLoader`], seeded per-epoch shuffling and mini-batches;
//! * [`shard`]: [`Shard`], each rank's part of every batch in data-parallel training;
//! * [`split`]: train / validation / test splits, optionally stratified;
//! * [`preprocess`]: [`StandardScaler`], [`MinMaxScaler`], [`one_hot`];
//! * [`embedded`]: [`digits`], [`iris`], [`breast_cancer`], [`diabetes`],
//!   compiled into the crate;
//! * [`mnist`] and [`idx`]: MNIST and Fashion-MNIST from IDX files, in the
//!   one data folder [`data_root`] (`$NN_DATA_DIR`, else `data`);
//! * `download` (cargo feature `download`): MNIST and tinyshakespeare over
//!   HTTPS, checked against SHA-256 digests, resumable;
//! * [`csv`]: numeric tables from CSV or whitespace-separated text.
//!
//! Loaders never panic on bad input: they return a [`DataError`] naming the
//! file and the problem, and they never allocate more than the input holds.
//!
//! ```
//! use nn_data::{breast_cancer, DataLoader, SplitFractions, StandardScaler};
//! let data = breast_cancer().cast::<f32>().to_dataset();
//! let s = data.split(SplitFractions::new(0.7, 0.15, 0.15), 0, true)?;
//! // Fit the scaler on the training split only, then apply it everywhere.
//! let scaler = StandardScaler::fit(s.train.features())?;
//! let train = s.train.with_features(scaler.transform(s.train.features())?)?;
//! let test = s.test.with_features(scaler.transform(s.test.features())?)?;
//! let loader = DataLoader::new(&train, 32)?.shuffle(42);
//! for epoch in 0..2 {
//!     for batch in loader.epoch(epoch) {
//!         let batch = batch?;
//!         assert_eq!(batch.features.shape()[1], 30);
//!         let _labels: &[usize] = batch.classes();
//!     }
//! }
//! # let _ = test;
//! # Ok::<(), nn_data::DataError>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod csv;
pub mod dataset;
#[cfg(feature = "download")]
pub mod download;
pub mod embedded;
pub mod error;
pub mod idx;
pub mod loader;
pub mod mnist;
pub mod preprocess;
pub mod shard;
pub mod split;

pub use csv::{read_csv, CsvOptions, CsvTable};
pub use dataset::{Batch, BatchDataset, Dataset, Sample, Target, Targets, TensorDataset};
pub use embedded::{breast_cancer, diabetes, digits, iris, Classification, Regression};
pub use error::{DataError, Result};
pub use loader::{Batches, DataLoader};
pub use mnist::{
    data_root, load_mnist, load_mnist_splits, ImageLayout, Mnist, MnistNormalization, MnistSplit,
    MnistSplits,
};
pub use preprocess::{one_hot, MinMaxScaler, StandardScaler};
pub use shard::{Shard, ShardBatch, ShardedBatches};
pub use split::{split_indices, stratified_split_indices, SplitFractions, SplitIndices, Splits};
