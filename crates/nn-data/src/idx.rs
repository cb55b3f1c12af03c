//! The IDX file format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is a big-endian `u32` magic number (`0x00000803` for images,
//! `0x00000801` for labels: two zero bytes, the element type `0x08` = `u8`,
//! and the number of dimensions), one big-endian `u32` per dimension, then
//! the values row-major.
//!
//! The reader trusts nothing in the header: the declared sizes are checked
//! against the bytes actually present before anything is allocated for them
//! (for `.gz`, against the most a gzip file of that length can decompress
//! to, and decompression stops one byte past the declared size), and every
//! problem comes back as a [`DataError`] naming the file.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{DataError, Result};

/// The magic number of an IDX file of `u8` images `[n, rows, cols]`.
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// The magic number of an IDX file of `u8` labels `[n]`.
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// DEFLATE cannot expand data by more than 1032 to 1, so a gzip file of `c`
/// bytes cannot hold more than about `1032 c` bytes.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The contents of an IDX file of `u8` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, as declared in the header and checked against the data.
    pub dims: Vec<usize>,
    /// The values, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The number of items (the first dimension).
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads an IDX file of `u8` images `[n, rows, cols]` (magic `0x803`), raw or gzip.
///
/// Errors when the file cannot be read, the magic number is wrong, an image
/// has zero rows or columns, or the length differs from what the header declares.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let a = read_idx(path, IDX_IMAGES_MAGIC)?;
    if a.dims[1] == 0 || a.dims[2] == 0 {
        return Err(DataError::dims(
            path,
            format!(
                "images of {} x {} pixels: rows and columns must be at least 1",
                a.dims[1], a.dims[2]
            ),
        ));
    }
    Ok(a)
}

/// Reads an IDX file of `u8` labels `[n]` (magic `0x801`), raw or gzip.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<IdxArray> {
    read_idx(path.as_ref(), IDX_LABELS_MAGIC)
}

/// Reads an IDX file of `u8` values with the given magic number, raw or
/// gzip (recognised by its first two bytes, not its name).
pub fn read_idx(path: impl AsRef<Path>, expected_magic: u32) -> Result<IdxArray> {
    let path = path.as_ref();
    // Reading the file itself allocates exactly what the file holds.
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_idx(bytes, path, expected_magic)
}

/// Decodes IDX bytes already in memory (raw or gzip); `path` only names the
/// source in errors.
pub fn decode_idx(bytes: Vec<u8>, path: &Path, expected_magic: u32) -> Result<IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        decode_gz(&bytes, path, expected_magic)
    } else {
        decode_raw(bytes, path, expected_magic)
    }
}

/// The parsed header: the dimensions and the header and body lengths in bytes.
struct Header {
    dims: Vec<usize>,
    header_len: u64,
    body_len: u64,
}

impl Header {
    fn total(&self) -> u64 {
        self.header_len + self.body_len
    }
}

/// Parses the header from `src`, which yields at most the header's bytes.
/// `available` is how many bytes were readable, for the truncation message.
fn parse_header(src: &mut dyn Read, path: &Path, expected_magic: u32) -> Result<Header> {
    let mut magic = [0u8; 4];
    let got = read_up_to(src, &mut magic, path)?;
    if got < 4 {
        return Err(DataError::LengthMismatch {
            path: path.to_path_buf(),
            declared: 4,
            actual: got as u64,
        });
    }
    let found = u32::from_be_bytes(magic);
    if found != expected_magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: expected_magic,
            found,
        });
    }
    let ndims = (found & 0xff) as usize;
    let header_len = 4 + 4 * ndims as u64;
    let mut raw_dims = vec![0u8; 4 * ndims];
    let got = read_up_to(src, &mut raw_dims, path)?;
    if got < raw_dims.len() {
        return Err(DataError::LengthMismatch {
            path: path.to_path_buf(),
            declared: header_len,
            actual: 4 + got as u64,
        });
    }
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let body_len = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&b| b.checked_add(header_len).is_some())
        .ok_or_else(|| {
            DataError::dims(path, format!("dimensions {dims:?} overflow a 64-bit size"))
        })?;
    Ok(Header {
        dims,
        header_len,
        body_len,
    })
}

