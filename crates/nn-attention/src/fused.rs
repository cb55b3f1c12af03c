//! Fused multi-head attention: `y = softmax(q·kᵀ·scale + mask)·v` for every
//! (batch, head) pair as **one** autograd node with a hand-written backward.
//!
//! Why fused: built from generic ops, one attention costs a copy per head
//! split and merge (`permute` materialises), a node for the scale, one for
//! the mask, one for the softmax, and their backward twins: about a fifth of
//! a W6 training step went into those copies and temporaries. Here each
//! head is read in place through strided GEMM operands ([`HeadLayout`]), the
//! scale, mask and softmax run in one pass over each row of scores, and the
//! (batch, head) pairs are independent tasks, spread over the rayon pool
//! when there is more than one thread (their GEMMs are far too small to
//! split internally). Each task writes only its own slices, so results are
//! bit-identical whatever the thread count.

use std::borrow::Cow;

use nn_autograd::Var;
use nn_tensor::{gemm, num_threads, pool, Element, MatRef, Tensor};
use rayon::prelude::*;

/// Below this many multiply-adds in total the (batch, head) tasks run on the
/// calling thread: handing them to the pool costs more than it saves.
const PARALLEL_MADDS: usize = 1 << 16;

/// Where the heads of one operand sit in its contiguous tensor: head `h` of
/// batch element `n` is the `len × d` matrix starting at
/// `offset + n·batch_stride + h·head_stride`, rows `row_stride` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadLayout {
    offset: usize,
    batch_stride: usize,
    head_stride: usize,
    row_stride: usize,
}

impl HeadLayout {
    /// Heads side by side in a `[N, len, channels]` tensor, starting at
    /// column `col` (`d` columns each): the output of a projection, e.g.
    /// `q`, `k`, `v` at columns 0, E, 2E of a packed `[N, L, 3E]`.
    pub(crate) fn packed(len: usize, channels: usize, col: usize, d: usize) -> Self {
        HeadLayout {
            offset: col,
            batch_stride: len * channels,
            head_stride: d,
            row_stride: channels,
        }
    }

    /// Heads already split, `[N, heads, len, d]` (a KV cache).
    pub(crate) fn split(heads: usize, len: usize, d: usize) -> Self {
        HeadLayout {
            offset: 0,
            batch_stride: heads * len * d,
            head_stride: len * d,
            row_stride: d,
        }
    }

    fn start(&self, n: usize, h: usize) -> usize {
        self.offset + n * self.batch_stride + h * self.head_stride
    }

    /// Head `(n, h)` as a `len × d` matrix.
    fn mat<'a, T>(&self, data: &'a [T], n: usize, h: usize) -> MatRef<'a, T> {
        MatRef {
            data: &data[self.start(n, h)..],
            row_stride: self.row_stride,
            col_stride: 1,
        }
    }

    /// Head `(n, h)` transposed, a `d × len` view.
    fn mat_t<'a, T>(&self, data: &'a [T], n: usize, h: usize) -> MatRef<'a, T> {
        MatRef {
            data: &data[self.start(n, h)..],
            row_stride: 1,
            col_stride: self.row_stride,
        }
    }

    /// `dst[head (n, h)] += src` for a row-major `len × d` block `src`.
    fn add_into<T: Element>(&self, dst: &mut [T], n: usize, h: usize, src: &[T], d: usize) {
        let start = self.start(n, h);
        for (i, row) in src.chunks_exact(d).enumerate() {
            let at = start + i * self.row_stride;
            for (o, x) in dst[at..at + d].iter_mut().zip(row) {
                *o += *x;
            }
        }
    }
}

/// One operand of [`fused_attention`]: a `Var` and where its heads are.
#[derive(Clone, Copy)]
pub(crate) struct Heads<'a, T: Element> {
    pub(crate) var: &'a Var<T>,
    pub(crate) layout: HeadLayout,
}

/// The sizes of a [`fused_attention`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttnDims {
    /// Batch N.
    pub(crate) batch: usize,
    /// Heads h.
    pub(crate) heads: usize,
    /// Query length L.
    pub(crate) l: usize,
    /// Key length S.
    pub(crate) s: usize,
    /// Head width d.
    pub(crate) d: usize,
}

