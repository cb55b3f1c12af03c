//! Convolution geometry, and the im2col / col2im copies that turn a
//! convolution into a matrix product.
//!
//! For one sample and one channel group, the column matrix has one row per
//! kernel tap `(c, a, b)` (`K = C_in/G · kH · kW` rows, in the weight's own
//! order) and one column per output pixel. Only a tile of consecutive output
//! pixels is built at a time, so the buffer stays in cache while the GEMM
//! reads it.

use nn_tensor::Element;

/// The shape arithmetic of one 2-d convolution (1-d convolutions use
/// `h = kh = 1`). Transposed convolutions use the geometry of the
/// convolution they are the adjoint of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    /// Zeros before the first row / column (after-padding only shows in `ho`/`wo`).
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub groups: usize,
    pub ho: usize,
    pub wo: usize,
}

impl ConvGeom {
    pub fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }
    pub fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of the column matrix (the reduction length of the GEMM).
    pub fn k(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }
    /// Output pixels per channel.
    pub fn p(&self) -> usize {
        self.ho * self.wo
    }
    /// Input pixels per channel.
    pub fn hw(&self) -> usize {
        self.h * self.w
    }
    /// A 1×1 convolution without stride or padding is a plain GEMM on the
    /// input: the column matrix would be the input itself.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.ph == 0
            && self.pw == 0
            && self.ho == self.h
            && self.wo == self.w
    }
    /// Multiply-adds of the whole forward pass.
    pub fn macs(&self) -> usize {
        self.n * self.c_out * self.k() * self.p()
    }
}

/// A convolution's sizes per spatial dim (`D` = 1 or 2), as the functional
/// ops see them; [`ConvDims::geom`] lifts them to the 2-d [`ConvGeom`] the
/// kernels run on.
pub(crate) struct ConvDims<const D: usize> {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub input: [usize; D],
    pub kernel: [usize; D],
    pub stride: [usize; D],
    /// Zeros before each dim (after-padding only shows in `output`).
    pub pad: [usize; D],
    pub dilation: [usize; D],
    pub output: [usize; D],
}

impl<const D: usize> ConvDims<D> {
    /// The 2-d geometry: a 1-d convolution is a 2-d one of height 1, with a
    /// one-row kernel, stride and dilation 1 and no padding along it.
    pub fn geom(&self) -> ConvGeom {
        // The value along the height (`D` = 2's first dim), or `one` in 1-d.
        let high = |v: &[usize; D], one: usize| if D == 2 { v[0] } else { one };
        ConvGeom {
            n: self.n,
            c_in: self.c_in,
            h: high(&self.input, 1),
            w: self.input[D - 1],
            c_out: self.c_out,
            kh: high(&self.kernel, 1),
            kw: self.kernel[D - 1],
            sh: high(&self.stride, 1),
            sw: self.stride[D - 1],
            ph: high(&self.pad, 0),
            pw: self.pad[D - 1],
            dh: high(&self.dilation, 1),
            dw: self.dilation[D - 1],
            groups: self.groups,
            ho: high(&self.output, 1),
            wo: self.output[D - 1],
        }
    }
}

/// The output columns `lo..hi` of kernel column `b` whose input column
/// `ow·sw + off` lies inside the input, and that offset `off`. The same for
/// every output row, so computed once per kernel tap.
#[inline]
fn col_span(g: &ConvGeom, b: usize) -> (usize, usize, isize) {
    let off = (b * g.dw) as isize - g.pw as isize;
    let s = g.sw as isize;
    // First ow with ow·s + off ≥ 0, and first with ow·s + off ≥ w.
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    let hi = ((g.w as isize - off) + s - 1).max(0) / s;
    let lo = (lo as usize).min(g.wo);
    let hi = (hi as usize).min(g.wo).max(lo);
    (lo, hi, off)
}

