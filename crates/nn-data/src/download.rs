//! Fetching MNIST and tinyshakespeare, as torchvision's `download=True`
//! does (cargo feature `download`).
//!
//! Each file is fetched over HTTPS into `NAME.part` beside its destination,
//! its SHA-256 is checked, and only then is it renamed to `NAME`: the
//! destination never holds a partial or corrupt file. A connection that
//! drops leaves the `.part` file, and the next call resumes it with an HTTP
//! range request (a server that ignores the range sends the whole file
//! again); a checksum that does not match deletes it and fails, naming both
//! digests. Files already present are not fetched again.
//!
//! The checksums of the gzip-compressed MNIST files are taken over their
//! decompressed bytes (the IDX data), so every mirror's compression of the
//! same data is accepted and a changed image is not.
//!
//! ```no_run
//! let mnist = nn_data::download::download_mnist(None)?; // into $NN_DATA_DIR/mnist or data/mnist
//! let text = nn_data::download::download_tinyshakespeare(None)?;
//! # Ok::<(), nn_data::DataError>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::mnist::data_root;

/// Where MNIST is fetched from: the mirror torchvision uses.
pub const MNIST_URL: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";

/// Where tinyshakespeare is fetched from (Andrej Karpathy's char-rnn).
pub const TINYSHAKESPEARE_URL: &str =
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/";

/// One file to fetch: its name (appended to the base URL, and the name it
/// is saved under) and the SHA-256 its content must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile<'a> {
    /// The file name, e.g. `t10k-labels-idx1-ubyte.gz`.
    pub name: &'a str,
    /// The lowercase hexadecimal SHA-256 of the content.
    pub sha256: &'a str,
    /// Whether the digest is of the gzip-decompressed content.
    pub gunzip: bool,
}

/// The four MNIST files, with the SHA-256 of their decompressed IDX bytes.
pub const MNIST_FILES: [RemoteFile<'static>; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        gunzip: true,
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        gunzip: true,
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        gunzip: true,
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        gunzip: true,
    },
];

/// tinyshakespeare (1,115,394 bytes of plain text), saved as
/// `tinyshakespeare.txt`.
pub const TINYSHAKESPEARE_FILE: RemoteFile<'static> = RemoteFile {
    name: "input.txt",
    sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    gunzip: false,
};

/// Downloads MNIST into `dir`, else into `mnist/` of the data folder
/// (`$NN_DATA_DIR`, else `data`), and returns that directory, ready for
/// [`load_mnist`](crate::load_mnist).
pub fn download_mnist(dir: Option<&Path>) -> Result<PathBuf> {
    let dir = dir.map_or_else(|| data_root().join("mnist"), Path::to_path_buf);
    download_files(MNIST_URL, &MNIST_FILES, &dir)?;
    Ok(dir)
}

/// Downloads tinyshakespeare to `path`, else to
/// `text/tinyshakespeare.txt` of the data folder, and returns the path.
pub fn download_tinyshakespeare(path: Option<&Path>) -> Result<PathBuf> {
    let path = path.map_or_else(
        || data_root().join("text/tinyshakespeare.txt"),
        Path::to_path_buf,
    );
    let url = format!("{TINYSHAKESPEARE_URL}{}", TINYSHAKESPEARE_FILE.name);
    download_file(&url, &path, &TINYSHAKESPEARE_FILE)?;
    Ok(path)
}

/// Fetches every file of `files` from `base_url` (which ends with `/`) into
/// `dir`, under its own name, skipping files already there.
pub fn download_files(base_url: &str, files: &[RemoteFile<'_>], dir: &Path) -> Result<()> {
    for file in files {
        download_file(
            &format!("{base_url}{}", file.name),
            &dir.join(file.name),
            file,
        )?;
    }
    Ok(())
}

/// Fetches `url` to `dest` if `dest` does not exist yet, checking the
/// content against `file`'s SHA-256 (see the [module](self) for resuming
/// and what is left on failure).
pub fn download_file(url: &str, dest: &Path, file: &RemoteFile<'_>) -> Result<()> {
    if dest.is_file() {
        return Ok(());
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    fetch_to(url, &part)?;
    let got = digest(&part, file.gunzip).map_err(|e| {
        // Undecodable gzip is a corrupt download like a wrong digest.
        let _ = fs::remove_file(&part);
        DataError::Download {
            url: url.to_string(),
            message: format!("the downloaded file is not valid gzip ({e}); deleted it"),
        }
    })?;
    if got != file.sha256 {
        let _ = fs::remove_file(&part);
        return Err(DataError::Download {
            url: url.to_string(),
            message: format!(
                "SHA-256 {got} does not match the expected {}; deleted the download",
                file.sha256
            ),
        });
    }
    fs::rename(&part, dest).map_err(|e| DataError::io(dest, e))
}

/// Appends the rest of `url` to `part` (all of it when `part` is absent or
/// the server ignores the range), failing when the body ends before the
/// length the server announced.
fn fetch_to(url: &str, part: &Path) -> Result<()> {
    let failed = |message: String| DataError::Download {
        url: url.to_string(),
        message,
    };
    let have = fs::metadata(part).map_or(0, |m| m.len());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled transfer fails instead of hanging; progress resumes next call.
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let mut response = request.call().map_err(|e| failed(e.to_string()))?;
    let status = response.status().as_u16();
    let (mut out, start) = match status {
        206 => (
            OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(|e| DataError::io(part, e))?,
            have,
        ),
        200 => (File::create(part).map_err(|e| DataError::io(part, e))?, 0),
        // The range starts at or past the end: the part file is complete
        // (or longer than the file); the checksum decides.
        416 if have > 0 => return Ok(()),
        _ => return Err(failed(format!("the server answered HTTP {status}"))),
    };
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Err(failed(format!(
                    "the connection failed after {} bytes ({e}); call again to resume",
                    start + received
                )))
            }
        };
        out.write_all(&buf[..n])
            .map_err(|e| DataError::io(part, e))?;
        received += n as u64;
    }
    out.sync_all().map_err(|e| DataError::io(part, e))?;
    match announced {
        Some(len) if received < len => Err(failed(format!(
            "the body ended after {received} of {len} bytes; call again to resume"
        ))),
        _ => Ok(()),
    }
}

/// The lowercase hexadecimal SHA-256 of the file's bytes, or of their gzip
/// decompression.
fn digest(path: &Path, gunzip: bool) -> std::io::Result<String> {
    let file = File::open(path)?;
    let mut reader: Box<dyn Read> = if gunzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
