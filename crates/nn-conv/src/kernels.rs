//! The three convolution kernels, each a GEMM over im2col tiles:
//!
//! * forward:        `Y_g = W_g · cols`
//! * input gradient: `dcols = W_gᵀ · dY_g`, then col2im
//! * weight gradient: `dW_g = dY_g · colsᵀ`
//!
//! per sample `n` and group `g`. A transposed convolution runs the same
//! kernels with the roles swapped (its forward is the input gradient).
//!
//! Stride-1 convolutions with at least 16 channels per group skip im2col:
//! the forward pass runs as shifted GEMMs ([`crate::shifted`]), and so does
//! the input gradient, as the forward convolution of `dY` with flipped
//! kernels, and the weight gradient as one GEMM per tap. Measured on W4
//! (64→64, 3×3, 8×56×56, one core) this took the forward pass from about
//! 143 GFLOP/s (im2col) to 168 (shifted GEMMs on planar data) and 216 (on a
//! channel-last copy), and the weight gradient from 138 to 165. With f32 on
//! AVX2 machines, layers of 16 to 48 channels run their forward pass (and
//! so their input gradient) with the register-blocked kernel of
//! [`crate::direct`] instead: see [`crate::algorithm`] for the choice.
//!
//! Samples run in parallel above a size threshold. Each output element is
//! computed by one task in a fixed order, and the per-sample weight-gradient
//! partials are summed in sample order, so results are bit-identical
//! whatever the thread count.

use nn_tensor::{gemm, num_threads, pool, Element, MatRef};
use rayon::prelude::*;

use crate::algorithm::{choose, ConvAlgorithm, Pass};
use crate::im2col::{col2im, im2col, ConvGeom};
use crate::{direct, pitched, shifted};

/// Elements of one column tile: 128 Ki elements is 512 KB of f32, which
/// stays in the L2 cache next to the GEMM's packed panels.
const COL_TILE_ELEMS: usize = 1 << 17;

/// Fewest output pixels per tile: narrower tiles starve the GEMM kernel.
const MIN_TILE: usize = 64;

/// Below this many multiply-adds a convolution runs on the calling thread:
/// a rayon task per sample costs more than it saves on tiny layers.
const PARALLEL_MACS: usize = 1 << 20;

/// The weight gradient is summed in this many partials, each over a run of
/// consecutive samples (`ceil(N / WGRAD_RUNS)`: one sample each on W4's
/// batch of 8, eight on LeNet's 64). It depends on the batch size only, never
/// on the thread count, so the order of the additions is always the same;
/// eight runs keep two threads busy.
const WGRAD_RUNS: usize = 8;

fn tile_len(g: &ConvGeom) -> usize {
    (COL_TILE_ELEMS / g.k().max(1)).max(MIN_TILE).min(g.p())
}

fn parallel(g: &ConvGeom) -> bool {
    g.n > 1 && g.macs() >= PARALLEL_MACS && num_threads() > 1
}

/// Runs `f(item, out_chunk, scratch)` for each of `items` (samples), `out` holding
/// `chunk` elements per sample. Above a size threshold the batch is cut into
/// a few runs of consecutive samples, one task each with its own scratch
/// buffers (one column buffer per task, reused for all its samples, instead
/// of one per sample); each sample's output is computed the same way
/// whichever task runs it, so the split never changes a result.
fn per_sample<T: Element>(
    items: usize,
    parallel: bool,
    out: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T], &mut Scratch<T>) + Sync + Send,
) {
    if chunk == 0 {
        return;
    }
    let run = |first: usize, o: &mut [T]| {
        let mut s = Scratch::default();
        for (i, on) in o.chunks_mut(chunk).enumerate() {
            f(first + i, on, &mut s);
        }
    };
    if parallel {
        // Two runs per thread, so a thread slowed by other work on the
        // machine does not hold the whole batch back.
        let per_task = items.div_ceil(2 * num_threads()).max(1);
        out.par_chunks_mut(per_task * chunk)
            .enumerate()
            .for_each(|(t, o)| run(t * per_task, o));
    } else {
        run(0, out);
    }
}

/// Reusable buffers of one task.
struct Scratch<T: Element> {
    cols: Vec<T>,
    tmp: Vec<T>,
    pitched: pitched::Buffers<T>,
    /// The direct kernel's packed weights, and which weights they are.
    packed: Vec<T>,
    packed_from: Option<usize>,
    shifted_wgrad: shifted::WeightGradBuffers<T>,
}

/// The buffers go back to the thread's pool for the next call.
impl<T: Element> Drop for Scratch<T> {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.cols));
        pool::give(std::mem::take(&mut self.tmp));
        pool::give(std::mem::take(&mut self.packed));
    }
}

impl<T: Element> Default for Scratch<T> {
    fn default() -> Self {
        Scratch {
            cols: Vec::new(),
            tmp: Vec::new(),
            pitched: pitched::Buffers::default(),
            packed: Vec::new(),
            packed_from: None,
            shifted_wgrad: shifted::WeightGradBuffers::default(),
        }
    }
}

fn sized<T: Element>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    if v.len() < n {
        pool::resize(v, n);
    }
    &mut v[..n]
}

