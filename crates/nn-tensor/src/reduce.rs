//! Reductions over any set of dimensions: sum, mean, var, max/min,
//! argmax/argmin and logsumexp.
//!
//! Every reduction runs in a fixed order that does not depend on the number
//! of threads, so results are bit-identical on 1 or many threads.

use rayon::prelude::*;

use crate::dims::{resolve_dims, AsDim};
use crate::error::{or_panic, Result, TensorError};
use crate::parallel::{split_work, CHUNK, PARALLEL_THRESHOLD};
use crate::shape_ops::split_at_dim;
use crate::{Element, Tensor};

/// Folds dimension `d` of a row-major buffer with `shape`: returns the
/// reduced buffer (dimension `d` dropped) after `f(acc, x)` over it.
fn fold_dim<T: Element>(
    src: &[T],
    shape: &[usize],
    d: usize,
    init: T,
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let (outer, inner) = split_at_dim(shape, d);
    let len = shape[d];
    let mut out = vec![init; outer * inner];
    if inner == 1 {
        for (o, acc) in out.iter_mut().enumerate() {
            let row = &src[o * len..(o + 1) * len];
            *acc = row.iter().fold(init, |a, &x| f(a, x));
        }
    } else {
        for o in 0..outer {
            let acc = &mut out[o * inner..(o + 1) * inner];
            for k in 0..len {
                let row = &src[(o * len + k) * inner..(o * len + k + 1) * inner];
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a = f(*a, x);
                }
            }
        }
    }
    out
}

fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut s = vec![];
    for (i, &n) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                s.push(1);
            }
        } else {
            s.push(n);
        }
    }
    s
}

impl<T: Element> Tensor<T> {
    /// Folds the listed dims one after another (highest first).
    fn fold_dims<D: AsDim>(
        &self,
        op: &'static str,
        dims: &[D],
        keepdim: bool,
        init: T,
        f: impl Fn(T, T) -> T + Copy,
    ) -> Result<Tensor<T>> {
        let dims = resolve_dims(op, dims, self.ndim())?;
        let mut shape = self.shape().to_vec();
        let mut buf: Option<Vec<T>> = None;
        for &d in dims.iter().rev() {
            let src = buf.as_deref().unwrap_or(self.as_slice());
            let out = fold_dim(src, &shape, d, init, f);
            shape.remove(d);
            buf = Some(out);
        }
        let out = buf.unwrap_or_else(|| self.to_vec());
        Ok(Tensor::from_vec(
            out,
            &reduced_shape(self.shape(), &dims, keepdim),
        ))
    }

    /// The sum of every element, as a 0-d tensor. Large tensors are summed in
    /// parallel over fixed chunks, combined in order.
    pub fn sum_all(&self) -> Tensor<T> {
        let s = self.as_slice();
        let total = if s.len() >= PARALLEL_THRESHOLD {
            // Fixed chunks combined in order, on one thread or many.
            let partial: Vec<T> = if split_work(s.len()) {
                s.par_chunks(CHUNK).map(lane_sum).collect()
            } else {
                s.chunks(CHUNK).map(lane_sum).collect()
            };
            partial.into_iter().sum()
        } else {
            lane_sum(s)
        };
        Tensor::scalar(total)
    }

    /// The mean of every element, as a 0-d tensor.
    pub fn mean_all(&self) -> Tensor<T> {
        let n = T::from_usize(self.numel()).unwrap();
        Tensor::scalar(self.sum_all().item() / n)
    }

