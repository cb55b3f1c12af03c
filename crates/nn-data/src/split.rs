//! Train / validation / test splits by fractions, optionally stratified.
//!
//! ```
//! use nn_data::{SplitFractions, iris};
//! let data = iris().to_dataset();
//! let s = data.split(SplitFractions::new(0.6, 0.2, 0.2), 7, true).unwrap();
//! assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (90, 30, 30));
//! // Stratified: each class keeps its share (50 of 150) in every split.
//! assert_eq!(s.test.classes().unwrap().iter().filter(|&&c| c == 0).count(), 10);
//! ```

use nn_tensor::{Element, Rng};

use crate::dataset::TensorDataset;
use crate::error::{DataError, Result};

/// The share of the samples each split receives. The fractions must each be
/// in `[0, 1]` and sum to at most 1 (samples beyond the sum are left out);
/// `train` must be positive. A fraction of 0 gives an empty split on purpose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitFractions {
    /// Fraction for training.
    pub train: f64,
    /// Fraction for validation (model selection, early stopping).
    pub validation: f64,
    /// Fraction for the final test.
    pub test: f64,
}

impl SplitFractions {
    /// Fractions for the three splits.
    pub fn new(train: f64, validation: f64, test: f64) -> Self {
        SplitFractions {
            train,
            validation,
            test,
        }
    }

    /// Training and test only.
    pub fn train_test(train: f64, test: f64) -> Self {
        Self::new(train, 0.0, test)
    }

    fn check(&self) -> Result<()> {
        let all = [self.train, self.validation, self.test];
        if all.iter().any(|f| !(0.0..=1.0).contains(f)) || self.train == 0.0 {
            return Err(DataError::invalid(
                "split",
                format!(
                    "fractions train {}, validation {}, test {} must each lie in [0, 1], with train > 0",
                    self.train, self.validation, self.test
                ),
            ));
        }
        if self.sum() > 1.0 + 1e-9 {
            return Err(DataError::invalid(
                "split",
                format!(
                    "fractions train {}, validation {}, test {} sum to {}, more than 1",
                    self.train,
                    self.validation,
                    self.test,
                    self.sum()
                ),
            ));
        }
        Ok(())
    }

    fn sum(&self) -> f64 {
        self.train + self.validation + self.test
    }

    /// Sizes `[train, validation, test]` for `n` samples: validation and test
    /// rounded to nearest, train takes the rest when the fractions sum to 1.
    fn sizes(&self, n: usize) -> [usize; 3] {
        let round = |f: f64| ((n as f64) * f).round() as usize;
        let test = round(self.test).min(n);
        let validation = round(self.validation).min(n - test);
        let rest = n - test - validation;
        let train = if (self.sum() - 1.0).abs() <= 1e-9 {
            rest
        } else {
            round(self.train).min(rest)
        };
        [train, validation, test]
    }
}

/// Sample indices of each split, each list in random order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitIndices {
    /// Indices of the training samples.
    pub train: Vec<usize>,
    /// Indices of the validation samples.
    pub validation: Vec<usize>,
    /// Indices of the test samples.
    pub test: Vec<usize>,
}

impl SplitIndices {
    fn check_not_empty(&self, f: &SplitFractions, n: usize) -> Result<()> {
        for (name, idx, frac) in [
            ("train", &self.train, f.train),
            ("validation", &self.validation, f.validation),
            ("test", &self.test, f.test),
        ] {
            if frac > 0.0 && idx.is_empty() {
                return Err(DataError::invalid(
                    "split",
                    format!("{name} fraction {frac} of {n} samples gives an empty {name} split"),
                ));
            }
        }
        Ok(())
    }
}

/// Splits `0..n` at random (seeded) into train, validation and test.
/// Errors on invalid fractions or when a split with a positive fraction
/// would be empty.
pub fn split_indices(n: usize, fractions: SplitFractions, seed: u64) -> Result<SplitIndices> {
    fractions.check()?;
    let order = Rng::seed_from(seed).permutation(n);
    let [tr, va, te] = fractions.sizes(n);
    let s = SplitIndices {
        train: order[..tr].to_vec(),
        validation: order[tr..tr + va].to_vec(),
        test: order[tr + va..tr + va + te].to_vec(),
    };
    s.check_not_empty(&fractions, n)?;
    Ok(s)
}

