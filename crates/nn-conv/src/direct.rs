//! Stride-1 convolution by one register-blocked kernel that runs over every
//! tap, with no GEMM call and no column matrix.
//!
//! The input is zero-padded plane by plane to `Hp × Wp` and the output is
//! computed on the same row pitch `Wp`, as in [`crate::pitched`]: output
//! pixel `q` of tap `(a, b)` reads padded pixel `q + a·dH·Wp + b·dW`, so a
//! run of consecutive output pixels reads a run of consecutive input pixels
//! for every tap. The kernel holds a block of [`ROWS`] output channels ×
//! [`LANES`] output pixels in registers and accumulates into it over all
//! `C_in/G · kH·kW` products before storing it once:
//!
//! `Y[co, q..q+LANES] = Σ_tap Σ_ci W[co, ci, tap] · X_pad[ci, q + off(tap) ..]`.
//!
//! The shifted GEMMs ([`crate::shifted`]) compute the same sum as `kH·kW`
//! separate products, each reading and writing the whole output tile and
//! repacking its operands; here the output leaves the registers once and the
//! only copy is the padded input.
//!
//! Two kernels compute a block: AVX2 + FMA intrinsics for f32 (the AVX-512
//! level runs it too: no AVX-512 machine was at hand to write and measure a
//! 16-lane one), and plain Rust for f64, the portable level and other
//! architectures. Left to the compiler, the same block in plain Rust on
//! fixed-size arrays ran at half the AVX2 kernel's speed or less: it kept
//! the accumulators in memory.

use std::ops::Range;

use nn_tensor::simd::{self, as_f32, as_f32_mut, SimdLevel};
use nn_tensor::{pool, Element};

use crate::im2col::ConvGeom;
use crate::pitched;

/// Output channels per register block.
pub(crate) const ROWS: usize = 6;

/// Output pixels per register block: two 8-lane f32 vectors on AVX2, one
/// 16-lane vector on AVX-512. `ROWS × LANES` accumulators are twelve of the
/// sixteen AVX2 registers; the other four hold the two input vectors and a
/// broadcast weight.
pub(crate) const LANES: usize = 16;

/// Input channels per pass of the kernel: for a block of pixels, `kH` rows
/// of `LANES + kW − 1` pixels of this many channels (13.5 KiB of f32 for a
/// 3×3 kernel) stay in the L1 cache while every block of output channels
/// reads them. Wider layers take several passes, each adding to the output.
const CIN_CHUNK: usize = 64;

/// Bytes of packed weights one sweep over the pixels uses: they stay in
/// the L2 cache (512 KiB on the machines measured) while every block of
/// pixels passes; wider layers sweep the pixels once per group of output
/// channels. Without this, a 256 → 256 layer streamed its 2.3 MB of weights
/// from memory for every block of pixels.
const WEIGHT_BYTES: usize = 192 << 10;

/// Fewest input and output channels per group for which the kernel is the
/// tuned choice (with f32 on AVX2).
const MIN_CHANNELS: usize = 16;

/// Most `C_in/G · C_out/G` for which the kernel is the tuned choice.
/// Measured on one core of an AMD EPYC (AVX2), 3×3 kernels, against the
/// shifted GEMMs, by CPU time with the two forced in turn
/// (`conv_shapes --algorithms` for the forward pass): 16 to 48 channels
/// gained 10 to 50 % forward and up to 33 % forward + backward; W4's
/// 64 → 64 on 56×56 gained 2 to 12 % forward but lost about 5 % forward +
/// backward in the `workloads` binary, so it stays on the GEMMs; 128 or
/// more channels lost 5 to 20 %, where the `gemm` crate's cache blocking
/// wins.
const MAX_CHANNEL_PRODUCT: usize = 48 * 48;

/// True when [`forward_group`] can compute `g`: stride 1, and not a plain
/// 1×1 (which is one GEMM).
pub(crate) fn supports(g: &ConvGeom) -> bool {
    g.sh == 1 && g.sw == 1 && !g.is_pointwise()
}

