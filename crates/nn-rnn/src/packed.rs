//! The recurrence's per-step matrix products, on a weight packed once per call.
//!
//! Every time step multiplies a small `[batch, k]` block by the same
//! recurrent weight (`32×128 · 128×512` in the W5 benchmark). A general GEMM
//! re-packs that weight on every call and pays its set-up each time, which
//! cost about as much as the arithmetic. Here the weight is laid out once per
//! sequence into column panels of [`NR`] values, stored k-major, so a step
//! streams each panel straight into the multiply-adds. f32 on x86-64 has a
//! micro-kernel per [`SimdLevel`]: AVX-512 holds an 8 × 32 block of the
//! result in registers, AVX2 + FMA a 6 × 16 block; elsewhere (and for f64,
//! used by the gradient checks) a portable loop over the same panels, which
//! the compiler vectorises, gives the same results up to rounding.

use nn_tensor::simd::{self, SimdLevel};
#[cfg(target_arch = "x86_64")]
use nn_tensor::simd::{as_f32, as_f32_mut};
use nn_tensor::Element;

/// Columns per packed panel: two AVX-512 vectors of f32.
const NR: usize = 32;

/// A `k × n` matrix packed into `ceil(n / NR)` panels of `k × NR` values
/// (row-major inside a panel, zero-padded past column `n`).
pub(crate) struct PackedMatrix<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
}

impl<T: Element> PackedMatrix<T> {
    /// Packs the `k × n` matrix whose element `(i, j)` is
    /// `src[i * row_stride + j * col_stride]`.
    pub(crate) fn new(src: &[T], k: usize, n: usize, row_stride: usize, col_stride: usize) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = vec![T::zero(); panels * k * NR];
        // The loop order follows the source, so reads run along memory (the
        // forward pass packs a transpose, with row_stride 1).
        if row_stride == 1 {
            for j in 0..n {
                let panel = &mut data[(j / NR) * k * NR + j % NR..];
                for (i, v) in src[j * col_stride..][..k].iter().enumerate() {
                    panel[i * NR] = *v;
                }
            }
        } else {
            for (p, panel) in data.chunks_exact_mut(k * NR).enumerate() {
                let j0 = p * NR;
                let width = NR.min(n - j0);
                for (i, dst) in panel.chunks_exact_mut(NR).enumerate() {
                    let row = &src[i * row_stride + j0 * col_stride..];
                    for (jj, d) in dst[..width].iter_mut().enumerate() {
                        *d = row[jj * col_stride];
                    }
                }
            }
        }
        PackedMatrix { data, k, n }
    }

    /// The transpose of a row-major `rows × cols` matrix, packed: `k = cols`, `n = rows`.
    pub(crate) fn transposed(src: &[T], rows: usize, cols: usize) -> Self {
        Self::new(src, cols, rows, 1, cols)
    }

    /// A row-major `rows × cols` matrix, packed: `k = rows`, `n = cols`.
    pub(crate) fn row_major(src: &[T], rows: usize, cols: usize) -> Self {
        Self::new(src, rows, cols, cols, 1)
    }

    /// `c += a · self` for an `m × k` matrix `a` (row stride `lda`) and an
    /// `m × n` output `c` (row stride `ldc`), with the kernel of `level` (or
    /// the best below it the CPU has). Always on the calling thread.
    pub(crate) fn mul_acc(
        &self,
        level: SimdLevel,
        m: usize,
        a: &[T],
        lda: usize,
        c: &mut [T],
        ldc: usize,
    ) {
        let (k, n) = (self.k, self.n);
        if m == 0 || n == 0 {
            return;
        }
        assert!(
            lda >= k && a.len() >= (m - 1) * lda + k,
            "packed mul_acc: lhs holds {} values, needs {m}×{k} with stride {lda}",
            a.len()
        );
        assert!(
            ldc >= n && c.len() >= (m - 1) * ldc + n,
            "packed mul_acc: output holds {} values, needs {m}×{n} with stride {ldc}",
            c.len()
        );
        #[cfg(target_arch = "x86_64")]
        if let (Some(a32), Some(b32)) = (as_f32(a), as_f32(&self.data)) {
            let c32 = as_f32_mut(c).expect("same element type as the lhs");
            let (a, b, c) = (a32.as_ptr(), b32.as_ptr(), c32.as_mut_ptr());
            match level.min(simd::detected()) {
                SimdLevel::Avx512 => {
                    // SAFETY: the CPU has AVX-512F (the level was detected);
                    // the asserts above bound every row of `a` and `c` the
                    // kernel touches, and `data` holds `ceil(n / NR)` full
                    // panels of `k × NR`.
                    unsafe { avx512::mul_acc(m, k, n, a, lda, b, c, ldc) };
                    return;
                }
                SimdLevel::Avx2Fma => {
                    // SAFETY: the CPU has AVX2 and FMA; bounds as above.
                    unsafe { avx2::mul_acc(m, k, n, a, lda, b, c, ldc) };
                    return;
                }
                SimdLevel::Portable => {}
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = level; // one kernel: the portable one
        self.mul_acc_portable(m, a, lda, c, ldc);
    }

    /// The same product in plain Rust, four rows by a whole panel at a
    /// time: the loop over the panel's columns is what the compiler
    /// vectorises (narrower blocks, which would fit the registers, were
    /// left scalar by the compiler and ran at half the speed).
    fn mul_acc_portable(&self, m: usize, a: &[T], lda: usize, c: &mut [T], ldc: usize) {
        const MR: usize = 4;
        let (k, n) = (self.k, self.n);
        for (p, panel) in self.data.chunks_exact(k * NR).enumerate() {
            let j0 = p * NR;
            let width = NR.min(n - j0);
            for r0 in (0..m).step_by(MR) {
                let rows = MR.min(m - r0);
                let mut acc = [[T::zero(); NR]; MR];
                for (i, b) in panel.chunks_exact(NR).enumerate() {
                    for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                        let av = a[(r0 + r) * lda + i];
                        for (s, &bv) in acc_r.iter_mut().zip(b) {
                            *s += av * bv;
                        }
                    }
                }
                for (r, acc_r) in acc.iter().enumerate().take(rows) {
                    let out = &mut c[(r0 + r) * ldc + j0..][..width];
                    for (o, &s) in out.iter_mut().zip(acc_r) {
                        *o += s;
                    }
                }
            }
        }
    }
}