/// Rows `[.., p0..p0+len]` of a row-major matrix with `p` columns.
fn cols_of<T>(data: &[T], p: usize, p0: usize) -> MatRef<'_, T> {
    MatRef {
        data: &data[p0..],
        row_stride: p,
        col_stride: 1,
    }
}

/// Runs `f(src_g, w_g, dst_g, scratch)` for each sample and channel group
/// (samples in parallel above a size threshold) and returns `dst`: `src_g`
/// and `dst_g` are the group's blocks of `src_group` and `dst_group`
/// elements within the sample, `w_g` its `C_out/G · K` weights.
fn per_group<T: Element>(
    g: &ConvGeom,
    src: &[T],
    src_group: usize,
    w: &[T],
    dst_group: usize,
    f: impl Fn(&[T], &[T], &mut [T], &mut Scratch<T>) + Sync + Send,
) -> Vec<T> {
    let (src_len, dst_len, w_group) = (
        g.groups * src_group,
        g.groups * dst_group,
        g.cout_g() * g.k(),
    );
    let mut dst = vec![T::zero(); g.n * dst_len];
    per_sample(g.n, parallel(g), &mut dst, dst_len, |n, dn, s| {
        let sn = &src[n * src_len..(n + 1) * src_len];
        for grp in 0..g.groups {
            f(
                &sn[grp * src_group..(grp + 1) * src_group],
                &w[grp * w_group..(grp + 1) * w_group],
                &mut dn[grp * dst_group..(grp + 1) * dst_group],
                s,
            );
        }
    });
    dst
}

/// `y = conv(x, w)` without bias: `x` is `[N, C_in, H, W]`, `w` is
/// `[C_out, C_in/G, kH, kW]`; returns `[N, C_out, Ho, Wo]`.
pub(crate) fn conv_forward<T: Element>(x: &[T], w: &[T], g: &ConvGeom) -> Vec<T> {
    let (k, p, hw) = (g.k(), g.p(), g.hw());
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    let tile = tile_len(g);
    let algorithm = choose::<T>(g, Pass::Forward);
    per_group(g, x, cin_g * hw, w, cout_g * p, |xg, w_raw, yg, s| {
        let wg = MatRef::row_major(w_raw, k);
        match algorithm {
            ConvAlgorithm::Pointwise => {
                return gemm(cout_g, p, cin_g, wg, MatRef::row_major(xg, p), yg, false);
            }
            ConvAlgorithm::Direct => {
                let buffers = direct::Buffers {
                    input: &mut s.cols,
                    weights: &mut s.packed,
                    output: &mut s.tmp,
                    packed_from: &mut s.packed_from,
                };
                return direct::forward_group(xg, w_raw, g, yg, buffers);
            }
            ConvAlgorithm::Shifted => {
                return shifted::forward_group(xg, w_raw, g, yg, &mut s.cols, &mut s.tmp);
            }
            ConvAlgorithm::Pitched => {
                return pitched::forward_group(xg, w_raw, g, yg, &mut s.pitched);
            }
            ConvAlgorithm::Im2col => {}
        }
        let mut p0 = 0;
        while p0 < p {
            let len = tile.min(p - p0);
            let cols = sized(&mut s.cols, k * len);
            im2col(xg, g, p0, len, cols);
            let colm = MatRef::row_major(&*cols, len);
            if len == p {
                gemm(cout_g, p, k, wg, colm, yg, false);
            } else {
                let tmp = sized(&mut s.tmp, cout_g * len);
                gemm(cout_g, len, k, wg, colm, tmp, false);
                for co in 0..cout_g {
                    yg[co * p + p0..co * p + p0 + len]
                        .copy_from_slice(&tmp[co * len..(co + 1) * len]);
                }
            }
            p0 += len;
        }
    })
}

/// The gradient of [`conv_forward`] with respect to `x`, given `dy`
/// (`[N, C_out, Ho, Wo]`); returns `[N, C_in, H, W]`.
pub(crate) fn conv_backward_input<T: Element>(dy: &[T], w: &[T], g: &ConvGeom) -> Vec<T> {
    let algorithm = choose::<T>(g, Pass::InputGrad);
    if algorithm == ConvAlgorithm::Shifted {
        let adj = shifted::adjoint(g).expect("chosen only when the adjoint exists");
        return conv_forward(dy, &shifted::flip_weights(w, g), &adj);
    }
    let (k, p, hw) = (g.k(), g.p(), g.hw());
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    let tile = tile_len(g);
    per_group(g, dy, cout_g * p, w, cin_g * hw, |dyg, w_raw, dxg, s| {
        // Wᵀ without a copy: the weight block read column-wise.
        let wt = MatRef::transposed(w_raw, k);
        match algorithm {
            ConvAlgorithm::Pointwise => {
                return gemm(cin_g, p, cout_g, wt, MatRef::row_major(dyg, p), dxg, false);
            }
            ConvAlgorithm::Pitched => {
                return pitched::input_grad_group(dyg, w_raw, g, dxg, &mut s.pitched);
            }
            ConvAlgorithm::Direct | ConvAlgorithm::Shifted | ConvAlgorithm::Im2col => {}
        }
        let mut p0 = 0;
        while p0 < p {
            let len = tile.min(p - p0);
            let cols = sized(&mut s.cols, k * len);
            gemm(k, len, cout_g, wt, cols_of(dyg, p, p0), cols, false);
            col2im(cols, g, p0, len, dxg);
            p0 += len;
        }
    })
}

