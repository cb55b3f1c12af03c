//! Stride-1 im2col on the padded row pitch, for small images.
//!
//! im2col proper copies each kernel tap's view of the input row by row:
//! `Ho` pieces of `Wo` elements per tap, with padding borders zeroed piece
//! by piece. On LeNet's 28×28 and 14×14 maps those pieces are 10 to 28
//! elements, and the per-piece work made im2col a fifth of the W3 training
//! step. Here the input is first zero-padded once to `Hp × Wp`
//! (`Wp = Wo + dW·(kW − 1)`); the column matrix is then built on the
//! padded pitch, `Ho·Wp` columns instead of `Ho·Wo`, where the row of tap
//! `(c, a, b)` is one contiguous slice of padded channel `c` starting at
//! `a·dH·Wp + b·dW` (the same layout as [`crate::shifted`]). The
//! `Wp − Wo` extra columns per output row are junk: the forward pass
//! drops them, and the backward passes give them a zero output gradient so
//! they add nothing. The GEMMs grow by `Wp/Wo` (LeNet: 1.14 and 1.4), which
//! on these small maps costs less than the copies it saves.

use nn_tensor::{gemm, pool, Element, MatRef};

use crate::im2col::ConvGeom;

/// Largest column matrix (elements) built for one sample and group:
/// beyond it the tiled im2col, which keeps its tile in cache, is used.
const MAX_COLS: usize = 1 << 17;

/// True when the pitched path applies: stride 1, not a plain 1×1, a padded
/// plane that holds every input position (not so when a transposed
/// convolution's `output_padding` leaves input rows no window reads), a
/// column matrix that fits [`MAX_COLS`], and at most 1.5× the columns of
/// im2col.
pub(crate) fn applies(g: &ConvGeom) -> bool {
    let wp = padded(g).1;
    supports(g) && g.k() * g.ho * wp <= MAX_COLS && 2 * wp <= 3 * g.wo
}

/// True when the pitched path can compute `g` (the first three conditions
/// of [`applies`]).
pub(crate) fn supports(g: &ConvGeom) -> bool {
    let (hp, wp) = padded(g);
    g.sh == 1 && g.sw == 1 && hp >= g.h + g.ph && wp >= g.w + g.pw && !g.is_pointwise() && g.wo > 0
}

/// `(Hp, Wp)`: the padded plane the pitched columns (and the shifted
/// GEMMs) index.
pub(crate) fn padded(g: &ConvGeom) -> (usize, usize) {
    (g.ho + g.dh * (g.kh - 1), g.wo + g.dw * (g.kw - 1))
}

/// Zero-pads the `C_in/G` planes of `x` into `pad` (`C_in/G` planes of
/// `Hp × Wp`, plus `dW·(kW − 1)` zeros after the last one, which the last
/// tap's junk columns read).
pub(crate) fn pad_planes<T: Element>(x: &[T], g: &ConvGeom, pad: &mut Vec<T>) {
    let (hp, wp) = padded(g);
    let plane = hp * wp;
    pad.clear();
    pool::resize(pad, g.cin_g() * plane + g.dw * (g.kw - 1));
    for c in 0..g.cin_g() {
        let src = &x[c * g.hw()..(c + 1) * g.hw()];
        let dst = &mut pad[c * plane..(c + 1) * plane];
        for r in 0..hp {
            let ih = r as isize - g.ph as isize;
            if ih < 0 || ih >= g.h as isize {
                continue;
            }
            let row = &src[ih as usize * g.w..(ih as usize + 1) * g.w];
            // Padded column s holds input column s − pw.
            let n = g.w.min(wp.saturating_sub(g.pw));
            dst[r * wp + g.pw..r * wp + g.pw + n].copy_from_slice(&row[..n]);
        }
    }
}

/// The start of tap `(c, a, b)`'s row in the padded planes.
fn tap_offset(g: &ConvGeom, row: usize) -> usize {
    let (hp, wp) = padded(g);
    let (c, a, b) = (row / (g.kh * g.kw), (row / g.kw) % g.kh, row % g.kw);
    c * hp * wp + a * g.dh * wp + b * g.dw
}

/// The pitched column matrix (`K × Ho·Wp`) of one group's padded planes.
fn columns<T: Element>(pad: &[T], g: &ConvGeom, cols: &mut Vec<T>) {
    let n = g.ho * padded(g).1;
    cols.clear();
    pool::resize(cols, g.k() * n);
    for (row, dst) in cols.chunks_exact_mut(n).enumerate() {
        let at = tap_offset(g, row);
        dst.copy_from_slice(&pad[at..at + n]);
    }
}