    /// Sum over `dims`; with `keepdim` the reduced dims stay as size 1.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1., 2., 3., 4.], &[2, 2]);
    /// assert_eq!(a.sum_dims(&[0], false).to_vec(), vec![4., 6.]);
    /// assert_eq!(a.sum_dims(&[-1], true).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Tensor<T> {
        or_panic(self.try_sum_dims(dims, keepdim))
    }

    /// Fallible [`Tensor::sum_dims`].
    pub fn try_sum_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Result<Tensor<T>> {
        self.fold_dims("sum", dims, keepdim, T::zero(), |a, x| a + x)
    }

    /// Mean over `dims`.
    #[track_caller]
    pub fn mean_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Tensor<T> {
        or_panic(self.try_mean_dims(dims, keepdim))
    }

    /// Fallible [`Tensor::mean_dims`].
    pub fn try_mean_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Result<Tensor<T>> {
        let s = self.fold_dims("mean", dims, keepdim, T::zero(), |a, x| a + x)?;
        let n = self.numel() / s.numel().max(1);
        Ok(s.mul_scalar(T::one() / T::from_usize(n.max(1)).unwrap()))
    }

    /// Variance over `dims`, dividing by `n - correction` (0 = biased,
    /// 1 = unbiased, as PyTorch's `correction`).
    #[track_caller]
    pub fn var_dims<D: AsDim>(&self, dims: &[D], correction: usize, keepdim: bool) -> Tensor<T> {
        let mean = self.mean_dims(dims, true);
        let sq = self.sub(&mean).square();
        let s = sq.sum_dims(dims, keepdim);
        let n = self.numel() / s.numel().max(1);
        let denom = n.saturating_sub(correction).max(1);
        s.mul_scalar(T::one() / T::from_usize(denom).unwrap())
    }

    /// Maximum over `dims`.
    #[track_caller]
    pub fn max_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Tensor<T> {
        or_panic(
            self.fold_dims("max", dims, keepdim, T::neg_infinity(), |a, x| {
                if x > a || x.is_nan() {
                    x
                } else {
                    a
                }
            }),
        )
    }

    /// Minimum over `dims`.
    #[track_caller]
    pub fn min_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Tensor<T> {
        or_panic(self.fold_dims("min", dims, keepdim, T::infinity(), |a, x| {
            if x < a || x.is_nan() {
                x
            } else {
                a
            }
        }))
    }

    /// The largest element.
    pub fn max_all(&self) -> T {
        self.as_slice()
            .iter()
            .copied()
            .fold(T::neg_infinity(), T::max)
    }

    /// The smallest element.
    pub fn min_all(&self) -> T {
        self.as_slice().iter().copied().fold(T::infinity(), T::min)
    }

    fn arg_extreme(
        &self,
        op: &'static str,
        dim: impl AsDim,
        better: impl Fn(T, T) -> bool,
    ) -> Result<Vec<usize>> {
        let d = dim.resolve(op, self.ndim())?;
        let shape = self.shape();
        if shape[d] == 0 {
            return Err(TensorError::invalid(
                op,
                format!("dimension {d} of shape {shape:?} is empty"),
            ));
        }
        let (outer, inner) = split_at_dim(shape, d);
        let len = shape[d];
        let s = self.as_slice();
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let mut best = 0;
                let mut bv = s[o * len * inner + i];
                for k in 1..len {
                    let v = s[(o * len + k) * inner + i];
                    if better(v, bv) {
                        best = k;
                        bv = v;
                    }
                }
                out.push(best);
            }
        }
        Ok(out)
    }

    /// Index of the maximum along `dim` for every other position, row-major
    /// over the remaining dims (ties go to the first). The class predictions
    /// of a `[batch, classes]` logit tensor are `logits.argmax(1)`.
    #[track_caller]
    pub fn argmax(&self, dim: impl AsDim) -> Vec<usize> {
        or_panic(self.arg_extreme("argmax", dim, |v, b| v > b))
    }

    /// Index of the minimum along `dim` (see [`Tensor::argmax`]).
    #[track_caller]
    pub fn argmin(&self, dim: impl AsDim) -> Vec<usize> {
        or_panic(self.arg_extreme("argmin", dim, |v, b| v < b))
    }

    /// `log Σ exp(x)` over `dims`, stable for large |x| (the max is subtracted first).
    #[track_caller]
    pub fn logsumexp<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Tensor<T> {
        let m = self.max_dims(dims, true);
        // A row of -inf stays -inf instead of turning into NaN.
        let m = m.map(|v| if v.is_finite() { v } else { T::zero() });
        let s = self.sub(&m).exp().sum_dims(dims, true).ln().add(&m);
        if keepdim {
            s
        } else {
            let dims = or_panic(resolve_dims("logsumexp", dims, self.ndim()));
            s.reshape(reduced_shape(self.shape(), &dims, false))
        }
    }

    /// Sums a broadcast result back to `shape`: the adjoint of
    /// [`Tensor::broadcast_to`], used for the gradient of broadcast operands.
    pub fn try_sum_to_shape(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let extra = self.ndim().checked_sub(shape.len()).ok_or_else(|| {
            TensorError::shapes(
                "sum_to_shape",
                self.shape(),
                shape,
                "the target has more dims",
            )
        })?;
        let mut dims = vec![];
        for i in 0..self.ndim() {
            if i < extra || (shape[i - extra] == 1 && self.shape()[i] != 1) {
                dims.push(i);
            } else if shape[i - extra] != self.shape()[i] {
                return Err(TensorError::shapes(
                    "sum_to_shape",
                    self.shape(),
                    shape,
                    format!("dimension {i} cannot be summed to the target"),
                ));
            }
        }
        Ok(self.try_sum_dims(&dims, false)?.reshape(shape))
    }

    /// Panicking [`Tensor::try_sum_to_shape`].
    #[track_caller]
    pub fn sum_to_shape(&self, shape: &[usize]) -> Tensor<T> {
        or_panic(self.try_sum_to_shape(shape))
    }
}

