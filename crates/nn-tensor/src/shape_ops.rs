//! Operations that move elements around without computing new values:
//! reshape, permute, broadcast, slicing, gathering, concatenation and padding.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use crate::dims::{broadcast_shapes, resolve_shape, AsDim, IntoShape};
use crate::error::{or_panic, Result, TensorError};
use crate::{Element, Tensor};

impl<T: Element> Tensor<T> {
    /// Reinterprets the elements with a new shape of the same element count;
    /// one size may be `-1`, inferred from the others (`&[-1, 4]`).
    /// Free: the storage is shared, not copied.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// let x = Tensor::<f32>::zeros(&[2, 3, 4]);
    /// assert_eq!(x.reshape(&[-1, 4]).shape(), &[6, 4]);
    /// assert_eq!(x.reshape(&[4, 6]).shape(), &[4, 6]);
    /// assert!(x.try_reshape(&[-1, 5]).is_err());
    /// ```
    pub fn try_reshape(&self, shape: impl IntoShape) -> Result<Tensor<T>> {
        let shape = resolve_shape("reshape", &shape.sizes(), self.shape())?;
        if shape == self.shape() {
            return Ok(self.clone());
        }
        Ok(self.with_shape(&shape))
    }

    /// Panicking [`Tensor::try_reshape`].
    #[doc(alias = "view")]
    #[track_caller]
    pub fn reshape(&self, shape: impl IntoShape) -> Tensor<T> {
        or_panic(self.try_reshape(shape))
    }

