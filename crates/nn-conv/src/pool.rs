//! Differentiable max and average pooling, 1-d and 2-d.
//!
//! Each `[H, W]` plane of each sample and channel is pooled on its own, so
//! planes run in parallel (above a size threshold) with no shared writes:
//! results do not depend on the thread count. A 1-d pool is the 2-d one with
//! a height of 1.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Tensor, TensorError};
use rayon::prelude::*;

use crate::arithmetic::pool_output_size;
use crate::options::{AvgPoolOptions, MaxPoolOptions};
use nn_tensor::or_panic;

/// Below this many input elements pooling stays on the calling thread.
const PARALLEL_ELEMS: usize = 1 << 15;

#[derive(Clone, Copy, Debug)]
struct PoolGeom {
    planes: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
}

/// Runs `f(plane_index, out_plane)` over the planes of `out`.
fn for_planes<T: Element>(
    out: &mut [T],
    plane: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if plane == 0 {
        return;
    }
    if work >= PARALLEL_ELEMS {
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(plane).enumerate().for_each(|(i, o)| f(i, o));
    }
}

#[allow(clippy::too_many_arguments)]
fn pool_geometry<const D: usize>(
    op: &'static str,
    x: &[usize],
    kernel: [usize; D],
    stride: [usize; D],
    padding: [usize; D],
    dilation: [usize; D],
    ceil_mode: bool,
) -> Result<(PoolGeom, Vec<usize>)> {
    if x.len() != D + 2 {
        return Err(TensorError::invalid(
            op,
            format!(
                "input must have {} dims [N, C, spatial…], got shape {x:?}",
                D + 2
            ),
        ));
    }
    let mut out_shape = x[..2].to_vec();
    for d in 0..D {
        let o = pool_output_size(
            x[2 + d],
            kernel[d],
            stride[d],
            padding[d],
            dilation[d],
            ceil_mode,
        )
        .map_err(|e| TensorError::invalid(op, format!("input {x:?}: {e}")))?;
        out_shape.push(o);
    }
    let two = D == 2;
    let pick = |v: &[usize; D], one: usize| if two { v[0] } else { one };
    let g = PoolGeom {
        planes: x[0] * x[1],
        h: if two { x[2] } else { 1 },
        w: x[D + 1],
        ho: if two { out_shape[2] } else { 1 },
        wo: out_shape[D + 1],
        kh: pick(&kernel, 1),
        kw: kernel[D - 1],
        sh: pick(&stride, 1),
        sw: stride[D - 1],
        ph: pick(&padding, 0),
        pw: padding[D - 1],
        dh: pick(&dilation, 1),
        dw: dilation[D - 1],
    };
    Ok((g, out_shape))
}

/// Marks a window with no input position (cannot happen with valid
/// settings; kept so a bad index never reaches the backward pass).
const NO_INDEX: usize = usize::MAX;

/// The window offsets `a·dH·W + b·dW`, in window order, when every window
/// lies inside the input (no padding, and `ceil_mode` adds no window that
/// runs past the edge): then no tap needs a bounds check.
fn inner_taps(g: &PoolGeom) -> Option<Vec<usize>> {
    let fits =
        |o: usize, s: usize, k: usize, d: usize, n: usize| o == 0 || (o - 1) * s + (k - 1) * d < n;
    let inside = g.ph == 0
        && g.pw == 0
        && g.kh > 0
        && g.kw > 0
        && fits(g.ho, g.sh, g.kh, g.dh, g.h)
        && fits(g.wo, g.sw, g.kw, g.dw, g.w);
    inside.then(|| {
        (0..g.kh)
            .flat_map(|a| (0..g.kw).map(move |b| a * g.dh * g.w + b * g.dw))
            .collect()
    })
}

/// One step of the running maximum: `v` at `pos` replaces the best so far
/// when larger, or when NaN (the last NaN of a window wins, as in PyTorch,
/// so NaN propagates).
#[inline(always)]
fn max_step<T: Element>(best: T, at: usize, v: T, pos: usize) -> (T, usize) {
    if v > best || v.is_nan() {
        (v, pos)
    } else {
        (best, at)
    }
}