fn decode_raw(mut bytes: Vec<u8>, path: &Path, expected_magic: u32) -> Result<IdxArray> {
    let header = parse_header(&mut bytes.as_slice(), path, expected_magic)?;
    if header.total() != bytes.len() as u64 {
        return Err(DataError::LengthMismatch {
            path: path.to_path_buf(),
            declared: header.total(),
            actual: bytes.len() as u64,
        });
    }
    // Reuse the file's buffer: shift the values to its start.
    bytes.drain(..header.header_len as usize);
    Ok(IdxArray {
        dims: header.dims,
        data: bytes,
    })
}

fn decode_gz(compressed: &[u8], path: &Path, expected_magic: u32) -> Result<IdxArray> {
    let mut dec = MultiGzDecoder::new(compressed);
    let header = parse_header(&mut dec, path, expected_magic)?;
    let bound = (compressed.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
    if header.body_len > bound {
        return Err(DataError::dims(
            path,
            format!(
                "dimensions {:?} declare {} bytes of values, more than a {}-byte gzip file can hold",
                header.dims,
                header.body_len,
                compressed.len()
            ),
        ));
    }
    let body_len = usize::try_from(header.body_len).map_err(|_| {
        DataError::dims(path, format!("dimensions {:?} exceed memory", header.dims))
    })?;
    // Reserve no more than a plausible share of the declared size up front;
    // the buffer grows only as decompressed bytes actually arrive.
    let reserve = body_len.min(compressed.len().saturating_mul(16).saturating_add(4096));
    let mut data = Vec::with_capacity(reserve);
    // One byte past the declared size is enough to tell "longer than declared".
    dec.take(header.body_len + 1)
        .read_to_end(&mut data)
        .map_err(|e| gz_error(path, e))?;
    if data.len() as u64 != header.body_len {
        return Err(DataError::LengthMismatch {
            path: path.to_path_buf(),
            declared: header.total(),
            actual: header.header_len + data.len() as u64,
        });
    }
    Ok(IdxArray {
        dims: header.dims,
        data,
    })
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_up_to(src: &mut dyn Read, buf: &mut [u8], path: &Path) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(gz_error(path, e)),
        }
    }
    Ok(filled)
}