    /// Reorders the dimensions: output dim `i` is input dim `perm[i]`.
    pub fn try_permute(&self, perm: &[usize]) -> Result<Tensor<T>> {
        let mut seen = vec![false; self.ndim()];
        if perm.len() != self.ndim()
            || perm
                .iter()
                .any(|&p| p >= self.ndim() || std::mem::replace(&mut seen[p], true))
        {
            return Err(TensorError::invalid(
                "permute",
                format!(
                    "{perm:?} is not a permutation of the dims of shape {:?}",
                    self.shape()
                ),
            ));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let view = self.array().permuted_axes(IxDyn(perm));
        Ok(Tensor::from_array(view.as_standard_layout().into_owned()))
    }

    /// Panicking [`Tensor::try_permute`].
    #[track_caller]
    pub fn permute(&self, perm: &[usize]) -> Tensor<T> {
        or_panic(self.try_permute(perm))
    }

    /// Swaps two dimensions.
    #[track_caller]
    pub fn transpose(&self, d0: impl AsDim, d1: impl AsDim) -> Tensor<T> {
        let r = self.ndim();
        let a = or_panic(d0.resolve("transpose", r));
        let b = or_panic(d1.resolve("transpose", r));
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// The transpose of a 2-d tensor (or the last two dims of a batch).
    #[track_caller]
    pub fn t(&self) -> Tensor<T> {
        assert!(
            self.ndim() >= 2,
            "t: needs at least 2 dims, got shape {:?}",
            self.shape()
        );
        self.transpose(-2, -1)
    }

    /// Broadcasts to `shape` (NumPy rules), copying the repeated elements.
    pub fn try_broadcast_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let b = broadcast_shapes("broadcast_to", self.shape(), shape)?;
        if b != shape {
            return Err(TensorError::shapes(
                "broadcast_to",
                self.shape(),
                shape,
                "the tensor cannot be expanded to the target",
            ));
        }
        let arr = self.array();
        let v = arr.broadcast(IxDyn(shape)).expect("checked");
        Ok(Tensor::from_array(v.to_owned()))
    }

    /// Panicking [`Tensor::try_broadcast_to`].
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor<T> {
        or_panic(self.try_broadcast_to(shape))
    }

    /// Removes dimension `dim`, which must have size 1.
    #[track_caller]
    pub fn squeeze(&self, dim: impl AsDim) -> Tensor<T> {
        let d = or_panic(dim.resolve("squeeze", self.ndim()));
        assert_eq!(
            self.shape()[d],
            1,
            "squeeze: dimension {d} of shape {:?} is not 1",
            self.shape()
        );
        let mut s = self.shape().to_vec();
        s.remove(d);
        self.reshape(&s)
    }

    /// Inserts a dimension of size 1 at position `dim` (0..=ndim; negative
    /// counts from the end of the new shape).
    #[track_caller]
    pub fn unsqueeze(&self, dim: impl AsDim) -> Tensor<T> {
        let d = or_panic(dim.resolve("unsqueeze", self.ndim() + 1));
        let mut s = self.shape().to_vec();
        s.insert(d, 1);
        self.reshape(&s)
    }

    /// Flattens dims `start..` into one: `[N, C, H, W] → [N, C·H·W]` for `start = 1`.
    #[track_caller]
    pub fn flatten_from(&self, start: usize) -> Tensor<T> {
        assert!(
            start <= self.ndim(),
            "flatten_from: start {start} > rank {}",
            self.ndim()
        );
        let mut s = self.shape()[..start].to_vec();
        s.push(self.shape()[start..].iter().product());
        self.reshape(&s)
    }

    /// The elements `start .. start + len` along `dim`.
    pub fn try_narrow(&self, dim: impl AsDim, start: usize, len: usize) -> Result<Tensor<T>> {
        let d = dim.resolve("narrow", self.ndim())?;
        if start + len > self.shape()[d] {
            return Err(TensorError::invalid(
                "narrow",
                format!(
                    "range {start}..{} is outside dimension {d} of shape {:?}",
                    start + len,
                    self.shape()
                ),
            ));
        }
        let v = self
            .array()
            .slice_axis_move(Axis(d), Slice::from(start..start + len));
        Ok(Tensor::from_array(v.as_standard_layout().into_owned()))
    }

    /// Panicking [`Tensor::try_narrow`].
    #[track_caller]
    pub fn narrow(&self, dim: impl AsDim, start: usize, len: usize) -> Tensor<T> {
        or_panic(self.try_narrow(dim, start, len))
    }

    /// Every `step`-th element from `start` (inclusive) to `end` (exclusive) along `dim`.
    #[track_caller]
    pub fn slice(&self, dim: impl AsDim, start: usize, end: usize, step: usize) -> Tensor<T> {
        let d = or_panic(dim.resolve("slice", self.ndim()));
        assert!(
            step > 0 && start <= end && end <= self.shape()[d],
            "slice: range {start}..{end} step {step} invalid for dimension {d} of shape {:?}",
            self.shape()
        );
        let v = self.array().slice_axis_move(
            Axis(d),
            Slice::new(start as isize, Some(end as isize), step as isize),
        );
        Tensor::from_array(v.as_standard_layout().into_owned())
    }

    /// Picks the given indices along `dim` (indices may repeat).
    pub fn try_index_select(&self, dim: impl AsDim, indices: &[usize]) -> Result<Tensor<T>> {
        let d = dim.resolve("index_select", self.ndim())?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.shape()[d]) {
            return Err(TensorError::invalid(
                "index_select",
                format!(
                    "index {bad} out of range for dimension {d} of shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(Tensor::from_array(self.array().select(Axis(d), indices)))
    }

    /// Panicking [`Tensor::try_index_select`].
    #[track_caller]
    pub fn index_select(&self, dim: impl AsDim, indices: &[usize]) -> Tensor<T> {
        or_panic(self.try_index_select(dim, indices))
    }

    /// PyTorch's `gather`: `out[i][j][k] = self[index[i][j][k]][j][k]` for
    /// `dim = 0` (and likewise for other dims). `index` is given flat with
    /// `index_shape`, which must match `self` in every dim but `dim`.
    pub fn try_gather(
        &self,
        dim: impl AsDim,
        index: &[usize],
        index_shape: &[usize],
    ) -> Result<Tensor<T>> {
        let d = dim.resolve("gather", self.ndim())?;
        check_index_shape("gather", self.shape(), index, index_shape, d)?;
        let (outer, inner) = split_at_dim(index_shape, d);
        let src_len = self.shape()[d];
        let src = self.as_slice();
        let mut out = vec![T::zero(); index.len()];
        let idx_len = index_shape[d];
        for o in 0..outer {
            for (j, &ix) in index[o * idx_len * inner..(o + 1) * idx_len * inner]
                .iter()
                .enumerate()
            {
                let (jj, i) = (j / inner, j % inner);
                let _ = jj;
                out[o * idx_len * inner + j] = src[(o * src_len + ix) * inner + i];
            }
        }
        Ok(Tensor::from_vec(out, index_shape))
    }

    /// Panicking [`Tensor::try_gather`].
    #[track_caller]
    pub fn gather(&self, dim: impl AsDim, index: &[usize], index_shape: &[usize]) -> Tensor<T> {
        or_panic(self.try_gather(dim, index, index_shape))
    }

    /// The adjoint of [`Tensor::gather`]: adds `src[i][j][k]` into
    /// `self[index[i][j][k]][j][k]` (for `dim = 0`). `src` has `index_shape`.
    pub fn try_scatter_add(
        &self,
        dim: impl AsDim,
        index: &[usize],
        src: &Tensor<T>,
    ) -> Result<Tensor<T>> {
        let d = dim.resolve("scatter_add", self.ndim())?;
        check_index_shape("scatter_add", self.shape(), index, src.shape(), d)?;
        let (outer, inner) = split_at_dim(src.shape(), d);
        let dst_len = self.shape()[d];
        let idx_len = src.shape()[d];
        let mut out = self.clone();
        let o_s = out.as_mut_slice();
        let s = src.as_slice();
        for o in 0..outer {
            let base = o * idx_len * inner;
            for j in 0..idx_len * inner {
                let i = j % inner;
                o_s[(o * dst_len + index[base + j]) * inner + i] += s[base + j];
            }
        }
        Ok(out)
    }

    /// Panicking [`Tensor::try_scatter_add`].
    #[track_caller]
    pub fn scatter_add(&self, dim: impl AsDim, index: &[usize], src: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_scatter_add(dim, index, src))
    }

    /// Joins tensors along an existing dimension.
    pub fn try_concat(tensors: &[&Tensor<T>], dim: impl AsDim) -> Result<Tensor<T>> {
        let first = tensors
            .first()
            .ok_or_else(|| TensorError::invalid("concat", "needs at least one tensor"))?;
        let d = dim.resolve("concat", first.ndim())?;
        for t in tensors {
            let ok = t.ndim() == first.ndim()
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (a, b))| i == d || a == b);
            if !ok {
                return Err(TensorError::shapes(
                    "concat",
                    first.shape(),
                    t.shape(),
                    format!("all dims but {d} must agree"),
                ));
            }
        }
        let views: Vec<_> = tensors.iter().map(|t| t.array()).collect();
        let a: ArrayD<T> = ndarray::concatenate(Axis(d), &views).expect("shapes checked");
        Ok(Tensor::from_array(a))
    }

    /// Panicking [`Tensor::try_concat`].
    #[doc(alias = "cat")]
    #[track_caller]
    pub fn concat(tensors: &[&Tensor<T>], dim: impl AsDim) -> Tensor<T> {
        or_panic(Self::try_concat(tensors, dim))
    }

    /// Joins tensors of one shape along a new dimension `dim`.
    pub fn try_stack(tensors: &[&Tensor<T>], dim: impl AsDim) -> Result<Tensor<T>> {
        let first = tensors
            .first()
            .ok_or_else(|| TensorError::invalid("stack", "needs at least one tensor"))?;
        let d = dim.resolve("stack", first.ndim() + 1)?;
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(TensorError::shapes(
                    "stack",
                    first.shape(),
                    t.shape(),
                    "all shapes must be equal",
                ));
            }
        }
        let unsq: Vec<Tensor<T>> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        let refs: Vec<&Tensor<T>> = unsq.iter().collect();
        Self::try_concat(&refs, d)
    }

    /// Panicking [`Tensor::try_stack`].
    #[track_caller]
    pub fn stack(tensors: &[&Tensor<T>], dim: impl AsDim) -> Tensor<T> {
        or_panic(Self::try_stack(tensors, dim))
    }

    /// Splits along `dim` into pieces of the given sizes (which must add up).
    pub fn try_split(&self, dim: impl AsDim, sizes: &[usize]) -> Result<Vec<Tensor<T>>> {
        let d = dim.resolve("split", self.ndim())?;
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            return Err(TensorError::invalid(
                "split",
                format!(
                    "sizes {sizes:?} do not add up to dimension {d} of shape {:?}",
                    self.shape()
                ),
            ));
        }
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for &s in sizes {
            out.push(self.try_narrow(d, start, s)?);
            start += s;
        }
        Ok(out)
    }

    /// Panicking [`Tensor::try_split`].
    #[track_caller]
    pub fn split(&self, dim: impl AsDim, sizes: &[usize]) -> Vec<Tensor<T>> {
        or_panic(self.try_split(dim, sizes))
    }

    /// Splits along `dim` into `n` nearly equal pieces (the last may be smaller).
    #[track_caller]
    pub fn chunk(&self, n: usize, dim: impl AsDim) -> Vec<Tensor<T>> {
        assert!(n > 0, "chunk: n must be positive");
        let d = or_panic(dim.resolve("chunk", self.ndim()));
        let len = self.shape()[d];
        let step = len.div_ceil(n).max(1);
        let mut sizes = vec![];
        let mut left = len;
        while left > 0 {
            let s = step.min(left);
            sizes.push(s);
            left -= s;
        }
        self.split(d, &sizes)
    }

    /// Pads with `value`: `pads[i] = (before, after)` for dim `i`; missing
    /// trailing entries mean no padding.
    pub fn try_pad(&self, pads: &[(usize, usize)], value: T) -> Result<Tensor<T>> {
        if pads.len() > self.ndim() {
            return Err(TensorError::invalid(
                "pad",
                format!(
                    "{} pad pairs for a tensor of rank {}",
                    pads.len(),
                    self.ndim()
                ),
            ));
        }
        let mut shape = self.shape().to_vec();
        for (i, (b, a)) in pads.iter().enumerate() {
            shape[i] += b + a;
        }
        let mut out = ArrayD::from_elem(IxDyn(&shape), value);
        let mut view = out.view_mut();
        for (i, &(b, _)) in pads.iter().enumerate() {
            view.slice_axis_inplace(Axis(i), Slice::from(b..b + self.shape()[i]));
        }
        view.assign(&self.array());
        Ok(Tensor::from_array(out))
    }

    /// Panicking [`Tensor::try_pad`].
    #[track_caller]
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        or_panic(self.try_pad(pads, value))
    }
}

