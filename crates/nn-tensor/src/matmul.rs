//! Matrix multiplication on the `gemm` crate's kernels.
//!
//! `gemm` picks AVX-512, AVX2 or scalar micro-kernels at run time from the
//! CPU's features, so one build runs everywhere and is fast where it can be
//! (measured in `docs/performance.md`: it beats ndarray's matrixmultiply by
//! about 2× at n = 1024 on AVX-512 machines). Its AVX-512 kernels are built
//! in with the `gemm-avx512` feature only; `NN_SIMD` does not cap `gemm`,
//! which has no run-time switch (see [`simd`](crate::simd)). With the
//! feature `openblas`, large products run on the system's OpenBLAS when it
//! is installed (see `nn_tensor::blas`).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::dims::broadcast_shapes;
use crate::error::{or_panic, Result, TensorError};
use crate::parallel::num_threads;
use crate::{Element, Tensor};

/// Below this many multiply-adds a GEMM runs on one thread: splitting a small
/// product costs more in synchronisation than it saves.
const GEMM_PARALLEL_FLOPS: usize = 1 << 21;

/// The `gemm` crate packs the left operand's rows (its "rhs", since it works
/// on the transposed, column-major problem) into contiguous panels only when
/// the output has more than this many micro-kernel rows (× 24 on AVX2); its
/// default, 128, never packs below 3072 output columns. Packing from 1008
/// output columns on was faster at n = 1024 and 2048 and gave bit-identical
/// results; below that it was slower on skinny products (`gemm_backends` in
/// `docs/performance.md`).
pub const GEMM_RHS_PACKING_THRESHOLD: usize = 42;

/// Sets the `gemm` crate's process-wide packing threshold once, before the
/// first product.
fn configure_gemm_crate() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| gemm::set_rhs_packing_threshold(GEMM_RHS_PACKING_THRESHOLD));
}

/// A strided matrix operand: `data[i * row_stride + j * col_stride]` is element `(i, j)`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    /// The elements.
    pub data: &'a [T],
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [T], cols: usize) -> Self {
        MatRef {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }
    /// The transpose of a row-major `rows × cols` matrix (a `cols × rows` view).
    pub fn transposed(data: &'a [T], cols: usize) -> Self {
        MatRef {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }
    fn last_index(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.row_stride + (cols - 1) * self.col_stride
        }
    }
}

/// `c = a·b` (or `c += a·b` with `accumulate`) for an `m × k` matrix `a`, a
/// `k × n` matrix `b` and a row-major `m × n` output. Panics if a slice is too
/// short for its strides. Uses several threads for large products.
///
/// ```
/// use nn_tensor::{gemm, MatRef};
/// let a = [1.0f64, 2.0, 3.0, 4.0];
/// let mut c = [0.0; 4];
/// gemm(2, 2, 2, MatRef::row_major(&a, 2), MatRef::transposed(&a, 2), &mut c, false);
/// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]); // a·aᵀ
/// ```
pub fn gemm<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
) {
    gemm_with_threads(m, n, k, a, b, c, accumulate, gemm_threads(m * n * k))
}

/// Threads for one product of `madds` multiply-adds.
fn gemm_threads(madds: usize) -> usize {
    if madds >= GEMM_PARALLEL_FLOPS {
        num_threads()
    } else {
        1
    }
}

#[allow(clippy::too_many_arguments)]
fn gemm_with_threads<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
    threads: usize,
) {
    assert!(
        c.len() >= m * n,
        "gemm: output holds {} elements, needs {}",
        c.len(),
        m * n
    );
    // SAFETY: `c` is initialised and holds at least m·n elements.
    unsafe { gemm_raw(m, n, k, a, b, c.as_mut_ptr(), accumulate, threads) }
}

/// `c = a·b` into memory that need not be initialised: the fresh output of a
/// matrix product is written without being zeroed first (zeroing cost about
/// 3 % of an MLP training step, in `memset`).
fn gemm_uninit<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [MaybeUninit<T>],
    threads: usize,
) {
    assert!(
        c.len() >= m * n,
        "gemm: output holds {} elements, needs {}",
        c.len(),
        m * n
    );
    // SAFETY: `c` holds at least m·n slots; without `accumulate` nothing is
    // read from it (the `gemm` crate zeroes its `alpha` when `read_dst` is
    // false and then only stores), so uninitialised slots are never read.
    unsafe { gemm_raw(m, n, k, a, b, c.as_mut_ptr().cast(), false, threads) }
}

