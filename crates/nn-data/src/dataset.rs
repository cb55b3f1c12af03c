//! The [`Dataset`] abstraction and the in-memory [`TensorDataset`].

use nn_autograd::{Target as LossTarget, Var};
use nn_tensor::{Element, Tensor};

use crate::error::{DataError, Result};

/// A collection of samples that can be counted and indexed, like PyTorch's
/// `torch.utils.data.Dataset`.
pub trait Dataset {
    /// One sample.
    type Item;

    /// The number of samples.
    fn len(&self) -> usize;

    /// The sample at `index`; errors when `index >= len()`.
    fn get(&self, index: usize) -> Result<Self::Item>;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A data set that can gather many samples at once into one batch, which is
/// what a [`DataLoader`](crate::DataLoader) needs. Gathering a whole batch in
/// one call lets an implementation copy rows straight into one contiguous
/// buffer instead of stacking per-sample tensors.
pub trait BatchDataset: Dataset {
    /// A batch of samples.
    type Batch;

    /// The samples at `indices`, in that order (indices may repeat).
    fn get_batch(&self, indices: &[usize]) -> Result<Self::Batch>;
}

impl<D: Dataset + ?Sized> Dataset for &D {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Self::Item> {
        (**self).get(index)
    }
}

impl<D: BatchDataset + ?Sized> BatchDataset for &D {
    type Batch = D::Batch;
    fn get_batch(&self, indices: &[usize]) -> Result<Self::Batch> {
        (**self).get_batch(indices)
    }
}

/// The targets of a whole data set: class indices (classification) or a
/// tensor whose first dimension runs over samples (regression, or any
/// per-sample target such as an image to reconstruct).
#[derive(Clone, Debug, PartialEq)]
pub enum Targets<T: Element> {
    /// One class index per sample, as `cross_entropy` and `accuracy` take them.
    Classes(Vec<usize>),
    /// A tensor `[N, ...]`.
    Values(Tensor<T>),
}

impl<T: Element> Targets<T> {
    /// The number of samples the targets describe.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
        }
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class indices, if these are class targets.
    pub fn classes(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes(c) => Some(c),
            Targets::Values(_) => None,
        }
    }

    /// The target tensor, if these are value targets.
    pub fn values(&self) -> Option<&Tensor<T>> {
        match self {
            Targets::Classes(_) => None,
            Targets::Values(v) => Some(v),
        }
    }

    /// The targets at `indices`, gathered into one new buffer.
    fn gather(&self, indices: &[usize]) -> Targets<T> {
        match self {
            Targets::Classes(c) => Targets::Classes(indices.iter().map(|&i| c[i]).collect()),
            Targets::Values(v) => Targets::Values(gather_rows(v, indices)),
        }
    }
}

/// A batch's targets as a loss takes them: class indices stay borrowed,
/// values become a constant var (the tensor's storage is shared).
impl<'a, T: Element> From<&'a Targets<T>> for LossTarget<'a, T> {
    fn from(t: &'a Targets<T>) -> Self {
        match t {
            Targets::Classes(c) => c.into(),
            Targets::Values(v) => v.into(),
        }
    }
}

/// The target of one sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Target<T: Element> {
    /// A class index.
    Class(usize),
    /// A value tensor (the sample's row of the target tensor).
    Value(Tensor<T>),
}

/// One sample of a [`TensorDataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<T: Element> {
    /// The sample's features, shaped like one row of the data set's features.
    pub features: Tensor<T>,
    /// The sample's target.
    pub target: Target<T>,
}

/// A mini-batch: `features` is `[B, ...]` and `targets` holds `B` targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<T: Element> {
    /// The batch's features, `[B, ...]`, one contiguous buffer.
    pub features: Tensor<T>,
    /// The batch's targets.
    pub targets: Targets<T>,
}

impl<T: Element> Batch<T> {
    /// The number of samples in the batch.
    pub fn len(&self) -> usize {
        self.features.shape()[0]
    }

    /// True when the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The features as a var ready for a model's `forward` (a constant: a
    /// cheap copy sharing the storage, no gradient).
    pub fn inputs(&self) -> Var<T> {
        Var::constant(self.features.clone())
    }

