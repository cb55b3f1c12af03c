//! Sparse matrices in compressed sparse row (CSR) form, and the
//! differentiable sparse × dense product that every graph layer is built on.
//!
//! A graph's adjacency has `O(N + E)` non-zeros out of `N²` entries, so a
//! layer that aggregates over neighbours is a sparse–dense product
//! `Â · H`, costing `O(E · F)` instead of `O(N² · F)`.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Tensor, TensorError};

/// A sparse `rows × cols` matrix in CSR form: the non-zeros of row `r` are
/// `values[row_ptr[r] .. row_ptr[r + 1]]`, in the columns `col_idx[…]`
/// (sorted within a row, no duplicates). The values are constants: the
/// product [`Csr::matmul`] differentiates its dense operand only.
///
/// ```
/// use nn_graph::Csr;
/// use nn_tensor::Tensor;
/// // [[0, 2], [1, 0]] from (row, col, value) triplets; duplicates add up.
/// let a = Csr::<f64>::from_triplets(2, 2, &[(0, 1, 1.0), (1, 0, 1.0), (0, 1, 1.0)]).unwrap();
/// assert_eq!(a.nnz(), 2);
/// assert_eq!(a.to_dense().to_vec(), vec![0.0, 2.0, 1.0, 0.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Csr<T: Element> {
    rows: usize,
    cols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<usize>,
    values: Vec<T>,
}

impl<T: Element> Csr<T> {
    /// From `(row, col, value)` triplets in any order; repeated positions
    /// add up (as a scatter-add of edges does). Errors on an index outside
    /// the shape.
    pub fn from_triplets(rows: usize, cols: usize, triplets: &[(usize, usize, T)]) -> Result<Self> {
        if let Some(&(r, c, _)) = triplets.iter().find(|&&(r, c, _)| r >= rows || c >= cols) {
            return Err(TensorError::invalid(
                "Csr::from_triplets",
                format!("entry ({r}, {c}) is outside the {rows}×{cols} matrix"),
            ));
        }
        let mut sorted: Vec<(usize, usize, T)> = triplets.to_vec();
        sorted.sort_by_key(|&(r, c, _)| (r, c));
        let mut row_ptr = vec![0; rows + 1];
        let (mut col_idx, mut values) = (Vec::new(), Vec::<T>::new());
        let mut last: Option<(usize, usize)> = None;
        for (r, c, v) in sorted {
            if last == Some((r, c)) {
                *values
                    .last_mut()
                    .expect("a repeated entry follows a first one") += v;
                continue;
            }
            last = Some((r, c));
            row_ptr[r + 1] += 1;
            col_idx.push(c);
            values.push(v);
        }
        for r in 0..rows {
            row_ptr[r + 1] += row_ptr[r];
        }
        Ok(Csr {
            rows,
            cols,
            row_ptr,
            col_idx,
            values,
        })
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The number of stored non-zeros.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// The row pointer, `rows + 1` offsets into [`Csr::col_idx`].
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// The column of each stored value.
    pub fn col_idx(&self) -> &[usize] {
        &self.col_idx
    }

    /// The stored values.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Row `r`'s `(column, value)` pairs.
    pub fn row(&self, r: usize) -> impl Iterator<Item = (usize, T)> + '_ {
        let span = self.row_ptr[r]..self.row_ptr[r + 1];
        self.col_idx[span.clone()]
            .iter()
            .copied()
            .zip(self.values[span].iter().copied())
    }

    /// The sum of each row's values (for an adjacency: the degrees).
    pub fn row_sums(&self) -> Vec<T> {
        (0..self.rows)
            .map(|r| self.row(r).fold(T::zero(), |acc, (_, v)| acc + v))
            .collect()
    }