/// The checked call into the `gemm` crate.
///
/// # Safety
/// `c` must be valid for writes of `m·n` elements, and for reads of them
/// too when `accumulate` is set.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: *mut T,
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m * n {
                // SAFETY: the caller guarantees `c` for m·n writes.
                unsafe { c.add(i).write(T::zero()) };
            }
        }
        return;
    }
    assert!(
        a.last_index(m, k) < a.data.len(),
        "gemm: lhs slice too short for {m}×{k}"
    );
    assert!(
        b.last_index(k, n) < b.data.len(),
        "gemm: rhs slice too short for {k}×{n}"
    );
    #[cfg(feature = "openblas")]
    // SAFETY: the asserts above bound what it reads; the caller's contract
    // on `c` is passed on.
    if unsafe { crate::blas::try_gemm(m, n, k, &a, &b, c, accumulate, threads) } {
        return;
    }
    configure_gemm_crate();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above bound every index the kernel reads; the
    // caller guarantees `c` for m·n row-major outputs; `c` cannot alias the
    // operands because the caller holds it mutably.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        )
    };
}

impl<T: Element> Tensor<T> {
    /// Matrix product with broadcast batch dims: `[…, n, k] · […, k, m] → […, n, m]`.
    /// Both operands need at least 2 dims; a 2-d operand is reused for every
    /// batch element.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// let a = Tensor::<f32>::ones(&[4, 2, 3]);
    /// let b = Tensor::<f32>::ones(&[3, 5]);
    /// assert_eq!(a.matmul(&b).shape(), &[4, 2, 5]);
    /// ```
    #[doc(alias = "mm")]
    #[doc(alias = "bmm")]
    #[track_caller]
    pub fn matmul(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_matmul(other))
    }

    /// Fallible [`Tensor::matmul`].
    pub fn try_matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.try_matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes the last two dims when its
    /// flag is set, without materialising the transpose. Backward passes and
    /// `Linear` (`x·Wᵀ`) use this.
    #[track_caller]
    pub fn matmul_t(&self, other: &Tensor<T>, trans_self: bool, trans_other: bool) -> Tensor<T> {
        or_panic(self.try_matmul_t(other, trans_self, trans_other))
    }

    /// Fallible [`Tensor::matmul_t`].
    pub fn try_matmul_t(&self, other: &Tensor<T>, ta: bool, tb: bool) -> Result<Tensor<T>> {
        let (sa, sb) = (self.shape(), other.shape());
        if sa.len() < 2 || sb.len() < 2 {
            return Err(TensorError::shapes(
                "matmul",
                sa,
                sb,
                "both operands need at least 2 dims",
            ));
        }
        let (ar, ac) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (br, bc) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
        let (k2, n) = if tb { (bc, br) } else { (br, bc) };
        if k != k2 {
            return Err(TensorError::shapes(
                "matmul",
                sa,
                sb,
                format!("inner dimensions {k} and {k2} differ"),
            ));
        }
        let batch_a = &sa[..sa.len() - 2];
        let batch_b = &sb[..sb.len() - 2];
        // Name the whole operands, not just their batch dims, in the error.
        let batch = broadcast_shapes("matmul", batch_a, batch_b).map_err(|_| {
            TensorError::shapes(
                "matmul",
                sa,
                sb,
                format!("batch dims {batch_a:?} and {batch_b:?} do not broadcast"),
            )
        })?;
        let nb: usize = batch.iter().product();
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        let total = nb * m * n;
        if total == 0 {
            return Ok(Tensor::zeros(&out_shape));
        }
        // Every element is written by exactly one product below.
        let mut out: Vec<T> = Vec::with_capacity(total);
        let slots = &mut out.spare_capacity_mut()[..total];

        // A 2-d right operand with a plain left operand: fold the batch into
        // the rows and run one large GEMM.
        if batch_b.is_empty() && !ta {
            let rows = nb * m;
            gemm_uninit(
                rows,
                n,
                k,
                MatRef::row_major(self.as_slice(), ac),
                mat_of(other.as_slice(), bc, tb),
                slots,
                gemm_threads(rows * n * k),
            );
            // SAFETY: the product wrote all rows·n = total elements.
            unsafe { out.set_len(total) };
            return Ok(Tensor::from_vec(out, &out_shape));
        }
        let a_off = batch_offsets(batch_a, &batch, ar * ac);
        let b_off = batch_offsets(batch_b, &batch, br * bc);
        let (a, b) = (self.as_slice(), other.as_slice());
        let run = |i: usize, c: &mut [MaybeUninit<T>], threads: usize| {
            let am = mat_of(&a[a_off[i]..a_off[i] + ar * ac], ac, ta);
            let bm = mat_of(&b[b_off[i]..b_off[i] + br * bc], bc, tb);
            gemm_uninit(m, n, k, am, bm, c, threads);
        };
        let per = m * n * k;
        if nb > 1
            && num_threads() > 1
            && nb * per >= GEMM_PARALLEL_FLOPS
            && per < GEMM_PARALLEL_FLOPS
        {
            // Many small products: one per task.
            slots
                .par_chunks_mut(m * n)
                .enumerate()
                .for_each(|(i, c)| run(i, c, 1));
        } else {
            let threads = gemm_threads(per);
            slots
                .chunks_mut(m * n)
                .enumerate()
                .for_each(|(i, c)| run(i, c, threads));
        }
        // SAFETY: each of the nb products wrote its m·n chunk of `total`.
        unsafe { out.set_len(total) };
        Ok(Tensor::from_vec(out, &out_shape))
    }
}

