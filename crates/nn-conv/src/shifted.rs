//! Stride-1 convolution without im2col: `kH·kW` GEMMs on shifted views of
//! a zero-padded, channel-last copy of the input.
//!
//! With the input padded to `Hp × Wp` (`Wp = Wo + dW·(kW − 1)`) and the output
//! computed on the same row pitch `Wp` (the last `Wp − Wo` columns of each
//! row are discarded), output pixel `q` of tap `(a, b)` reads padded pixel
//! `q + a·dH·Wp + b·dW`. Stored channel-last (pixel `s` holds its `C_in/G`
//! channels at `s·C_in/G`), tap `(a, b)`'s view of the input is therefore
//! one contiguous `pixels × C_in/G` matrix, and
//!
//! * forward:         `Y_tile += X_tap · W[:, :, a, b]ᵀ` ([`forward_group`]),
//! * weight gradient: `dW[:, :, a, b] = dY · X_tap` ([`weight_grad_group`]),
//!
//! are GEMMs on strided views: nothing is copied but the padded input,
//! which is `kH·kW` times smaller than a column matrix. The input gradient
//! is the forward pass of the adjoint convolution ([`adjoint`]). Worth it
//! when `C_in/G` and `C_out/G` are large enough for GEMMs of those sizes to
//! run at speed.

use nn_tensor::{gemm, pool, Element, MatRef};

use crate::im2col::ConvGeom;
use crate::pitched;
use crate::transpose::transpose;

/// Fewest input and output channels per group for the shifted path: each
/// tap's GEMM reduces over `C_in/G` only and has `C_out/G` rows. With fewer
/// output channels the `kH·kW` GEMMs per sample are too thin to pay for
/// their calls: LeNet's conv2 input gradient (16 → 6 channels, 5×5) ran
/// 25 GEMMs of 6 rows per sample and was faster as one im2col GEMM.
const MIN_CHANNELS: usize = 16;

/// Output columns (on the padded row pitch) per GEMM tile; all taps
/// accumulate into one tile of `C_out/G × cols` outputs before it is copied
/// out. Large enough that a 56×56 map (58-column pitch) is one tile: each
/// tile costs `kH·kW` GEMM calls, each packing its strided weight slice
/// again, and on W4 (64→64, 3×3, 8×56×56) one tile of 3,248 columns beat
/// five of 754 by 4 % on one thread and 11 % on two (forward; 9–10 % on
/// forward + backward at 2 threads), measured side by side on a quiet
/// machine. The gemm crate blocks the product for the caches itself.
const TILE_COLS: usize = 4096;

/// True when [`forward_group`] and [`weight_grad_group`] can compute `g`:
/// stride 1, and not a plain 1×1.
pub(crate) fn supports(g: &ConvGeom) -> bool {
    g.sh == 1 && g.sw == 1 && !g.is_pointwise()
}

/// True when [`forward_group`] applies and pays.
pub(crate) fn applies(g: &ConvGeom) -> bool {
    supports(g) && g.cin_g() >= MIN_CHANNELS && g.cout_g() >= MIN_CHANNELS
}

/// The group's `C_in/G` input planes `x`, zero-padded to `Hp × Wp` (plus the
/// `dW·(kW − 1)` pixels the last tap's junk columns read) and stored
/// channel-last into `cl`: padded pixel `s` holds its channels at
/// `s·C_in/G`. Tap `(a, b)`'s view of the input is then the contiguous
/// `pixels × C_in/G` matrix starting at pixel `a·dH·Wp + b·dW`.
fn channel_last<T: Element>(x: &[T], g: &ConvGeom, cl: &mut Vec<T>) {
    let cin = g.cin_g();
    let (hp, wp) = pitched::padded(g);
    cl.clear();
    pool::resize(cl, (hp * wp + g.dw * (g.kw - 1)) * cin);
    // Input rows or columns beyond the padded plane are read by no window
    // (a transposed convolution's output padding leaves such rows).
    let rows = g.h.min(hp.saturating_sub(g.ph));
    let cols = g.w.min(wp.saturating_sub(g.pw));
    for r in 0..rows {
        let d = ((r + g.ph) * wp + g.pw) * cin;
        transpose(&x[r * g.w..], g.hw(), cin, cols, &mut cl[d..], cin);
    }
}

