//! A loader for numeric CSV (and whitespace-separated) tables.
//!
//! Every field must be a finite number (surrounding spaces and double quotes
//! are ignored); blank lines are skipped. Errors name the source, the line
//! and the column.
//!
//! ```
//! use nn_data::csv::{parse_csv, Column, CsvOptions};
//! let text = "x1,x2,y\n1.0,2.0,0\n3.0,4.0,1\n";
//! let opts = CsvOptions::new().header(true).label_column(Column::Last);
//! let t = parse_csv(text, &opts, "toy.csv").unwrap();
//! assert_eq!(t.features.shape(), &[2, 2]);
//! assert_eq!(t.class_labels().unwrap(), vec![0, 1]);
//! assert_eq!(t.header.unwrap(), vec!["x1", "x2", "y"]);
//! ```

use std::path::Path;

use nn_tensor::{Element, Tensor};

use crate::dataset::TensorDataset;
use crate::error::{DataError, Result};

/// How fields are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// One character, such as `,`, `;` or `\t`.
    Char(char),
    /// Any run of spaces and tabs (the format of many older data files).
    Whitespace,
}

/// A column, counted from the left or the right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// The first column.
    First,
    /// The last column.
    Last,
    /// The column with this 0-based index.
    Index(usize),
}

/// Options for [`read_csv`] and [`parse_csv`]. The default reads a
/// comma-separated table without a header and without a label column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Whether the first non-blank line holds column names.
    pub has_header: bool,
    /// The field separator.
    pub delimiter: Delimiter,
    /// The column holding the label or target, taken out of the features.
    pub label_column: Option<Column>,
    /// Lines starting with this character are skipped.
    pub comment: Option<char>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: false,
            delimiter: Delimiter::Char(','),
            label_column: None,
            comment: None,
        }
    }
}

impl CsvOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether the first line is a header.
    pub fn header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// Sets the delimiter.
    pub fn delimiter(mut self, delimiter: Delimiter) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Sets the label column.
    pub fn label_column(mut self, column: Column) -> Self {
        self.label_column = Some(column);
        self
    }

    /// Sets the comment character.
    pub fn comment(mut self, c: char) -> Self {
        self.comment = Some(c);
        self
    }
}

/// A parsed numeric table.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvTable {
    /// The column names, all columns included, when the table has a header.
    pub header: Option<Vec<String>>,
    /// The feature columns, `[rows, columns]` (the label column removed).
    pub features: Tensor<f64>,
    /// The label column, when one was asked for.
    pub labels: Option<Vec<f64>>,
    /// Where the table came from, for error messages.
    source: String,
    /// The 1-based line of each data row.
    lines: Vec<usize>,
    /// The 1-based column of the labels.
    label_col: usize,
}

impl CsvTable {
    /// The number of data rows.
    pub fn rows(&self) -> usize {
        self.features.shape()[0]
    }

    /// The labels as class indices; errors (naming line and column) on a
    /// label that is not a non-negative integer, or when there is no label column.
    pub fn class_labels(&self) -> Result<Vec<usize>> {
        let labels = self.labels.as_ref().ok_or_else(|| {
            DataError::invalid("CsvTable::class_labels", "the table has no label column")
        })?;
        labels
            .iter()
            .zip(&self.lines)
            .map(|(&y, &line)| {
                if y >= 0.0 && y.fract() == 0.0 && y <= u32::MAX as f64 {
                    Ok(y as usize)
                } else {
                    Err(DataError::Csv {
                        source: self.source.clone(),
                        line,
                        column: Some(self.label_col),
                        message: format!("label {y} is not a class index (a non-negative integer)"),
                    })
                }
            })
            .collect()
    }

    /// The table as a classification data set (features cast to `T`).
    pub fn into_classification<T: Element>(self) -> Result<TensorDataset<T>> {
        let classes = self.class_labels()?;
        TensorDataset::classification(self.features.cast(), classes)
    }