/// Splits samples with the given class labels so that every class keeps its
/// proportion in every split to within one sample, while the split sizes
/// are exactly those of [`split_indices`].
///
/// Class `c` with `n_c` of the `n` samples ideally puts `n_c * size / n`
/// samples into a split of `size`; these shares are rounded up or down so
/// that both every class's total and every split's size come out exact
/// (always possible; found here as a small bipartite flow). Members of each
/// class are drawn at random, then each split is shuffled.
pub fn stratified_split_indices(
    classes: &[usize],
    fractions: SplitFractions,
    seed: u64,
) -> Result<SplitIndices> {
    fractions.check()?;
    let n = classes.len();
    let mut members: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &c) in classes.iter().enumerate() {
        members.entry(c).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = members.into_values().collect();
    let [tr, va, te] = fractions.sizes(n);
    // A fourth column takes the samples left out when fractions sum below 1.
    let columns = [tr, va, te, n - tr - va - te];
    let mut rng = Rng::seed_from(seed);
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let counts = round_shares(&sizes, &columns, &mut rng);
    let mut s = SplitIndices {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for (group, k) in groups.iter_mut().zip(&counts) {
        rng.shuffle(group);
        let (a, b) = (k[0], k[0] + k[1]);
        s.train.extend_from_slice(&group[..a]);
        s.validation.extend_from_slice(&group[a..b]);
        s.test.extend_from_slice(&group[b..b + k[2]]);
    }
    // Interleave the classes so an unshuffled pass does not see them in blocks.
    rng.shuffle(&mut s.train);
    rng.shuffle(&mut s.validation);
    rng.shuffle(&mut s.test);
    s.check_not_empty(&fractions, n)?;
    Ok(s)
}

/// Rounds the matrix `a[r][c] = rows[r] * cols[c] / n` (where `n` is the
/// common total of `rows` and `cols`) to integers, each entry up or down,
/// keeping every row and column sum. Such a rounding always exists; the
/// entries to round up are a bipartite b-matching between rows and columns,
/// found with augmenting paths. `rng` varies which rows round up first.
fn round_shares(rows: &[usize], cols: &[usize], rng: &mut Rng) -> Vec<Vec<usize>> {
    let n: usize = rows.iter().sum();
    let (k, m) = (rows.len(), cols.len());
    if n == 0 {
        return vec![vec![0; m]; k];
    }
    let mut out: Vec<Vec<usize>> = rows
        .iter()
        .map(|&r| cols.iter().map(|&c| r * c / n).collect())
        .collect();
    let fractional = |r: usize, c: usize| !(rows[r] * cols[c]).is_multiple_of(n);
    // How many entries each row and column still has to round up.
    let row_need: Vec<usize> = (0..k)
        .map(|r| rows[r] - out[r].iter().sum::<usize>())
        .collect();
    let mut col_need: Vec<usize> = (0..m)
        .map(|c| cols[c] - out.iter().map(|row| row[c]).sum::<usize>())
        .collect();
    // up[r][c] marks the entries rounded up.
    let mut up = vec![vec![false; m]; k];
    let mut order: Vec<usize> = (0..k).collect();
    rng.shuffle(&mut order);
    for &r in &order {
        for _ in 0..row_need[r] {
            let mut seen = vec![false; k];
            let found = augment(r, &mut up, &mut col_need, &mut seen, &fractional);
            debug_assert!(found, "a rounding that keeps all sums always exists");
        }
    }
    for r in 0..k {
        for c in 0..m {
            if up[r][c] {
                out[r][c] += 1;
            }
        }
    }
    out
}

/// Finds an augmenting path from row `r`: a column with spare need, possibly
/// by moving another row's round-up to a different column.
fn augment(
    r: usize,
    up: &mut [Vec<bool>],
    col_need: &mut [usize],
    seen: &mut [bool],
    fractional: &dyn Fn(usize, usize) -> bool,
) -> bool {
    seen[r] = true;
    let m = col_need.len();
    for c in 0..m {
        if up[r][c] || !fractional(r, c) {
            continue;
        }
        if col_need[c] > 0 {
            col_need[c] -= 1;
            up[r][c] = true;
            return true;
        }
    }
    for c in 0..m {
        if up[r][c] || !fractional(r, c) {
            continue;
        }
        // Column c is full: try to move one of its round-ups elsewhere.
        for other in 0..up.len() {
            if up[other][c] && !seen[other] {
                up[other][c] = false;
                if augment(other, up, col_need, seen, fractional) {
                    up[r][c] = true;
                    return true;
                }
                up[other][c] = true;
            }
        }
    }
    false
}

/// A data set split three ways.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits<T: Element> {
    /// The training split.
    pub train: TensorDataset<T>,
    /// The validation split.
    pub validation: TensorDataset<T>,
    /// The test split.
    pub test: TensorDataset<T>,
}

