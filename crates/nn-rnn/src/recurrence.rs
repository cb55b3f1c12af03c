//! The fused recurrence: a whole sequence of cell steps as one graph op.
//!
//! Unrolling a cell into ~15 small graph ops per time step makes the
//! overhead per op, not the arithmetic, decide the speed. Here the input
//! projection `x·W_ihᵀ + b_ih` for all steps is computed beforehand by the
//! caller (one GEMM), and this op runs the recurrence itself: per step one
//! GEMM `h·W_hhᵀ` plus a hand-written point-wise kernel. Its backward is
//! back-propagation through time written out by hand: per step the
//! point-wise derivative and one GEMM for `dh_{t−1}`, and at the end a
//! single GEMM for `dW_hh` over all steps.

use nn_autograd::Var;
use nn_tensor::{gemm, sigmoid_scalar, Element, MatRef, Result, Tensor, TensorError};

/// `e^x` to about 2 ulp in f32 with a branch-free polynomial (libm's `expf`
/// is a call per element and dominated the LSTM step); f64 keeps the exact
/// library function, so gradient checks and f64 parity are unaffected.
#[inline(always)]
fn exp_fast<T: Element>(x: T) -> T {
    if std::mem::size_of::<T>() == 4 {
        T::of(exp_f32(x.to_f32().unwrap_or(0.0)) as f64)
    } else {
        x.exp()
    }
}

/// Branch-free, call-free and integer-cast-free, so loops over it vectorise.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    // Round to nearest by the 1.5·2²³ trick: the integer n then sits in the
    // low mantissa bits of `shifted`, read without a float→int conversion.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let r2 = r * r;
    // e^r on |r| ≤ ln2/2, Taylor to degree 7 (error < 2e-8), evaluated in
    // two halves to shorten the dependency chain.
    let lo = 1.0 + r + r2 * (0.5 + r * (1.0 / 6.0));
    let hi = 1.0 / 24.0 + r * (1.0 / 120.0) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0));
    let p = lo + r2 * r2 * hi;
    let k = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    p * f32::from_bits(k.wrapping_add(127) << 23)
}

#[inline(always)]
fn sigmoid<T: Element>(x: T) -> T {
    if std::mem::size_of::<T>() == 4 {
        T::one() / (T::one() + exp_fast(-x))
    } else {
        sigmoid_scalar(x)
    }
}

#[inline(always)]
fn tanh<T: Element>(x: T) -> T {
    if std::mem::size_of::<T>() == 4 {
        let two = T::one() + T::one();
        two * sigmoid(two * x) - T::one()
    } else {
        x.tanh()
    }
}

/// The recurrence a layer runs (PyTorch's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Elman RNN with `tanh`: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    RnnTanh,
    /// Elman RNN with `relu`.
    RnnRelu,
    /// LSTM, gate order i, f, g, o.
    Lstm,
    /// GRU, gate order r, z, n; r multiplies `W_hn h + b_hn`.
    Gru,
}

impl CellKind {
    /// How many gate blocks of `hidden_size` rows the weights stack (G).
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// True for the LSTM, which carries a cell state besides `h`.
    pub fn has_cell(self) -> bool {
        self == CellKind::Lstm
    }

    fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

/// What [`recurrence`] returns.
#[derive(Clone, Debug)]
pub struct RecurrenceOutput<T: Element> {
    /// `h_t` for every step: `[seq_len, batch, hidden]`; zero at padded steps.
    pub output: Var<T>,
    /// The last hidden state of every sequence: `[batch, hidden]`.
    pub h_n: Var<T>,
    /// The last cell state (LSTM only): `[batch, hidden]`.
    pub c_n: Option<Var<T>>,
}

/// Runs one direction of one layer over a whole sequence.
///
/// * `xproj`: `[seq_len, batch, G·hidden]`, the input projection `x·W_ihᵀ + b_ih`;
/// * `h0`, `c0` (LSTM only): `[batch, hidden]`;
/// * `w_hh`: `[G·hidden, hidden]`; `b_hh`: `[G·hidden]` or `None` (bias = false);
/// * `lengths`: per batch element the number of valid steps (each in
///   `1..=seq_len`). Steps past a sequence's length leave its state unchanged
///   and output zeros, so padding never changes that sequence's results.
pub fn recurrence<T: Element>(
    kind: CellKind,
    xproj: &Var<T>,
    h0: &Var<T>,
    c0: Option<&Var<T>>,
    w_hh: &Var<T>,
    b_hh: Option<&Var<T>>,
    lengths: Option<&[usize]>,
) -> Result<RecurrenceOutput<T>> {
    let op = kind.name();
    let g_count = kind.gates();
    let &[steps, n, gh] = xproj.shape() else {
        return Err(TensorError::invalid(
            op,
            format!(
                "the input projection must be [seq_len, batch, {g_count}·hidden], got {:?}",
                xproj.shape()
            ),
        ));
    };
    let h = gh / g_count;
    if steps == 0 || gh % g_count != 0 {
        return Err(TensorError::invalid(
            op,
            format!("bad input projection shape {:?}", xproj.shape()),
        ));
    }
    if w_hh.shape() != [gh, h] {
        return Err(TensorError::shapes(
            op,
            w_hh.shape(),
            &[gh, h],
            "weight_hh must be [G·hidden, hidden]",
        ));
    }
    if h0.shape() != [n, h] {
        return Err(TensorError::shapes(
            op,
            h0.shape(),
            &[n, h],
            "the initial hidden state must be [batch, hidden]",
        ));
    }
    if let Some(b) = b_hh {
        if b.shape() != [gh] {
            return Err(TensorError::shapes(
                op,
                b.shape(),
                &[gh],
                "bias_hh must be [G·hidden]",
            ));
        }
    }
    match (kind.has_cell(), c0) {
        (true, None) => {
            return Err(TensorError::invalid(
                op,
                "the LSTM needs an initial cell state",
            ))
        }
        (true, Some(c)) if c.shape() != [n, h] => {
            return Err(TensorError::shapes(
                op,
                c.shape(),
                &[n, h],
                "the initial cell state must be [batch, hidden]",
            ))
        }
        (false, Some(_)) => {
            return Err(TensorError::invalid(op, "only the LSTM takes a cell state"))
        }
        _ => {}
    }
    let active: Vec<usize> = match lengths {
        None => vec![steps; n],
        Some(l) => {
            if l.len() != n || l.iter().any(|&v| v == 0 || v > steps) {
                return Err(TensorError::invalid(
                    op,
                    format!("lengths {l:?} must hold {n} values in 1..={steps}"),
                ));
            }
            l.to_vec()
        }
    };

    let fwd = forward(
        kind,
        xproj.value().as_slice(),
        h0.value().as_slice(),
        c0.map(|c| c.value().as_slice()),
        w_hh.value().as_slice(),
        b_hh.map(|b| b.value().as_slice()),
        &active,
        (steps, n, h),
    );
    let rows = steps + 1 + usize::from(kind.has_cell());
    let mut packed = fwd.out.clone();
    packed.extend_from_slice(&fwd.hs[steps * n * h..]);
    if kind.has_cell() {
        packed.extend_from_slice(&fwd.cs[steps * n * h..]);
    }
    let packed = Tensor::from_vec(packed, &[rows, n, h]);

    let mut parents = vec![xproj.clone(), h0.clone()];
    if let Some(c) = c0 {
        parents.push(c.clone());
    }
    parents.push(w_hh.clone());
    if let Some(b) = b_hh {
        parents.push(b.clone());
    }
    let all = if Var::records(&parents.iter().collect::<Vec<_>>()) {
        let w = w_hh.value().clone();
        let has_b = b_hh.is_some();
        let has_c = c0.is_some();
        Var::from_op(op, packed, parents, move |g| {
            let b = backward(
                kind,
                &fwd,
                w.as_slice(),
                g.as_slice(),
                &active,
                (steps, n, h),
            );
            let mut grads = vec![
                Some(Tensor::from_vec(b.dxg, &[steps, n, gh])),
                Some(Tensor::from_vec(b.dh0, &[n, h])),
            ];
            if has_c {
                grads.push(Some(Tensor::from_vec(b.dc0, &[n, h])));
            }
            grads.push(Some(Tensor::from_vec(b.dw, &[gh, h])));
            if has_b {
                grads.push(Some(Tensor::from_vec(b.db, &[gh])));
            }
            grads
        })
    } else {
        Var::constant(packed)
    };
    let output = all.narrow(0, 0, steps);
    let h_n = all.narrow(0, steps, 1).reshape(&[n, h]);
    let c_n = kind
        .has_cell()
        .then(|| all.narrow(0, steps + 1, 1).reshape(&[n, h]));
    Ok(RecurrenceOutput { output, h_n, c_n })
}

/// Everything the forward pass keeps for the backward pass.
struct Forward<T> {
    /// Hidden states `h_0 .. h_T`: `[T+1, N, H]` (carried through padding).
    hs: Vec<T>,
    /// Cell states `c_0 .. c_T` (LSTM), else empty.
    cs: Vec<T>,
    /// Outputs `[T, N, H]`, zero at padded steps.
    out: Vec<T>,
    /// Per step and row: activated gates (G·H values) then one extra H block
    /// (LSTM: tanh(c_t); GRU: W_hn h + b_hn; RNN: unused).
    cache: Vec<T>,
}

#[allow(clippy::too_many_arguments)]
fn forward<T: Element>(
    kind: CellKind,
    xg: &[T],
    h0: &[T],
    c0: Option<&[T]>,
    w: &[T],
    b_hh: Option<&[T]>,
    active: &[usize],
    (steps, n, h): (usize, usize, usize),
) -> Forward<T> {
    let gh = kind.gates() * h;
    let cw = gh + h;
    let mut hs = Vec::with_capacity((steps + 1) * n * h);
    hs.extend_from_slice(h0);
    let mut cs = Vec::new();
    if let Some(c) = c0 {
        cs.reserve((steps + 1) * n * h);
        cs.extend_from_slice(c);
    }
    let mut out = vec![T::zero(); steps * n * h];
    let mut cache = vec![T::zero(); steps * n * cw];
    let mut ah = vec![T::zero(); n * gh];
    for t in 0..steps {
        let base = t * n * h;
        // ah = h_{t−1}·W_hhᵀ + b_hh
        match b_hh {
            Some(b) => ah.chunks_mut(gh).for_each(|r| r.copy_from_slice(b)),
            None => ah.fill(T::zero()),
        }
        gemm(
            n,
            gh,
            h,
            MatRef::row_major(&hs[base..base + n * h], h),
            MatRef::transposed(w, h),
            &mut ah,
            true,
        );
        hs.extend_from_within(base..base + n * h);
        if kind.has_cell() {
            cs.extend_from_within(base..base + n * h);
        }
        for (b, &len) in active.iter().enumerate() {
            if t >= len {
                continue; // state already carried, output stays zero
            }
            let r = b * h;
            let x = &xg[(t * n + b) * gh..][..gh];
            let a = &ah[b * gh..][..gh];
            let cache = &mut cache[(t * n + b) * cw..][..cw];
            let hn = &mut hs[base + n * h + r..][..h];
            match kind {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    for j in 0..h {
                        let s = x[j] + a[j];
                        hn[j] = if kind == CellKind::RnnTanh {
                            tanh(s)
                        } else {
                            s.max(T::zero())
                        };
                    }
                }
                CellKind::Lstm => {
                    let (cp, cn) = cs[base..].split_at_mut(n * h);
                    let (cp, cn) = (&cp[r..r + h], &mut cn[r..r + h]);
                    // Simple passes over whole slices, so each loop vectorises.
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
                    for j in 0..h {
                        cn[j] = f[j] * cp[j] + i[j] * g[j];
                    }
                    for (t, &c) in ctc.iter_mut().zip(cn.iter()) {
                        *t = tanh(c);
                    }
                    for ((hv, &ov), &t) in hn.iter_mut().zip(o.iter()).zip(ctc.iter()) {
                        *hv = ov * t;
                    }
                }
                CellKind::Gru => {
                    for j in 0..h {
                        let rg = sigmoid(x[j] + a[j]);
                        let z = sigmoid(x[h + j] + a[h + j]);
                        let ahn = a[2 * h + j];
                        let ng = tanh(x[2 * h + j] + rg * ahn);
                        let hp = hn[j]; // still h_{t−1}: copied above
                        hn[j] = (T::one() - z) * ng + z * hp;
                        cache[j] = rg;
                        cache[h + j] = z;
                        cache[2 * h + j] = ng;
                        cache[3 * h + j] = ahn;
                    }
                }
            }
            out[base + r..base + r + h].copy_from_slice(&hs[base + n * h + r..][..h]);
        }
    }
    Forward { hs, cs, out, cache }
}

