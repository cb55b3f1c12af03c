//! Differentiable shape operations. Each backward is the adjoint movement:
//! reshape back, permute by the inverse, scatter what was gathered.

use nn_tensor::{or_panic, AsDim, Element, IntoShape, Result, Tensor};

use crate::trace::Attr;
use crate::Var;

impl<T: Element> Var<T> {
    /// Fallible reshape to a shape with the same element count; one size
    /// may be `-1`, inferred from the others (see [`Tensor::try_reshape`]).
    pub fn try_reshape(&self, shape: impl IntoShape) -> Result<Var<T>> {
        let y = self.as_tensor().try_reshape(shape)?;
        let s = self.shape().to_vec();
        Ok(Var::from_op("reshape", y, vec![self.clone()], move |g| {
            vec![Some(g.reshape(&s))]
        }))
    }

    /// Reshape to a shape with the same element count.
    #[doc(alias = "view")]
    #[track_caller]
    pub fn reshape(&self, shape: impl IntoShape) -> Var<T> {
        or_panic(self.try_reshape(shape))
    }

    /// Flattens dims `start..` into one.
    #[track_caller]
    pub fn flatten_from(&self, start: usize) -> Var<T> {
        let mut s = self.shape()[..start].to_vec();
        s.push(self.shape()[start..].iter().product());
        self.reshape(&s)
    }

    /// Reorders dims: output dim `i` is input dim `perm[i]`.
    #[track_caller]
    pub fn permute(&self, perm: &[usize]) -> Var<T> {
        let y = or_panic(self.value().try_permute(perm));
        let mut inv = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        Var::from_op("permute", y, vec![self.clone()], move |g| {
            vec![Some(g.permute(&inv))]
        })
        .traced_with(|| vec![("perm", Attr::Ints(perm.iter().map(|&i| i as i64).collect()))])
    }