    /// The targets as every loss takes them, class indices or values:
    /// `model.forward(batch.inputs()).cross_entropy(batch.targets())`.
    /// A loss given the wrong kind says so, naming itself.
    ///
    /// ```
    /// use nn_data::{BatchDataset, TensorDataset};
    /// use nn_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 2.0], &[2, 2]);
    /// let batch = TensorDataset::classification(x, vec![0, 1]).unwrap().get_batch(&[0, 1]).unwrap();
    /// let loss = batch.inputs().cross_entropy(batch.targets());
    /// assert!((loss.item() - (1.0 + (-2.0f64).exp()).ln()).abs() < 1e-12);
    /// assert!(batch.inputs().try_mse_loss(batch.targets()).is_err());
    /// ```
    pub fn targets(&self) -> LossTarget<'_, T> {
        (&self.targets).into()
    }

    /// The class indices; panics if the targets are values (a programming
    /// error, not a data error: the data set's kind is fixed when it is built).
    #[track_caller]
    pub fn classes(&self) -> &[usize] {
        self.targets
            .classes()
            .expect("Batch::classes: this batch holds value targets, not class indices")
    }

    /// The target tensor; panics if the targets are class indices.
    #[track_caller]
    pub fn values(&self) -> &Tensor<T> {
        self.targets
            .values()
            .expect("Batch::values: this batch holds class indices, not a target tensor")
    }
}

/// Copies the rows (first-dimension slices) `indices` of `x` into one new
/// contiguous tensor `[indices.len(), ...]`. Indices must be in range.
pub(crate) fn gather_rows<T: Element>(x: &Tensor<T>, indices: &[usize]) -> Tensor<T> {
    let n = x.shape()[0];
    let row = x.numel().checked_div(n).unwrap_or(0);
    let src = x.as_slice();
    let mut out = Vec::with_capacity(indices.len() * row);
    for &i in indices {
        out.extend_from_slice(&src[i * row..(i + 1) * row]);
    }
    let mut shape = x.shape().to_vec();
    shape[0] = indices.len();
    Tensor::from_vec(out, &shape)
}

/// An in-memory data set: a features tensor `[N, ...]` and `N` targets.
///
/// Cloning is cheap (tensors share their storage).
///
/// ```
/// use nn_data::{Dataset, TensorDataset};
/// use nn_tensor::Tensor;
/// let x = Tensor::<f32>::from_vec(vec![0., 1., 2., 3., 4., 5.], &[3, 2]);
/// let ds = TensorDataset::classification(x, vec![0, 1, 1]).unwrap();
/// assert_eq!(ds.len(), 3);
/// assert_eq!(ds.get(2).unwrap().features.to_vec(), vec![4., 5.]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDataset<T: Element> {
    features: Tensor<T>,
    targets: Targets<T>,
}

impl<T: Element> TensorDataset<T> {
    /// A data set from features `[N, ...]` and any [`Targets`]; errors when
    /// the features have no sample dimension or the counts differ.
    pub fn new(features: Tensor<T>, targets: Targets<T>) -> Result<Self> {
        if features.ndim() == 0 {
            return Err(DataError::invalid(
                "TensorDataset::new",
                "features must have a sample dimension, got a scalar",
            ));
        }
        if let Targets::Values(v) = &targets
            && v.ndim() == 0
        {
            return Err(DataError::invalid(
                "TensorDataset::new",
                "target values must have a sample dimension, got a scalar",
            ));
        }
        let n = features.shape()[0];
        if targets.len() != n {
            return Err(DataError::invalid(
                "TensorDataset::new",
                format!(
                    "features {:?} hold {n} samples but there are {} targets",
                    features.shape(),
                    targets.len()
                ),
            ));
        }
        Ok(TensorDataset { features, targets })
    }

    /// A classification data set: features `[N, ...]` and one class index per sample.
    pub fn classification(features: Tensor<T>, classes: Vec<usize>) -> Result<Self> {
        Self::new(features, Targets::Classes(classes))
    }

    /// A regression data set: features `[N, ...]` and targets `[N, ...]`.
    pub fn regression(features: Tensor<T>, targets: Tensor<T>) -> Result<Self> {
        Self::new(features, Targets::Values(targets))
    }

    /// The number of samples (also available through [`Dataset::len`]).
    pub fn len(&self) -> usize {
        self.features.shape()[0]
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All features, `[N, ...]`.
    pub fn features(&self) -> &Tensor<T> {
        &self.features
    }

    /// All targets.
    pub fn targets(&self) -> &Targets<T> {
        &self.targets
    }

    /// The class indices, if this is a classification data set.
    pub fn classes(&self) -> Option<&[usize]> {
        self.targets.classes()
    }

    /// The shape of one sample's features (the features' shape without its first dimension).
    pub fn sample_shape(&self) -> &[usize] {
        &self.features.shape()[1..]
    }

    /// The same targets with other features of the same sample count, for
    /// example after scaling: `ds.with_features(scaler.transform(ds.features())?)`.
    pub fn with_features(&self, features: Tensor<T>) -> Result<Self> {
        Self::new(features, self.targets.clone())
    }

    /// The samples at `indices`, copied into a new data set (indices may repeat).
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        self.check_indices("TensorDataset::subset", indices)?;
        Ok(TensorDataset {
            features: gather_rows(&self.features, indices),
            targets: self.targets.gather(indices),
        })
    }

