//! MNIST and Fashion-MNIST from their IDX files.
//!
//! The data are not shipped with the library (about 11 MB compressed); with
//! the cargo feature `download`, `download::download_mnist` fetches them.
//! The directory holding the four files is taken from, in order: the
//! argument of [`load_mnist`], else the data folder ([`data_root`]:
//! `$NN_DATA_DIR`, else `data` in the working directory). A directory that
//! holds a `mnist/` sub-directory with the files is read there, so the
//! default is `data/mnist` and `NN_DATA_DIR` may name either the data
//! folder or the MNIST directory itself. Fashion-MNIST uses the same file
//! names: point the directory at it.
//!
//! [`load_mnist_splits`] is the usual set-up in one call: both splits,
//! normalised as PyTorch's examples do ([`MnistNormalization`]), ready to
//! become data sets for a [`DataLoader`](crate::DataLoader).

use std::fmt;
use std::path::{Path, PathBuf};

use nn_tensor::Tensor;

use crate::dataset::TensorDataset;
use crate::error::{DataError, Result};
use crate::idx::{read_idx_images, read_idx_labels};

/// The environment variable naming the data folder.
pub const DATA_DIR_ENV: &str = "NN_DATA_DIR";

/// The data folder when `NN_DATA_DIR` is not set, relative to the working
/// directory: MNIST in its `mnist/`, tinyshakespeare in `text/`.
pub const DEFAULT_DATA_DIR: &str = "data";

/// Where MNIST is looked for when neither an argument nor `NN_DATA_DIR` names a directory.
pub const DEFAULT_MNIST_DIR: &str = "data/mnist";

/// The one data folder of the library and its examples: `$NN_DATA_DIR`
/// when set (and not empty), else [`DEFAULT_DATA_DIR`]. It holds `mnist/`
/// (the four IDX files) and `text/tinyshakespeare.txt`, the layout the
/// download functions write.
pub fn data_root() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

/// How to get MNIST, for the error raised when it is missing.
pub const MNIST_HELP: &str = "Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (for example from \
https://ossci-datasets.s3.amazonaws.com/mnist/, the mirror torchvision uses, or \
http://yann.lecun.com/exdb/mnist/) into one directory, then pass that directory \
or set NN_DATA_DIR to it. The files may stay gzip-compressed. With the cargo feature \
`download`, nn_data::download::download_mnist does this (the examples' --download flag).";

/// Which half of MNIST to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistSplit {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images (`t10k`).
    Test,
}

impl MnistSplit {
    fn prefix(self) -> &'static str {
        match self {
            MnistSplit::Train => "train",
            MnistSplit::Test => "t10k",
        }
    }
}

/// The tensor layout of the loaded images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageLayout {
    /// `[N, 1, rows, cols]` (`[N, 1, 28, 28]` for MNIST), for convolutional networks.
    Nchw,
    /// `[N, rows * cols]` (`[N, 784]` for MNIST), for multilayer perceptrons.
    Flat,
}

/// The mean of MNIST's training pixels in `[0, 1]`, as PyTorch's MNIST
/// example writes it.
pub const MNIST_MEAN: f32 = 0.1307;

/// The standard deviation of MNIST's training pixels in `[0, 1]`, as
/// PyTorch's MNIST example writes it.
pub const MNIST_STD: f32 = 0.3081;

/// How pixels in `[0, 1]` (the byte value divided by 255, torchvision's
/// `ToTensor()`) are scaled for a model: torchvision's `Normalize` as the
/// MNIST examples use it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MnistNormalization {
    /// As loaded, in `[0, 1]`: the range of a Bernoulli likelihood (VAE)
    /// or of a sigmoid output (autoencoder).
    #[default]
    ZeroToOne,
    /// `(x − 0.1307) / 0.3081` ([`MNIST_MEAN`], [`MNIST_STD`]): mean 0 and
    /// variance 1 over the training set, PyTorch's
    /// `Normalize((0.1307,), (0.3081,))` for classifiers.
    MeanStd,
    /// `2x − 1`, in `[-1, 1]`: the range of a Tanh generator (GANs),
    /// PyTorch's `Normalize((0.5,), (0.5,))`.
    MinusOneToOne,
}