// AVX-512 intrinsics and `target_feature(enable = "avx512f")` are stable
// since Rust 1.89, the workspace's `rust-version` (`gemm`'s `x86-v4` feature
// needs it too). Each kernel enables a subset of its level's features, which
// `simd::detected()` checked.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::NR;

    /// Rows of the output held in registers at once: 8 rows × 2 vectors =
    /// 16 accumulators, enough independent FMA chains to hide the latency.
    const MR: usize = 8;

    /// `c += a · B` with `B` packed in panels of `NR` columns.
    ///
    /// # Safety
    /// AVX-512F must be available; `a` must be readable for `m` rows of `k`
    /// values at stride `lda`, `b` for `ceil(n / NR)` panels of `k × NR`,
    /// and `c` must hold `m` rows of `n` values at stride `ldc`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn mul_acc(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        let mask = |w: usize| -> __mmask16 {
            if w >= 16 {
                0xFFFF
            } else {
                ((1u32 << w) - 1) as __mmask16
            }
        };
        for p in 0..n.div_ceil(NR) {
            let j0 = p * NR;
            let width = NR.min(n - j0);
            let (m0, m1) = (mask(width), mask(width.saturating_sub(16)));
            // SAFETY (all pointer offsets below): panel `p` exists, and rows
            // `r..m` of `a` and `c` are in bounds (the caller's contract).
            let panel = unsafe { b.add(p * k * NR) };
            let mut r = 0;
            while r + MR <= m {
                let (a, c) = unsafe { (a.add(r * lda), c.add(r * ldc + j0)) };
                // SAFETY: the caller's contract, for rows r..r + MR.
                unsafe { block::<MR>(k, a, lda, panel, c, ldc, m0, m1) };
                r += MR;
            }
            let (a, c) = unsafe { (a.add(r * lda), c.add(r * ldc + j0)) };
            // SAFETY: the caller's contract, for the last m − r rows.
            unsafe {
                match m - r {
                    0 => {}
                    1 => block::<1>(k, a, lda, panel, c, ldc, m0, m1),
                    2 => block::<2>(k, a, lda, panel, c, ldc, m0, m1),
                    3 => block::<3>(k, a, lda, panel, c, ldc, m0, m1),
                    4 => block::<4>(k, a, lda, panel, c, ldc, m0, m1),
                    5 => block::<5>(k, a, lda, panel, c, ldc, m0, m1),
                    6 => block::<6>(k, a, lda, panel, c, ldc, m0, m1),
                    _ => block::<7>(k, a, lda, panel, c, ldc, m0, m1),
                }
            }
        }
    }

    /// One `R × NR` block of the output, accumulated over all of `k`.
    ///
    /// # Safety
    /// AVX-512F; `a` readable for `R` rows of `k` at stride `lda`, `panel`
    /// for `k × NR` values, `c` writable for `R` rows at stride `ldc` in the
    /// columns the masks select.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        m0: __mmask16,
        m1: __mmask16,
    ) {
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        // SAFETY: every load and store stays within the bounds above.
        unsafe {
            for i in 0..k {
                let b0 = _mm512_loadu_ps(panel.add(i * NR));
                let b1 = _mm512_loadu_ps(panel.add(i * NR + 16));
                for r in 0..R {
                    let av = _mm512_set1_ps(*a.add(r * lda + i));
                    lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
                }
            }
            for r in 0..R {
                let out = c.add(r * ldc);
                let v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, out), lo[r]);
                _mm512_mask_storeu_ps(out, m0, v0);
                if m1 != 0 {
                    let v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, out.add(16)), hi[r]);
                    _mm512_mask_storeu_ps(out.add(16), m1, v1);
                }
            }
        }
    }
}