fn gz_error(path: &Path, e: std::io::Error) -> DataError {
    DataError::io(
        path,
        std::io::Error::new(e.kind(), format!("corrupt or truncated gzip data: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    pub(crate) fn idx_bytes(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    pub(crate) fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn p() -> &'static Path {
        Path::new("x.idx")
    }

    #[test]
    fn decodes_raw_and_gz_alike() {
        let body: Vec<u8> = (0..24).collect();
        let raw = idx_bytes(IDX_IMAGES_MAGIC, &[2, 3, 4], &body);
        for bytes in [raw.clone(), gz(&raw)] {
            let a = decode_idx(bytes, p(), IDX_IMAGES_MAGIC).unwrap();
            assert_eq!(a.dims, vec![2, 3, 4]);
            assert_eq!(a.data, body);
            assert_eq!(a.len(), 2);
        }
    }

    #[test]
    fn wrong_magic_is_reported_with_both_numbers() {
        let raw = idx_bytes(IDX_LABELS_MAGIC, &[3], &[1, 2, 3]);
        for bytes in [raw.clone(), gz(&raw)] {
            let e = decode_idx(bytes, p(), IDX_IMAGES_MAGIC).unwrap_err();
            assert!(matches!(
                e,
                DataError::BadMagic {
                    expected: 0x803,
                    found: 0x801,
                    ..
                }
            ));
            assert_eq!(
                e.to_string(),
                "x.idx: wrong magic number 0x00000801, expected 0x00000803"
            );
        }
        // Not an IDX file at all (a text file, say).
        let e = decode_idx(b"hello world".to_vec(), p(), IDX_LABELS_MAGIC).unwrap_err();
        assert!(matches!(e, DataError::BadMagic { .. }), "{e}");
    }

    #[test]
    fn truncated_files_are_reported() {
        let raw = idx_bytes(IDX_IMAGES_MAGIC, &[2, 2, 2], &[0; 8]);
        // Cut in the values, in the dimensions and in the magic number.
        for cut in [raw.len() - 1, 9, 2, 0] {
            let short = raw[..cut].to_vec();
            for bytes in [short.clone(), gz(&short)] {
                let e = decode_idx(bytes, p(), IDX_IMAGES_MAGIC).unwrap_err();
                match e {
                    DataError::LengthMismatch {
                        declared, actual, ..
                    } => assert!(actual < declared, "cut {cut}: {declared} {actual}"),
                    other => panic!("cut {cut}: unexpected {other}"),
                }
            }
        }
        let e = decode_idx(raw[..raw.len() - 3].to_vec(), p(), IDX_IMAGES_MAGIC).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.idx: file truncated: the header declares 24 bytes but it holds 21"
        );
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let raw = idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 2, 3]);
        for bytes in [raw.clone(), gz(&raw)] {
            let e = decode_idx(bytes, p(), IDX_LABELS_MAGIC).unwrap_err();
            assert!(
                matches!(
                    e,
                    DataError::LengthMismatch {
                        declared: 10,
                        actual: 11,
                        ..
                    }
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn huge_declared_sizes_in_a_tiny_file_allocate_nothing() {
        // 4e9 * 4e9 * 4e9 overflows u64; 60000 x 65535 x 65535 does not but
        // is far more than the file holds.
        let overflow = idx_bytes(IDX_IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[1]);
        let e = decode_idx(overflow.clone(), p(), IDX_IMAGES_MAGIC).unwrap_err();
        assert!(matches!(e, DataError::BadDims { .. }), "{e}");
        assert!(e.to_string().contains("overflow"), "{e}");
        let big = idx_bytes(IDX_IMAGES_MAGIC, &[60000, 65535, 65535], &[1, 2, 3]);
        let e = decode_idx(big.clone(), p(), IDX_IMAGES_MAGIC).unwrap_err();
        assert!(matches!(e, DataError::LengthMismatch { .. }), "{e}");
        let e = decode_idx(gz(&big), p(), IDX_IMAGES_MAGIC).unwrap_err();
        assert!(e.to_string().contains("more than a"), "{e}");
        // Declared size within the gzip bound but not present: truncated,
        // found without reserving the declared size.
        let mid = idx_bytes(IDX_LABELS_MAGIC, &[20_000], &[7; 10]);
        let e = decode_idx(gz(&mid), p(), IDX_LABELS_MAGIC).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LengthMismatch {
                    declared: 20_008,
                    actual: 18,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn corrupt_gzip_is_an_io_error_naming_the_file() {
        let raw = idx_bytes(IDX_LABELS_MAGIC, &[1000], &[5; 1000]);
        let mut z = gz(&raw);
        let n = z.len();
        z.truncate(n / 2);
        let e = decode_idx(z, p(), IDX_LABELS_MAGIC).unwrap_err();
        assert!(e.to_string().starts_with("x.idx: "), "{e}");
    }

    #[test]
    fn zero_sized_images_are_rejected() {
        let dir = std::env::temp_dir().join(format!("nn-data-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("zero.idx");
        std::fs::write(&f, idx_bytes(IDX_IMAGES_MAGIC, &[5, 0, 28], &[])).unwrap();
        let e = read_idx_images(&f).unwrap_err();
        assert!(matches!(e, DataError::BadDims { .. }), "{e}");
        let e = read_idx_images(dir.join("absent.idx")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