/// `dy` (`C_out/G × Ho·Wo`) on the padded pitch, junk columns zero.
fn pitched_grad<T: Element>(dy: &[T], g: &ConvGeom, out: &mut Vec<T>) {
    let wp = padded(g).1;
    let rows = g.cout_g() * g.ho;
    out.clear();
    pool::resize(out, rows * wp);
    for (dst, src) in out.chunks_exact_mut(wp).zip(dy.chunks_exact(g.wo)) {
        dst[..g.wo].copy_from_slice(src);
    }
}

/// Reusable buffers of the pitched path.
pub(crate) struct Buffers<T: Element> {
    pad: Vec<T>,
    cols: Vec<T>,
    out: Vec<T>,
}

/// The buffers go back to the thread's pool for the next call.
impl<T: Element> Drop for Buffers<T> {
    fn drop(&mut self) {
        for v in [&mut self.pad, &mut self.cols, &mut self.out] {
            pool::give(std::mem::take(v));
        }
    }
}

impl<T: Element> Default for Buffers<T> {
    fn default() -> Self {
        Buffers {
            pad: Vec::new(),
            cols: Vec::new(),
            out: Vec::new(),
        }
    }
}

/// `Y_g = conv(X_g, W_g)` for one sample and group (`w` is `C_out/G × K`).
pub(crate) fn forward_group<T: Element>(
    x: &[T],
    w: &[T],
    g: &ConvGeom,
    y: &mut [T],
    b: &mut Buffers<T>,
) {
    let (k, wp) = (g.k(), padded(g).1);
    let n = g.ho * wp;
    pad_planes(x, g, &mut b.pad);
    columns(&b.pad, g, &mut b.cols);
    pool::resize(&mut b.out, g.cout_g() * n);
    let cols = MatRef::row_major(&b.cols[..], n);
    gemm(
        g.cout_g(),
        n,
        k,
        MatRef::row_major(w, k),
        cols,
        &mut b.out,
        false,
    );
    for (dst, src) in y.chunks_exact_mut(g.wo).zip(b.out.chunks_exact(wp)) {
        dst.copy_from_slice(&src[..g.wo]);
    }
}

/// `dW_g (+)= dY_g · colsᵀ` for one sample and group.
pub(crate) fn weight_grad_group<T: Element>(
    x: &[T],
    dy: &[T],
    g: &ConvGeom,
    dw: &mut [T],
    accumulate: bool,
    b: &mut Buffers<T>,
) {
    let (k, wp) = (g.k(), padded(g).1);
    let n = g.ho * wp;
    pad_planes(x, g, &mut b.pad);
    columns(&b.pad, g, &mut b.cols);
    pitched_grad(dy, g, &mut b.out);
    let dyp = MatRef::row_major(&b.out[..], n);
    let colt = MatRef::transposed(&b.cols[..], n);
    gemm(g.cout_g(), k, n, dyp, colt, dw, accumulate);
}

/// `dX_g = col2im(W_gᵀ · dY_g)` for one sample and group: the pitched
/// column gradient adds into the padded planes with one contiguous slice
/// per tap, and the padding is cropped off.
pub(crate) fn input_grad_group<T: Element>(
    dy: &[T],
    w: &[T],
    g: &ConvGeom,
    dx: &mut [T],
    b: &mut Buffers<T>,
) {
    let (k, (hp, wp)) = (g.k(), padded(g));
    let n = g.ho * wp;
    pitched_grad(dy, g, &mut b.out);
    pool::resize(&mut b.cols, k * n);
    let wt = MatRef::transposed(w, k);
    gemm(
        k,
        n,
        g.cout_g(),
        wt,
        MatRef::row_major(&b.out[..], n),
        &mut b.cols[..k * n],
        false,
    );
    b.pad.clear();
    pool::resize(&mut b.pad, g.cin_g() * hp * wp + g.dw * (g.kw - 1));
    for (row, src) in b.cols[..k * n].chunks_exact(n).enumerate() {
        let at = tap_offset(g, row);
        for (d, &s) in b.pad[at..at + n].iter_mut().zip(src) {
            *d += s;
        }
    }
    for c in 0..g.cin_g() {
        let plane = &b.pad[c * hp * wp..(c + 1) * hp * wp];
        let dst = &mut dx[c * g.hw()..(c + 1) * g.hw()];
        for (ih, row) in dst.chunks_exact_mut(g.w).enumerate() {
            let r = ih + g.ph;
            let n = g.w.min(wp.saturating_sub(g.pw));
            row[..n].copy_from_slice(&plane[r * wp + g.pw..r * wp + g.pw + n]);
        }
    }
}
