//! Feature scaling and one-hot encoding.
//!
//! A scaler is fitted on the training split only and then applied, with
//! the same statistics, to the validation and test splits: fitting on all
//! the data would leak information about the held-out samples into training.
//!
//! ```
//! use nn_data::StandardScaler;
//! use nn_tensor::Tensor;
//! let train = Tensor::<f64>::from_vec(vec![1., 10., 3., 10.], &[2, 2]);
//! let test = Tensor::<f64>::from_vec(vec![5., 10.], &[1, 2]);
//! let scaler = StandardScaler::fit(&train).unwrap();
//! assert_eq!(scaler.transform(&train).unwrap().to_vec(), vec![-1., 0., 1., 0.]);
//! // Column 1 is constant: it maps to 0 instead of dividing by zero.
//! assert_eq!(scaler.transform(&test).unwrap().to_vec(), vec![3., 0.]);
//! ```

use nn_tensor::{Element, Tensor};

use crate::error::{DataError, Result};

/// Splits `x` `[N, ...]` into its sample count and row length, checking it has samples.
fn rows_of<T: Element>(op: &'static str, x: &Tensor<T>) -> Result<(usize, usize)> {
    match x.shape().first() {
        None => Err(DataError::invalid(
            op,
            "expected features [N, ...], got a scalar",
        )),
        Some(0) => Err(DataError::invalid(
            op,
            format!("cannot fit on features {:?} with no samples", x.shape()),
        )),
        Some(&n) => Ok((n, x.numel() / n)),
    }
}

/// Checks that `x` has the sample shape a scaler was fitted on.
fn check_shape<T: Element>(op: &'static str, x: &Tensor<T>, sample_shape: &[usize]) -> Result<()> {
    if x.ndim() == 0 || &x.shape()[1..] != sample_shape {
        return Err(DataError::invalid(
            op,
            format!(
                "features {:?} do not match the shape [N, {}] the scaler was fitted on",
                x.shape(),
                sample_shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

/// Applies `y = (x - shift[j]) * mul[j] + add[j]` column by column.
fn affine<T: Element>(x: &Tensor<T>, shift: &[f64], mul: &[f64], add: &[f64]) -> Tensor<T> {
    let f = shift.len();
    let out: Vec<T> = x
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let j = i % f;
            T::of((v.to_f64_lossless() - shift[j]) * mul[j] + add[j])
        })
        .collect();
    Tensor::from_vec(out, x.shape())
}

/// Per-column mean and standard deviation of `x` `[N, F...]`, in f64.
fn column_moments<T: Element>(x: &Tensor<T>, n: usize, f: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; f];
    for row in x.as_slice().chunks_exact(f) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v.to_f64_lossless();
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    // Two passes: the centred sum of squares does not cancel catastrophically.
    let mut var = vec![0.0; f];
    for row in x.as_slice().chunks_exact(f) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v.to_f64_lossless() - m;
            *s += d * d;
        }
    }
    let std = var.iter().map(|s| (s / n as f64).sqrt()).collect();
    (mean, std)
}

/// A column that is constant up to rounding has no spread to divide by.
fn is_constant(spread: f64, level: f64) -> bool {
    spread <= 10.0 * f64::EPSILON * level.abs().max(1.0)
}

/// Standardisation: each feature column shifted to mean 0 and scaled to
/// standard deviation 1 (population standard deviation, as scikit-learn's
/// `StandardScaler`). A constant column is only shifted (scale 1), so it
/// becomes 0 rather than NaN.
///
/// Features are `[N, ...]`: every position after the first dimension is a
/// column with its own statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler {
    sample_shape: Vec<usize>,
    mean: Vec<f64>,
    scale: Vec<f64>,
}

impl StandardScaler {
    /// Fits the per-column mean and standard deviation of `x` `[N, ...]`
    /// (the training split). Errors when `x` has no samples.
    pub fn fit<T: Element>(x: &Tensor<T>) -> Result<Self> {
        let (n, f) = rows_of("StandardScaler::fit", x)?;
        let (mean, std) = column_moments(x, n, f);
        let scale = std
            .iter()
            .zip(&mean)
            .map(|(&s, &m)| if is_constant(s, m) { 1.0 } else { s })
            .collect();
        Ok(StandardScaler {
            sample_shape: x.shape()[1..].to_vec(),
            mean,
            scale,
        })
    }

    /// `(x - mean) / std` with the fitted statistics; errors when `x`'s
    /// sample shape differs from the one fitted.
    pub fn transform<T: Element>(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        check_shape("StandardScaler::transform", x, &self.sample_shape)?;
        let mul: Vec<f64> = self.scale.iter().map(|s| 1.0 / s).collect();
        Ok(affine(x, &self.mean, &mul, &vec![0.0; mul.len()]))
    }

