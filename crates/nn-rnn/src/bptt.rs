//! The loops of the fused recurrence over one block of batch rows: the
//! forward pass through all steps, and back-propagation through time.
//!
//! Batch rows never interact inside a recurrence, so a block of rows runs
//! through the whole sequence on its own: with several threads each takes a
//! block and they meet only at the end, instead of synchronising at every
//! step over products too small to split. Every buffer is allocated once per
//! call by the caller; a step allocates nothing. The loops are compiled once
//! per [`SimdLevel`] (through [`simd::dispatch`]), which lets the point-wise
//! gate code run eight (AVX2) or sixteen (AVX-512) f32 lanes wide.

use std::ops::Range;

use nn_tensor::simd::math::{sigmoid, tanh};
use nn_tensor::simd::{self, SimdLevel};
use nn_tensor::{pool, Element};

use crate::packed::PackedMatrix;
use crate::recurrence::CellKind;

/// What every block reads: the sizes and the whole-batch inputs.
pub(crate) struct Shared<'a, T> {
    pub kind: CellKind,
    /// `(seq_len, batch, hidden)`.
    pub dims: (usize, usize, usize),
    /// Valid steps per batch row.
    pub active: &'a [usize],
    /// `h_0`: `[batch, hidden]`.
    pub h0: &'a [T],
    /// The instruction-set level every loop and product runs with.
    pub level: SimdLevel,
}

/// A pass over one block of rows: forward or backward.
pub(crate) trait BlockPass {
    /// What the pass returns.
    type Output;
    /// The level it runs with.
    fn level(&self) -> SimdLevel;
    /// The loop itself. Implementations mark it `#[inline(always)]`: inlined
    /// into the closure [`run_block`] dispatches, it is compiled once per
    /// level (a plain call would run the baseline build only).
    fn run(self) -> Self::Output;
}

/// Runs a block's pass in the build of its level.
pub(crate) fn run_block<P: BlockPass>(pass: P) -> P::Output {
    simd::dispatch(
        pass.level(),
        #[inline(always)]
        || pass.run(),
    )
}

/// The forward pass of one block of rows. Per-step slices hold this block's
/// rows only; `xg` and the cache layout are those of
/// [`recurrence`](mod@crate::recurrence).
pub(crate) struct ForwardBlock<'a, T> {
    pub shared: &'a Shared<'a, T>,
    /// The whole batch's input projections, `[seq_len, batch, G·hidden]`.
    pub xg: &'a [T],
    /// `W_hhᵀ` packed.
    pub wt: &'a PackedMatrix<T>,
    pub b_hh: Option<&'a [T]>,
    pub rows: Range<usize>,
    /// Per step `h_t` of the block, `[rows, hidden]`; left zero at padded steps.
    pub out: Vec<&'a mut [T]>,
    /// LSTM: `c_0` of the block's rows, on return `c_0 ..= c_T`
    /// (`[seq_len + 1, rows, hidden]`); else empty.
    pub cs: Vec<T>,
}

/// What the forward pass of one block keeps for its backward pass. Owned by
/// the block and grown step by step, so no buffer is zeroed in advance; its
/// buffers come from and go back to the thread's [`pool`].
pub(crate) struct BlockCache<T: Element> {
    /// LSTM: `[seq_len + 1, rows, hidden]` cell states; else empty.
    pub cs: Vec<T>,
    /// `[seq_len, rows, G·hidden + hidden]`: activated gates, then tanh(c_t)
    /// (LSTM) or `W_hn h + b_hn` (GRU); padded rows hold zeros.
    pub cache: Vec<T>,
}

impl<T: Element> Drop for BlockCache<T> {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.cs));
        pool::give(std::mem::take(&mut self.cache));
    }
}

/// The backward pass of one block of rows.
pub(crate) struct BackwardBlock<'a, T: Element> {
    pub shared: &'a Shared<'a, T>,
    pub saved: &'a Saved<'a, T>,
    /// `W_hh` packed.
    pub w: &'a PackedMatrix<T>,
    pub rows: Range<usize>,
    /// Index of the block in [`Saved::blocks`].
    pub index: usize,
    /// Per step the gradient of the input projection, `[rows, G·hidden]`.
    pub dxg: Vec<&'a mut [T]>,
    /// GRU only: per step the gradient of `h·W_hhᵀ + b_hh` (r scales its n block).
    pub dah: Vec<&'a mut [T]>,
    /// `[rows, hidden]` outputs: the gradients of `h_0` and (LSTM) `c_0`.
    pub dh0: &'a mut [T],
    pub dc0: &'a mut [T],
}

