//! Strided matrix transposes between planar (NCHW) and channel-last
//! layouts, for the shifted-GEMM convolutions.
//!
//! A scalar transpose costs one strided load and one store per element;
//! on W4 (64 channels, 56×56) the two transposes per sample took a fifth
//! of the forward pass that way. f32 on x86-64 from the AVX2 level up moves
//! 8×8 blocks through registers instead (eight row loads, 24 shuffles,
//! eight stores; AVX alone would do, but the levels are AVX2 and AVX-512).

use nn_tensor::simd::{self, SimdLevel};
#[cfg(target_arch = "x86_64")]
use nn_tensor::simd::{as_f32, as_f32_mut};
use nn_tensor::Element;

/// Square blocks of the portable path: 16 rows of 16 elements are 16 cache
/// lines of f32 on each side, so neither the reads nor the writes leave L1.
const BLOCK: usize = 16;

/// `dst[j·dst_stride + i] = src[i·src_stride + j]` for `i < rows`, `j < cols`.
///
/// # Panics
/// When `src` or `dst` is too short for the strided `rows × cols` block.
pub(crate) fn transpose<T: Element>(
    src: &[T],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    transpose_at(simd::level(), src, src_stride, rows, cols, dst, dst_stride);
}

/// [`transpose`] with the kernel of `level` (or the best below it the CPU
/// has): 8×8 AVX tiles from [`SimdLevel::Avx2Fma`] up, else the portable loop.
pub(crate) fn transpose_at<T: Element>(
    level: SimdLevel,
    src: &[T],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        src.len() > (rows - 1) * src_stride + cols - 1
            && dst.len() > (cols - 1) * dst_stride + rows - 1,
        "transpose: {rows}×{cols} block with strides {src_stride}/{dst_stride} \
         overruns {} source or {} destination elements",
        src.len(),
        dst.len()
    );
    #[cfg(target_arch = "x86_64")]
    if let (Some(s), Some(d)) = (as_f32(src), as_f32_mut(dst))
        && level.min(simd::detected()) >= SimdLevel::Avx2Fma
    {
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        // SAFETY: the CPU has AVX (part of the detected level) and the assert above
        // bounds every element of the `r8 × c8` block the kernel reads
        // and writes.
        unsafe { avx::transpose(s, src_stride, r8, c8, d, dst_stride) };
        // The edges: the last `rows − r8` rows, then the last columns.
        if rows > r8 {
            let s = &src[r8 * src_stride..];
            portable(s, src_stride, rows - r8, cols, &mut dst[r8..], dst_stride);
        }
        if cols > c8 {
            let d = &mut dst[c8 * dst_stride..];
            portable(&src[c8..], src_stride, r8, cols - c8, d, dst_stride);
        }
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = level; // one kernel: the portable one
    portable(src, src_stride, rows, cols, dst, dst_stride);
}

/// [`transpose`] in plain Rust, block by block.
fn portable<T: Copy>(
    src: &[T],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    for i0 in (0..rows).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(rows);
        for j0 in (0..cols).step_by(BLOCK) {
            for j in j0..(j0 + BLOCK).min(cols) {
                let d = &mut dst[j * dst_stride + i0..j * dst_stride + i1];
                for (i, d) in (i0..i1).zip(d) {
                    *d = src[i * src_stride + j];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// The transpose of a `rows × cols` block, both multiples of 8, in 8×8
    /// tiles: within each 128-bit half, unpacking pairs of rows and then
    /// shuffling pairs of those gathers four-element column pieces; the
    /// 128-bit halves are then swapped across registers.
    ///
    /// # Safety
    /// The CPU must have AVX; `src` must hold `(rows − 1)·src_stride + cols`
    /// elements and `dst` `(cols − 1)·dst_stride + rows`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose(
        src: &[f32],
        ss: usize,
        rows: usize,
        cols: usize,
        dst: &mut [f32],
        ds: usize,
    ) {
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        for i in (0..rows).step_by(8) {
            for j in (0..cols).step_by(8) {
                // SAFETY: rows i..i+8 and columns j..j+8 lie inside the
                // block the caller bounded.
                unsafe {
                    let r = |k: usize| _mm256_loadu_ps(s.add((i + k) * ss + j));
                    let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
                    let (r4, r5, r6, r7) = (r(4), r(5), r(6), r(7));
                    let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
                    let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                    let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                    let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                    let w = |k: usize, v: __m256| _mm256_storeu_ps(d.add((j + k) * ds + i), v);
                    w(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                    w(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                    w(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                    w(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                    w(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                    w(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                    w(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                    w(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Element>(level: SimdLevel, rows: usize, cols: usize, ss: usize, ds: usize) {
        // Exactly as long as the strided blocks need, so no slice of the
        // edges may start past the end.
        let src: Vec<T> = (0..(rows - 1) * ss + cols)
            .map(|v| T::of(v as f64))
            .collect();
        let sentinel = T::of(-1.0);
        let mut dst = vec![sentinel; (cols - 1) * ds + rows];
        transpose_at(level, &src, ss, rows, cols, &mut dst, ds);
        for j in 0..cols {
            for i in 0..ds.min(dst.len() - j * ds) {
                let want = if i < rows { src[i * ss + j] } else { sentinel };
                assert_eq!(
                    dst[j * ds + i],
                    want,
                    "{level}: {rows}×{cols} at ({i}, {j})"
                );
            }
        }
    }

    #[test]
    fn transposes_every_shape_and_leaves_the_rest() {
        // Multiples of the 8×8 tiles and of the 16×16 blocks, and ragged
        // edges on either side, with strides wider than the block.
        for &(r, c) in &[
            (1, 1),
            (8, 8),
            (16, 64),
            (64, 56),
            (13, 21),
            (8, 3),
            (3, 8),
            (40, 17),
        ] {
            for level in simd::available_levels() {
                check::<f32>(level, r, c, c + 5, r + 3);
                check::<f64>(level, r, c, c + 5, r + 3);
                check::<f32>(level, r, c, c, r);
            }
        }
    }
}
