//! The [`Tensor`] type: creation, inspection and conversion.

use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{or_panic, Result, TensorError};
use crate::Element;

/// An n-dimensional array of `T` with a shape known at run time.
///
/// A tensor is an immutable value: cloning it is cheap (the storage is shared
/// behind an `Arc`), and every operation returns a new tensor. The storage is
/// always dense and row-major (C order), which lets every kernel work on flat
/// slices.
///
/// ```
/// use nn_tensor::Tensor;
/// let a = Tensor::<f32>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2, 3]);
/// assert_eq!(a.shape(), &[2, 3]);
/// assert_eq!(a.sum_all().item(), 21.0);
/// ```
#[derive(Clone)]
pub struct Tensor<T: Element> {
    data: Arc<Vec<T>>,
    shape: Vec<usize>,
}

impl<T: Element> Tensor<T> {
    /// Takes an ndarray array, making it contiguous row-major if it is not.
    pub(crate) fn from_array(a: ArrayD<T>) -> Self {
        let shape = a.shape().to_vec();
        let n = a.len();
        let data = if a.is_standard_layout() {
            // A standard-layout array occupies `n` consecutive slots from its offset.
            let (mut v, offset) = a.into_raw_vec_and_offset();
            let o = offset.unwrap_or(0);
            v.truncate(o + n);
            v.drain(..o);
            v
        } else {
            a.iter().copied().collect()
        };
        Tensor {
            data: Arc::new(data),
            shape,
        }
    }

    /// A read-only ndarray view of the elements. Crate-internal so that the
    /// storage can change without touching other crates.
    pub(crate) fn array(&self) -> ArrayViewD<'_, T> {
        ArrayViewD::from_shape(IxDyn(&self.shape), &self.data).expect("shape matches storage")
    }

    /// Builds a tensor from a flat row-major vector and a shape.
    ///
    /// Errors when `data.len()` is not the product of `shape`.
    pub fn try_from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(TensorError::invalid(
                "from_vec",
                format!(
                    "shape {shape:?} holds {n} elements but the data has {}",
                    data.len()
                ),
            ));
        }
        Ok(Tensor {
            data: Arc::new(data),
            shape: shape.to_vec(),
        })
    }

    /// Builds a tensor from a flat row-major vector and a shape; panics when
    /// the lengths differ (see [`Tensor::try_from_vec`]).
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Self {
        or_panic(Self::try_from_vec(data, shape))
    }

    /// Builds a tensor from a slice of `f64` values, converting each one.
    #[track_caller]
    pub fn from_f64s(data: &[f64], shape: &[usize]) -> Self {
        Self::from_vec(data.iter().map(|&x| T::of(x)).collect(), shape)
    }

    /// A 0-d tensor holding one value.
    pub fn scalar(value: T) -> Self {
        Self::from_vec(vec![value], &[])
    }

    /// A tensor of the given shape filled with `value`.
    pub fn full(shape: &[usize], value: T) -> Self {
        Self::from_vec(vec![value; shape.iter().product()], shape)
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::zero())
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::one())
    }

    /// Zeros with the shape of `self`.
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.shape())
    }

    /// Ones with the shape of `self`.
    pub fn ones_like(&self) -> Self {
        Self::ones(self.shape())
    }

    /// The 1-d tensor `start, start + step, …` up to but excluding `end`.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::arange(0.0, 1.0, 0.25).to_vec(), vec![0.0, 0.25, 0.5, 0.75]);
    /// ```
    #[track_caller]
    pub fn arange(start: T, end: T, step: T) -> Self {
        or_panic(Self::try_arange(start, end, step))
    }

    /// Fallible [`Tensor::arange`]: errors on a zero, NaN or wrong-signed step.
    pub fn try_arange(start: T, end: T, step: T) -> Result<Self> {
        if step.is_nan() || step == T::zero() || (end - start) * step < T::zero() {
            return Err(TensorError::invalid(
                "arange",
                format!("step {step} cannot go from {start} to {end}"),
            ));
        }
        let n = ((end - start) / step).ceil().to_usize().unwrap_or(0);
        let v: Vec<T> = (0..n)
            .map(|i| start + step * T::from_usize(i).unwrap())
            .collect();
        Ok(Self::from_vec(v, &[n]))
    }

    /// `steps` evenly spaced values from `start` to `end`, both included.
    pub fn linspace(start: T, end: T, steps: usize) -> Self {
        let v: Vec<T> = match steps {
            0 => vec![],
            1 => vec![start],
            _ => {
                let d = (end - start) / T::from_usize(steps - 1).unwrap();
                (0..steps)
                    .map(|i| {
                        if i == steps - 1 {
                            end
                        } else {
                            start + d * T::from_usize(i).unwrap()
                        }
                    })
                    .collect()
            }
        };
        Self::from_vec(v, &[steps])
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut v = vec![T::zero(); n * n];
        for i in 0..n {
            v[i * n + i] = T::one();
        }
        Self::from_vec(v, &[n, n])
    }

    /// The shape, one entry per dimension.
    #[doc(alias = "size")]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of dimensions (0 for a scalar).
    #[doc(alias = "dim")]
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The size of dimension `dim` (negative counts from the end).
    #[track_caller]
    pub fn dim_size(&self, dim: impl crate::AsDim) -> usize {
        let d = or_panic(dim.resolve("dim_size", self.ndim()));
        self.shape()[d]
    }

    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// Mutable access to the elements, copying the storage first if it is
    /// shared with another tensor (copy-on-write).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        Arc::make_mut(&mut self.data).as_mut_slice()
    }

    /// The elements as a new vector, row-major.
    #[doc(alias = "tolist")]
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().to_vec()
    }

    /// The elements converted to `f64`.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.as_slice()
            .iter()
            .map(|x| x.to_f64_lossless())
            .collect()
    }

    /// The value of a one-element tensor (any shape with one element).
    #[track_caller]
    pub fn item(&self) -> T {
        assert_eq!(
            self.numel(),
            1,
            "item: tensor of shape {:?} has {} elements, not 1",
            self.shape(),
            self.numel()
        );
        self.as_slice()[0]
    }

    /// The element at a multi-index.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> T {
        assert_eq!(
            index.len(),
            self.ndim(),
            "get: index {index:?} for shape {:?}",
            self.shape()
        );
        let mut flat = 0;
        for (d, (&i, &n)) in index.iter().zip(self.shape()).enumerate() {
            assert!(
                i < n,
                "get: index {index:?} out of range in dim {d} for shape {:?}",
                self.shape()
            );
            flat = flat * n + i;
        }
        self.data[flat]
    }

    /// The same elements with another shape of equal element count, sharing
    /// the storage (no copy).
    pub(crate) fn with_shape(&self, shape: &[usize]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), self.numel());
        Tensor {
            data: Arc::clone(&self.data),
            shape: shape.to_vec(),
        }
    }

    /// Takes the element vector out, copying only if the storage is shared.
    pub fn into_vec(self) -> Vec<T> {
        Arc::try_unwrap(self.data).unwrap_or_else(|a| (*a).clone())
    }

    /// Converts every element to another element type.
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor::from_vec(
            self.as_slice()
                .iter()
                .map(|x| U::of(x.to_f64_lossless()))
                .collect(),
            self.shape(),
        )
    }

    /// True when both tensors share the same storage (no copy was made).
    pub fn shares_storage_with(&self, other: &Tensor<T>) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// The largest absolute element-wise difference to `other` (same shape).
    #[track_caller]
    pub fn max_abs_diff(&self, other: &Tensor<T>) -> T {
        assert_eq!(self.shape(), other.shape(), "max_abs_diff: shapes differ");
        self.as_slice()
            .iter()
            .zip(other.as_slice())
            .fold(T::zero(), |m, (a, b)| m.max((*a - *b).abs()))
    }

    /// True when both tensors have the same shape and the same elements
    /// (PyTorch's `torch.equal`; also `a == b` on tensors). For the
    /// element-wise comparison, a tensor of 0s and 1s, see [`Tensor::eq`].
    pub fn equal(&self, other: &Tensor<T>) -> bool {
        self == other
    }

    /// True when every element is finite (no NaN or infinity).
    pub fn all_finite(&self) -> bool {
        self.as_slice().iter().all(|x| x.is_finite())
    }
}