/// What the forward pass saved, for the backward pass.
pub(crate) struct Saved<'a, T: Element> {
    /// `[seq_len, batch, hidden]` outputs (`h_t` at valid steps).
    pub out: &'a [T],
    /// Per block of rows, in order.
    pub blocks: &'a [BlockCache<T>],
    /// Gradient of the packed output `[seq_len + 1 (+1), batch, hidden]`.
    pub g: &'a [T],
}

/// The forward recurrence of one block.
impl<T: Element> BlockPass for ForwardBlock<'_, T> {
    type Output = BlockCache<T>;

    fn level(&self) -> SimdLevel {
        self.shared.level
    }

    #[inline(always)]
    fn run(self) -> BlockCache<T> {
        let ForwardBlock {
            shared: s,
            xg,
            wt,
            b_hh,
            rows,
            mut out,
            mut cs,
        } = self;
        let (steps, n, h) = s.dims;
        let kind = s.kind;
        let gh = kind.gates() * h;
        let cw = gh + h;
        let nc = rows.len();
        let mut ah = vec![T::zero(); nc * gh];
        let mut cache = pool::take(steps * nc * cw);
        for t in 0..steps {
            // ah = h_{t−1}·W_hhᵀ + b_hh
            match b_hh {
                Some(b) => ah.chunks_exact_mut(gh).for_each(|r| r.copy_from_slice(b)),
                None => ah.fill(T::zero()),
            }
            let (done, todo) = out.split_at_mut(t);
            let hprev: &[T] = match done.last() {
                Some(p) => p,
                None => &s.h0[rows.start * h..rows.end * h],
            };
            wt.mul_acc(s.level, nc, hprev, h, &mut ah, gh);
            let hnext = &mut *todo[0];
            // Grown here, just before being written, while the lines are hot.
            cache.resize((t + 1) * nc * cw, T::zero());
            let cache = &mut cache[t * nc * cw..];
            let (cprev, cnext) = if kind.has_cell() {
                cs.resize((t + 2) * nc * h, T::zero());
                let (lo, hi) = cs.split_at_mut((t + 1) * nc * h);
                (&lo[t * nc * h..], hi)
            } else {
                (&[][..], <&mut [T]>::default())
            };
            for (bi, b) in rows.clone().enumerate() {
                if t >= s.active[b] {
                    continue; // output stays zero; the state is read back at the end
                }
                let x = &xg[(t * n + b) * gh..][..gh];
                let a = &ah[bi * gh..][..gh];
                let cache = &mut cache[bi * cw..][..cw];
                let hp = &hprev[bi * h..][..h];
                let hn = &mut hnext[bi * h..][..h];
                match kind {
                    CellKind::RnnTanh => {
                        for ((o, &xv), &av) in hn.iter_mut().zip(x).zip(a) {
                            *o = tanh(xv + av);
                        }
                    }
                    CellKind::RnnRelu => {
                        for ((o, &xv), &av) in hn.iter_mut().zip(x).zip(a) {
                            *o = (xv + av).max(T::zero());
                        }
                    }
                    CellKind::Lstm => {
                        let cp = &cprev[bi * h..][..h];
                        let cn = &mut cnext[bi * h..][..h];
                        lstm_cell(x, a, cp, cn, cache, hn);
                    }
                    CellKind::Gru => gru_cell(x, a, hp, cache, hn),
                }
            }
        }
        BlockCache { cs, cache }
    }
}