impl MnistNormalization {
    /// Scales pixels in `[0, 1]`.
    ///
    /// ```
    /// use nn_data::MnistNormalization;
    /// use nn_tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f32, 0.1307, 1.0], &[3]);
    /// let y = MnistNormalization::MinusOneToOne.apply(&x);
    /// assert_eq!((y.get(&[0]), y.get(&[2])), (-1.0, 1.0));
    /// assert_eq!(MnistNormalization::MeanStd.apply(&x).get(&[1]), 0.0);
    /// ```
    pub fn apply(self, pixels: &Tensor<f32>) -> Tensor<f32> {
        match self {
            MnistNormalization::ZeroToOne => pixels.clone(),
            MnistNormalization::MeanStd => (pixels - MNIST_MEAN) * (1.0 / MNIST_STD),
            MnistNormalization::MinusOneToOne => pixels * 2.0 - 1.0,
        }
    }
}

/// MNIST images and labels.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// Pixel intensities, shaped as the [`ImageLayout`] asked: in `[0, 1]`
    /// (the byte value divided by 255) from [`load_mnist`], scaled as asked
    /// from [`load_mnist_splits`] and [`Mnist::normalized`].
    pub images: Tensor<f32>,
    /// The digit (0–9) of each image; for Fashion-MNIST, the clothing class.
    pub labels: Vec<usize>,
}

impl Mnist {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images and labels as a classification data set.
    pub fn into_dataset(self) -> TensorDataset<f32> {
        TensorDataset::classification(self.images, self.labels)
            .expect("load_mnist checked that image and label counts match")
    }

    /// The same images scaled by `normalization` (the images must be the
    /// `[0, 1]` pixels [`load_mnist`] gives).
    pub fn normalized(mut self, normalization: MnistNormalization) -> Mnist {
        self.images = normalization.apply(&self.images);
        self
    }
}

/// Both splits of MNIST, normalised the same way, and the directory they
/// were read from. Displays as `60000 training and 10000 test images from
/// DIR`.
#[derive(Clone, Debug)]
pub struct MnistSplits {
    /// The 60,000 training images and labels.
    pub train: Mnist,
    /// The 10,000 test images and labels.
    pub test: Mnist,
    /// The directory holding the files.
    pub dir: PathBuf,
}

impl MnistSplits {
    /// The training and test splits as classification data sets.
    pub fn into_datasets(self) -> (TensorDataset<f32>, TensorDataset<f32>) {
        (self.train.into_dataset(), self.test.into_dataset())
    }
}

impl fmt::Display for MnistSplits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} training and {} test images from {}",
            self.train.len(),
            self.test.len(),
            self.dir.display()
        )
    }
}

/// Loads both splits of MNIST (or Fashion-MNIST) as [`load_mnist`] does,
/// from `dir` or the data folder, and scales their pixels by
/// `normalization`: the set-up of PyTorch's MNIST examples in one call.
/// Errors as [`load_mnist`] does.
///
/// ```no_run
/// use nn_data::{load_mnist_splits, DataLoader, ImageLayout, MnistNormalization};
/// let mnist = load_mnist_splits(None, ImageLayout::Flat, MnistNormalization::MeanStd)?;
/// println!("{mnist}"); // 60000 training and 10000 test images from data/mnist
/// let (train, test) = mnist.into_datasets();
/// let batches = DataLoader::new(&train, 128)?.shuffle(42);
/// # let _ = (batches, test);
/// # Ok::<(), nn_data::DataError>(())
/// ```
pub fn load_mnist_splits(
    dir: Option<&Path>,
    layout: ImageLayout,
    normalization: MnistNormalization,
) -> Result<MnistSplits> {
    let dir = mnist_dir(dir)?;
    let load = |split| load_mnist(Some(&dir), split, layout).map(|m| m.normalized(normalization));
    Ok(MnistSplits {
        train: load(MnistSplit::Train)?,
        test: load(MnistSplit::Test)?,
        dir,
    })
}