/// Fewest output channels per group for which [`forward_group`] runs
/// channel-last (with at least [`CHANNEL_LAST_MIN_COLS`] output columns).
/// Measured on one core against the planar path, 3×3 kernels: +4 to +11 %
/// for 32 to 128 channels on maps of 20×20 to 56×56, but −24 to −38 % with
/// 16 output channels (each GEMM then fills one 16-lane vector of the
/// kernel's four).
const CHANNEL_LAST_MIN_COUT: usize = 32;

/// Fewest output columns per sample (on the padded pitch) for the
/// channel-last forward pass: on maps of 8×8 (64 channels, 80 columns) and
/// 14×14 (256 channels, 224 columns) it lost 9 to 15 %, its GEMMs being too
/// small to repay the transposes.
const CHANNEL_LAST_MIN_COLS: usize = 256;

/// `Y_g = conv(X_g, W_g)` for one sample and group: `x` holds the group's
/// `C_in/G` input planes, `w` its `C_out/G` kernels, `y` its output planes;
/// `input` and `tmp` are scratch buffers.
///
/// Layers with at least [`CHANNEL_LAST_MIN_COUT`] output channels and
/// [`CHANNEL_LAST_MIN_COLS`] output columns run channel-last: each tap's GEMM
/// writes a channel-last output tile (`pixels × C_out/G`), so the `gemm`
/// crate computes it as `W_tap · X_tapᵀ`, with the small weight slice as
/// its packed operand and the channel-last input read in place; the cost is
/// two transposes per sample, the input into channel-last order and each
/// output tile back. Other layers run on planar data (`Y_tile += W_tap ·
/// X_tap`, the input zero-padded plane by plane), where the crate packs each
/// tap's view of the input, as large as an im2col tap, but that costs less
/// than the transposes on narrow or small layers.
pub(crate) fn forward_group<T: Element>(
    x: &[T],
    w: &[T],
    g: &ConvGeom,
    y: &mut [T],
    input: &mut Vec<T>,
    tmp: &mut Vec<T>,
) {
    let (cin, cout, k, p) = (g.cin_g(), g.cout_g(), g.k(), g.p());
    let (hp, wp) = pitched::padded(g);
    let channel_last_pays = cout >= CHANNEL_LAST_MIN_COUT && g.ho * wp >= CHANNEL_LAST_MIN_COLS;
    if channel_last_pays {
        channel_last(x, g, input);
    } else {
        // The same zero-padded planes as the pitched columns, tail included.
        pitched::pad_planes(x, g, input);
    }
    let rows_per_tile = (TILE_COLS / wp).max(1);
    let taps = g.kh * g.kw;
    let mut r0 = 0;
    while r0 < g.ho {
        let rows = rows_per_tile.min(g.ho - r0);
        let ncols = rows * wp;
        if tmp.len() < cout * ncols {
            pool::resize(tmp, cout * ncols);
        }
        let acc = &mut tmp[..cout * ncols];
        for a in 0..g.kh {
            for b in 0..g.kw {
                let tap = a * g.kw + b;
                let off = (r0 + a * g.dh) * wp + b * g.dw;
                if channel_last_pays {
                    // `acc (pixels × C_out) = X_tap (pixels × C_in) · W_tapᵀ`.
                    let xs = MatRef {
                        data: &input[off * cin..],
                        row_stride: cin,
                        col_stride: 1,
                    };
                    let wt = MatRef {
                        data: &w[tap..],
                        row_stride: taps,
                        col_stride: k,
                    };
                    gemm(ncols, cout, cin, xs, wt, acc, tap > 0);
                } else {
                    // `acc (C_out × pixels) = W_tap (C_out × C_in) · X_tap`.
                    let wa = MatRef {
                        data: &w[tap..],
                        row_stride: k,
                        col_stride: taps,
                    };
                    let xs = MatRef {
                        data: &input[off..],
                        row_stride: hp * wp,
                        col_stride: 1,
                    };
                    gemm(cout, ncols, cin, wa, xs, acc, tap > 0);
                }
            }
        }
        // Into `y`, dropping the junk columns of each row.
        for rr in 0..rows {
            let dst = &mut y[(r0 + rr) * g.wo..];
            if channel_last_pays {
                transpose(&acc[rr * wp * cout..], cout, g.wo, cout, dst, p);
            } else {
                for co in 0..cout {
                    let src = &acc[co * ncols + rr * wp..][..g.wo];
                    dst[co * p..co * p + g.wo].copy_from_slice(src);
                }
            }
        }
        r0 += rows;
    }
}