/// One LSTM step of one row: gates i, f, g, o; simple passes over whole
/// slices so each loop vectorises.
#[inline(always)]
fn lstm_cell<T: Element>(x: &[T], a: &[T], cp: &[T], cn: &mut [T], cache: &mut [T], hn: &mut [T]) {
    let h = hn.len();
    let (gates, ctc) = cache.split_at_mut(4 * h);
    for ((g, &xv), &av) in gates.iter_mut().zip(x).zip(a) {
        *g = xv + av;
    }
    let (ifg, o) = gates.split_at_mut(3 * h);
    let (i_f, g) = ifg.split_at_mut(2 * h);
    i_f.iter_mut().for_each(|v| *v = sigmoid(*v));
    o.iter_mut().for_each(|v| *v = sigmoid(*v));
    g.iter_mut().for_each(|v| *v = tanh(*v));
    let (i, f) = i_f.split_at(h);
    for ((((c, &fv), &cv), &iv), &gv) in cn.iter_mut().zip(f).zip(cp).zip(i).zip(&*g) {
        *c = fv * cv + iv * gv;
    }
    for (t, &c) in ctc.iter_mut().zip(cn.iter()) {
        *t = tanh(c);
    }
    for ((hv, &ov), &t) in hn.iter_mut().zip(o.iter()).zip(ctc.iter()) {
        *hv = ov * t;
    }
}

/// The first `K` slices of exactly `h` values of `s`, one per gate. Every
/// slice the cell loops read has length exactly `h`, so the loops have no
/// bounds checks and vectorise.
#[inline(always)]
fn gates<const K: usize, T>(s: &[T], h: usize) -> [&[T]; K] {
    std::array::from_fn(|k| &s[k * h..][..h])
}

/// [`gates`] for writing.
#[inline(always)]
fn gates_mut<const K: usize, T>(s: &mut [T], h: usize) -> [&mut [T]; K] {
    let mut rest = s;
    std::array::from_fn(|_| {
        let (gate, tail) = std::mem::take(&mut rest).split_at_mut(h);
        rest = tail;
        gate
    })
}

/// One GRU step of one row: gates r, z, n; r scales `W_hn h + b_hn`.
#[inline(always)]
fn gru_cell<T: Element>(x: &[T], a: &[T], hp: &[T], cache: &mut [T], hn: &mut [T]) {
    let h = hn.len();
    let [xr, xz, xn] = gates(x, h);
    let [ar, az, an] = gates(a, h);
    let [cr, cz, cn, can] = gates_mut(cache, h);
    let hp = &hp[..h];
    for j in 0..h {
        cr[j] = sigmoid(xr[j] + ar[j]);
        cz[j] = sigmoid(xz[j] + az[j]);
        can[j] = an[j];
        cn[j] = tanh(xn[j] + cr[j] * an[j]);
        hn[j] = (T::one() - cz[j]) * cn[j] + cz[j] * hp[j];
    }
}

