//! The typed error of every loader, split and preprocessing step.

use std::fmt;
use std::path::PathBuf;

/// What went wrong while reading or preparing data. File variants name the
/// file; every other variant names the operation, so a message in a log
/// points at its cause.
#[derive(Debug)]
pub enum DataError {
    /// The operating system refused a read (missing file, permissions, ...).
    Io {
        /// The file or directory being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A data directory or file that is not there, with how to get it.
    Missing {
        /// Where the data was looked for.
        path: PathBuf,
        /// What to do about it (for MNIST: where to download it and where to put it).
        help: String,
    },
    /// A file whose magic number is not the one its format requires.
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number the format requires.
        expected: u32,
        /// The magic number found.
        found: u32,
    },
    /// A file whose declared dimensions are impossible or not the ones expected.
    BadDims {
        /// The file.
        path: PathBuf,
        /// What is wrong with the dimensions.
        message: String,
    },
    /// A file whose length does not match what its header declares
    /// (truncated when `actual < declared`, trailing bytes otherwise).
    LengthMismatch {
        /// The file.
        path: PathBuf,
        /// The byte length the header declares (header included; decompressed for `.gz`).
        declared: u64,
        /// The byte length found, or a lower bound on it when the file is
        /// longer than declared and reading stopped early.
        actual: u64,
    },
    /// An images file and a labels file that do not describe the same number of samples.
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// A malformed line in a CSV table.
    Csv {
        /// The file name (or `<string>` for text parsed from memory).
        source: String,
        /// The 1-based line number.
        line: usize,
        /// The 1-based column number, when one column is at fault.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A download that failed: the server, the connection or the checksum.
    /// The destination file is never left behind half written.
    Download {
        /// The URL being fetched.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An argument the operation cannot accept (a fraction, a batch size, a shape, ...).
    InvalidArgument {
        /// The operation, e.g. `"split"` or `"DataLoader::new"`.
        op: &'static str,
        /// What was wrong, naming the argument and its value.
        message: String,
    },
}

impl DataError {
    /// Builds a [`DataError::InvalidArgument`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        DataError::InvalidArgument {
            op,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn dims(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::BadDims {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            DataError::Missing { path, help } => {
                write!(f, "{}: not found. {help}", path.display())
            }
            DataError::BadMagic {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: wrong magic number {found:#010x}, expected {expected:#010x}",
                path.display()
            ),
            DataError::BadDims { path, message } => {
                write!(f, "{}: bad dimensions: {message}", path.display())
            }
            DataError::LengthMismatch {
                path,
                declared,
                actual,
            } => {
                let what = if actual < declared {
                    "truncated"
                } else {
                    "has trailing bytes"
                };
                write!(
                    f,
                    "{}: file {what}: the header declares {declared} bytes but it holds {}{actual}",
                    path.display(),
                    if actual > declared { "at least " } else { "" }
                )
            }
            DataError::CountMismatch {
                images,
                labels,
                n_images,
                n_labels,
            } => write!(
                f,
                "{} holds {n_images} images but {} holds {n_labels} labels",
                images.display(),
                labels.display()
            ),
            DataError::Csv {
                source,
                line,
                column,
                message,
            } => match column {
                Some(c) => write!(f, "{source}: line {line}, column {c}: {message}"),
                None => write!(f, "{source}: line {line}: {message}"),
            },
            DataError::Download { url, message } => write!(f, "download {url}: {message}"),
            DataError::InvalidArgument { op, message } => write!(f, "{op}: {message}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<nn_tensor::TensorError> for DataError {
    fn from(e: nn_tensor::TensorError) -> Self {
        DataError::InvalidArgument {
            op: "tensor",
            message: e.to_string(),
        }
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, DataError>;