impl AttnDims {
    fn tasks(&self) -> usize {
        self.batch * self.heads
    }
    fn parallel(&self) -> bool {
        num_threads() > 1
            && self.tasks() > 1
            && self.tasks() * self.l * self.s * self.d >= PARALLEL_MADDS
    }
}

/// Runs `body(task, chunks…)` for every (batch, head) task, on the pool when
/// `par`. `chunks` splits each buffer into one equal piece per task.
fn for_each_task<T: Element>(
    par: bool,
    bufs: (&mut [T], &mut [T]),
    sizes: (usize, usize),
    body: impl Fn(usize, &mut [T], &mut [T]) + Sync + Send,
) {
    let (a, b) = bufs;
    if par {
        a.par_chunks_mut(sizes.0)
            .zip(b.par_chunks_mut(sizes.1))
            .enumerate()
            .for_each(|(t, (x, y))| body(t, x, y));
    } else {
        a.chunks_mut(sizes.0)
            .zip(b.chunks_mut(sizes.1))
            .enumerate()
            .for_each(|(t, (x, y))| body(t, x, y));
    }
}

/// Each row `x` of the `rows × s` block becomes `softmax(x·scale + mask)`
/// (max-subtracted; a row whose every key is masked gives NaN, as PyTorch).
fn softmax_rows<T: Element>(p: &mut [T], s: usize, scale: T, mask: Option<&[T]>) {
    for (i, row) in p.chunks_exact_mut(s).enumerate() {
        match mask {
            Some(m) => {
                for (x, a) in row.iter_mut().zip(&m[i * s..(i + 1) * s]) {
                    *x = *x * scale + *a;
                }
            }
            None => row.iter_mut().for_each(|x| *x *= scale),
        }
        let mut top = row.iter().fold(T::neg_infinity(), |m, &x| m.max(x));
        if !top.is_finite() {
            top = T::zero();
        }
        let mut sum = T::zero();
        for x in row.iter_mut() {
            *x = (*x - top).exp();
            sum += *x;
        }
        let r = sum.recip();
        row.iter_mut().for_each(|x| *x *= r);
    }
}

/// In place, `dp` becomes the gradient of the scores before scaling:
/// `scale · P ⊙ (dP − Σ_j dP⊙P)` row by row (softmax's Jacobian).
fn softmax_rows_backward<T: Element>(dp: &mut [T], p: &[T], s: usize, scale: T) {
    for (g, y) in dp.chunks_exact_mut(s).zip(p.chunks_exact(s)) {
        let dot = g.iter().zip(y).fold(T::zero(), |a, (g, y)| a + *g * *y);
        for (g, y) in g.iter_mut().zip(y) {
            *g = *y * (*g - dot) * scale;
        }
    }
}

/// `a ⊙ b` as a new vector (dropout applied to a block).
fn times<T: Element>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().zip(b).map(|(x, y)| *x * *y).collect()
}