impl<T: Element> TensorDataset<T> {
    /// Splits into train, validation and test by `fractions`, shuffled with
    /// `seed`; with `stratify`, by class (errors on a regression data set).
    pub fn split(&self, fractions: SplitFractions, seed: u64, stratify: bool) -> Result<Splits<T>> {
        let idx = if stratify {
            let classes = self.classes().ok_or_else(|| {
                DataError::invalid(
                    "split",
                    "stratify needs class targets, but this data set has value targets",
                )
            })?;
            stratified_split_indices(classes, fractions, seed)?
        } else {
            split_indices(self.len(), fractions, seed)?
        };
        Ok(Splits {
            train: self.subset(&idx.train)?,
            validation: self.subset(&idx.validation)?,
            test: self.subset(&idx.test)?,
        })
    }
}

impl<T: Element> Splits<T> {
    /// The three splits with their features standardised by a
    /// [`StandardScaler`](crate::StandardScaler) fitted on the training split
    /// alone, so nothing about the validation or test samples leaks into
    /// training. Errors on an empty training split.
    ///
    /// ```
    /// use nn_data::{iris, SplitFractions};
    /// let s = iris().to_dataset().split(SplitFractions::new(0.7, 0.15, 0.15), 0, true)?;
    /// let z = s.standardised()?;
    /// let column0: Vec<f64> = z.train.features().as_slice().chunks(4).map(|r| r[0]).collect();
    /// let mean = column0.iter().sum::<f64>() / column0.len() as f64;
    /// assert!(mean.abs() < 1e-12);
    /// # Ok::<(), nn_data::DataError>(())
    /// ```
    pub fn standardised(&self) -> Result<Splits<T>> {
        let scaler = crate::StandardScaler::fit(self.train.features())?;
        let scale = |d: &TensorDataset<T>| d.with_features(scaler.transform(d.features())?);
        Ok(Splits {
            train: scale(&self.train)?,
            validation: scale(&self.validation)?,
            test: scale(&self.test)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disjoint_cover(s: &SplitIndices, n: usize, left_out: usize) {
        let mut all = [s.train.clone(), s.validation.clone(), s.test.clone()].concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n - left_out, "overlap or loss");
        assert!(all.iter().all(|&i| i < n));
    }

    #[test]
    fn sizes_follow_the_fractions() {
        let s = split_indices(100, SplitFractions::new(0.7, 0.15, 0.15), 1).unwrap();
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (70, 15, 15)
        );
        disjoint_cover(&s, 100, 0);
        let s = split_indices(10, SplitFractions::train_test(0.75, 0.25), 1).unwrap();
        assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (7, 0, 3));
        // Fractions summing to less than 1 leave the rest out.
        let s = split_indices(100, SplitFractions::new(0.5, 0.1, 0.1), 1).unwrap();
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (50, 10, 10)
        );
        disjoint_cover(&s, 100, 30);
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let f = SplitFractions::new(0.6, 0.2, 0.2);
        assert_eq!(
            split_indices(50, f, 3).unwrap(),
            split_indices(50, f, 3).unwrap()
        );
        assert_ne!(
            split_indices(50, f, 3).unwrap(),
            split_indices(50, f, 4).unwrap()
        );
    }

    #[test]
    fn bad_fractions_and_empty_splits_are_errors() {
        let e = split_indices(10, SplitFractions::new(0.8, 0.2, 0.2), 0).unwrap_err();
        assert!(e.to_string().contains("sum to"), "{e}");
        assert!(split_indices(10, SplitFractions::new(-0.1, 0.5, 0.5), 0).is_err());
        assert!(split_indices(10, SplitFractions::new(0.0, 0.5, 0.5), 0).is_err());
        assert!(split_indices(10, SplitFractions::new(f64::NAN, 0.0, 0.0), 0).is_err());
        let e = split_indices(10, SplitFractions::new(0.9, 0.04, 0.06), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "split: validation fraction 0.04 of 10 samples gives an empty validation split"
        );
    }

    #[test]
    fn stratified_split_keeps_each_class_share_within_one_sample() {
        // Unbalanced classes: 37, 113, 8 and 2 samples.
        let mut classes = vec![0; 37];
        classes.extend(vec![1; 113]);
        classes.extend(vec![2; 8]);
        classes.extend(vec![3; 2]);
        let mut rng = Rng::seed_from(5);
        rng.shuffle(&mut classes);
        let n = classes.len();
        let f = SplitFractions::new(0.6, 0.25, 0.15);
        let s = stratified_split_indices(&classes, f, 11).unwrap();
        disjoint_cover(&s, n, 0);
        // Split sizes are those of the unstratified split.
        let plain = split_indices(n, f, 11).unwrap();
        assert_eq!(s.train.len(), plain.train.len());
        assert_eq!(s.validation.len(), plain.validation.len());
        assert_eq!(s.test.len(), plain.test.len());
        for c in 0..4 {
            let total = classes.iter().filter(|&&x| x == c).count() as f64;
            for idx in [&s.train, &s.validation, &s.test] {
                let share = total * idx.len() as f64 / n as f64;
                let got = idx.iter().filter(|&&i| classes[i] == c).count() as f64;
                assert!((got - share).abs() < 1.0, "class {c}: {got} vs {share}");
            }
        }
        // Deterministic from its seed.
        assert_eq!(s, stratified_split_indices(&classes, f, 11).unwrap());
    }

    #[test]
    fn share_rounding_keeps_row_and_column_sums_for_many_shapes() {
        let mut rng = Rng::seed_from(2);
        for trial in 0..300 {
            let k = 1 + rng.below(12);
            let rows: Vec<usize> = (0..k).map(|_| rng.below(40)).collect();
            let n: usize = rows.iter().sum();
            let mut cols = vec![0; 4];
            for _ in 0..n {
                cols[rng.below(4)] += 1;
            }
            let out = round_shares(&rows, &cols, &mut rng);
            for r in 0..k {
                assert_eq!(
                    out[r].iter().sum::<usize>(),
                    rows[r],
                    "trial {trial} row {r}"
                );
                for c in 0..4 {
                    let ideal = (rows[r] * cols[c]) as f64 / n as f64;
                    assert!((out[r][c] as f64 - ideal).abs() < 1.0, "trial {trial}");
                }
            }
            for c in 0..4 {
                assert_eq!(
                    out.iter().map(|row| row[c]).sum::<usize>(),
                    cols[c],
                    "trial {trial}"
                );
            }
        }
    }

    #[test]
    fn dataset_split_uses_labels_and_refuses_stratifying_values() {
        let x = nn_tensor::Tensor::<f32>::from_vec((0..20).map(|i| i as f32).collect(), &[20, 1]);
        let labels: Vec<usize> = (0..20).map(|i| i % 2).collect();
        let ds = TensorDataset::classification(x.clone(), labels).unwrap();
        let s = ds
            .split(SplitFractions::new(0.5, 0.25, 0.25), 0, true)
            .unwrap();
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (10, 5, 5)
        );
        let ones = s.train.classes().unwrap().iter().sum::<usize>();
        assert_eq!(ones, 5);
        // Each row still carries its own label.
        for part in [&s.train, &s.validation, &s.test] {
            let feats = part.features().to_vec();
            for (v, &c) in feats.iter().zip(part.classes().unwrap()) {
                assert_eq!(*v as usize % 2, c);
            }
        }
        let reg = TensorDataset::regression(x.clone(), x).unwrap();
        assert!(reg
            .split(SplitFractions::new(0.5, 0.25, 0.25), 0, true)
            .is_err());
        assert!(reg
            .split(SplitFractions::new(0.5, 0.25, 0.25), 0, false)
            .is_ok());
    }
}