/// True when the kernel is the tuned choice for `g` in `T`: f32, the AVX2
/// level, and enough channels. At the AVX-512 level the `gemm` crate's
/// AVX-512 kernels behind [`crate::shifted`] stay the choice: the direct
/// kernel has not been measured on such a machine.
pub(crate) fn applies<T: Element>(g: &ConvGeom) -> bool {
    supports(g)
        && simd::is_f32::<T>()
        && simd::level() == SimdLevel::Avx2Fma
        && g.cin_g() >= MIN_CHANNELS
        && g.cout_g() >= MIN_CHANNELS
        && g.cin_g() * g.cout_g() <= MAX_CHANNEL_PRODUCT
}

/// The scratch buffers of [`forward_group`], kept across the samples of a
/// call. Borrowed from the caller's scratch: the input and output buffers
/// are the ones the other algorithms use for their columns, so a training
/// step keeps no more large buffers alive than before (a separate set held
/// 1.7 MB more per thread on W4 and slowed its backward pass).
pub(crate) struct Buffers<'a, T> {
    /// The zero-padded input planes.
    pub(crate) input: &'a mut Vec<T>,
    /// The weights in the kernel's order.
    pub(crate) weights: &'a mut Vec<T>,
    /// The address of the group's weights that `weights` holds packed: the
    /// samples of a call share them, so they are packed once per group. The
    /// caller's scratch lives for one call, during which the weights do not
    /// change.
    pub(crate) packed_from: &'a mut Option<usize>,
    /// The output on the padded row pitch.
    pub(crate) output: &'a mut Vec<T>,
}

/// The group's `C_out/G` kernels (`w`, `[C_out/G, C_in/G, kH, kW]`) in the
/// kernel's order: for each block of [`ROWS`] output channels, for each tap,
/// for each input channel, the block's `ROWS` weights side by side (zeros
/// past the last output channel).
fn pack_weights<T: Element>(w: &[T], g: &ConvGeom, packed: &mut Vec<T>) {
    let (cin, cout, taps, k) = (g.cin_g(), g.cout_g(), g.kh * g.kw, g.k());
    packed.clear();
    pool::resize(packed, cout.div_ceil(ROWS) * taps * cin * ROWS);
    for co in 0..cout {
        let block = &mut packed[(co / ROWS) * taps * cin * ROWS..];
        for ci in 0..cin {
            for tap in 0..taps {
                block[(tap * cin + ci) * ROWS + co % ROWS] = w[co * k + ci * taps + tap];
            }
        }
    }
}

/// `Y_g = conv(X_g, W_g)` for one sample and group: `x` holds the group's
/// `C_in/G` input planes, `w` its `C_out/G` kernels, `y` its output planes.
pub(crate) fn forward_group<T: Element>(
    x: &[T],
    w: &[T],
    g: &ConvGeom,
    y: &mut [T],
    buffers: Buffers<'_, T>,
) {
    // At the AVX-512 level the AVX2 kernel runs (the CPU has AVX2 and FMA).
    let fast = simd::level() >= SimdLevel::Avx2Fma;
    forward_group_with(fast, x, w, g, y, buffers);
}

/// [`forward_group`] with the AVX2 kernel (`fast`, f32 only) or the
/// portable one.
fn forward_group_with<T: Element>(
    fast: bool,
    x: &[T],
    w: &[T],
    g: &ConvGeom,
    y: &mut [T],
    buffers: Buffers<'_, T>,
) {
    let (cin, cout, p) = (g.cin_g(), g.cout_g(), g.p());
    let (hp, wp) = pitched::padded(g);
    let plane = hp * wp;
    pitched::pad_planes(x, g, buffers.input);
    // The last block of pixels runs up to `LANES − 1` pixels past the
    // output; its reads land in these zeros (their results are dropped).
    let padded_len = buffers.input.len() + LANES;
    pool::resize(buffers.input, padded_len);
    let key = w.as_ptr() as usize;
    if *buffers.packed_from != Some(key) {
        pack_weights(w, g, buffers.weights);
        *buffers.packed_from = Some(key);
    }
    let offsets: Vec<usize> = (0..g.kh)
        .flat_map(|a| (0..g.kw).map(move |b| a * g.dh * wp + b * g.dw))
        .collect();
    let blocks = (g.ho * wp).div_ceil(LANES);
    let pitch = blocks * LANES;
    pool::resize(buffers.output, cout * pitch);
    let kernel = Kernel {
        x: buffers.input,
        plane,
        offsets: &offsets,
        cin,
        weights: buffers.weights,
    };
    let out = &mut buffers.output[..cout * pitch];
    // Every read of the kernel stays inside the padded input: the last
    // block's last tap ends at the buffer's end at most.
    let reach = (cin - 1) * plane + pitch + offsets.last().copied().unwrap_or(0);
    assert!(
        reach <= kernel.x.len(),
        "direct conv: input holds {} values, the blocks reach {reach}",
        kernel.x.len()
    );
    kernel.run(fast, out, cout, blocks, pitch);
    // Into `y`, dropping the junk columns of each row.
    for co in 0..cout {
        for r in 0..g.ho {
            let src = &out[co * pitch + r * wp..][..g.wo];
            y[co * p + r * g.wo..][..g.wo].copy_from_slice(src);
        }
    }
}