/// `softmax(q·kᵀ·scale + mask)·v` over all (batch, head) pairs at once.
///
/// * `q` holds `[N, h, L, d]` heads, `k` and `v` `[N, h, S, d]` heads, each
///   at its [`HeadLayout`] (they may be the same `Var`, e.g. a packed
///   `[N, L, 3E]` projection);
/// * `mask`: additive, `[1 or N, 1, L, S]` (`-inf` = masked out);
/// * `keep`: dropout multipliers for the weights, `[N, h, L, S]` (0 or
///   1/(1−p)), or `None`.
///
/// Returns `y: [N, L, h·d]` (heads merged, ready for the output projection)
/// and the weights `P: [N, h, L, S]` before dropout (a plain tensor: callers
/// that need gradients through the weights use the unfused path).
pub(crate) fn fused_attention<T: Element>(
    q: Heads<'_, T>,
    k: Heads<'_, T>,
    v: Heads<'_, T>,
    dims: AttnDims,
    mask: Option<&Tensor<T>>,
    scale: T,
    keep: Option<Tensor<T>>,
) -> (Var<T>, Tensor<T>) {
    let AttnDims {
        batch,
        heads,
        l,
        s,
        d,
    } = dims;
    let (ls, ld, e) = (l * s, l * d, heads * d);
    let (qv, kv, vv) = (q.var.value(), k.var.value(), v.var.value());
    let (qd, kd, vd) = (qv.as_slice(), kv.as_slice(), vv.as_slice());
    let mask_data = mask.map(|m| (m.as_slice(), if m.shape()[0] == 1 { 0 } else { ls }));
    let keep_data = keep.as_ref().map(|t| t.as_slice());
    let mut p = vec![T::zero(); dims.tasks() * ls];
    let mut yh = pool::zeroed(dims.tasks() * ld);
    for_each_task(dims.parallel(), (&mut p, &mut yh), (ls, ld), |t, pc, yc| {
        let (n, h) = (t / heads, t % heads);
        gemm(
            l,
            s,
            d,
            q.layout.mat(qd, n, h),
            k.layout.mat_t(kd, n, h),
            pc,
            false,
        );
        let m = mask_data.map(|(m, stride)| &m[n * stride..n * stride + ls]);
        softmax_rows(pc, s, scale, m);
        let pd: Cow<'_, [T]> = match keep_data {
            Some(kp) => Cow::Owned(times(pc, &kp[t * ls..(t + 1) * ls])),
            None => Cow::Borrowed(pc),
        };
        gemm(
            l,
            d,
            s,
            MatRef::row_major(&pd, s),
            v.layout.mat(vd, n, h),
            yc,
            false,
        );
    });
    // Merge the heads: [N, h, L, d] → [N, L, h·d].
    let mut y = vec![T::zero(); batch * l * e];
    let merged = HeadLayout::packed(l, e, 0, d);
    for t in 0..dims.tasks() {
        merged.add_into(&mut y, t / heads, t % heads, &yh[t * ld..(t + 1) * ld], d);
    }
    pool::give(yh);
    let p = Tensor::from_vec(p, &[batch, heads, l, s]);
    if !Var::records(&[q.var, k.var, v.var]) {
        return (Var::constant(Tensor::from_vec(y, &[batch, l, e])), p);
    }

    // Distinct parents, and which parent each operand is.
    let mut parents: Vec<Var<T>> = Vec::new();
    let mut slot = |var: &Var<T>| match parents.iter().position(|p| p.id() == var.id()) {
        Some(i) => i,
        None => {
            parents.push(var.clone());
            parents.len() - 1
        }
    };
    let which = [slot(q.var), slot(k.var), slot(v.var)];
    let layouts = [q.layout, k.layout, v.layout];
    let values = [qv.clone(), kv.clone(), vv.clone()];
    let parent_shapes: Vec<Vec<usize>> = parents.iter().map(|p| p.shape().to_vec()).collect();
    let saved_p = p.clone();
    let backward = move |g: &Tensor<T>| {
        let (qd, kd, vd) = (
            values[0].as_slice(),
            values[1].as_slice(),
            values[2].as_slice(),
        );
        let [ql, kl, vl] = layouts;
        let (gd, pd_all) = (g.as_slice(), saved_p.as_slice());
        let keep_data = keep.as_ref().map(|t| t.as_slice());
        let gl = HeadLayout::packed(l, e, 0, d);
        let sd = s * d;
        // Per task: dq (L·d), then dk and dv (S·d each).
        let mut dqs = pool::zeroed(dims.tasks() * ld);
        let mut dkvs = pool::zeroed(dims.tasks() * 2 * sd);
        for_each_task(
            dims.parallel(),
            (&mut dqs, &mut dkvs),
            (ld, 2 * sd),
            |t, dq, dkv| {
                let (n, h) = (t / heads, t % heads);
                let p = &pd_all[t * ls..(t + 1) * ls];
                let kp = keep_data.map(|kp| &kp[t * ls..(t + 1) * ls]);
                let (dk, dv) = dkv.split_at_mut(sd);
                // dPd = dY·vᵀ; dv = Pdᵀ·dY.
                let mut dp = vec![T::zero(); ls];
                gemm(
                    l,
                    s,
                    d,
                    gl.mat(gd, n, h),
                    vl.mat_t(vd, n, h),
                    &mut dp,
                    false,
                );
                let pd: Cow<'_, [T]> = match kp {
                    Some(kp) => Cow::Owned(times(p, kp)),
                    None => Cow::Borrowed(p),
                };
                gemm(
                    s,
                    d,
                    l,
                    MatRef::transposed(&pd, s),
                    gl.mat(gd, n, h),
                    dv,
                    false,
                );
                if let Some(kp) = kp {
                    dp.iter_mut().zip(kp).for_each(|(g, m)| *g *= *m);
                }
                softmax_rows_backward(&mut dp, p, s, scale);
                // dq = dS·k; dk = dSᵀ·q.
                gemm(
                    l,
                    d,
                    s,
                    MatRef::row_major(&dp, s),
                    kl.mat(kd, n, h),
                    dq,
                    false,
                );
                gemm(
                    s,
                    d,
                    l,
                    MatRef::transposed(&dp, s),
                    ql.mat(qd, n, h),
                    dk,
                    false,
                );
            },
        );
        let mut grads: Vec<Vec<T>> = parent_shapes
            .iter()
            .map(|sh| vec![T::zero(); sh.iter().product()])
            .collect();
        for t in 0..dims.tasks() {
            let (n, h) = (t / heads, t % heads);
            let dkv = &dkvs[t * 2 * sd..(t + 1) * 2 * sd];
            ql.add_into(&mut grads[which[0]], n, h, &dqs[t * ld..(t + 1) * ld], d);
            kl.add_into(&mut grads[which[1]], n, h, &dkv[..sd], d);
            vl.add_into(&mut grads[which[2]], n, h, &dkv[sd..], d);
        }
        pool::give(dqs);
        pool::give(dkvs);
        grads
            .into_iter()
            .zip(&parent_shapes)
            .map(|(g, sh)| Some(Tensor::from_vec(g, sh)))
            .collect()
    };
    let y = Var::from_op(
        "multi_head_attention",
        Tensor::from_vec(y, &[batch, l, e]),
        parents,
        backward,
    );
    (y, p)
}