/// The sum of `s` over [`SUM_LANES`] interleaved partial sums (element `i`
/// goes to lane `i mod SUM_LANES`), added in lane order at the end. One
/// running sum is a chain of dependent additions, one per element; the
/// lanes let the compiler use vector additions (W4's `sum` of its
/// 1.6-million-element output took 2 % of the training step as one chain).
/// The order is fixed, so the result does not depend on the thread count.
fn lane_sum<T: Element>(s: &[T]) -> T {
    let mut lanes = [T::zero(); SUM_LANES];
    let mut blocks = s.chunks_exact(SUM_LANES);
    for b in &mut blocks {
        for (l, &v) in lanes.iter_mut().zip(b) {
            *l += v;
        }
    }
    for (l, &v) in lanes.iter_mut().zip(blocks.remainder()) {
        *l += v;
    }
    lanes.into_iter().sum()
}

/// Partial sums of [`lane_sum`]: two AVX-512 registers of f32.
const SUM_LANES: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
        Tensor::from_f64s(v, s)
    }

    #[test]
    fn sums_over_any_dims() {
        let a = Tensor::<f64>::arange(0.0, 24.0, 1.0).reshape([2, 3, 4]);
        assert_eq!(a.sum_dims(&[0, 2], false).to_vec(), vec![60., 92., 124.]);
        assert_eq!(a.sum_dims(&[1], true).shape(), &[2, 1, 4]);
        assert_eq!(a.sum_all().item(), 276.0);
        assert_eq!(a.mean_dims(&[-1], false).to_vec()[0], 1.5);
        assert!(a.try_sum_dims(&[0, 0], false).is_err());
    }

    #[test]
    fn var_max_arg() {
        let a = t(&[1., 5., 3., 2., 2., 2.], &[2, 3]);
        assert_eq!(a.var_dims(&[1], 1, false).to_vec(), vec![4., 0.]);
        assert_eq!(a.max_dims(&[1], false).to_vec(), vec![5., 2.]);
        assert_eq!(a.argmax(1), vec![1, 0]);
        assert_eq!(a.argmin(0), vec![0, 1, 1]);
    }

    #[test]
    fn logsumexp_is_stable() {
        let a = t(&[1e4, 1e4, -1e4], &[3]);
        let l = a.logsumexp(&[0], false).item();
        assert!((l - (1e4 + 2f64.ln())).abs() < 1e-9);
    }

    #[test]
    fn sum_to_shape_undoes_broadcast() {
        let g = Tensor::<f64>::ones(&[2, 3, 4]);
        assert_eq!(g.sum_to_shape(&[3, 1]).to_vec(), vec![8., 8., 8.]);
        assert_eq!(g.sum_to_shape(&[]).item(), 24.0);
    }

    #[test]
    fn parallel_sum_is_deterministic() {
        let n = PARALLEL_THRESHOLD * 4 + 3;
        let a = Tensor::<f32>::from_vec((0..n).map(|i| (i % 17) as f32 * 0.1).collect(), &[n]);
        assert_eq!(a.sum_all().item().to_bits(), a.sum_all().item().to_bits());
    }

    #[test]
    fn lane_sum_adds_every_element_once() {
        // Integers are exact in f64, so any order gives the same sum; lengths
        // around the lane count check the remainder.
        for n in [
            0,
            1,
            SUM_LANES - 1,
            SUM_LANES,
            SUM_LANES + 1,
            3 * SUM_LANES + 7,
            1000,
        ] {
            let v: Vec<f64> = (0..n).map(|i| (i * i % 97) as f64).collect();
            let want: f64 = v.iter().sum();
            assert_eq!(lane_sum(&v), want, "length {n}");
        }
    }
}
