//! Differentiable reductions.

use nn_tensor::{or_panic, AsDim, Element, Tensor};

use crate::trace::Attr;
use crate::Var;

/// The shape of a reduction with `keepdim = true`.
fn kept_shape(shape: &[usize], dims: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &n)| if dims.contains(&i) { 1 } else { n })
        .collect()
}

#[track_caller]
fn resolve<D: AsDim>(op: &'static str, dims: &[D], rank: usize) -> Vec<usize> {
    or_panic(nn_tensor::dims::resolve_dims(op, dims, rank))
}

impl<T: Element> Var<T> {
    /// The sum of all elements (a 0-d var).
    pub fn sum(&self) -> Var<T> {
        let shape = self.shape().to_vec();
        Var::from_op(
            "sum",
            self.value().sum_all(),
            vec![self.clone()],
            move |g| vec![Some(Tensor::full(&shape, g.item()))],
        )
    }

    /// The mean of all elements (a 0-d var).
    pub fn mean(&self) -> Var<T> {
        let shape = self.shape().to_vec();
        let n = T::from_usize(self.value().numel().max(1)).unwrap();
        Var::from_op(
            "mean",
            self.value().mean_all(),
            vec![self.clone()],
            move |g| vec![Some(Tensor::full(&shape, g.item() / n))],
        )
    }

    /// Sum over `dims` (negative counts from the end), keeping them as size 1 with `keepdim`.
    #[track_caller]
    pub fn sum_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Var<T> {
        let d = resolve("sum", dims, self.ndim());
        let y = self.value().sum_dims(&d, keepdim);
        let shape = self.shape().to_vec();
        let kept = kept_shape(&shape, &d);
        Var::from_op("sum_dims", y, vec![self.clone()], move |g| {
            vec![Some(g.reshape(&kept).broadcast_to(&shape))]
        })
        .traced_with(|| {
            vec![
                ("axes", Attr::Ints(d.iter().map(|&i| i as i64).collect())),
                ("keepdims", Attr::Int(keepdim as i64)),
            ]
        })
    }

    /// Mean over `dims`.
    #[track_caller]
    pub fn mean_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Var<T> {
        let d = resolve("mean", dims, self.ndim());
        let count: usize = d.iter().map(|&i| self.shape()[i]).product();
        self.sum_dims(&d, keepdim)
            .mul_scalar(T::one() / T::from_usize(count.max(1)).unwrap())
    }

    /// Variance over `dims` dividing by `n - correction` (0: biased, as in
    /// batch and layer norm; 1: unbiased).
    #[track_caller]
    pub fn var_dims<D: AsDim>(&self, dims: &[D], correction: usize, keepdim: bool) -> Var<T> {
        let d = resolve("var", dims, self.ndim());
        let count: usize = d.iter().map(|&i| self.shape()[i]).product();
        let centered = self.sub(&self.mean_dims(&d, true));
        let denom = count.saturating_sub(correction).max(1);
        centered
            .square()
            .sum_dims(&d, keepdim)
            .mul_scalar(T::one() / T::from_usize(denom).unwrap())
    }

    /// Maximum over `dims`; the gradient goes to the (first) maximal element.
    #[track_caller]
    pub fn max_dims<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Var<T> {
        let d = resolve("max", dims, self.ndim());
        let y = self.value().max_dims(&d, keepdim);
        let x = self.value().clone();
        let kept = kept_shape(x.shape(), &d);
        let yk = y.reshape(&kept);
        let axes: Vec<i64> = d.iter().map(|&i| i as i64).collect();
        Var::from_op("max_dims", y, vec![self.clone()], move |g| {
            // Split the gradient evenly among ties so it sums to g.
            let mask = x.eq(&yk);
            let count = mask.sum_dims(&d, true);
            let share = g.reshape(&kept).div(&count);
            vec![Some(mask.mul(&share))]
        })
        .traced_with(|| {
            vec![
                ("axes", Attr::Ints(axes)),
                ("keepdims", Attr::Int(keepdim as i64)),
            ]
        })
    }

    /// `log Σ exp` over `dims`, stable for large values.
    #[track_caller]
    pub fn logsumexp<D: AsDim>(&self, dims: &[D], keepdim: bool) -> Var<T> {
        let d = resolve("logsumexp", dims, self.ndim());
        let y = self.value().logsumexp(&d, keepdim);
        let x = self.value().clone();
        let kept = kept_shape(x.shape(), &d);
        let yk = y.reshape(&kept);
        Var::from_op("logsumexp", y, vec![self.clone()], move |g| {
            // d/dx = softmax(x) over dims
            vec![Some(x.sub(&yk).exp().mul(&g.reshape(&kept)))]
        })
    }
}