/// A row-major matrix with `cols` columns, or its transpose.
fn mat_of<T>(data: &[T], cols: usize, transpose: bool) -> MatRef<'_, T> {
    if transpose {
        MatRef::transposed(data, cols)
    } else {
        MatRef::row_major(data, cols)
    }
}

/// Start offset of each broadcast batch element's matrix inside an operand
/// whose batch dims are `own` (broadcast to `full`).
fn batch_offsets(own: &[usize], full: &[usize], mat: usize) -> Vec<usize> {
    let nb: usize = full.iter().product();
    let pad = full.len() - own.len();
    // Row-major strides of the operand's own batch dims, zero where broadcast.
    let mut strides = vec![0; full.len()];
    let mut s = mat;
    for i in (0..own.len()).rev() {
        strides[pad + i] = if own[i] == 1 { 0 } else { s };
        s *= own[i];
    }
    (0..nb)
        .map(|mut flat| {
            let mut off = 0;
            for d in (0..full.len()).rev() {
                off += (flat % full[d]) * strides[d];
                flat /= full[d];
            }
            off
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &Tensor<f64>, b: &Tensor<f64>) -> Vec<f64> {
        let (n, k) = (a.shape()[0], a.shape()[1]);
        let m = b.shape()[1];
        let mut c = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                for l in 0..k {
                    c[i * m + j] += a.get(&[i, l]) * b.get(&[l, j]);
                }
            }
        }
        c
    }

    #[test]
    fn matches_naive_and_transposes() {
        let a = Tensor::<f64>::arange(0.0, 12.0, 1.0).reshape([3, 4]);
        let b = Tensor::<f64>::arange(0.0, 8.0, 0.5).reshape([4, 4]);
        assert_eq!(a.matmul(&b).to_vec(), naive(&a, &b));
        assert_eq!(a.t().matmul_t(&b, true, false).to_vec(), naive(&a, &b));
        assert_eq!(a.matmul_t(&b.t(), false, true).to_vec(), naive(&a, &b));
    }

    #[test]
    fn broadcast_batches() {
        let a = Tensor::<f64>::arange(0.0, 24.0, 1.0).reshape([2, 1, 3, 4]);
        let b = Tensor::<f64>::arange(0.0, 60.0, 1.0).reshape([3, 4, 5]);
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[2, 3, 3, 5]);
        let a1 = a.narrow(0, 1, 1).reshape([3, 4]);
        let b2 = b.narrow(0, 2, 1).reshape([4, 5]);
        assert_eq!(c.narrow(0, 1, 1).narrow(1, 2, 1).to_vec(), naive(&a1, &b2));
    }

    #[test]
    fn empty_products() {
        // k = 0: a sum of nothing, so zeros (the output is never left unset).
        let c = Tensor::<f32>::ones(&[2, 0]).matmul(&Tensor::ones(&[0, 3]));
        assert_eq!(c.to_vec(), vec![0.0; 6]);
        let c = Tensor::<f32>::ones(&[4, 2, 0]).matmul(&Tensor::ones(&[4, 0, 3]));
        assert_eq!(c.to_vec(), vec![0.0; 24]);
        assert_eq!(
            Tensor::<f32>::ones(&[0, 3])
                .matmul(&Tensor::ones(&[3, 2]))
                .shape(),
            &[0, 2]
        );
        assert_eq!(
            Tensor::<f32>::ones(&[3, 2, 3])
                .matmul(&Tensor::ones(&[3, 3, 0]))
                .shape(),
            &[3, 2, 0]
        );
    }

    #[test]
    fn inner_mismatch_is_an_error() {
        let e = Tensor::<f32>::zeros(&[2, 3])
            .try_matmul(&Tensor::zeros(&[4, 2]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "matmul: shapes [2, 3] and [4, 2] do not match: inner dimensions 3 and 4 differ"
        );
    }

    #[test]
    fn large_gemm_is_thread_count_independent() {
        let n = 160;
        let a = Tensor::<f32>::from_vec(
            (0..n * n).map(|i| ((i * 7) % 13) as f32 * 0.1).collect(),
            &[n, n],
        );
        let mut c1 = vec![0.0; n * n];
        let mut c2 = vec![0.0; n * n];
        gemm_with_threads(
            n,
            n,
            n,
            MatRef::row_major(a.as_slice(), n),
            MatRef::row_major(a.as_slice(), n),
            &mut c1,
            false,
            1,
        );
        gemm_with_threads(
            n,
            n,
            n,
            MatRef::row_major(a.as_slice(), n),
            MatRef::row_major(a.as_slice(), n),
            &mut c2,
            false,
            2,
        );
        assert_eq!(c1, c2);
    }
}