    /// Fits on `x` and transforms it.
    pub fn fit_transform<T: Element>(x: &Tensor<T>) -> Result<(Self, Tensor<T>)> {
        let s = Self::fit(x)?;
        let y = s.transform(x)?;
        Ok((s, y))
    }

    /// Undoes [`StandardScaler::transform`]: `x * std + mean`.
    pub fn inverse_transform<T: Element>(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        check_shape("StandardScaler::inverse_transform", x, &self.sample_shape)?;
        let zero = vec![0.0; self.mean.len()];
        Ok(affine(x, &zero, &self.scale, &self.mean))
    }

    /// The fitted mean of each column, flat.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The divisor of each column, flat: the standard deviation, or 1 for a constant column.
    pub fn scale(&self) -> &[f64] {
        &self.scale
    }
}

/// Min-max scaling: each feature column mapped linearly so that its
/// training minimum goes to `low` and its training maximum to `high`
/// (`[0, 1]` by default). Values outside the training range map outside
/// `[low, high]`; a constant column maps to `low`.
///
/// ```
/// use nn_data::MinMaxScaler;
/// use nn_tensor::Tensor;
/// let train = Tensor::<f32>::from_vec(vec![0., 2., 4.], &[3, 1]);
/// let s = MinMaxScaler::fit(&train).unwrap();
/// assert_eq!(s.transform(&train).unwrap().to_vec(), vec![0., 0.5, 1.]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler {
    sample_shape: Vec<usize>,
    min: Vec<f64>,
    scale: Vec<f64>,
    low: f64,
}

impl MinMaxScaler {
    /// Fits to the range `[0, 1]`.
    pub fn fit<T: Element>(x: &Tensor<T>) -> Result<Self> {
        Self::fit_range(x, 0.0, 1.0)
    }