/// Max pooling of one plane whose windows all lie inside it (see
/// [`inner_taps`]). The 2×2 window, LeNet's and most CNNs', gets its own
/// loop with the four taps unrolled, so consecutive outputs, which do not
/// depend on each other, overlap in the CPU: the general loop with its
/// bounds checks was a quarter of LeNet's training step.
fn max_pool_plane_inside<T: Element>(
    plane: &[T],
    g: &PoolGeom,
    taps: &[usize],
    yp: &mut [T],
    ip: &mut [usize],
) {
    let four: Option<[usize; 4]> = taps.try_into().ok();
    for oh in 0..g.ho {
        let row = oh * g.sh * g.w;
        let (yr, ir) = (
            &mut yp[oh * g.wo..(oh + 1) * g.wo],
            &mut ip[oh * g.wo..(oh + 1) * g.wo],
        );
        for (ow, (y, i)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
            let base = row + ow * g.sw;
            let (best, at) = match four {
                Some(t) => window_max(plane, base, &t),
                None => window_max(plane, base, taps),
            };
            *y = best;
            *i = at;
        }
    }
}

/// The maximum of one window and its position, with [`max_step`]'s NaN
/// rule. The running maximum ignores NaN, so `v > best ? v : best` becomes
/// one `maxss` and the position a `cmov`; the last NaN's position is kept
/// aside (another `cmov`) and wins at the end. A plain select on the
/// float compiled to a branch, mispredicted about every other window.
#[inline(always)]
fn window_max<T: Element>(plane: &[T], base: usize, taps: &[usize]) -> (T, usize) {
    let first = base + taps[0];
    let (mut best, mut at) = (plane[first], first);
    let mut nan_at = if best.is_nan() { first } else { NO_INDEX };
    for &off in &taps[1..] {
        let pos = base + off;
        let v = plane[pos];
        let gt = v > best;
        best = if gt { v } else { best };
        at = if gt { pos } else { at };
        nan_at = if v.is_nan() { pos } else { nan_at };
    }
    if nan_at != NO_INDEX {
        return (plane[nan_at], nan_at);
    }
    (best, at)
}

fn max_pool_forward<T: Element>(x: &[T], g: &PoolGeom) -> (Vec<T>, Vec<usize>) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let mut y = vec![T::neg_infinity(); g.planes * ohw];
    let mut idx = vec![NO_INDEX; g.planes * ohw];
    // Pair values and indices per plane so one task owns both.
    let mut pairs: Vec<(&mut [T], &mut [usize])> = y
        .chunks_mut(ohw.max(1))
        .zip(idx.chunks_mut(ohw.max(1)))
        .collect();
    let taps = inner_taps(g);
    let run = |i: usize, (yp, ip): &mut (&mut [T], &mut [usize])| {
        let plane = &x[i * hw..(i + 1) * hw];
        if let Some(taps) = &taps {
            max_pool_plane_inside(plane, g, taps, yp, ip);
            return;
        }
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (mut best, mut at) = (T::neg_infinity(), NO_INDEX);
                for a in 0..g.kh {
                    let ih = (oh * g.sh + a * g.dh) as isize - g.ph as isize;
                    if ih < 0 || ih >= g.h as isize {
                        continue;
                    }
                    for b in 0..g.kw {
                        let iw = (ow * g.sw + b * g.dw) as isize - g.pw as isize;
                        if iw < 0 || iw >= g.w as isize {
                            continue;
                        }
                        let pos = ih as usize * g.w + iw as usize;
                        let v = plane[pos];
                        if at == NO_INDEX {
                            (best, at) = (v, pos);
                        } else {
                            (best, at) = max_step(best, at, v, pos);
                        }
                    }
                }
                yp[oh * g.wo + ow] = best;
                ip[oh * g.wo + ow] = at;
            }
        }
    };
    if ohw > 0 {
        if g.planes * hw >= PARALLEL_ELEMS {
            pairs
                .par_iter_mut()
                .enumerate()
                .for_each(|(i, p)| run(i, p));
        } else {
            pairs.iter_mut().enumerate().for_each(|(i, p)| run(i, p));
        }
    }
    drop(pairs);
    (y, idx)
}