struct Backward<T> {
    dxg: Vec<T>,
    dh0: Vec<T>,
    dc0: Vec<T>,
    dw: Vec<T>,
    db: Vec<T>,
}

fn backward<T: Element>(
    kind: CellKind,
    fwd: &Forward<T>,
    w: &[T],
    g: &[T],
    active: &[usize],
    (steps, n, h): (usize, usize, usize),
) -> Backward<T> {
    let gh = kind.gates() * h;
    let cw = gh + h;
    let nh = n * h;
    let mut dxg = vec![T::zero(); steps * n * gh];
    // Gradient of the hidden-side pre-activation h·W_hhᵀ + b_hh; equal to dxg
    // except in the GRU's n block, where r scales it.
    let mut dah = vec![T::zero(); steps * n * gh];
    let mut dh = g[steps * nh..(steps + 1) * nh].to_vec();
    let mut dc = if kind.has_cell() {
        g[(steps + 1) * nh..(steps + 2) * nh].to_vec()
    } else {
        Vec::new()
    };
    let mut dhp = vec![T::zero(); nh];
    for t in (0..steps).rev() {
        let base = t * nh;
        for (b, &len) in active.iter().enumerate() {
            let r = b * h;
            if t >= len {
                // A padded step copied the state: pass the gradient through.
                dhp[r..r + h].copy_from_slice(&dh[r..r + h]);
                continue;
            }
            let dhr = &mut dh[r..r + h];
            for (d, &go) in dhr.iter_mut().zip(&g[base + r..base + r + h]) {
                *d += go;
            }
            let cache = &fwd.cache[(t * n + b) * cw..][..cw];
            let dx = &mut dxg[(t * n + b) * gh..][..gh];
            let da = &mut dah[(t * n + b) * gh..][..gh];
            let dp = &mut dhp[r..r + h];
            match kind {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    let hn = &fwd.hs[base + nh + r..][..h];
                    for j in 0..h {
                        let d = if kind == CellKind::RnnTanh {
                            dhr[j] * (T::one() - hn[j] * hn[j])
                        } else if hn[j] > T::zero() {
                            dhr[j]
                        } else {
                            T::zero()
                        };
                        dx[j] = d;
                        da[j] = d;
                        dp[j] = T::zero();
                    }
                }
                CellKind::Lstm => {
                    let cp = &fwd.cs[base + r..][..h];
                    let dcr = &mut dc[r..r + h];
                    let one = T::one();
                    for j in 0..h {
                        let (i, f, gg, o, tc) = (
                            cache[j],
                            cache[h + j],
                            cache[2 * h + j],
                            cache[3 * h + j],
                            cache[4 * h + j],
                        );
                        let dct = dcr[j] + dhr[j] * o * (one - tc * tc);
                        let di = dct * gg * i * (one - i);
                        let df = dct * cp[j] * f * (one - f);
                        let dg = dct * i * (one - gg * gg);
                        let dout = dhr[j] * tc * o * (one - o);
                        for (k, v) in [di, df, dg, dout].into_iter().enumerate() {
                            dx[k * h + j] = v;
                            da[k * h + j] = v;
                        }
                        dcr[j] = dct * f;
                        dp[j] = T::zero();
                    }
                }
                CellKind::Gru => {
                    let hp = &fwd.hs[base + r..][..h];
                    let one = T::one();
                    for j in 0..h {
                        let (rg, z, ng, ahn) =
                            (cache[j], cache[h + j], cache[2 * h + j], cache[3 * h + j]);
                        let dz = dhr[j] * (hp[j] - ng) * z * (one - z);
                        let dn = dhr[j] * (one - z) * (one - ng * ng);
                        let dr = dn * ahn * rg * (one - rg);
                        dx[j] = dr;
                        dx[h + j] = dz;
                        dx[2 * h + j] = dn;
                        da[j] = dr;
                        da[h + j] = dz;
                        da[2 * h + j] = dn * rg;
                        dp[j] = dhr[j] * z;
                    }
                }
            }
        }
        // dh_{t−1} += dah_t · W_hh
        gemm(
            n,
            h,
            gh,
            MatRef::row_major(&dah[t * n * gh..(t + 1) * n * gh], gh),
            MatRef::row_major(w, h),
            &mut dhp,
            true,
        );
        std::mem::swap(&mut dh, &mut dhp);
    }
    // dW_hh = Σ_t dah_tᵀ · h_{t−1}: one GEMM over all steps.
    let mut dw = vec![T::zero(); gh * h];
    gemm(
        gh,
        h,
        steps * n,
        MatRef::transposed(&dah, gh),
        MatRef::row_major(&fwd.hs[..steps * nh], h),
        &mut dw,
        false,
    );
    let mut db = vec![T::zero(); gh];
    for row in dah.chunks(gh) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    Backward {
        dxg,
        dh0: dh,
        dc0: dc,
        dw,
        db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_f32_exp_sigmoid_and_tanh_are_accurate() {
        let mut worst: f64 = 0.0;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.004; // −80 .. 80
            let got = exp_f32(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max((got - want).abs() / want);
            let s = sigmoid(x) as f64;
            assert!(
                (s - 1.0 / (1.0 + (-(x as f64)).exp())).abs() < 3e-7,
                "sigmoid({x})"
            );
            assert!(
                (tanh(x) as f64 - (x as f64).tanh()).abs() < 5e-7,
                "tanh({x})"
            );
        }
        assert!(worst < 5e-7, "exp relative error {worst:e}");
        let tiny = sigmoid(-200.0f32);
        assert!(
            tiny.is_finite() && (0.0..1e-37).contains(&tiny),
            "sigmoid(-200) = {tiny}"
        );
        assert!(sigmoid(200.0f32) == 1.0 && tanh(-50.0f32) == -1.0);
    }
}
