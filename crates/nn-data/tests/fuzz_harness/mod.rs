//! How a fuzz input drives the nn-data loaders. Shared, through `#[path]`,
//! by the cargo-fuzz targets in `fuzz/` and by the `fuzz_regressions` test,
//! so a committed input replays exactly as the fuzzer ran it.
//!
//! A loader may return `Ok` or `Err` for any input; anything else (a panic,
//! an allocation beyond the input's size, a hang) is a bug.

use std::io::Write;
use std::path::Path;

use nn_data::csv::{parse_csv, Column, CsvOptions, Delimiter};
use nn_data::idx::{decode_idx, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};

/// Decodes the bytes as an IDX file (gzip when they start with the gzip
/// magic) with both MNIST magic numbers; a success must be self-consistent.
pub fn idx(data: &[u8]) {
    for magic in [IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC] {
        if let Ok(a) = decode_idx(data.to_vec(), Path::new("fuzz.idx"), magic) {
            let n: usize = a.dims.iter().product();
            assert_eq!(a.data.len(), n, "IDX dims {:?} vs data", a.dims);
            assert_eq!(a.dims.len(), (magic & 0xff) as usize);
        }
    }
}

/// Gzips the bytes first, so the fuzzer explores what the gzip path does
/// with arbitrary decompressed content (declared sizes against the
/// decompression bound), not only with broken gzip streams.
pub fn idx_gz(data: &[u8]) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    idx(&enc.finish().unwrap());
}

/// The first byte picks the options (header, delimiter, label column,
/// comment); the rest, as UTF-8 with invalid bytes replaced, is the table.
/// A parsed table is then turned into both kinds of data set.
pub fn csv(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let delimiter = match sel & 3 {
        0 => Delimiter::Char(','),
        1 => Delimiter::Char(';'),
        2 => Delimiter::Char('\t'),
        _ => Delimiter::Whitespace,
    };
    let mut options = CsvOptions::new().header(sel & 4 != 0).delimiter(delimiter);
    options = match (sel >> 3) & 3 {
        0 => options,
        1 => options.label_column(Column::First),
        2 => options.label_column(Column::Last),
        _ => options.label_column(Column::Index((sel >> 6) as usize)),
    };
    if sel & 0x20 != 0 {
        options = options.comment('#');
    }
    let text = String::from_utf8_lossy(rest);
    if let Ok(table) = parse_csv(&text, &options, "fuzz.csv") {
        let rows = table.rows();
        if let Some(labels) = &table.labels {
            assert_eq!(labels.len(), rows);
        }
        let _ = table.class_labels();
        let _ = table.clone().into_classification::<f32>();
        let _ = table.into_regression::<f64>();
    }
}