fn max_pool_backward<T: Element>(gy: &[T], idx: &[usize], g: &PoolGeom) -> Vec<T> {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let mut dx = vec![T::zero(); g.planes * hw];
    for_planes(&mut dx, hw, g.planes * hw, |i, dp| {
        let (gp, ip) = (&gy[i * ohw..(i + 1) * ohw], &idx[i * ohw..(i + 1) * ohw]);
        for (&v, &at) in gp.iter().zip(ip) {
            if at != NO_INDEX {
                dp[at] += v;
            }
        }
    });
    dx
}

/// 2-d max pooling. `x: [N, C, H, W]` → `[N, C, Ho, Wo]`; each output is the
/// largest input in its window, padding counting as −∞.
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{max_pool2d, MaxPoolOptions};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f32>::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]));
/// let y = max_pool2d(&x, &MaxPoolOptions::new(2));
/// assert_eq!(y.value().to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
/// ```
#[track_caller]
pub fn max_pool2d<T: Element>(x: &Var<T>, options: &MaxPoolOptions<2>) -> Var<T> {
    or_panic(try_max_pool2d_with_indices(x, options)).0
}

/// Fallible [`max_pool2d`], also returning, for each output, the flat
/// position `ih·W + iw` of its maximum inside the input plane (PyTorch's
/// `return_indices=True`), in output order.
pub fn try_max_pool2d_with_indices<T: Element>(
    x: &Var<T>,
    o: &MaxPoolOptions<2>,
) -> Result<(Var<T>, Vec<usize>)> {
    max_pool_nd("max_pool2d", x, o)
}

/// 1-d max pooling. `x: [N, C, L]` → `[N, C, L_out]`.
#[track_caller]
pub fn max_pool1d<T: Element>(x: &Var<T>, options: &MaxPoolOptions<1>) -> Var<T> {
    or_panic(try_max_pool1d_with_indices(x, options)).0
}

/// Fallible [`max_pool1d`], also returning the position of each maximum.
pub fn try_max_pool1d_with_indices<T: Element>(
    x: &Var<T>,
    o: &MaxPoolOptions<1>,
) -> Result<(Var<T>, Vec<usize>)> {
    max_pool_nd("max_pool1d", x, o)
}

fn max_pool_nd<T: Element, const D: usize>(
    op: &'static str,
    x: &Var<T>,
    o: &MaxPoolOptions<D>,
) -> Result<(Var<T>, Vec<usize>)> {
    let (g, shape) = pool_geometry(
        op,
        x.shape(),
        o.kernel_size,
        o.stride,
        o.padding,
        o.dilation,
        o.ceil_mode,
    )?;
    let (y, idx) = max_pool_forward(x.value().as_slice(), &g);
    let y = Tensor::from_vec(y, &shape);
    let xs = x.shape().to_vec();
    let saved = idx.clone();
    let v = Var::from_op(op, y, vec![x.clone()], move |gy| {
        vec![Some(Tensor::from_vec(
            max_pool_backward(gy.as_slice(), &saved, &g),
            &xs,
        ))]
    });
    Ok((v, idx))
}

/// The rows `[start, end)` an average-pool window covers, and the divisor
/// it contributes with padding counted (the fixture README's formula).
#[inline]
fn avg_span(o: usize, s: usize, p: usize, k: usize, n: usize) -> (usize, usize, usize) {
    let start = (o * s) as isize - p as isize;
    let end = (start + k as isize).min((n + p) as isize);
    let with_pad = (end - start) as usize;
    let (start, end) = (start.max(0) as usize, (end.min(n as isize)).max(0) as usize);
    (start, end.max(start), with_pad)
}

fn avg_divisor<T: Element>(
    g: &PoolGeom,
    include_pad: bool,
    oh: usize,
    ow: usize,
) -> (usize, usize, usize, usize, T) {
    let (h0, h1, ph) = avg_span(oh, g.sh, g.ph, g.kh, g.h);
    let (w0, w1, pw) = avg_span(ow, g.sw, g.pw, g.kw, g.w);
    let count = if include_pad {
        ph * pw
    } else {
        (h1 - h0) * (w1 - w0)
    };
    (h0, h1, w0, w1, T::of(count.max(1) as f64))
}