    /// The table as a regression data set: features `[N, F]`, targets `[N, 1]`.
    pub fn into_regression<T: Element>(self) -> Result<TensorDataset<T>> {
        let labels = self.labels.ok_or_else(|| {
            DataError::invalid("CsvTable::into_regression", "the table has no label column")
        })?;
        let n = labels.len();
        TensorDataset::regression(
            self.features.cast(),
            Tensor::<f64>::from_vec(labels, &[n, 1]).cast(),
        )
    }
}

/// Reads a numeric table from a file (see [`parse_csv`]).
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvTable> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse_csv(&text, options, &path.display().to_string())
}

/// Parses a numeric table from text; `source` names it in errors.
///
/// Errors when a field is not a finite number, a row has a different number
/// of fields than the first, the label column does not exist, or there are
/// no data rows.
pub fn parse_csv(text: &str, options: &CsvOptions, source: &str) -> Result<CsvTable> {
    let err = |line: usize, column: Option<usize>, message: String| DataError::Csv {
        source: source.to_string(),
        line,
        column,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut header: Option<Vec<String>> = None;
    let mut width: Option<usize> = None;
    let mut values: Vec<f64> = Vec::new();
    let mut lines = Vec::new();
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        last_line = line_no;
        let line = raw.trim();
        if line.is_empty() || options.comment.is_some_and(|c| line.starts_with(c)) {
            continue;
        }
        let fields = split_fields(line, options.delimiter);
        if options.has_header && header.is_none() {
            width = Some(fields.len());
            header = Some(fields.iter().map(|f| unquote(f).to_string()).collect());
            continue;
        }
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(err(
                line_no,
                None,
                format!("{} fields where the table has {w} columns", fields.len()),
            ));
        }
        for (c, f) in fields.iter().enumerate() {
            let f = unquote(f);
            let v: f64 = f
                .parse()
                .map_err(|_| err(line_no, Some(c + 1), format!("{f:?} is not a number")))?;
            if !v.is_finite() {
                return Err(err(
                    line_no,
                    Some(c + 1),
                    format!("{f:?} is not a finite number"),
                ));
            }
            values.push(v);
        }
        lines.push(line_no);
    }
    let Some(width) = width.filter(|_| !lines.is_empty()) else {
        return Err(err(
            last_line.max(1),
            None,
            "the table has no data rows".into(),
        ));
    };
    let label_col = match options.label_column {
        None => None,
        Some(Column::First) => Some(0),
        Some(Column::Last) => Some(width - 1),
        Some(Column::Index(i)) if i < width => Some(i),
        Some(Column::Index(i)) => {
            return Err(err(
                lines[0],
                Some(i + 1),
                format!("label column {i} (0-based) does not exist: rows have {width} fields"),
            ))
        }
    };
    let rows = lines.len();
    let (features, labels, label_col) = match label_col {
        None => (Tensor::from_vec(values, &[rows, width]), None, 0),
        Some(l) => {
            let mut feats = Vec::with_capacity(rows * (width - 1));
            let mut labs = Vec::with_capacity(rows);
            for row in values.chunks_exact(width) {
                feats.extend_from_slice(&row[..l]);
                feats.extend_from_slice(&row[l + 1..]);
                labs.push(row[l]);
            }
            (
                Tensor::from_vec(feats, &[rows, width - 1]),
                Some(labs),
                l + 1,
            )
        }
    };
    Ok(CsvTable {
        header,
        features,
        labels,
        source: source.to_string(),
        lines,
        label_col,
    })
}

fn split_fields(line: &str, delimiter: Delimiter) -> Vec<&str> {
    match delimiter {
        Delimiter::Whitespace => line.split_whitespace().collect(),
        Delimiter::Char(c) => line.split(c).map(str::trim).collect(),
    }
}

fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|g| g.strip_suffix('"'))
        .map(str::trim)
        .unwrap_or(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plain_table() {
        let t = parse_csv("1,2\n3,4\n\n5,6\n", &CsvOptions::new(), "t").unwrap();
        assert_eq!(t.features.shape(), &[3, 2]);
        assert_eq!(t.features.to_vec(), vec![1., 2., 3., 4., 5., 6.]);
        assert!(t.labels.is_none() && t.header.is_none());
        assert_eq!(t.rows(), 3);
    }

    #[test]
    fn whitespace_tabs_quotes_crlf_and_comments() {
        let text = "# a comment\r\n 1\t 2.5   -3 \r\n\"4\" 5e-1 6\r\n";
        let o = CsvOptions::new()
            .delimiter(Delimiter::Whitespace)
            .comment('#')
            .label_column(Column::First);
        let t = parse_csv(text, &o, "t").unwrap();
        assert_eq!(t.features.to_vec(), vec![2.5, -3., 0.5, 6.]);
        assert_eq!(t.labels.unwrap(), vec![1., 4.]);
        let semi = parse_csv(
            "a;b\n1;2\n",
            &CsvOptions::new()
                .header(true)
                .delimiter(Delimiter::Char(';')),
            "t",
        )
        .unwrap();
        assert_eq!(semi.header.unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn label_column_by_index_is_removed_from_features() {
        let o = CsvOptions::new().label_column(Column::Index(1));
        let t = parse_csv("1,9,2\n3,8,4\n", &o, "t").unwrap();
        assert_eq!(t.features.to_vec(), vec![1., 2., 3., 4.]);
        assert_eq!(t.labels.clone().unwrap(), vec![9., 8.]);
        let ds = t.into_regression::<f32>().unwrap();
        assert_eq!(ds.targets().values().unwrap().shape(), &[2, 1]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_csv(
            "h1,h2\n1,2\n3,x\n",
            &CsvOptions::new().header(true),
            "f.csv",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 3, column 2: \"x\" is not a number"
        );
        let e = parse_csv("1,2\n3\n", &CsvOptions::new(), "f.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 2: 1 fields where the table has 2 columns"
        );
        let e = parse_csv("1,,2\n", &CsvOptions::new(), "f.csv").unwrap_err();
        assert!(e.to_string().contains("line 1, column 2"), "{e}");
        let e = parse_csv("1,nan\n", &CsvOptions::new(), "f.csv").unwrap_err();
        assert!(e.to_string().contains("not a finite number"), "{e}");
        let e = parse_csv("a,b\n", &CsvOptions::new().header(true), "f.csv").unwrap_err();
        assert!(e.to_string().contains("no data rows"), "{e}");
        assert!(parse_csv("", &CsvOptions::new(), "f.csv").is_err());
        let o = CsvOptions::new().label_column(Column::Index(5));
        let e = parse_csv("\n1,2\n", &o, "f.csv").unwrap_err();
        assert!(e.to_string().starts_with("f.csv: line 2, column 6:"), "{e}");
    }

    #[test]
    fn class_labels_must_be_non_negative_integers() {
        let o = CsvOptions::new().label_column(Column::Last);
        let t = parse_csv("1,0\n2,2\n", &o, "f.csv").unwrap();
        assert_eq!(
            t.clone()
                .into_classification::<f64>()
                .unwrap()
                .classes()
                .unwrap(),
            &[0, 2]
        );
        let t = parse_csv("1,0\n\n2,1.5\n", &o, "f.csv").unwrap();
        let e = t.class_labels().unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 3, column 2: label 1.5 is not a class index (a non-negative integer)"
        );
        let t = parse_csv("1,-1\n", &o, "f.csv").unwrap();
        assert!(t.class_labels().is_err());
        let none = parse_csv("1,2\n", &CsvOptions::new(), "f.csv").unwrap();
        assert!(none.class_labels().is_err() && none.into_regression::<f64>().is_err());
    }

    #[test]
    fn read_csv_names_a_missing_file() {
        let e = read_csv("/nonexistent/table.csv", &CsvOptions::new()).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/table.csv: "), "{e}");
    }
}