    /// Fits to the range `[low, high]`; errors unless `low < high`, both finite.
    pub fn fit_range<T: Element>(x: &Tensor<T>, low: f64, high: f64) -> Result<Self> {
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(DataError::invalid(
                "MinMaxScaler::fit_range",
                format!("range [{low}, {high}] must be finite with low < high"),
            ));
        }
        let (_, f) = rows_of("MinMaxScaler::fit", x)?;
        let mut min = vec![f64::INFINITY; f];
        let mut max = vec![f64::NEG_INFINITY; f];
        for row in x.as_slice().chunks_exact(f) {
            for ((lo, hi), v) in min.iter_mut().zip(max.iter_mut()).zip(row) {
                let v = v.to_f64_lossless();
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        let scale = min
            .iter()
            .zip(&max)
            .map(|(&lo, &hi)| {
                let range = if is_constant(hi - lo, lo) {
                    1.0
                } else {
                    hi - lo
                };
                (high - low) / range
            })
            .collect();
        Ok(MinMaxScaler {
            sample_shape: x.shape()[1..].to_vec(),
            min,
            scale,
            low,
        })
    }

    /// `(x - min) / (max - min) * (high - low) + low` with the fitted statistics.
    pub fn transform<T: Element>(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        check_shape("MinMaxScaler::transform", x, &self.sample_shape)?;
        Ok(affine(
            x,
            &self.min,
            &self.scale,
            &vec![self.low; self.min.len()],
        ))
    }

    /// Fits to `[0, 1]` on `x` and transforms it.
    pub fn fit_transform<T: Element>(x: &Tensor<T>) -> Result<(Self, Tensor<T>)> {
        let s = Self::fit(x)?;
        let y = s.transform(x)?;
        Ok((s, y))
    }

    /// Undoes [`MinMaxScaler::transform`].
    pub fn inverse_transform<T: Element>(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        check_shape("MinMaxScaler::inverse_transform", x, &self.sample_shape)?;
        let inv: Vec<f64> = self.scale.iter().map(|s| 1.0 / s).collect();
        Ok(affine(x, &vec![self.low; inv.len()], &inv, &self.min))
    }

    /// The fitted minimum of each column, flat.
    pub fn data_min(&self) -> &[f64] {
        &self.min
    }
}

/// One-hot encoding: row `i` of the `[N, num_classes]` result is 1 at
/// column `classes[i]` and 0 elsewhere. Errors on a class `>= num_classes`.
///
/// ```
/// let y = nn_data::one_hot::<f32>(&[2, 0], 3).unwrap();
/// assert_eq!(y.to_vec(), vec![0., 0., 1., 1., 0., 0.]);
/// ```
pub fn one_hot<T: Element>(classes: &[usize], num_classes: usize) -> Result<Tensor<T>> {
    if let Some((i, &c)) = classes.iter().enumerate().find(|&(_, &c)| c >= num_classes) {
        return Err(DataError::invalid(
            "one_hot",
            format!("class {c} of sample {i} is out of range for {num_classes} classes"),
        ));
    }
    let mut out = vec![T::zero(); classes.len() * num_classes];
    for (row, &c) in classes.iter().enumerate() {
        out[row * num_classes + c] = T::one();
    }
    Ok(Tensor::from_vec(out, &[classes.len(), num_classes]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Rng;

    #[test]
    fn standard_scaler_gives_zero_mean_unit_std_on_the_training_split() {
        let mut rng = Rng::seed_from(0);
        let x = Tensor::<f64>::rand_normal(&[200, 3], 5.0, 2.0, &mut rng)
            .mul(&Tensor::from_vec(vec![1.0, 10.0, 0.1], &[3]));
        let (s, y) = StandardScaler::fit_transform(&x).unwrap();
        let m = y.mean_dims(&[0], false).to_vec();
        let v = y.var_dims(&[0], 0, false).to_vec();
        for j in 0..3 {
            assert!(m[j].abs() < 1e-12, "mean {j}: {}", m[j]);
            assert!((v[j] - 1.0).abs() < 1e-12, "var {j}: {}", v[j]);
        }
        let back = s.inverse_transform(&y).unwrap();
        assert!(back.max_abs_diff(&x) < 1e-12);
    }

    #[test]
    fn statistics_come_from_the_training_split_only() {
        let train = Tensor::<f32>::from_vec(vec![0., 2.], &[2, 1]);
        let test = Tensor::<f32>::from_vec(vec![4., -2.], &[2, 1]);
        let s = StandardScaler::fit(&train).unwrap();
        assert_eq!(s.mean(), &[1.0]);
        assert_eq!(s.scale(), &[1.0]);
        assert_eq!(s.transform(&test).unwrap().to_vec(), vec![3., -3.]);
        let mm = MinMaxScaler::fit(&train).unwrap();
        assert_eq!(mm.transform(&test).unwrap().to_vec(), vec![2., -1.]);
    }

    #[test]
    fn constant_columns_do_not_divide_by_zero() {
        let x = Tensor::<f64>::from_vec(vec![7., 1., 7., 2., 7., 3.], &[3, 2]);
        let s = StandardScaler::fit(&x).unwrap();
        let y = s.transform(&x).unwrap();
        assert!(y.all_finite());
        assert_eq!(y.get(&[0, 0]), 0.0);
        assert_eq!(y.get(&[2, 0]), 0.0);
        let mm = MinMaxScaler::fit_range(&x, -1.0, 1.0).unwrap();
        let z = mm.transform(&x).unwrap();
        assert_eq!(z.to_vec(), vec![-1., -1., -1., 0., -1., 1.]);
        assert!(mm.inverse_transform(&z).unwrap().max_abs_diff(&x) < 1e-12);
        assert_eq!(mm.data_min(), &[7.0, 1.0]);
    }

    #[test]
    fn images_are_scaled_per_pixel() {
        let x = Tensor::<f32>::from_vec(vec![0., 1., 2., 3., 4., 5., 6., 7.], &[2, 1, 2, 2]);
        let s = StandardScaler::fit(&x).unwrap();
        assert_eq!(s.mean(), &[2.0, 3.0, 4.0, 5.0]);
        let y = s.transform(&x).unwrap();
        assert_eq!(y.shape(), &[2, 1, 2, 2]);
        assert_eq!(y.to_vec(), vec![-1., -1., -1., -1., 1., 1., 1., 1.]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let e = StandardScaler::fit(&Tensor::<f32>::zeros(&[0, 3])).unwrap_err();
        assert!(e.to_string().contains("no samples"), "{e}");
        let s = StandardScaler::fit(&Tensor::<f32>::ones(&[2, 3])).unwrap();
        let e = s.transform(&Tensor::<f32>::ones(&[2, 4])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "StandardScaler::transform: features [2, 4] do not match the shape [N, 3] the scaler was fitted on"
        );
        assert!(MinMaxScaler::fit_range(&Tensor::<f32>::ones(&[2, 3]), 1.0, 1.0).is_err());
        assert!(MinMaxScaler::fit(&Tensor::<f32>::scalar(1.0)).is_err());
    }

    #[test]
    fn one_hot_encodes_and_checks_range() {
        let y = one_hot::<f64>(&[1, 0, 1], 2).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_vec(), vec![0., 1., 1., 0., 0., 1.]);
        let e = one_hot::<f64>(&[0, 3], 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "one_hot: class 3 of sample 1 is out of range for 3 classes"
        );
        assert_eq!(one_hot::<f32>(&[], 4).unwrap().shape(), &[0, 4]);
    }
}
