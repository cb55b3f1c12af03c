//! Small classic data sets compiled into the crate, so every example and
//! test has data on a fresh clone with no download. Sources and licences are
//! in `crates/nn-data/data/README.md`.
//!
//! | function | task | samples × features | targets |
//! |---|---|---|---|
//! | [`digits`] | classification, 8×8 handwritten digits (pixels 0–16) | 1797 × 64 | 10 classes |
//! | [`iris`] | classification, Fisher's iris | 150 × 4 | 3 classes |
//! | [`breast_cancer`] | classification, Wisconsin diagnostic | 569 × 30 | 2 classes |
//! | [`diabetes`] | regression, disease progression after one year | 442 × 10 | `[442, 1]` |
//!
//! Features come as `f64`; [`Classification::cast`] and [`Regression::cast`]
//! convert them for training in `f32`.
//!
//! ```
//! let iris = nn_data::iris().cast::<f32>();
//! assert_eq!(iris.features.shape(), &[150, 4]);
//! assert_eq!(iris.class_names[iris.targets[0]], "setosa");
//! ```

use std::io::Read;

use nn_tensor::{Element, Tensor};

use crate::csv::{parse_csv, Column, CsvOptions, Delimiter};
use crate::dataset::TensorDataset;

const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");
const IRIS_CSV: &[u8] = include_bytes!("../data/iris.csv");
const BREAST_CANCER_CSV: &[u8] = include_bytes!("../data/breast_cancer.csv");
const DIABETES_DATA_GZ: &[u8] = include_bytes!("../data/diabetes_data_raw.csv.gz");
const DIABETES_TARGET_GZ: &[u8] = include_bytes!("../data/diabetes_target.csv.gz");

/// A classification data set: features, one class index per sample, and names.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification<T: Element = f64> {
    /// The features, `[N, F]`.
    pub features: Tensor<T>,
    /// The class index of each sample, in `0..class_names.len()`.
    pub targets: Vec<usize>,
    /// The name of each class.
    pub class_names: Vec<String>,
    /// The name of each feature column.
    pub feature_names: Vec<String>,
}

impl<T: Element> Classification<T> {
    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The same data with features of another element type.
    pub fn cast<U: Element>(&self) -> Classification<U> {
        Classification {
            features: self.features.cast(),
            targets: self.targets.clone(),
            class_names: self.class_names.clone(),
            feature_names: self.feature_names.clone(),
        }
    }

    /// The features and targets as a [`TensorDataset`].
    pub fn to_dataset(&self) -> TensorDataset<T> {
        TensorDataset::classification(self.features.clone(), self.targets.clone())
            .expect("embedded data have one target per row")
    }
}

/// A regression data set: features and one real target per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression<T: Element = f64> {
    /// The features, `[N, F]`.
    pub features: Tensor<T>,
    /// The targets, `[N, 1]` (the shape a one-output model produces).
    pub targets: Tensor<T>,
    /// The name of each feature column.
    pub feature_names: Vec<String>,
}

impl<T: Element> Regression<T> {
    /// The same data in another element type.
    pub fn cast<U: Element>(&self) -> Regression<U> {
        Regression {
            features: self.features.cast(),
            targets: self.targets.cast(),
            feature_names: self.feature_names.clone(),
        }
    }

    /// The features and targets as a [`TensorDataset`].
    pub fn to_dataset(&self) -> TensorDataset<T> {
        TensorDataset::regression(self.features.clone(), self.targets.clone())
            .expect("embedded data have one target per row")
    }
}

/// The UCI optical recognition of handwritten digits: 1797 images of 8×8
/// pixels with values 0–16, flattened row by row to 64 features (reshape to
/// `[N, 1, 8, 8]` for a convolutional network); classes `"0"` to `"9"`.
///
/// Source: E. Alpaydin, C. Kaynak, UCI Machine Learning Repository; CC BY 4.0.
pub fn digits() -> Classification {
    let text = gunzip(DIGITS_CSV_GZ, "digits.csv.gz");
    let opts = CsvOptions::new().label_column(Column::Last);
    let t = parse_csv(&text, &opts, "digits.csv").expect("embedded digits.csv is valid");
    Classification {
        targets: t
            .class_labels()
            .expect("embedded digits labels are classes"),
        features: t.features,
        class_names: (0..10).map(|d| d.to_string()).collect(),
        feature_names: (0..64)
            .map(|i| format!("pixel_{}_{}", i / 8, i % 8))
            .collect(),
    }
}

/// Fisher's iris: 150 flowers, 4 measurements in cm (sepal length and width,
/// petal length and width), classes setosa, versicolor, virginica (50 each).
///
/// Source: R. A. Fisher (1936), UCI Machine Learning Repository; CC BY 4.0.
pub fn iris() -> Classification {
    let features = [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ];
    with_counts_header(
        IRIS_CSV,
        "iris.csv",
        features.iter().map(|s| s.to_string()).collect(),
    )
}

/// Breast Cancer Wisconsin (Diagnostic): 569 tumours, 30 features of the cell
/// nuclei (mean, standard error and worst of ten measurements); classes
/// malignant (0, 212 samples) and benign (1, 357 samples).
///
/// Source: W. Wolberg, W. N. Street, O. Mangasarian, UCI Machine Learning
/// Repository; CC BY 4.0.
pub fn breast_cancer() -> Classification {
    let bases = [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    ];
    let names = bases
        .iter()
        .map(|b| format!("mean {b}"))
        .chain(bases.iter().map(|b| format!("{b} error")))
        .chain(bases.iter().map(|b| format!("worst {b}")))
        .collect();
    with_counts_header(BREAST_CANCER_CSV, "breast_cancer.csv", names)
}