impl<T: Element> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?} ", T::DTYPE, self.shape())?;
        if self.numel() <= 64 {
            write!(f, "{:?}", self.as_slice())
        } else {
            write!(f, "[{} elements]", self.numel())
        }
    }
}

impl<T: Element> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.array())
    }
}

/// **Whole-tensor equality, a single `bool`** (PyTorch's `torch.equal`,
/// also [`Tensor::equal`]): same shape and every element equal. It is *not*
/// PyTorch's element-wise `a == b`, which returns a tensor: that is
/// [`Tensor::eq`] here (`pred.eq(&labels)`).
impl<T: Element> PartialEq for Tensor<T> {
    fn eq(&self, other: &Self) -> bool {
        self.shape() == other.shape() && self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_length() {
        let e = Tensor::<f32>::try_from_vec(vec![1.0; 5], &[2, 3]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "from_vec: shape [2, 3] holds 6 elements but the data has 5"
        );
    }

    #[test]
    fn creation_helpers() {
        assert_eq!(Tensor::<f64>::eye(2).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(
            Tensor::<f64>::linspace(0.0, 1.0, 3).to_vec(),
            vec![0.0, 0.5, 1.0]
        );
        assert_eq!(Tensor::<f32>::full(&[2], 7.0).to_vec(), vec![7.0, 7.0]);
        assert!(Tensor::<f32>::try_arange(0.0, 1.0, 0.0).is_err());
        assert_eq!(Tensor::<f32>::scalar(2.0).shape(), &[] as &[usize]);
    }

    #[test]
    fn copy_on_write() {
        let a = Tensor::<f32>::zeros(&[3]);
        let mut b = a.clone();
        assert!(a.shares_storage_with(&b));
        b.as_mut_slice()[0] = 1.0;
        assert_eq!(a.to_vec(), vec![0.0; 3]);
        assert_eq!(b.to_vec(), vec![1.0, 0.0, 0.0]);
    }
}