/// Loads one split of MNIST (or Fashion-MNIST) from `dir`, else from the
/// data folder ([`data_root`]: `$NN_DATA_DIR`, else `data`, reading its
/// `mnist/` sub-directory when there is one).
///
/// Each file may be gzip-compressed (`*.gz`) or raw. Errors (never panics)
/// when the directory or a file is missing (the message says how to get
/// MNIST), when a file is malformed (see [`crate::idx`]), or when the images
/// and labels files hold different numbers of samples.
///
/// ```no_run
/// use nn_data::{load_mnist, ImageLayout, MnistSplit};
/// let test = load_mnist(None, MnistSplit::Test, ImageLayout::Flat)?;
/// assert_eq!(test.images.shape(), &[10_000, 784]);
/// # Ok::<(), nn_data::DataError>(())
/// ```
pub fn load_mnist(dir: Option<&Path>, split: MnistSplit, layout: ImageLayout) -> Result<Mnist> {
    let dir = mnist_dir(dir)?;
    let images_path = find_file(&dir, &format!("{}-images-idx3-ubyte", split.prefix()))?;
    let labels_path = find_file(&dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;
    let images = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if images.len() != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            n_images: images.len(),
            n_labels: labels.len(),
        });
    }
    let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
    let shape: Vec<usize> = match layout {
        ImageLayout::Nchw => vec![n, 1, rows, cols],
        ImageLayout::Flat => vec![n, rows * cols],
    };
    let pixels: Vec<f32> = images.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok(Mnist {
        images: Tensor::from_vec(pixels, &shape),
        labels: labels.data.iter().map(|&l| usize::from(l)).collect(),
    })
}

/// The MNIST directory [`load_mnist`] would read: the argument, else the
/// data folder ([`data_root`]); a `mnist/` sub-directory is preferred when
/// it exists. Errors with [`MNIST_HELP`] when the directory
/// does not exist.
pub fn mnist_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let base = match dir {
        Some(d) => d.to_path_buf(),
        None => data_root(),
    };
    let sub = base.join("mnist");
    if sub.is_dir() {
        return Ok(sub);
    }
    if base.is_dir() {
        return Ok(base);
    }
    Err(DataError::Missing {
        path: base,
        help: format!("MNIST needs a directory with its four IDX files. {MNIST_HELP}"),
    })
}