#[cfg(test)]
mod tests {
    use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
    use nn_tensor::Rng;
    use proptest::prelude::*;

    use super::*;
    use crate::functional::attend;
    use crate::mask::{combined_mask, Mask};

    fn cfg() -> GradCheckConfig {
        GradCheckConfig {
            step: 1e-6,
            tolerance: 1e-6,
        }
    }

    /// A padding mask that leaves at least one key per row.
    fn padding(n: usize, s: usize, rng: &mut Rng) -> Mask {
        let lengths: Vec<usize> = (0..n).map(|_| 1 + rng.below(s)).collect();
        Mask::padding(&lengths, s)
    }

    /// Dropout multipliers 0 or 2 (p = ½), `[N, h, L, S]`.
    fn keep(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
        Tensor::rand_bernoulli(shape, 0.5, rng).mul_scalar(2.0)
    }

    /// Self-attention on a packed `[N, L, 3E]` input: q, k and v are three
    /// column ranges of one var.
    fn packed_self_attention(
        x: &Var<f64>,
        dims: AttnDims,
        mask: Option<&Tensor<f64>>,
        keep: Option<Tensor<f64>>,
    ) -> Var<f64> {
        let e = dims.heads * dims.d;
        let at = |col| Heads {
            var: x,
            layout: HeadLayout::packed(dims.l, 3 * e, col, dims.d),
        };
        let scale = 1.0 / (dims.d as f64).sqrt();
        fused_attention(at(0), at(e), at(2 * e), dims, mask, scale, keep).0
    }

    /// The same with the generic ops: split, permute, `attend`, merge.
    fn composed_self_attention(
        x: &Var<f64>,
        dims: AttnDims,
        mask: Option<&Tensor<f64>>,
        keep: Option<&Tensor<f64>>,
    ) -> Var<f64> {
        let AttnDims {
            batch: n,
            heads: h,
            l,
            d,
            ..
        } = dims;
        let e = h * d;
        let split = |v: &Var<f64>| v.reshape([n, l, h, d]).permute(&[0, 2, 1, 3]);
        let parts = x.split(2, &[e, e, e]);
        let (q, k, v) = (split(&parts[0]), split(&parts[1]), split(&parts[2]));
        let scale = 1.0 / (d as f64).sqrt();
        let y = match keep {
            // `attend` draws its own dropout; apply the fixed one by hand.
            Some(kp) => {
                let (_, p) = attend(&q, &k, &v, mask, scale, None).unwrap();
                p.mul_tensor(kp).matmul(&v)
            }
            None => attend(&q, &k, &v, mask, scale, None).unwrap().0,
        };
        y.permute(&[0, 2, 1, 3]).reshape([n, l, e])
    }

    fn dims_of(n: usize, heads: usize, l: usize, s: usize, d: usize) -> AttnDims {
        AttnDims {
            batch: n,
            heads,
            l,
            s,
            d,
        }
    }