/// For a stride-1 convolution, the input gradient is itself a stride-1
/// convolution of `dY` with the kernels flipped and their channel roles
/// swapped, padded by `d·(k − 1) − p` on each side. Returns its geometry
/// when that padding is non-negative and the shifted path applies to it, so
/// the input gradient runs as fast as the forward pass (no col2im).
pub(crate) fn adjoint(g: &ConvGeom) -> Option<ConvGeom> {
    if g.sh != 1 || g.sw != 1 || g.is_pointwise() {
        return None;
    }
    let (span_h, span_w) = (g.dh * (g.kh - 1), g.dw * (g.kw - 1));
    // Padding after the input, implied by the output size at stride 1.
    let after_h = (g.ho + span_h).checked_sub(g.h + g.ph)?;
    let after_w = (g.wo + span_w).checked_sub(g.w + g.pw)?;
    if g.ph > span_h || g.pw > span_w || after_h > span_h || after_w > span_w {
        return None;
    }
    let a = ConvGeom {
        n: g.n,
        c_in: g.c_out,
        h: g.ho,
        w: g.wo,
        c_out: g.c_in,
        kh: g.kh,
        kw: g.kw,
        sh: 1,
        sw: 1,
        ph: span_h - g.ph,
        pw: span_w - g.pw,
        dh: g.dh,
        dw: g.dw,
        groups: g.groups,
        ho: g.h,
        wo: g.w,
    };
    applies(&a).then_some(a)
}

/// The kernels of [`adjoint`]: `W'[ci, co, a, b] = W[co, ci, kH−1−a, kW−1−b]`
/// within each group, laid out `[C_in, C_out/G, kH, kW]`.
pub(crate) fn flip_weights<T: Element>(w: &[T], g: &ConvGeom) -> Vec<T> {
    let (cin, cout, taps) = (g.cin_g(), g.cout_g(), g.kh * g.kw);
    let mut out = vec![T::zero(); w.len()];
    for grp in 0..g.groups {
        for co in 0..cout {
            for ci in 0..cin {
                let src = ((grp * cout + co) * cin + ci) * taps;
                let dst = ((grp * cin + ci) * cout + co) * taps;
                for t in 0..taps {
                    out[dst + taps - 1 - t] = w[src + t];
                }
            }
        }
    }
    out
}

/// Output channels per GEMM call of [`weight_grad_group`]. The `gemm` crate
/// computes a row-major product as its transpose, which makes the shifted
/// channel-last input its left operand, read in place with unit stride along
/// the channels; it copies ("packs") that operand first when the product
/// has more than 48 columns, here output channels. Blocks of 48 keep the
/// kernel on the input as it lies.
const WGRAD_COUT_BLOCK: usize = 48;

/// Output columns per sample (on the padded pitch) from which
/// [`weight_grad_group`] pays, each tap's GEMM reducing over them: from
/// `WGRAD_MIN_COLS` for up to `WGRAD_WIDE_COUT` output channels per group,
/// from `WGRAD_WIDE_COLS` for more. Measured on one core against the im2col
/// path, 3×3 kernels: +16 to +63 % on 14×14 to 56×56 maps (+190 % with 16
/// output channels, +10 % with 256 on 28×28), but −19 % on 8×8 maps (64
/// channels, 80 columns), even on 7×7, and −5 / −9 % with 128 / 256
/// channels on 14×14 (224 columns).
const WGRAD_MIN_COLS: usize = 128;
/// Output columns from which [`weight_grad_group`] pays at any channel count.
const WGRAD_WIDE_COLS: usize = 512;
/// Most output channels per group for which `WGRAD_MIN_COLS` columns suffice.
const WGRAD_WIDE_COUT: usize = 64;