/// `dir/name.gz` if present, else `dir/name`.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    Err(DataError::Missing {
        path: raw,
        help: format!(
            "Neither {name}.gz nor {name} is in {}. {MNIST_HELP}",
            dir.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};

    fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    /// A temporary directory removed on drop, unique per test.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            let d = std::env::temp_dir().join(format!("nn-data-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_split(dir: &Path, n_images: u32, n_labels: u32) {
        let mut img = header(IDX_IMAGES_MAGIC, &[n_images, 2, 3]);
        img.extend((0..n_images * 6).map(|i| (i * 51 % 256) as u8));
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), img).unwrap();
        let mut lab = header(IDX_LABELS_MAGIC, &[n_labels]);
        lab.extend((0..n_labels).map(|i| (i % 10) as u8));
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), lab).unwrap();
    }

    #[test]
    fn loads_a_small_synthetic_split_in_both_layouts() {
        let t = TempDir::new("mnist-ok");
        write_split(&t.0, 2, 2);
        let m = load_mnist(Some(&t.0), MnistSplit::Test, ImageLayout::Nchw).unwrap();
        assert_eq!(m.images.shape(), &[2, 1, 2, 3]);
        assert_eq!(m.labels, vec![0, 1]);
        assert_eq!(m.images.get(&[0, 0, 0, 1]), 51.0 / 255.0);
        assert_eq!(m.images.get(&[0, 0, 1, 2]), 1.0);
        let f = load_mnist(Some(&t.0), MnistSplit::Test, ImageLayout::Flat).unwrap();
        assert_eq!(f.images.shape(), &[2, 6]);
        assert_eq!(f.images.as_slice(), m.images.as_slice());
        assert_eq!(f.into_dataset().sample_shape(), &[6]);
    }

    #[test]
    fn both_splits_load_normalised() {
        let t = TempDir::new("mnist-splits");
        write_split(&t.0, 2, 2);
        // The training split is a copy of the test split's files.
        for kind in ["images-idx3", "labels-idx1"] {
            std::fs::copy(
                t.0.join(format!("t10k-{kind}-ubyte")),
                t.0.join(format!("train-{kind}-ubyte")),
            )
            .unwrap();
        }
        let raw = load_mnist(Some(&t.0), MnistSplit::Test, ImageLayout::Nchw).unwrap();
        for (n, want) in [
            (MnistNormalization::ZeroToOne, 51.0 / 255.0),
            (
                MnistNormalization::MeanStd,
                (51.0 / 255.0 - 0.1307) / 0.3081,
            ),
            (MnistNormalization::MinusOneToOne, 2.0 * 51.0 / 255.0 - 1.0),
        ] {
            let s = load_mnist_splits(Some(&t.0), ImageLayout::Nchw, n).unwrap();
            assert_eq!(
                s.to_string(),
                format!("2 training and 2 test images from {}", t.0.display())
            );
            assert_eq!(s.train.images.shape(), raw.images.shape());
            assert!(
                (s.test.images.get(&[0, 0, 0, 1]) - want).abs() < 1e-6,
                "{n:?}"
            );
            assert_eq!(s.train.images.as_slice(), s.test.images.as_slice());
            assert_eq!(s.test.labels, raw.labels);
            let (train, test) = s.into_datasets();
            assert_eq!((train.len(), test.len()), (2, 2));
        }
        // A missing training split is an error, not half a result.
        std::fs::remove_file(t.0.join("train-labels-idx1-ubyte")).unwrap();
        let e = load_mnist_splits(Some(&t.0), ImageLayout::Flat, MnistNormalization::MeanStd)
            .unwrap_err();
        assert!(e.to_string().contains("train-labels-idx1-ubyte"), "{e}");
    }

    #[test]
    fn mismatched_image_and_label_counts_are_an_error() {
        let t = TempDir::new("mnist-count");
        write_split(&t.0, 3, 2);
        let e = load_mnist(Some(&t.0), MnistSplit::Test, ImageLayout::Flat).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::CountMismatch {
                    n_images: 3,
                    n_labels: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("holds 3 images but"), "{e}");
    }

    #[test]
    fn missing_directory_or_file_says_how_to_get_mnist() {
        let e = mnist_dir(Some(Path::new("/nonexistent/nn-data/mnist"))).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("/nonexistent/nn-data/mnist: not found."),
            "{msg}"
        );
        assert!(msg.contains("train-images-idx3-ubyte.gz"), "{msg}");
        assert!(msg.contains("NN_DATA_DIR"), "{msg}");
        let t = TempDir::new("mnist-empty");
        let e = load_mnist(Some(&t.0), MnistSplit::Train, ImageLayout::Flat).unwrap_err();
        assert!(matches!(e, DataError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
    }

    #[test]
    fn a_data_root_with_a_mnist_subdirectory_is_accepted() {
        let t = TempDir::new("mnist-root");
        std::fs::create_dir(t.0.join("mnist")).unwrap();
        write_split(&t.0.join("mnist"), 1, 1);
        assert_eq!(mnist_dir(Some(&t.0)).unwrap(), t.0.join("mnist"));
        let m = load_mnist(Some(&t.0), MnistSplit::Test, ImageLayout::Flat).unwrap();
        assert_eq!(m.len(), 1);
    }
}