    /// Consumes the data set, giving back its features and targets.
    pub fn into_parts(self) -> (Tensor<T>, Targets<T>) {
        (self.features, self.targets)
    }

    fn check_indices(&self, op: &'static str, indices: &[usize]) -> Result<()> {
        let n = self.len();
        match indices.iter().find(|&&i| i >= n) {
            Some(&bad) => Err(DataError::invalid(
                op,
                format!("index {bad} is out of range for a data set of {n} samples"),
            )),
            None => Ok(()),
        }
    }
}

impl<T: Element> Dataset for TensorDataset<T> {
    type Item = Sample<T>;

    fn len(&self) -> usize {
        TensorDataset::len(self)
    }

    fn get(&self, index: usize) -> Result<Sample<T>> {
        self.check_indices("TensorDataset::get", &[index])?;
        let features = gather_rows(&self.features, &[index]);
        let features = features.reshape(self.sample_shape());
        let target = match &self.targets {
            Targets::Classes(c) => Target::Class(c[index]),
            Targets::Values(v) => {
                let row = gather_rows(v, &[index]);
                Target::Value(row.reshape(&v.shape()[1..]))
            }
        };
        Ok(Sample { features, target })
    }
}

impl<T: Element> BatchDataset for TensorDataset<T> {
    type Batch = Batch<T>;

    fn get_batch(&self, indices: &[usize]) -> Result<Batch<T>> {
        self.check_indices("TensorDataset::get_batch", indices)?;
        Ok(Batch {
            features: gather_rows(&self.features, indices),
            targets: self.targets.gather(indices),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> TensorDataset<f64> {
        let x = Tensor::from_vec((0..12).map(f64::from).collect(), &[4, 3]);
        TensorDataset::classification(x, vec![0, 1, 2, 1]).unwrap()
    }

    #[test]
    fn counts_must_match() {
        let x = Tensor::<f32>::zeros(&[4, 3]);
        let e = TensorDataset::classification(x.clone(), vec![0, 1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "TensorDataset::new: features [4, 3] hold 4 samples but there are 2 targets"
        );
        let e = TensorDataset::regression(x, Tensor::zeros(&[3, 1])).unwrap_err();
        assert!(e.to_string().contains("3 targets"), "{e}");
        assert!(TensorDataset::classification(Tensor::<f32>::scalar(1.0), vec![]).is_err());
    }

    #[test]
    fn get_returns_one_row_and_its_target() {
        let ds = toy();
        let s = ds.get(1).unwrap();
        assert_eq!(s.features.shape(), &[3]);
        assert_eq!(s.features.to_vec(), vec![3.0, 4.0, 5.0]);
        assert_eq!(s.target, Target::Class(1));
        assert!(ds.get(4).unwrap_err().to_string().contains("index 4"));
    }

    #[test]
    fn batches_gather_rows_in_order() {
        let ds = toy();
        let b = ds.get_batch(&[3, 0, 3]).unwrap();
        assert_eq!(b.features.shape(), &[3, 3]);
        assert_eq!(
            b.features.to_vec(),
            vec![9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 9.0, 10.0, 11.0]
        );
        assert_eq!(b.classes(), &[1, 0, 1]);
        assert!(ds.get_batch(&[0, 7]).is_err());
    }

    #[test]
    fn regression_targets_are_gathered_too() {
        let x = Tensor::<f32>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3, 1, 2]);
        let y = Tensor::from_vec(vec![10., 20., 30.], &[3, 1]);
        let ds = TensorDataset::regression(x, y).unwrap();
        assert_eq!(ds.sample_shape(), &[1, 2]);
        let b = ds.get_batch(&[2, 1]).unwrap();
        assert_eq!(b.features.shape(), &[2, 1, 2]);
        assert_eq!(b.values().to_vec(), vec![30., 20.]);
        assert_eq!(b.values().shape(), &[2, 1]);
        let s = ds.get(0).unwrap();
        assert_eq!(s.target, Target::Value(Tensor::from_vec(vec![10.], &[1])));
    }

    #[test]
    fn subset_copies_and_with_features_keeps_targets() {
        let ds = toy();
        let sub = ds.subset(&[2, 3]).unwrap();
        assert_eq!(sub.len(), 2);
        assert_eq!(sub.classes().unwrap(), &[2, 1]);
        let doubled = sub.with_features(sub.features().mul_scalar(2.0)).unwrap();
        assert_eq!(doubled.features().get(&[0, 0]), 12.0);
        assert!(ds.subset(&[4]).is_err());
        assert!(sub.with_features(Tensor::zeros(&[3, 3])).is_err());
    }
}