    /// Swaps two dims.
    #[track_caller]
    pub fn transpose(&self, d0: impl AsDim, d1: impl AsDim) -> Var<T> {
        let r = self.ndim();
        let a = or_panic(d0.resolve("transpose", r));
        let b = or_panic(d1.resolve("transpose", r));
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Broadcasts to `shape`; the gradient is summed back.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Var<T> {
        let y = or_panic(self.value().try_broadcast_to(shape));
        let s = self.shape().to_vec();
        Var::from_op("broadcast_to", y, vec![self.clone()], move |g| {
            vec![Some(g.sum_to_shape(&s))]
        })
    }

    /// Removes a dim of size 1.
    #[track_caller]
    pub fn squeeze(&self, dim: impl AsDim) -> Var<T> {
        let y = self.value().squeeze(dim);
        self.reshape(y.shape())
    }

    /// Inserts a dim of size 1.
    #[track_caller]
    pub fn unsqueeze(&self, dim: impl AsDim) -> Var<T> {
        let y = self.value().unsqueeze(dim);
        self.reshape(y.shape())
    }

    /// Elements `start..start+len` along `dim`.
    #[track_caller]
    pub fn narrow(&self, dim: impl AsDim, start: usize, len: usize) -> Var<T> {
        let d = or_panic(dim.resolve("narrow", self.ndim()));
        let y = or_panic(self.value().try_narrow(d, start, len));
        let full = self.shape()[d];
        Var::from_op("narrow", y, vec![self.clone()], move |g| {
            let mut pads = vec![(0, 0); d + 1];
            pads[d] = (start, full - start - len);
            vec![Some(g.pad(&pads, T::zero()))]
        })
        .traced_with(|| {
            vec![
                ("dim", Attr::Int(d as i64)),
                ("start", Attr::Int(start as i64)),
                ("len", Attr::Int(len as i64)),
            ]
        })
    }

    /// Picks `indices` along `dim` (repeats allowed; their gradients add up).
    #[track_caller]
    pub fn index_select(&self, dim: impl AsDim, indices: &[usize]) -> Var<T> {
        let d = or_panic(dim.resolve("index_select", self.ndim()));
        let y = or_panic(self.value().try_index_select(d, indices));
        let shape = self.shape().to_vec();
        let idx = indices.to_vec();
        Var::from_op("index_select", y, vec![self.clone()], move |g| {
            // Expand the 1-d index to g's shape, then scatter-add.
            let mut full = Vec::with_capacity(g.numel());
            let (outer, inner): (usize, usize) =
                (shape[..d].iter().product(), shape[d + 1..].iter().product());
            for _ in 0..outer {
                for &i in &idx {
                    full.extend(std::iter::repeat_n(i, inner));
                }
            }
            vec![Some(Tensor::zeros(&shape).scatter_add(d, &full, g))]
        })
        .traced_with(|| {
            vec![
                ("dim", Attr::Int(d as i64)),
                (
                    "indices",
                    Attr::Ints(indices.iter().map(|&i| i as i64).collect()),
                ),
            ]
        })
    }

    /// PyTorch's `gather` along `dim` with an index of `index_shape`.
    #[track_caller]
    pub fn gather(&self, dim: impl AsDim, index: &[usize], index_shape: &[usize]) -> Var<T> {
        let d = or_panic(dim.resolve("gather", self.ndim()));
        let y = or_panic(self.value().try_gather(d, index, index_shape));
        let shape = self.shape().to_vec();
        let idx = index.to_vec();
        Var::from_op("gather", y, vec![self.clone()], move |g| {
            vec![Some(Tensor::zeros(&shape).scatter_add(d, &idx, g))]
        })
    }

    /// Joins vars along an existing dim.
    #[doc(alias = "cat")]
    #[track_caller]
    pub fn concat(vars: &[&Var<T>], dim: impl AsDim) -> Var<T> {
        let values: Vec<&Tensor<T>> = vars.iter().map(|v| v.as_tensor()).collect();
        let y = or_panic(Tensor::try_concat(&values, dim));
        let d = or_panic(dim.resolve("concat", y.ndim()));
        let sizes: Vec<usize> = vars.iter().map(|v| v.shape()[d]).collect();
        let parents: Vec<Var<T>> = vars.iter().map(|v| (*v).clone()).collect();
        Var::from_op("concat", y, parents, move |g| {
            g.split(d, &sizes).into_iter().map(Some).collect()
        })
        .traced_with(|| vec![("axis", Attr::Int(d as i64))])
    }

    /// Joins vars of one shape along a new dim.
    #[track_caller]
    pub fn stack(vars: &[&Var<T>], dim: impl AsDim) -> Var<T> {
        let first = vars.first().expect("stack: needs at least one var");
        let d = or_panic(dim.resolve("stack", first.ndim() + 1));
        // Checked here so the message names stack and the caller's shapes,
        // not the concat of unsqueezed copies below.
        if let Some(v) = vars.iter().find(|v| v.shape() != first.shape()) {
            or_panic::<(), _>(Err(nn_tensor::TensorError::shapes(
                "stack",
                first.shape(),
                v.shape(),
                "all shapes must be equal",
            )));
        }
        let unsq: Vec<Var<T>> = vars.iter().map(|v| v.unsqueeze(d)).collect();
        let refs: Vec<&Var<T>> = unsq.iter().collect();
        Var::concat(&refs, d)
    }

    /// Splits along `dim` into pieces of the given sizes.
    #[track_caller]
    pub fn split(&self, dim: impl AsDim, sizes: &[usize]) -> Vec<Var<T>> {
        let d = or_panic(dim.resolve("split", self.ndim()));
        // The same words as `Tensor::try_split`, so both layers read alike.
        assert!(
            sizes.iter().sum::<usize>() == self.shape()[d],
            "split: sizes {sizes:?} do not add up to dimension {d} of shape {:?}",
            self.shape()
        );
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let v = self.narrow(d, start, s);
                start += s;
                v
            })
            .collect()
    }

    /// Splits along `dim` into `n` nearly equal pieces.
    #[track_caller]
    pub fn chunk(&self, n: usize, dim: impl AsDim) -> Vec<Var<T>> {
        let d = or_panic(dim.resolve("chunk", self.ndim()));
        let sizes: Vec<usize> = self
            .value()
            .chunk(n, d)
            .iter()
            .map(|t| t.shape()[d])
            .collect();
        self.split(d, &sizes)
    }

    /// Pads with a constant; `pads[i] = (before, after)` for dim `i`.
    #[track_caller]
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Var<T> {
        let y = or_panic(self.value().try_pad(pads, value));
        let (p, s) = (pads.to_vec(), self.shape().to_vec());
        Var::from_op("pad", y, vec![self.clone()], move |g| {
            let mut t = g.clone();
            for (i, &(b, _)) in p.iter().enumerate() {
                t = t.narrow(i, b, s[i]);
            }
            vec![Some(t)]
        })
    }
}
