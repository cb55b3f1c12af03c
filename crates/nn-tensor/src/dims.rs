//! Dimension arguments: non-negative indices, or negative ones counting from
//! the end as in PyTorch (`-1` is the last dimension).

use crate::error::{Result, TensorError};

/// Anything that names a dimension: `usize`, or a signed integer where
/// negative values count from the end.
pub trait AsDim: Copy {
    /// The dimension as a signed index.
    fn as_isize(self) -> isize;

    /// Resolves the dimension against a tensor of rank `rank`, or errors
    /// naming `op`.
    fn resolve(self, op: &'static str, rank: usize) -> Result<usize> {
        resolve_dim(op, self.as_isize(), rank)
    }
}

impl AsDim for usize {
    fn as_isize(self) -> isize {
        self as isize
    }
}
impl AsDim for isize {
    fn as_isize(self) -> isize {
        self
    }
}
impl AsDim for i32 {
    fn as_isize(self) -> isize {
        self as isize
    }
}
impl AsDim for i64 {
    fn as_isize(self) -> isize {
        self as isize
    }
}

/// Resolves a possibly negative dimension index against a rank.
pub fn resolve_dim(op: &'static str, dim: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        Err(TensorError::InvalidDim { op, dim, rank })
    } else {
        Ok(d as usize)
    }
}

/// Resolves a list of dimensions, sorted ascending, rejecting repeats.
pub fn resolve_dims<D: AsDim>(op: &'static str, dims: &[D], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(dims.len());
    for d in dims {
        out.push(d.resolve(op, rank)?);
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(TensorError::invalid(
            op,
            format!(
                "dimension list {:?} repeats a dimension",
                dims.iter().map(|d| d.as_isize()).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(out)
}

/// The NumPy broadcast of two shapes, or an error naming `op` and both shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(TensorError::shapes(
                op,
                a,
                b,
                format!("dimension {i} of the broadcast has sizes {da} and {db}"),
            ));
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_dims() {
        assert_eq!(resolve_dim("t", -1, 3).unwrap(), 2);
        assert!(resolve_dim("t", 3, 3).is_err());
        assert_eq!(
            resolve_dim("sum", -4, 3).unwrap_err().to_string(),
            "sum: dimension -4 is out of range for a tensor of rank 3"
        );
    }

    #[test]
    fn broadcasting_rules() {
        assert_eq!(
            broadcast_shapes("add", &[2, 1, 3], &[4, 1]).unwrap(),
            vec![2, 4, 3]
        );
        assert_eq!(broadcast_shapes("add", &[], &[2]).unwrap(), vec![2]);
        assert_eq!(
            broadcast_shapes("add", &[2, 3], &[4]).unwrap_err().to_string(),
            "add: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4"
        );
    }
}

/// A shape as `reshape` takes it: sizes, one of which may be `-1` to be
/// inferred from the element count (PyTorch's `x.reshape(-1, 2)`).
///
/// Implemented for slices, arrays and vectors of `usize`, `isize`, `i32`
/// and `i64` (and references to them), so `&[2, 3]`, `&[-1, 3]`,
/// `&shape` (a `Vec<usize>`) and `x.shape()` all work.
pub trait IntoShape {
    /// The sizes as signed numbers (`-1` asks for inference).
    fn sizes(&self) -> Vec<i64>;
}

impl<S: IntoShape + ?Sized> IntoShape for &S {
    fn sizes(&self) -> Vec<i64> {
        (**self).sizes()
    }
}

macro_rules! into_shape {
    ($($t:ty),*) => {$(
        impl IntoShape for [$t] {
            fn sizes(&self) -> Vec<i64> {
                // Every size fits: shapes come from element counts (`usize`)
                // or from user literals.
                self.iter().map(|&d| d as i64).collect()
            }
        }
        impl<const N: usize> IntoShape for [$t; N] {
            fn sizes(&self) -> Vec<i64> {
                self.as_slice().sizes()
            }
        }
        impl IntoShape for Vec<$t> {
            fn sizes(&self) -> Vec<i64> {
                self.as_slice().sizes()
            }
        }
    )*};
}
into_shape!(usize, isize, i32, i64);

/// The sizes of `shape` for a tensor of `numel` elements, the `-1` (at most
/// one) replaced by what the others leave. Errors name `op` and the shape.
pub fn resolve_shape(op: &'static str, shape: &[i64], from: &[usize]) -> Result<Vec<usize>> {
    let numel: usize = from.iter().product();
    let mut inferred = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if inferred.is_none() => inferred = Some(i),
            -1 => {
                return Err(TensorError::invalid(
                    op,
                    format!("only one dimension can be -1, got {shape:?}"),
                ))
            }
            d if d < 0 => {
                return Err(TensorError::invalid(
                    op,
                    format!("invalid size {d} in {shape:?} (sizes are >= 0, or -1 to infer one)"),
                ))
            }
            d => known = known.saturating_mul(d as usize),
        }
    }
    let mut sizes: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = inferred {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(TensorError::invalid(
                op,
                format!(
                    "cannot infer the -1 of {shape:?} for a tensor of shape {from:?} ({numel} elements)"
                ),
            ));
        }
        sizes[i] = numel / known;
    } else if known != numel {
        return Err(TensorError::shapes(
            op,
            from,
            &sizes,
            format!("{numel} elements cannot take a shape of {known}"),
        ));
    }
    Ok(sizes)
}