/// `(product of dims before d, product of dims after d)`.
pub(crate) fn split_at_dim(shape: &[usize], d: usize) -> (usize, usize) {
    (shape[..d].iter().product(), shape[d + 1..].iter().product())
}

fn check_index_shape(
    op: &'static str,
    shape: &[usize],
    index: &[usize],
    index_shape: &[usize],
    d: usize,
) -> Result<()> {
    let n: usize = index_shape.iter().product();
    let fits = index_shape.len() == shape.len()
        && n == index.len()
        && index_shape
            .iter()
            .zip(shape)
            .enumerate()
            .all(|(i, (a, b))| i == d || a == b);
    if !fits {
        return Err(TensorError::shapes(
            op,
            shape,
            index_shape,
            format!("the index must match the tensor in every dim but {d} and hold {n} entries"),
        ));
    }
    if let Some(&bad) = index.iter().find(|&&i| i >= shape[d]) {
        return Err(TensorError::invalid(
            op,
            format!("index {bad} out of range for dimension {d} of shape {shape:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
        Tensor::from_f64s(v, s)
    }

    #[test]
    fn permute_and_transpose() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(a.t().to_vec(), vec![1., 4., 2., 5., 3., 6.]);
        assert_eq!(a.t().shape(), &[3, 2]);
        assert!(a.try_permute(&[0, 0]).is_err());
    }

    #[test]
    fn gather_and_scatter_are_adjoint() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let g = a.gather(1, &[2, 0, 1, 1], &[2, 2]);
        assert_eq!(g.to_vec(), vec![3., 1., 5., 5.]);
        let s = Tensor::<f64>::zeros(&[2, 3]).scatter_add(1, &[2, 0, 1, 1], &Tensor::ones(&[2, 2]));
        assert_eq!(s.to_vec(), vec![1., 0., 1., 0., 2., 0.]);
        let g0 = a.gather(0, &[1, 0, 1], &[1, 3]);
        assert_eq!(g0.to_vec(), vec![4., 2., 6.]);
    }

    #[test]
    fn concat_stack_split_chunk_pad() {
        let a = t(&[1., 2.], &[1, 2]);
        let b = t(&[3., 4.], &[1, 2]);
        assert_eq!(Tensor::concat(&[&a, &b], 0).to_vec(), vec![1., 2., 3., 4.]);
        assert_eq!(Tensor::stack(&[&a, &b], 0).shape(), &[2, 1, 2]);
        let c = Tensor::concat(&[&a, &b], 1);
        let parts = c.split(1, &[1, 3]);
        assert_eq!(parts[1].to_vec(), vec![2., 3., 4.]);
        assert_eq!(c.chunk(3, 1).len(), 2);
        let p = a.pad(&[(0, 0), (1, 2)], 0.0);
        assert_eq!(p.to_vec(), vec![0., 1., 2., 0., 0.]);
        assert!(Tensor::try_concat(&[&a, &t(&[1., 2., 3.], &[1, 3])], 0).is_err());
    }

    #[test]
    fn narrow_slice_index_select() {
        let a = t(&[0., 1., 2., 3., 4., 5.], &[6]);
        assert_eq!(a.narrow(0, 2, 3).to_vec(), vec![2., 3., 4.]);
        assert_eq!(a.slice(0, 1, 6, 2).to_vec(), vec![1., 3., 5.]);
        assert_eq!(a.index_select(0, &[5, 0, 5]).to_vec(), vec![5., 0., 5.]);
        assert_eq!(
            a.try_narrow(0, 4, 3).unwrap_err().to_string(),
            "narrow: range 4..7 is outside dimension 0 of shape [6]"
        );
    }

    #[test]
    fn broadcast_to_and_reshape_errors() {
        let a = t(&[1., 2.], &[2, 1]);
        assert_eq!(a.broadcast_to(&[2, 2]).to_vec(), vec![1., 1., 2., 2.]);
        assert!(a.try_broadcast_to(&[3, 2]).is_err());
        assert_eq!(
            a.try_reshape([3]).unwrap_err().to_string(),
            "reshape: shapes [2, 1] and [3] do not match: 2 elements cannot take a shape of 3"
        );
    }
}
