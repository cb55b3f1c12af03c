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