    #[test]
    fn matches_the_composed_ops_with_masks_and_dropout() {
        let mut rng = Rng::seed_from(3);
        let (n, h, l, d) = (3, 2, 5, 4);
        let dims = dims_of(n, h, l, l, d);
        let x = Tensor::<f64>::rand_normal(&[n, l, 3 * h * d], 0.0, 1.0, &mut rng);
        let pad = padding(n, l, &mut rng);
        let mask = combined_mask::<f64>("t", n, l, l, Some(&Mask::causal(l)), Some(&pad)).unwrap();
        let kp = keep(&[n, h, l, l], &mut rng);
        let w = Tensor::<f64>::rand_uniform(&[n, l, h * d], 0.5, 1.5, &mut rng);
        for (m, k) in [
            (None, None),
            (mask.as_ref(), None),
            (mask.as_ref(), Some(&kp)),
        ] {
            let (xa, xb) = (Var::leaf(x.clone()), Var::leaf(x.clone()));
            let a = packed_self_attention(&xa, dims, m, k.cloned());
            let b = composed_self_attention(&xb, dims, m, k);
            let diff = a.value().sub(b.as_tensor()).abs().max_all();
            assert!(diff < 1e-12, "values differ by {diff}");
            let ga = a.backward_with(w.clone());
            let gb = b.backward_with(w.clone());
            let diff = ga
                .get(&xa)
                .unwrap()
                .sub(gb.get(&xb).unwrap())
                .abs()
                .max_all();
            assert!(diff < 1e-12, "gradients differ by {diff}");
        }
    }

    #[test]
    fn no_graph_without_gradients() {
        let dims = dims_of(1, 1, 2, 2, 2);
        let x = Var::constant(Tensor::<f64>::ones(&[1, 2, 6]));
        assert!(!packed_self_attention(&x, dims, None, None).requires_grad());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// One packed var for q, k and v (their gradients add into it),
        /// with a causal + padding mask and fixed dropout.
        #[test]
        fn packed_gradients(n in 1usize..3, h in 1usize..3, l in 1usize..5, d in 1usize..4,
                            masked: bool, dropped: bool, seed: u64) {
            let mut rng = Rng::seed_from(seed);
            let dims = dims_of(n, h, l, l, d);
            let x = Tensor::<f64>::rand_normal(&[n, l, 3 * h * d], 0.0, 1.0, &mut rng);
            let pad = padding(n, l, &mut rng);
            let mask = if masked {
                combined_mask::<f64>("t", n, l, l, Some(&Mask::causal(l)), Some(&pad)).unwrap()
            } else {
                None
            };
            let kp = dropped.then(|| keep(&[n, h, l, l], &mut rng));
            let r = check_gradients(
                |v| packed_self_attention(&v[0], dims, mask.as_ref(), kp.clone()),
                &[x],
                cfg(),
            );
            prop_assert!(r.passed, "{r}");
        }

        /// Separate q `[N, L, E]` and split k, v `[N, h, S, d]` (the KV-cache
        /// layout), key length different from the query length.
        #[test]
        fn split_kv_gradients(n in 1usize..3, h in 1usize..3, l in 1usize..4, s in 1usize..5,
                              d in 1usize..4, seed: u64) {
            let mut rng = Rng::seed_from(seed);
            let dims = dims_of(n, h, l, s, d);
            let inputs = [
                Tensor::<f64>::rand_normal(&[n, l, h * d], 0.0, 1.0, &mut rng),
                Tensor::<f64>::rand_normal(&[n, h, s, d], 0.0, 1.0, &mut rng),
                Tensor::<f64>::rand_normal(&[n, h, s, d], 0.0, 1.0, &mut rng),
            ];
            let pad = padding(n, s, &mut rng);
            let mask = combined_mask::<f64>("t", n, l, s, None, Some(&pad)).unwrap();
            let r = check_gradients(
                |v| {
                    let split = HeadLayout::split(h, s, d);
                    fused_attention(
                        Heads { var: &v[0], layout: HeadLayout::packed(l, h * d, 0, d) },
                        Heads { var: &v[1], layout: split },
                        Heads { var: &v[2], layout: split },
                        dims,
                        mask.as_ref(),
                        0.7,
                        None,
                    )
                    .0
                },
                &inputs,
                cfg(),
            );
            prop_assert!(r.passed, "{r}");
        }
    }
}