/// The AVX2 + FMA product: half-panels of 16 columns (two 8-lane vectors)
/// by 6 rows, 12 accumulators in the 16 YMM registers, the classic shape of
/// an AVX2 GEMM micro-kernel. A half-panel of the recurrent weight
/// (`128 × 16` f32, 8 KiB) stays in L1 while every block of rows streams
/// past it.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::NR;

    /// Rows of the output held in registers at once.
    const MR: usize = 6;
    /// Columns per half-panel.
    const W: usize = 16;

    /// `c += a · B` with `B` packed in panels of `NR` columns.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `a` must be readable for `m` rows of
    /// `k` values at stride `lda`, `b` for `ceil(n / NR)` panels of
    /// `k × NR`, and `c` must hold `m` rows of `n` values at stride `ldc`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn mul_acc(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        for j0 in (0..n).step_by(W) {
            let width = W.min(n - j0);
            // SAFETY (all pointer offsets below): half-panel `j0` lies in
            // panel `j0 / NR`, which exists; rows `r..m` of `a` and `c` are
            // in bounds (the caller's contract).
            let panel = unsafe { b.add((j0 / NR) * k * NR + j0 % NR) };
            let mut r = 0;
            while r + MR <= m {
                let (a, c) = unsafe { (a.add(r * lda), c.add(r * ldc + j0)) };
                // SAFETY: the caller's contract, for rows r..r + MR.
                unsafe { block::<MR>(k, a, lda, panel, c, ldc, width) };
                r += MR;
            }
            let (a, c) = unsafe { (a.add(r * lda), c.add(r * ldc + j0)) };
            // SAFETY: the caller's contract, for the last m − r rows.
            unsafe {
                match m - r {
                    0 => {}
                    1 => block::<1>(k, a, lda, panel, c, ldc, width),
                    2 => block::<2>(k, a, lda, panel, c, ldc, width),
                    3 => block::<3>(k, a, lda, panel, c, ldc, width),
                    4 => block::<4>(k, a, lda, panel, c, ldc, width),
                    _ => block::<5>(k, a, lda, panel, c, ldc, width),
                }
            }
        }
    }

    /// One `R × 16` block of the output, accumulated over all of `k`.
    ///
    /// # Safety
    /// AVX2 and FMA; `a` readable for `R` rows of `k` at stride `lda`,
    /// `panel` for `k` rows of 16 values at stride `NR`, `c` writable for
    /// `R` rows of `width ≤ 16` values at stride `ldc`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        width: usize,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        // SAFETY: every load and store stays within the bounds above.
        unsafe {
            for i in 0..k {
                let b0 = _mm256_loadu_ps(panel.add(i * NR));
                let b1 = _mm256_loadu_ps(panel.add(i * NR + 8));
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*a.add(r * lda + i));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
            }
            for r in 0..R {
                let out = c.add(r * ldc);
                if width == W {
                    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), lo[r]));
                    let out = out.add(8);
                    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), hi[r]));
                } else {
                    // The right edge: through a buffer, adding the valid columns.
                    let mut sums = [0.0f32; W];
                    _mm256_storeu_ps(sums.as_mut_ptr(), lo[r]);
                    _mm256_storeu_ps(sums.as_mut_ptr().add(8), hi[r]);
                    for (j, s) in sums[..width].iter().enumerate() {
                        *out.add(j) += s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::{gemm, MatRef, Rng, Tensor};

    fn check<T: Element>(level: SimdLevel, m: usize, k: usize, n: usize, tol: f64) {
        let mut rng = Rng::seed_from((m * 1000 + k * 10 + n) as u64);
        let a = Tensor::<T>::rand_uniform(&[m, k + 3], -1.0, 1.0, &mut rng).into_vec();
        let w = Tensor::<T>::rand_uniform(&[n, k], -1.0, 1.0, &mut rng).into_vec();
        let c0 = Tensor::<T>::rand_uniform(&[m, n + 5], -1.0, 1.0, &mut rng).into_vec();
        // a · wᵀ, with padded strides on both a and c.
        let mut want = c0.clone();
        for r in 0..m {
            for j in 0..n {
                let mut s = want[r * (n + 5) + j];
                for i in 0..k {
                    s += a[r * (k + 3) + i] * w[j * k + i];
                }
                want[r * (n + 5) + j] = s;
            }
        }
        let mut got = c0.clone();
        PackedMatrix::transposed(&w, n, k).mul_acc(level, m, &a, k + 3, &mut got, n + 5);
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            let (g, e) = (g.to_f64().unwrap(), e.to_f64().unwrap());
            assert!(
                (g - e).abs() <= tol * (1.0 + e.abs()),
                "{level}: {m}×{k}×{n} at {i}: {g} vs {e}"
            );
        }
        // a · w against the library GEMM, both orientations of packing.
        let mut got = vec![T::zero(); m * k];
        let mut want = vec![T::zero(); m * k];
        let lhs: Vec<T> = a.chunks(k + 3).flat_map(|r| r[..k].to_vec()).collect();
        let lhs: Vec<T> = lhs.iter().copied().cycle().take(m * n).collect();
        PackedMatrix::row_major(&w, n, k).mul_acc(level, m, &lhs, n, &mut got, k);
        gemm(
            m,
            k,
            n,
            MatRef::row_major(&lhs, n),
            MatRef::row_major(&w, k),
            &mut want,
            false,
        );
        for (g, e) in got.iter().zip(&want) {
            let (g, e) = (g.to_f64().unwrap(), e.to_f64().unwrap());
            assert!(
                (g - e).abs() <= tol * (1.0 + e.abs()),
                "{level}: {m}×{n}×{k} (row-major): {g} vs {e}"
            );
        }
    }

    #[test]
    fn packed_product_matches_the_plain_sum_for_ragged_shapes_at_every_level() {
        for level in simd::available_levels() {
            for &(m, k, n) in &[
                (1, 1, 1),
                (3, 5, 7),
                (8, 16, 32),
                (9, 7, 33),
                (17, 13, 50),
                (7, 9, 16),
                (6, 4, 24),
                (32, 128, 512),
            ] {
                check::<f32>(level, m, k, n, 1e-4);
                check::<f64>(level, m, k, n, 1e-12);
            }
        }
    }

    #[test]
    fn every_level_agrees_with_the_portable_product() {
        let mut rng = Rng::seed_from(7);
        let (m, k, n) = (13, 21, 45);
        let a = Tensor::<f32>::rand_uniform(&[m, k], -1.0, 1.0, &mut rng).into_vec();
        let b = Tensor::<f32>::rand_uniform(&[k, n], -1.0, 1.0, &mut rng).into_vec();
        let p = PackedMatrix::row_major(&b, k, n);
        let mut slow = vec![0.5f32; m * n];
        p.mul_acc_portable(m, &a, k, &mut slow, n);
        for level in simd::available_levels() {
            let mut fast = vec![0.5f32; m * n];
            p.mul_acc(level, m, &a, k, &mut fast, n);
            for (f, s) in fast.iter().zip(&slow) {
                assert!((f - s).abs() < 1e-5, "{level}: {f} vs {s}");
            }
        }
    }
}