/// One group's operands, laid out for the register blocks.
struct Kernel<'a, T> {
    /// The padded input planes, `plane` apart.
    x: &'a [T],
    plane: usize,
    /// Each tap's pixel offset in a padded plane.
    offsets: &'a [usize],
    cin: usize,
    /// The weights of [`pack_weights`].
    weights: &'a [T],
}

impl<T: Element> Kernel<'_, T> {
    /// The whole output (`cout` rows of `blocks · LANES` pixels, `pitch`
    /// apart), block of pixels by block of pixels: for each, every block of
    /// output channels of a sweep in turn reads the same input (from the L1
    /// cache), while the sweep's weights stream past in order (from L2).
    /// `fast`: with the AVX2 kernel where `T` is f32.
    fn run(&self, fast: bool, out: &mut [T], cout: usize, blocks: usize, pitch: usize) {
        let per_block = self.offsets.len() * self.cin * ROWS;
        let co_blocks = cout.div_ceil(ROWS);
        let per_sweep = (WEIGHT_BYTES / (per_block * std::mem::size_of::<T>())).max(1);
        for sweep in (0..co_blocks).step_by(per_sweep) {
            for q in (0..blocks).map(|b| b * LANES) {
                for c0 in (0..self.cin).step_by(CIN_CHUNK) {
                    let channels = c0..(c0 + CIN_CHUNK).min(self.cin);
                    for b in sweep..(sweep + per_sweep).min(co_blocks) {
                        let w = &self.weights[b * per_block..(b + 1) * per_block];
                        let co = b * ROWS;
                        let rows = (cout - co).min(ROWS);
                        let y = &mut out[co * pitch + q..];
                        self.block(fast, rows, q, channels.clone(), w, y, pitch);
                    }
                }
            }
        }
    }

    /// Output channels `0..rows` of a block (`w` holds their packed
    /// weights) at pixels `q..q + LANES`, summed over the input `channels`:
    /// written to `y` (rows `pitch` apart) for the first channels, added
    /// after that.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        fast: bool,
        rows: usize,
        q: usize,
        channels: Range<usize>,
        w: &[T],
        y: &mut [T],
        pitch: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if fast && let (Some(x), Some(w), Some(y)) = (as_f32(self.x), as_f32(w), as_f32_mut(y)) {
            assert!(
                y.len() >= (rows - 1) * pitch + LANES
                    && w.len() >= self.offsets.len() * self.cin * ROWS
            );
            let add = channels.start > 0;
            // SAFETY: `fast` means the CPU has AVX2 and FMA; the reads
            // of `x` stay below the reach `forward_group` checked, the
            // weights and output rows are bounded by the assert above.
            unsafe {
                avx2::block(
                    rows,
                    x.as_ptr().add(q),
                    self.plane,
                    self.offsets,
                    self.cin,
                    channels,
                    w.as_ptr(),
                    y.as_mut_ptr(),
                    pitch,
                    add,
                )
            };
            return;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = fast; // one kernel: the portable one
        match rows {
            1 => self.block_portable::<1>(q, channels, w, y, pitch),
            2 => self.block_portable::<2>(q, channels, w, y, pitch),
            3 => self.block_portable::<3>(q, channels, w, y, pitch),
            4 => self.block_portable::<4>(q, channels, w, y, pitch),
            5 => self.block_portable::<5>(q, channels, w, y, pitch),
            _ => self.block_portable::<ROWS>(q, channels, w, y, pitch),
        }
    }

    /// [`Kernel::block`] in plain Rust, for f64, the portable level and
    /// other architectures.
    fn block_portable<const R: usize>(
        &self,
        q: usize,
        channels: Range<usize>,
        w: &[T],
        y: &mut [T],
        pitch: usize,
    ) {
        let mut acc = [[T::zero(); LANES]; R];
        for (tap, &off) in self.offsets.iter().enumerate() {
            let base = tap * self.cin;
            for ci in channels.clone() {
                let w_ci = &w[(base + ci) * ROWS..][..R];
                let xs = &self.x[ci * self.plane + q + off..][..LANES];
                for (row, &wv) in acc.iter_mut().zip(w_ci) {
                    for (a, &xv) in row.iter_mut().zip(xs) {
                        *a += wv * xv;
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let dst = &mut y[r * pitch..r * pitch + LANES];
            if channels.start == 0 {
                dst.copy_from_slice(row);
            } else {
                for (d, &a) in dst.iter_mut().zip(row) {
                    *d += a;
                }
            }
        }
    }
}

/// The AVX2 + FMA kernel: a block of up to 6 output channels × 16 pixels
/// in twelve YMM accumulators; per input channel and tap, two loads of the
/// input and one broadcast weight per output channel.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{LANES, ROWS};

    /// Output channels `0..rows` of one block; see [`super::Kernel::block`].
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `x` must be readable at
    /// `ci·plane + off + 0..LANES` for every `ci` in `channels` and `off` in
    /// `offsets`; `w` at `((tap·cin + ci)·ROWS + r)` for every tap, channel
    /// and `r < rows`; `y` writable for `rows` rows of `LANES` values at
    /// stride `pitch`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        rows: usize,
        x: *const f32,
        plane: usize,
        offsets: &[usize],
        cin: usize,
        channels: Range<usize>,
        w: *const f32,
        y: *mut f32,
        pitch: usize,
        add: bool,
    ) {
        let args = (x, plane, offsets, cin, channels, w, y, pitch, add);
        // SAFETY: the caller's contract, for `rows` rows.
        unsafe {
            match rows {
                1 => rows_block::<1>(args),
                2 => rows_block::<2>(args),
                3 => rows_block::<3>(args),
                4 => rows_block::<4>(args),
                5 => rows_block::<5>(args),
                _ => rows_block::<ROWS>(args),
            }
        }
    }

    type Args<'a> = (
        *const f32,
        usize,
        &'a [usize],
        usize,
        Range<usize>,
        *const f32,
        *mut f32,
        usize,
        bool,
    );

    /// [`block`] for `R` rows.
    ///
    /// # Safety
    /// As [`block`], with `rows = R`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows_block<const R: usize>(args: Args<'_>) {
        let (x, plane, offsets, cin, channels, w, y, pitch, add) = args;
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        // SAFETY: every load and store stays within the caller's bounds.
        unsafe {
            for (tap, &off) in offsets.iter().enumerate() {
                let w_tap = w.add(tap * cin * ROWS);
                for ci in channels.clone() {
                    let xs = x.add(ci * plane + off);
                    let x0 = _mm256_loadu_ps(xs);
                    let x1 = _mm256_loadu_ps(xs.add(8));
                    let w_ci = w_tap.add(ci * ROWS);
                    for r in 0..R {
                        let wv = _mm256_broadcast_ss(&*w_ci.add(r));
                        lo[r] = _mm256_fmadd_ps(wv, x0, lo[r]);
                        hi[r] = _mm256_fmadd_ps(wv, x1, hi[r]);
                    }
                }
            }
            for r in 0..R {
                let out = y.add(r * pitch);
                if add {
                    lo[r] = _mm256_add_ps(lo[r], _mm256_loadu_ps(out));
                    hi[r] = _mm256_add_ps(hi[r], _mm256_loadu_ps(out.add(8)));
                }
                _mm256_storeu_ps(out, lo[r]);
                _mm256_storeu_ps(out.add(LANES / 2), hi[r]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Rng;

    /// A stride-1 geometry of one sample and group.
    #[allow(clippy::too_many_arguments)]
    fn geom(
        c_in: usize,
        c_out: usize,
        h: usize,
        w: usize,
        k: [usize; 2],
        p: [usize; 2],
        d: [usize; 2],
    ) -> ConvGeom {
        ConvGeom {
            n: 1,
            c_in,
            h,
            w,
            c_out,
            kh: k[0],
            kw: k[1],
            sh: 1,
            sw: 1,
            ph: p[0],
            pw: p[1],
            dh: d[0],
            dw: d[1],
            groups: 1,
            ho: h + 2 * p[0] - d[0] * (k[0] - 1),
            wo: w + 2 * p[1] - d[1] * (k[1] - 1),
        }
    }

    /// The convolution summed term by term in f64.
    fn reference(x: &[f64], w: &[f64], g: &ConvGeom) -> Vec<f64> {
        let mut y = vec![0.0; g.c_out * g.ho * g.wo];
        for co in 0..g.c_out {
            for oh in 0..g.ho {
                for ow in 0..g.wo {
                    let mut s = 0.0;
                    for ci in 0..g.c_in {
                        for a in 0..g.kh {
                            for b in 0..g.kw {
                                let ih = (oh + a * g.dh) as isize - g.ph as isize;
                                let iw = (ow + b * g.dw) as isize - g.pw as isize;
                                if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize {
                                    continue;
                                }
                                let xv = x[(ci * g.h + ih as usize) * g.w + iw as usize];
                                s += w[((co * g.c_in + ci) * g.kh + a) * g.kw + b] * xv;
                            }
                        }
                    }
                    y[(co * g.ho + oh) * g.wo + ow] = s;
                }
            }
        }
        y
    }

    fn scratch<T>(b: &mut ([Vec<T>; 3], Option<usize>)) -> Buffers<'_, T> {
        let ([input, weights, output], packed_from) = b;
        Buffers {
            input,
            weights,
            output,
            packed_from,
        }
    }

    /// Both kernels (the AVX2 one where the CPU has it) in f32, and the
    /// portable one in f64, against the reference: ragged blocks of pixels
    /// and of output channels, several passes over input channels (more
    /// than `CIN_CHUNK`), dilation and uneven padding.
    #[test]
    fn every_kernel_matches_the_reference_sum() {
        let cases = [
            geom(3, 7, 5, 9, [3, 3], [1, 1], [1, 1]),
            geom(16, 13, 11, 6, [3, 2], [2, 0], [2, 1]),
            geom(CIN_CHUNK + 9, 6, 7, 7, [3, 3], [1, 1], [1, 1]),
            geom(8, 1, 4, 23, [1, 5], [0, 2], [1, 1]),
        ];
        let levels = simd::available_levels();
        let fast_levels = [false, levels.contains(&SimdLevel::Avx2Fma)];
        for (i, g) in cases.iter().enumerate() {
            let mut rng = Rng::seed_from(i as u64);
            let x: Vec<f64> = (0..g.c_in * g.h * g.w)
                .map(|_| 2.0 * rng.uniform_f64() - 1.0)
                .collect();
            let w: Vec<f64> = (0..g.c_out * g.k())
                .map(|_| 2.0 * rng.uniform_f64() - 1.0)
                .collect();
            let want = reference(&x, &w, g);
            let mut bufs = ([Vec::new(), Vec::new(), Vec::new()], None);
            let mut y = vec![f64::NAN; want.len()];
            forward_group_with(false, &x, &w, g, &mut y, scratch(&mut bufs));
            let diff = y
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(diff < 1e-12, "case {i}, f64: off by {diff}");
            let (x32, w32): (Vec<f32>, Vec<f32>) = (
                x.iter().map(|&v| v as f32).collect(),
                w.iter().map(|&v| v as f32).collect(),
            );
            for fast in fast_levels.into_iter().filter(|&f| !f || fast_levels[1]) {
                let mut y = vec![f32::NAN; want.len()];
                let mut bufs = ([Vec::new(), Vec::new(), Vec::new()], None);
                forward_group_with(fast, &x32, &w32, g, &mut y, scratch(&mut bufs));
                let diff = y
                    .iter()
                    .zip(&want)
                    .map(|(&a, b)| (a as f64 - b).abs())
                    .fold(0.0, f64::max);
                assert!(diff < 1e-4, "case {i}, f32, fast {fast}: off by {diff}");
            }
        }
    }
}