fn avg_pool_forward<T: Element>(x: &[T], g: &PoolGeom, include_pad: bool) -> Vec<T> {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let mut y = vec![T::zero(); g.planes * ohw];
    for_planes(&mut y, ohw, g.planes * hw, |i, yp| {
        let plane = &x[i * hw..(i + 1) * hw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (h0, h1, w0, w1, div) = avg_divisor::<T>(g, include_pad, oh, ow);
                let mut s = T::zero();
                for r in h0..h1 {
                    for &v in &plane[r * g.w + w0..r * g.w + w1] {
                        s += v;
                    }
                }
                yp[oh * g.wo + ow] = s / div;
            }
        }
    });
    y
}

fn avg_pool_backward<T: Element>(gy: &[T], g: &PoolGeom, include_pad: bool) -> Vec<T> {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let mut dx = vec![T::zero(); g.planes * hw];
    for_planes(&mut dx, hw, g.planes * hw, |i, dp| {
        let gp = &gy[i * ohw..(i + 1) * ohw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (h0, h1, w0, w1, div) = avg_divisor::<T>(g, include_pad, oh, ow);
                let v = gp[oh * g.wo + ow] / div;
                for r in h0..h1 {
                    for d in &mut dp[r * g.w + w0..r * g.w + w1] {
                        *d += v;
                    }
                }
            }
        }
    });
    dx
}

fn avg_pool_nd<T: Element, const D: usize>(
    op: &'static str,
    x: &Var<T>,
    o: &AvgPoolOptions<D>,
) -> Result<Var<T>> {
    // Average pooling has no dilation.
    let (g, shape) = pool_geometry(
        op,
        x.shape(),
        o.kernel_size,
        o.stride,
        o.padding,
        [1; D],
        o.ceil_mode,
    )?;
    let include_pad = o.count_include_pad;
    let y = Tensor::from_vec(
        avg_pool_forward(x.value().as_slice(), &g, include_pad),
        &shape,
    );
    let xs = x.shape().to_vec();
    Ok(Var::from_op(op, y, vec![x.clone()], move |gy| {
        vec![Some(Tensor::from_vec(
            avg_pool_backward(gy.as_slice(), &g, include_pad),
            &xs,
        ))]
    }))
}

/// 2-d average pooling. `x: [N, C, H, W]` → `[N, C, Ho, Wo]`.
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{avg_pool2d, AvgPoolOptions};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f64>::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]));
/// let y = avg_pool2d(&x, &AvgPoolOptions::new(2));
/// assert_eq!(y.value().to_vec(), vec![2.5, 4.5, 10.5, 12.5]);
/// ```
#[track_caller]
pub fn avg_pool2d<T: Element>(x: &Var<T>, options: &AvgPoolOptions<2>) -> Var<T> {
    or_panic(try_avg_pool2d(x, options))
}

/// Fallible [`avg_pool2d`].
pub fn try_avg_pool2d<T: Element>(x: &Var<T>, o: &AvgPoolOptions<2>) -> Result<Var<T>> {
    avg_pool_nd("avg_pool2d", x, o)
}

/// 1-d average pooling. `x: [N, C, L]` → `[N, C, L_out]`.
#[track_caller]
pub fn avg_pool1d<T: Element>(x: &Var<T>, options: &AvgPoolOptions<1>) -> Var<T> {
    or_panic(try_avg_pool1d(x, options))
}