    /// The same matrix with each value `v` at `(r, c)` replaced by `f(r, c, v)`.
    pub fn map_values(&self, f: impl Fn(usize, usize, T) -> T) -> Self {
        let mut out = self.clone();
        for r in 0..self.rows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                out.values[k] = f(r, self.col_idx[k], self.values[k]);
            }
        }
        out
    }

    /// The transpose, again in CSR form.
    pub fn transpose(&self) -> Self {
        let triplets: Vec<(usize, usize, T)> = (0..self.rows)
            .flat_map(|r| self.row(r).map(move |(c, v)| (c, r, v)))
            .collect();
        Csr::from_triplets(self.cols, self.rows, &triplets)
            .expect("the transpose of a valid matrix is valid")
    }

    /// The dense `[rows, cols]` tensor (for tests and small examples).
    pub fn to_dense(&self) -> Tensor<T> {
        let mut d = vec![T::zero(); self.rows * self.cols];
        for r in 0..self.rows {
            for (c, v) in self.row(r) {
                d[r * self.cols + c] = v;
            }
        }
        Tensor::from_vec(d, &[self.rows, self.cols])
    }

    /// `self · dense` for a plain tensor `[cols, F]` → `[rows, F]`.
    fn spmm(&self, dense: &[T], f: usize) -> Vec<T> {
        let mut out = vec![T::zero(); self.rows * f];
        for (r, out_row) in out.chunks_mut(f.max(1)).enumerate().take(self.rows) {
            for (c, v) in self.row(r) {
                let src = &dense[c * f..(c + 1) * f];
                for (o, &s) in out_row.iter_mut().zip(src) {
                    *o += v * s;
                }
            }
        }
        out
    }

    /// The product `self · h` with a dense `h: [cols, F]`, giving
    /// `[rows, F]`; differentiable in `h` (its gradient is `selfᵀ · g`).
    /// Errors when `h` is not a matrix with `cols` rows.
    ///
    /// ```
    /// use nn_autograd::Var;
    /// use nn_graph::Csr;
    /// use nn_tensor::Tensor;
    /// let a = Csr::<f64>::from_triplets(2, 3, &[(0, 2, 2.0), (1, 0, 1.0)]).unwrap();
    /// let h = Var::leaf(Tensor::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3, 2]));
    /// let y = a.matmul(&h).unwrap();
    /// assert_eq!(y.value().to_vec(), vec![10., 12., 1., 2.]);
    /// let g = y.sum().backward();
    /// assert_eq!(g.get(&h).unwrap().to_vec(), vec![1., 1., 0., 0., 2., 2.]);
    /// ```
    pub fn matmul(&self, h: &Var<T>) -> Result<Var<T>> {
        if h.ndim() != 2 || h.shape()[0] != self.cols {
            return Err(TensorError::shapes(
                "Csr::matmul",
                &[self.rows, self.cols],
                h.shape(),
                format!("the dense operand must be [{}, F]", self.cols),
            ));
        }
        let f = h.shape()[1];
        let y = Tensor::from_vec(self.spmm(h.value().as_slice(), f), &[self.rows, f]);
        if !Var::records(&[h]) {
            return Ok(Var::constant(y));
        }
        let at = self.transpose();
        Ok(Var::from_op(
            "sparse_matmul",
            y,
            vec![h.clone()],
            move |g| {
                vec![Some(Tensor::from_vec(
                    at.spmm(g.as_slice(), f),
                    &[at.rows, f],
                ))]
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_sort_merge_and_validate() {
        let a = Csr::<f64>::from_triplets(3, 2, &[(2, 1, 1.0), (0, 0, 3.0), (2, 0, 2.0)]).unwrap();
        assert_eq!(a.row_ptr(), &[0, 1, 1, 3]);
        assert_eq!(a.col_idx(), &[0, 0, 1]);
        assert_eq!(a.row_sums(), vec![3.0, 0.0, 3.0]);
        assert_eq!(
            a.transpose().to_dense().to_vec(),
            vec![3., 0., 2., 0., 0., 1.]
        );
        let e = Csr::<f64>::from_triplets(2, 2, &[(0, 2, 1.0)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("(0, 2)") && e.contains("2×2"), "{e}");
        let h = Var::constant(Tensor::<f64>::zeros(&[3, 1]));
        let e = a.matmul(&h).unwrap_err().to_string();
        assert!(e.contains("Csr::matmul") && e.contains("[3, 1]"), "{e}");
    }

    #[test]
    fn sparse_product_equals_the_dense_one() {
        let a =
            Csr::<f64>::from_triplets(3, 3, &[(0, 1, 0.5), (1, 2, -1.0), (2, 2, 2.0), (2, 0, 1.5)])
                .unwrap();
        let h = Tensor::from_vec((0..6).map(f64::from).collect(), &[3, 2]);
        let sparse = a
            .matmul(&Var::constant(h.clone()))
            .unwrap()
            .value()
            .to_vec();
        assert_eq!(sparse, a.to_dense().matmul(&h).to_vec());
    }
}