/// Back-propagation through time for one block.
impl<T: Element> BlockPass for BackwardBlock<'_, T> {
    type Output = ();

    fn level(&self) -> SimdLevel {
        self.shared.level
    }

    #[inline(always)]
    fn run(self) {
        let BackwardBlock {
            shared: s,
            saved,
            w,
            rows,
            index,
            mut dxg,
            mut dah,
            dh0,
            dc0,
        } = self;
        let (steps, n, h) = s.dims;
        let kind = s.kind;
        let gh = kind.gates() * h;
        let cw = gh + h;
        let nh = n * h;
        let nc = rows.len();
        let (r0, r1) = (rows.start * h, rows.end * h);
        let g = saved.g;
        let BlockCache { cs, cache } = &saved.blocks[index];
        let mut dh = g[steps * nh + r0..steps * nh + r1].to_vec();
        let mut dc = if kind.has_cell() {
            g[(steps + 1) * nh + r0..(steps + 1) * nh + r1].to_vec()
        } else {
            Vec::new()
        };
        let mut dhp = vec![T::zero(); nc * h];
        for t in (0..steps).rev() {
            let base = t * nh;
            let dx_t = &mut *dxg[t];
            for (bi, b) in rows.clone().enumerate() {
                let r = bi * h;
                if t >= s.active[b] {
                    // A padded step copied the state: pass the gradient through.
                    dhp[r..r + h].copy_from_slice(&dh[r..r + h]);
                    continue;
                }
                let dhr = &mut dh[r..r + h];
                for (d, &go) in dhr.iter_mut().zip(&g[base + b * h..][..h]) {
                    *d += go;
                }
                let cache = &cache[(t * nc + bi) * cw..][..cw];
                let dx = &mut dx_t[bi * gh..][..gh];
                let dp = &mut dhp[r..r + h];
                match kind {
                    CellKind::RnnTanh | CellKind::RnnRelu => {
                        let hn = &saved.out[base + b * h..][..h];
                        let relu = kind == CellKind::RnnRelu;
                        for (((d, &dv), &hv), p) in dx.iter_mut().zip(&*dhr).zip(hn).zip(dp) {
                            *d = if relu {
                                if hv > T::zero() {
                                    dv
                                } else {
                                    T::zero()
                                }
                            } else {
                                dv * (T::one() - hv * hv)
                            };
                            *p = T::zero();
                        }
                    }
                    CellKind::Lstm => {
                        let cp = &cs[(t * nc + bi) * h..][..h];
                        let dcr = &mut dc[r..r + h];
                        lstm_cell_backward(cache, cp, dhr, dcr, dx, dp);
                    }
                    CellKind::Gru => {
                        let hp = if t == 0 {
                            &s.h0[b * h..][..h]
                        } else {
                            &saved.out[base - nh + b * h..][..h]
                        };
                        let da = &mut dah[t][bi * gh..][..gh];
                        gru_cell_backward(cache, hp, dhr, dx, da, dp);
                    }
                }
            }
            // dh_{t−1} += dah_t · W_hh
            let da_t: &[T] = if kind == CellKind::Gru {
                &*dah[t]
            } else {
                &*dxg[t]
            };
            w.mul_acc(s.level, nc, da_t, gh, &mut dhp, h);
            std::mem::swap(&mut dh, &mut dhp);
        }
        dh0.copy_from_slice(&dh);
        if kind.has_cell() {
            dc0.copy_from_slice(&dc);
        }
    }
}

/// The LSTM cell's derivative for one row; updates `dc` to `dc_{t−1}`.
#[inline(always)]
fn lstm_cell_backward<T: Element>(
    cache: &[T],
    cp: &[T],
    dh: &[T],
    dc: &mut [T],
    dx: &mut [T],
    dp: &mut [T],
) {
    let h = dh.len();
    let one = T::one();
    let [ci, cf, cg, co, ctc] = gates(cache, h);
    let [di, df, dg, dout] = gates_mut(dx, h);
    let (cp, dh, dp, dc) = (&cp[..h], &dh[..h], &mut dp[..h], &mut dc[..h]);
    for j in 0..h {
        let (i, f, gg, o, tc) = (ci[j], cf[j], cg[j], co[j], ctc[j]);
        let dct = dc[j] + dh[j] * o * (one - tc * tc);
        di[j] = dct * gg * i * (one - i);
        df[j] = dct * cp[j] * f * (one - f);
        dg[j] = dct * i * (one - gg * gg);
        dout[j] = dh[j] * tc * o * (one - o);
        dc[j] = dct * f;
        dp[j] = T::zero();
    }
}

/// The GRU cell's derivative for one row.
#[inline(always)]
fn gru_cell_backward<T: Element>(
    cache: &[T],
    hp: &[T],
    dh: &[T],
    dx: &mut [T],
    da: &mut [T],
    dp: &mut [T],
) {
    let h = dh.len();
    let one = T::one();
    let [cr, cz, cn, can] = gates(cache, h);
    let [dxr, dxz, dxn] = gates_mut(dx, h);
    let [dar, daz, dan] = gates_mut(da, h);
    let (hp, dh, dp) = (&hp[..h], &dh[..h], &mut dp[..h]);
    for j in 0..h {
        let (rg, z, ng, ahn) = (cr[j], cz[j], cn[j], can[j]);
        let dz = dh[j] * (hp[j] - ng) * z * (one - z);
        let dn = dh[j] * (one - z) * (one - ng * ng);
        let dr = dn * ahn * rg * (one - rg);
        dxr[j] = dr;
        dxz[j] = dz;
        dxn[j] = dn;
        dar[j] = dr;
        daz[j] = dz;
        dan[j] = dn * rg;
        dp[j] = dh[j] * z;
    }
}