/// The gradient of [`conv_forward`] with respect to `w`, given the input `x`
/// and `dy`; returns `[C_out, C_in/G, kH, kW]`.
pub(crate) fn conv_backward_weight<T: Element>(x: &[T], dy: &[T], g: &ConvGeom) -> Vec<T> {
    let (k, p, hw) = (g.k(), g.p(), g.hw());
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    let wlen = g.c_out * k;
    // One partial per run of `run` consecutive samples (a length fixed by
    // the batch size, not the thread count), accumulated in sample order
    // inside the run and then summed in run order.
    let run = g.n.div_ceil(WGRAD_RUNS).max(1);
    let runs = g.n.div_ceil(run);
    let mut partial = pool::zeroed(runs * wlen);
    let tile = tile_len(g);
    let algorithm = choose::<T>(g, Pass::WeightGrad);
    per_sample(runs, parallel(g), &mut partial, wlen, |r, dwr, s| {
        for n in r * run..((r + 1) * run).min(g.n) {
            let first = n == r * run;
            let xn = &x[n * g.c_in * hw..(n + 1) * g.c_in * hw];
            let dyn_ = &dy[n * g.c_out * p..(n + 1) * g.c_out * p];
            for grp in 0..g.groups {
                let xg = &xn[grp * cin_g * hw..(grp + 1) * cin_g * hw];
                let dyg = &dyn_[grp * cout_g * p..(grp + 1) * cout_g * p];
                let dwg = &mut dwr[grp * cout_g * k..(grp + 1) * cout_g * k];
                match algorithm {
                    ConvAlgorithm::Pointwise => {
                        let xt = MatRef::transposed(xg, p);
                        gemm(cout_g, cin_g, p, MatRef::row_major(dyg, p), xt, dwg, !first);
                        continue;
                    }
                    ConvAlgorithm::Shifted => {
                        let b = &mut s.shifted_wgrad;
                        shifted::weight_grad_group(xg, dyg, g, dwg, !first, b);
                        continue;
                    }
                    ConvAlgorithm::Pitched => {
                        pitched::weight_grad_group(xg, dyg, g, dwg, !first, &mut s.pitched);
                        continue;
                    }
                    ConvAlgorithm::Direct | ConvAlgorithm::Im2col => {}
                }
                let mut p0 = 0;
                while p0 < p {
                    let len = tile.min(p - p0);
                    let cols = sized(&mut s.cols, k * len);
                    im2col(xg, g, p0, len, cols);
                    let colt = MatRef::transposed(&*cols, len);
                    let acc = !first || p0 > 0;
                    gemm(cout_g, k, len, cols_of(dyg, p, p0), colt, dwg, acc);
                    p0 += len;
                }
            }
        }
    });
    let mut dw = partial[..wlen].to_vec();
    for part in partial.chunks(wlen).skip(1) {
        for (d, &v) in dw.iter_mut().zip(part) {
            *d += v;
        }
    }
    pool::give(partial);
    dw
}

/// Below this many elements the bias passes stay on the calling thread.
const PARALLEL_BIAS: usize = 1 << 15;

fn parallel_bias(len: usize) -> bool {
    len >= PARALLEL_BIAS && num_threads() > 1
}

/// `y[n, c, :] += b[c]` for `y` of `[N, C, P]`; samples in parallel above a
/// size threshold (each element gets its one addition either way).
pub(crate) fn add_bias<T: Element>(y: &mut [T], b: &[T], p: usize) {
    let c = b.len();
    if p == 0 || c == 0 {
        return;
    }
    let add = |sample: &mut [T]| {
        for (plane, &v) in sample.chunks_mut(p).zip(b) {
            plane.iter_mut().for_each(|e| *e += v);
        }
    };
    if parallel_bias(y.len()) {
        y.par_chunks_mut(c * p).for_each(add);
    } else {
        y.chunks_mut(c * p).for_each(add);
    }
}

/// `db[c] = Σ_n Σ_p dy[n, c, p]`: each plane summed on its own (in
/// parallel above a size threshold), then the plane sums added in sample
/// order, so the result is the same whatever the thread count.
pub(crate) fn bias_grad<T: Element>(dy: &[T], c: usize, p: usize) -> Vec<T> {
    let mut db = vec![T::zero(); c];
    if p == 0 || c == 0 {
        return db;
    }
    let plane_sum = |plane: &[T]| plane.iter().fold(T::zero(), |s, &v| s + v);
    let sums: Vec<T> = if parallel_bias(dy.len()) {
        dy.par_chunks(p).map(plane_sum).collect()
    } else {
        dy.chunks(p).map(plane_sum).collect()
    };
    for (i, s) in sums.into_iter().enumerate() {
        db[i % c] += s;
    }
    db
}