/// Fallible [`avg_pool1d`].
pub fn try_avg_pool1d<T: Element>(x: &Var<T>, o: &AvgPoolOptions<1>) -> Result<Var<T>> {
    avg_pool_nd("avg_pool1d", x, o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_point_at_the_maxima() {
        let x = Var::leaf(Tensor::<f64>::from_vec(
            vec![1., 9., 3., 4., 5., 6., 7., 8., 2.],
            &[1, 1, 3, 3],
        ));
        let (y, idx) = try_max_pool2d_with_indices(&x, &MaxPoolOptions::new(2).stride(1)).unwrap();
        assert_eq!(y.value().to_vec(), vec![9., 9., 8., 8.]);
        assert_eq!(idx, vec![1, 1, 7, 7]);
        let g = y.sum().backward();
        assert_eq!(
            g.get(&x).unwrap().to_vec(),
            vec![0., 2., 0., 0., 0., 0., 0., 2., 0.]
        );
    }

    #[test]
    fn pool_errors_name_the_op() {
        let x = Var::constant(Tensor::<f32>::zeros(&[1, 1, 4, 4]));
        let e = try_max_pool2d_with_indices(&x, &MaxPoolOptions::new(2).padding(2)).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("max_pool2d: input [1, 1, 4, 4]: pool_output_size: padding 2"));
        let x3 = Var::constant(Tensor::<f32>::zeros(&[1, 4, 4]));
        assert!(try_avg_pool2d(&x3, &AvgPoolOptions::new(2))
            .unwrap_err()
            .to_string()
            .contains("must have 4 dims"));
    }

    #[test]
    fn avg_pool1d_excludes_padding_when_asked() {
        let x = Var::constant(Tensor::<f64>::from_vec(vec![2., 4., 6.], &[1, 1, 3]));
        let o = AvgPoolOptions::new(2).padding(1);
        assert_eq!(avg_pool1d(&x, &o).value().to_vec(), vec![1., 5.]);
        assert_eq!(
            avg_pool1d(&x, &o.count_include_pad(false)).value().to_vec(),
            vec![2., 5.]
        );
    }

    /// Max pooling read from the definition: values and first-maximum
    /// indices, padding as −∞.
    #[allow(clippy::too_many_arguments)]
    fn naive_max(
        x: &[f64],
        h: usize,
        w: usize,
        k: usize,
        s: usize,
        p: usize,
        d: usize,
        ceil: bool,
    ) -> (Vec<f64>, Vec<usize>) {
        let size = |n: usize| pool_output_size(n, k, s, p, d, ceil).unwrap();
        let (ho, wo) = (size(h), size(w));
        let (mut y, mut idx) = (Vec::new(), Vec::new());
        for oh in 0..ho {
            for ow in 0..wo {
                let mut best: Option<(f64, usize)> = None;
                for a in 0..k {
                    for b in 0..k {
                        let (ih, iw) = (
                            (oh * s + a * d) as isize - p as isize,
                            (ow * s + b * d) as isize - p as isize,
                        );
                        if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                            continue;
                        }
                        let pos = ih as usize * w + iw as usize;
                        if best.is_none_or(|(v, _)| x[pos] > v) {
                            best = Some((x[pos], pos));
                        }
                    }
                }
                let (v, i) = best.unwrap();
                y.push(v);
                idx.push(i);
            }
        }
        (y, idx)
    }

    #[test]
    fn inside_and_general_paths_match_the_definition() {
        let mut rng = nn_tensor::Rng::seed_from(5);
        let (h, w) = (11, 9);
        let x = Tensor::<f64>::rand_normal(&[1, 1, h, w], 0.0, 1.0, &mut rng);
        // (kernel, stride, padding, dilation, ceil_mode): 2×2/2 and 3×3/1 take
        // the unrolled and the general inside loops, the others the checked one.
        for &(k, s, p, d, c) in &[
            (2, 2, 0, 1, false),
            (3, 1, 0, 1, false),
            (3, 2, 0, 2, false),
            (2, 2, 0, 1, true),
            (3, 2, 1, 1, false),
            (2, 3, 1, 2, true),
        ] {
            let o = MaxPoolOptions::new(k)
                .stride(s)
                .padding(p)
                .dilation(d)
                .ceil_mode(c);
            let (y, idx) = try_max_pool2d_with_indices(&Var::constant(x.clone()), &o).unwrap();
            let (want, want_idx) = naive_max(x.as_slice(), h, w, k, s, p, d, c);
            assert_eq!(y.value().to_vec(), want, "{k} {s} {p} {d} {c}");
            assert_eq!(idx, want_idx, "{k} {s} {p} {d} {c}");
        }
    }

    #[test]
    fn nan_propagates_with_the_last_nan_index() {
        let nan = f32::NAN;
        let x = Var::constant(Tensor::<f32>::from_vec(
            vec![1., nan, nan, 0., 5., 2., 3., 4., -1.],
            &[1, 1, 3, 3],
        ));
        // Output (0, 1) without padding and (0, 2) with padding 1 both see
        // the NaNs at 1 and 2 (the unrolled and the checked loop).
        for (p, at) in [(0, 1), (1, 2)] {
            let o = MaxPoolOptions::new(2).stride(1).padding(p);
            let (y, idx) = try_max_pool2d_with_indices(&x, &o).unwrap();
            assert!(y.value().to_vec()[at].is_nan());
            // PyTorch keeps the last NaN of the window.
            assert_eq!(idx[at], 2);
        }
    }
}