/// The input row that output row `oh` reads for kernel row `a`, or `None`
/// when it is padding.
#[inline]
fn input_row(g: &ConvGeom, oh: usize, a: usize) -> Option<usize> {
    let ih = (oh * g.sh + a * g.dh) as isize - g.ph as isize;
    (ih >= 0 && ih < g.h as isize).then_some(ih as usize)
}

/// Calls `f(oh, ow0, ow1, at)` for each output row piece of the pixels
/// `p0..p0 + len`: row `oh`, columns `ow0..ow1`, starting at offset `at` of
/// the tile.
#[inline]
fn row_pieces(g: &ConvGeom, p0: usize, len: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    if len == 0 || g.wo == 0 {
        return;
    }
    let end = p0 + len;
    let mut oh = p0 / g.wo;
    let mut ow0 = p0 % g.wo;
    let mut at = 0;
    while at < len {
        let ow1 = g.wo.min(ow0 + (end - p0 - at));
        f(oh, ow0, ow1, at);
        at += ow1 - ow0;
        oh += 1;
        ow0 = 0;
    }
}

/// Fills `cols` (`K × len`, row-major) with the taps of output pixels
/// `p0..p0 + len` for one group: `x` holds that group's `C_in/G` channels.
pub(crate) fn im2col<T: Element>(x: &[T], g: &ConvGeom, p0: usize, len: usize, cols: &mut [T]) {
    let hw = g.hw();
    for c in 0..g.cin_g() {
        let plane = &x[c * hw..(c + 1) * hw];
        for a in 0..g.kh {
            for b in 0..g.kw {
                let row = (c * g.kh + a) * g.kw + b;
                let dst = &mut cols[row * len..(row + 1) * len];
                let (lo, hi, off) = col_span(g, b);
                row_pieces(g, p0, len, |oh, ow0, ow1, at| {
                    let seg = &mut dst[at..at + (ow1 - ow0)];
                    let Some(ih) = input_row(g, oh, a) else {
                        seg.fill(T::zero());
                        return;
                    };
                    let (l, h) = (lo.clamp(ow0, ow1), hi.clamp(ow0, ow1));
                    zero_short(&mut seg[..l - ow0]);
                    zero_short(&mut seg[h - ow0..]);
                    if l == h {
                        return;
                    }
                    let src = &plane[ih * g.w..(ih + 1) * g.w];
                    let start = (l as isize * g.sw as isize + off) as usize;
                    let out = &mut seg[l - ow0..h - ow0];
                    if g.sw == 1 {
                        copy_short(out, &src[start..start + out.len()]);
                    } else {
                        for (i, o) in out.iter_mut().enumerate() {
                            *o = src[start + i * g.sw];
                        }
                    }
                });
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short row pieces of small images,
/// where a call into `memcpy` costs more than the copy: LeNet's rows are 10
/// to 28 elements. Copies 8 at a time, the last 8 overlapping the previous
/// ones (rewriting equal values), so no tail loop remains for the compiler
/// to turn back into a `memcpy` call.
#[inline]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    if !(8..=64).contains(&n) {
        dst.copy_from_slice(src);
        return;
    }
    let src = &src[..n];
    let mut i = 0;
    while i + 8 <= n {
        copy8(&mut dst[i..i + 8], &src[i..i + 8]);
        i += 8;
    }
    if i < n {
        copy8(&mut dst[n - 8..], &src[n - 8..]);
    }
}

#[inline(always)]
fn copy8<T: Copy>(dst: &mut [T], src: &[T]) {
    let s: &[T; 8] = src.try_into().expect("8 elements");
    let d: &mut [T; 8] = dst.try_into().expect("8 elements");
    *d = *s;
}

/// Zeroes a row piece: the padding borders of a row are one or two
/// elements, too few for a `memset` call.
#[inline]
fn zero_short<T: Element>(seg: &mut [T]) {
    match seg.len() {
        0 => {}
        1 => seg[0] = T::zero(),
        2 => {
            seg[0] = T::zero();
            seg[1] = T::zero();
        }
        _ => seg.fill(T::zero()),
    }
}

/// The adjoint of [`im2col`]: adds every entry of `cols` back into the input
/// position it was copied from (`dx` holds one group's channels).
pub(crate) fn col2im<T: Element>(cols: &[T], g: &ConvGeom, p0: usize, len: usize, dx: &mut [T]) {
    let hw = g.hw();
    for c in 0..g.cin_g() {
        let plane = &mut dx[c * hw..(c + 1) * hw];
        for a in 0..g.kh {
            for b in 0..g.kw {
                let row = (c * g.kh + a) * g.kw + b;
                let src = &cols[row * len..(row + 1) * len];
                let (lo, hi, off) = col_span(g, b);
                row_pieces(g, p0, len, |oh, ow0, ow1, at| {
                    let Some(ih) = input_row(g, oh, a) else {
                        return;
                    };
                    let (l, h) = (lo.clamp(ow0, ow1), hi.clamp(ow0, ow1));
                    if l == h {
                        return;
                    }
                    let seg = &src[at + (l - ow0)..at + (h - ow0)];
                    let dst = &mut plane[ih * g.w..(ih + 1) * g.w];
                    let start = (l as isize * g.sw as isize + off) as usize;
                    if g.sw == 1 {
                        for (d, &s) in dst[start..start + seg.len()].iter_mut().zip(seg) {
                            *d += s;
                        }
                    } else {
                        for (i, &s) in seg.iter().enumerate() {
                            dst[start + i * g.sw] += s;
                        }
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeom {
        let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
        let wo = (w + 2 * p - d * (k - 1) - 1) / s + 1;
        ConvGeom {
            n: 1,
            c_in: 2,
            h,
            w,
            c_out: 1,
            kh: k,
            kw: k,
            sh: s,
            sw: s,
            ph: p,
            pw: p,
            dh: d,
            dw: d,
            groups: 1,
            ho,
            wo,
        }
    }

    /// im2col read directly from the definition.
    fn naive(x: &[f64], g: &ConvGeom) -> Vec<f64> {
        let p = g.p();
        let mut cols = vec![0.0; g.k() * p];
        for c in 0..g.cin_g() {
            for a in 0..g.kh {
                for b in 0..g.kw {
                    let row = (c * g.kh + a) * g.kw + b;
                    for oh in 0..g.ho {
                        for ow in 0..g.wo {
                            let ih = (oh * g.sh + a * g.dh) as isize - g.ph as isize;
                            let iw = (ow * g.sw + b * g.dw) as isize - g.pw as isize;
                            if ih >= 0 && iw >= 0 && (ih as usize) < g.h && (iw as usize) < g.w {
                                cols[row * p + oh * g.wo + ow] =
                                    x[c * g.hw() + ih as usize * g.w + iw as usize];
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn tiles_match_the_definition_and_col2im_is_the_adjoint() {
        for &(h, w, k, s, p, d) in &[(5, 7, 3, 1, 1, 1), (6, 5, 2, 2, 1, 2), (7, 7, 3, 3, 2, 1)] {
            let g = geom(h, w, k, s, p, d);
            let x: Vec<f64> = (0..g.c_in * h * w).map(|i| i as f64 + 1.0).collect();
            let full = naive(&x, &g);
            for tile in [1, 3, g.p()] {
                let mut p0 = 0;
                while p0 < g.p() {
                    let len = tile.min(g.p() - p0);
                    let mut cols = vec![f64::NAN; g.k() * len];
                    im2col(&x, &g, p0, len, &mut cols);
                    for r in 0..g.k() {
                        assert_eq!(
                            &cols[r * len..(r + 1) * len],
                            &full[r * g.p() + p0..r * g.p() + p0 + len]
                        );
                    }
                    p0 += len;
                }
            }
            // <im2col(x), c> = <x, col2im(c)>
            let c: Vec<f64> = (0..full.len())
                .map(|i| ((i * 7) % 5) as f64 - 2.0)
                .collect();
            let mut back = vec![0.0; x.len()];
            col2im(&c, &g, 0, g.p(), &mut back);
            let lhs: f64 = full.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs);
        }
    }
}