/// True when [`weight_grad_group`] applies and pays.
pub(crate) fn weight_grad_applies(g: &ConvGeom) -> bool {
    let cols = g.ho * pitched::padded(g).1;
    applies(g)
        && cols >= WGRAD_MIN_COLS
        && (cols >= WGRAD_WIDE_COLS || g.cout_g() <= WGRAD_WIDE_COUT)
}

/// Buffers of [`weight_grad_group`], reused across the samples of a task.
pub(crate) struct WeightGradBuffers<T: Element> {
    /// The group's input, zero-padded and channel-last: pixel `s` of the
    /// padded plane holds its `C_in/G` channels at `s·C_in/G`.
    channels_last: Vec<T>,
    /// The output gradient on the padded row pitch, junk columns zero.
    dy: Vec<T>,
    /// Tap by tap, the `C_out/G × C_in/G` gradient of that tap's weights.
    taps: Vec<T>,
}

/// The buffers go back to the thread's pool for the next call.
impl<T: Element> Drop for WeightGradBuffers<T> {
    fn drop(&mut self) {
        for v in [&mut self.channels_last, &mut self.dy, &mut self.taps] {
            pool::give(std::mem::take(v));
        }
    }
}

impl<T: Element> Default for WeightGradBuffers<T> {
    fn default() -> Self {
        WeightGradBuffers {
            channels_last: Vec::new(),
            dy: Vec::new(),
            taps: Vec::new(),
        }
    }
}

/// `dW_g (+)= dY_g ⋆ X_g` for one sample and group of a stride-1
/// convolution where [`weight_grad_applies`] holds, without a column matrix: for each
/// tap `(a, b)`, `dW[:, :, a, b] = dY · X_shiftedᵀ`, one GEMM whose
/// reduction runs over every output pixel (on the padded pitch, the junk
/// columns of `dY` being zero). With the input stored channel-last, tap
/// `(a, b)`'s view is the contiguous matrix starting at pixel
/// `a·dH·Wp + b·dW`, rows of `C_in/G` channels: nothing is copied per tap.
/// `x` holds the group's input planes, `dy` its output-gradient planes;
/// `dw` (`[C_out/G, C_in/G, kH, kW]`) is overwritten, or added to when
/// `accumulate` is set.
pub(crate) fn weight_grad_group<T: Element>(
    x: &[T],
    dy: &[T],
    g: &ConvGeom,
    dw: &mut [T],
    accumulate: bool,
    buf: &mut WeightGradBuffers<T>,
) {
    let (cin, cout, p, taps) = (g.cin_g(), g.cout_g(), g.p(), g.kh * g.kw);
    let (_, wp) = pitched::padded(g);
    let ncols = g.ho * wp;
    channel_last(x, g, &mut buf.channels_last);
    let cl = &buf.channels_last;
    let dyp = &mut buf.dy;
    dyp.clear();
    pool::resize(dyp, cout * ncols);
    for co in 0..cout {
        for r in 0..g.ho {
            let (d, s) = (co * ncols + r * wp, co * p + r * g.wo);
            dyp[d..d + g.wo].copy_from_slice(&dy[s..s + g.wo]);
        }
    }
    let grads = &mut buf.taps;
    pool::resize(grads, taps * cout * cin);
    for a in 0..g.kh {
        for b in 0..g.kw {
            let tap = a * g.kw + b;
            let off = a * g.dh * wp + b * g.dw;
            let xs = MatRef {
                data: &cl[off * cin..],
                row_stride: cin,
                col_stride: 1,
            };
            let mut c0 = 0;
            while c0 < cout {
                let block = WGRAD_COUT_BLOCK.min(cout - c0);
                let dyb = MatRef {
                    data: &dyp[c0 * ncols..],
                    row_stride: ncols,
                    col_stride: 1,
                };
                let out = &mut grads[(tap * cout + c0) * cin..(tap * cout + c0 + block) * cin];
                gemm(block, cin, ncols, dyb, xs, out, false);
                c0 += block;
            }
        }
    }
    for co in 0..cout {
        for ci in 0..cin {
            let d = &mut dw[(co * cin + ci) * taps..(co * cin + ci + 1) * taps];
            for (t, d) in d.iter_mut().enumerate() {
                let v = grads[(t * cout + co) * cin + ci];
                *d = if accumulate { *d + v } else { v };
            }
        }
    }
}