/// The diabetes regression data of Efron et al. (2004), raw (unscaled):
/// 442 patients, 10 features (age, sex, body-mass index, blood pressure and
/// six blood serum measurements s1–s6), and a measure of disease
/// progression one year later as the target (`[442, 1]`, 25 to 346).
///
/// Source: B. Efron, T. Hastie, I. Johnstone, R. Tibshirani (2004), "Least
/// Angle Regression", Annals of Statistics 32(2).
pub fn diabetes() -> Regression {
    let data = gunzip(DIABETES_DATA_GZ, "diabetes_data_raw.csv.gz");
    let opts = CsvOptions::new().delimiter(Delimiter::Whitespace);
    let x =
        parse_csv(&data, &opts, "diabetes_data_raw.csv").expect("embedded diabetes data is valid");
    let target = gunzip(DIABETES_TARGET_GZ, "diabetes_target.csv.gz");
    let y = parse_csv(&target, &opts, "diabetes_target.csv")
        .expect("embedded diabetes target is valid");
    assert_eq!(x.rows(), y.rows(), "embedded diabetes files disagree");
    let n = y.rows();
    Regression {
        features: x.features,
        targets: y.features.reshape([n, 1]),
        feature_names: [
            "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    }
}

/// Parses a table whose first line is `rows,features,class names...` and
/// whose rows end in the class index, checking the counts it announces.
fn with_counts_header(bytes: &[u8], name: &str, feature_names: Vec<String>) -> Classification {
    let text = std::str::from_utf8(bytes).expect("embedded tables are UTF-8");
    let (first, rest) = text.split_once('\n').expect("embedded table has a header");
    let head: Vec<&str> = first.trim().split(',').collect();
    let rows: usize = head[0].parse().expect("row count in header");
    let cols: usize = head[1].parse().expect("feature count in header");
    let class_names: Vec<String> = head[2..].iter().map(|s| s.to_string()).collect();
    let opts = CsvOptions::new().label_column(Column::Last);
    let t = parse_csv(rest, &opts, name).expect("embedded table is valid");
    assert_eq!(
        t.features.shape(),
        &[rows, cols],
        "{name} disagrees with its header"
    );
    assert_eq!(feature_names.len(), cols, "{name}: feature names");
    let targets = t.class_labels().expect("embedded labels are classes");
    assert!(
        targets.iter().all(|&c| c < class_names.len()),
        "{name}: class out of range"
    );
    Classification {
        features: t.features,
        targets,
        class_names,
        feature_names,
    }
}

fn gunzip(bytes: &[u8], name: &str) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("embedded {name} is a valid gzip text file: {e}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(targets: &[usize], k: usize) -> Vec<usize> {
        let mut c = vec![0; k];
        for &t in targets {
            c[t] += 1;
        }
        c
    }

    #[test]
    fn digits_shape_classes_and_known_rows() {
        let d = digits();
        assert_eq!(d.features.shape(), &[1797, 64]);
        assert_eq!(
            counts(&d.targets, 10),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert_eq!(d.targets[0], 0);
        assert_eq!(
            &d.features.to_vec()[..8],
            &[0., 0., 5., 13., 9., 1., 0., 0.]
        );
        assert_eq!(d.targets[1796], 8);
        assert_eq!(d.features.max_all(), 16.0);
        assert_eq!(d.feature_names[9], "pixel_1_1");
    }

    #[test]
    fn iris_shape_classes_and_known_rows() {
        let d = iris();
        assert_eq!(d.features.shape(), &[150, 4]);
        assert_eq!(d.class_names, vec!["setosa", "versicolor", "virginica"]);
        assert_eq!(counts(&d.targets, 3), vec![50, 50, 50]);
        assert_eq!(&d.features.to_vec()[..4], &[5.1, 3.5, 1.4, 0.2]);
        assert_eq!(&d.features.to_vec()[596..], &[5.9, 3.0, 5.1, 1.8]);
        assert_eq!(d.targets[149], 2);
        let ds = d.cast::<f32>().to_dataset();
        assert_eq!(ds.features().get(&[0, 0]), 5.1f32);
    }

    #[test]
    fn breast_cancer_shape_classes_and_known_rows() {
        let d = breast_cancer();
        assert_eq!(d.features.shape(), &[569, 30]);
        assert_eq!(d.class_names, vec!["malignant", "benign"]);
        assert_eq!(counts(&d.targets, 2), vec![212, 357]);
        assert_eq!(&d.features.to_vec()[..4], &[17.99, 10.38, 122.8, 1001.0]);
        assert_eq!(d.feature_names[0], "mean radius");
        assert_eq!(d.feature_names[29], "worst fractal dimension");
    }

    #[test]
    fn diabetes_shape_and_known_rows() {
        let d = diabetes();
        assert_eq!(d.features.shape(), &[442, 10]);
        assert_eq!(d.targets.shape(), &[442, 1]);
        assert_eq!(
            &d.features.to_vec()[..10],
            &[59., 2., 32.1, 101., 157., 93.2, 38., 4., 4.8598, 87.]
        );
        assert_eq!(d.targets.get(&[0, 0]), 151.0);
        assert_eq!(d.targets.get(&[441, 0]), 57.0);
        assert_eq!(d.targets.min_all(), 25.0);
        assert_eq!(d.targets.max_all(), 346.0);
        assert_eq!(d.cast::<f32>().to_dataset().len(), 442);
    }
}
