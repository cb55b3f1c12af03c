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
//!
//! `W_hh` is packed once per call for the per-step products
//! (`packed` module); all buffers are allocated once per call; with several
//! threads, blocks of batch rows run through the sequence in parallel
//! (`bptt` module).

use std::ops::Range;

use nn_autograd::Var;
use nn_tensor::simd::{self, SimdLevel};
use nn_tensor::{gemm, num_threads, pool, Element, MatRef, Result, Tensor, TensorError};
use rayon::prelude::*;

use crate::bptt::{run_block, BackwardBlock, BlockCache, ForwardBlock, Saved, Shared};
use crate::packed::PackedMatrix;

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
    recurrence_with_input_bias(RecurrenceInputs {
        kind,
        xproj,
        b_ih: None,
        h0,
        c0,
        w_hh,
        b_hh,
        lengths,
    })
}

/// The arguments of [`recurrence`], plus the input bias `b_ih`.
#[derive(Clone, Copy)]
pub(crate) struct RecurrenceInputs<'a, T: Element> {
    pub kind: CellKind,
    pub xproj: &'a Var<T>,
    /// `[G·hidden]` or `None`.
    pub b_ih: Option<&'a Var<T>>,
    pub h0: &'a Var<T>,
    pub c0: Option<&'a Var<T>>,
    pub w_hh: &'a Var<T>,
    pub b_hh: Option<&'a Var<T>>,
    pub lengths: Option<&'a [usize]>,
}

/// [`recurrence`] with the input bias `b_ih` (`[G·hidden]`) added inside the
/// op instead of to `xproj` beforehand: it joins `b_hh` in the per-step
/// product, and its gradient is the same sum as `b_hh`'s, so the layer saves
/// a broadcast add over the whole sequence and its reduction in the backward.
/// Not for the GRU, whose reset gate scales `b_hn` but not `b_in`: there
/// `b_ih` is added to `xproj` first.
pub(crate) fn recurrence_with_input_bias<T: Element>(
    inputs: RecurrenceInputs<'_, T>,
) -> Result<RecurrenceOutput<T>> {
    let RecurrenceInputs {
        kind,
        xproj,
        b_ih,
        h0,
        c0,
        w_hh,
        b_hh,
        lengths,
    } = inputs;
    if let (CellKind::Gru, Some(b)) = (kind, b_ih) {
        let xproj = xproj.try_add(b)?;
        return recurrence_with_input_bias(RecurrenceInputs {
            xproj: &xproj,
            b_ih: None,
            ..inputs
        });
    }
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
    for (b, what) in [(b_hh, "bias_hh"), (b_ih, "bias_ih")] {
        if let Some(b) = b
            && b.shape() != [gh]
        {
            return Err(TensorError::shapes(
                op,
                b.shape(),
                &[gh],
                format!("{what} must be [G·hidden]"),
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

    let blocks = row_blocks(n, steps * n * gh * h);
    // Read once, so the forward and backward passes run the same kernels.
    let level = simd::level();
    let h0v = h0.value().clone();
    // Both biases enter every step the same way: add them once.
    let bias: Option<Vec<T>> = match (b_hh, b_ih) {
        (None, None) => None,
        (Some(b), None) | (None, Some(b)) => Some(b.value().as_slice().to_vec()),
        (Some(a), Some(b)) => Some(
            a.value()
                .as_slice()
                .iter()
                .zip(b.value().as_slice())
                .map(|(&x, &y)| x + y)
                .collect(),
        ),
    };
    let fwd = forward(
        kind,
        xproj.value().as_slice(),
        h0v.as_slice(),
        c0.map(|c| c.as_tensor().as_slice()),
        w_hh.value().as_slice(),
        bias.as_deref(),
        &active,
        (steps, n, h),
        &blocks,
        level,
    );
    let rows = steps + 1 + usize::from(kind.has_cell());
    let packed = Tensor::from_vec(fwd.packed, &[rows, n, h]);

    let mut parents = vec![xproj.clone(), h0.clone()];
    if let Some(c) = c0 {
        parents.push(c.clone());
    }
    parents.push(w_hh.clone());
    parents.extend(b_hh.cloned());
    parents.extend(b_ih.cloned());
    let all = if Var::records(&parents.iter().collect::<Vec<_>>()) {
        let w = w_hh.value().clone();
        let biases = usize::from(b_hh.is_some()) + usize::from(b_ih.is_some());
        let has_c = c0.is_some();
        let (caches, out) = (fwd.blocks, packed.clone());
        Var::from_op(op, packed, parents, move |g| {
            let saved = Saved {
                out: &out.as_slice()[..steps * n * h],
                blocks: &caches,
                g: g.as_slice(),
            };
            let shared = Shared {
                kind,
                dims: (steps, n, h),
                active: &active,
                h0: h0v.as_slice(),
                level,
            };
            let b = backward(&shared, &saved, w.as_slice(), &blocks);
            let mut grads = vec![
                Some(Tensor::from_vec(b.dxg, &[steps, n, gh])),
                Some(Tensor::from_vec(b.dh0, &[n, h])),
            ];
            if has_c {
                grads.push(Some(Tensor::from_vec(b.dc0, &[n, h])));
            }
            grads.push(Some(Tensor::from_vec(b.dw, &[gh, h])));
            if biases > 0 {
                let db = Tensor::from_vec(b.db, &[gh]);
                grads.extend(std::iter::repeat_n(Some(db), biases));
            }
            grads
        })
    } else {
        Var::constant(packed)
    };
    let output = all.narrow(0, 0, steps);
    let h_n = all.narrow(0, steps, 1).reshape([n, h]);
    let c_n = kind
        .has_cell()
        .then(|| all.narrow(0, steps + 1, 1).reshape([n, h]));
    Ok(RecurrenceOutput { output, h_n, c_n })
}

/// Below this many multiply-adds in the per-step products of a whole
/// sequence, the batch is not split over threads.
const SPLIT_MADDS: usize = 1 << 22;

/// Fewest batch rows per thread: the AVX-512 kernel works on 8 rows at once.
const MIN_ROWS_PER_BLOCK: usize = 8;

/// The batch rows' split into blocks that run on separate threads: one block
/// with one thread or little work.
fn row_blocks(n: usize, madds: usize) -> Vec<Range<usize>> {
    let threads = num_threads();
    let parts = if threads > 1 && madds >= SPLIT_MADDS {
        threads.min(n / MIN_ROWS_PER_BLOCK).max(1)
    } else {
        1
    };
    (0..parts)
        .map(|p| p * n / parts..(p + 1) * n / parts)
        .collect()
}

/// Splits a `[steps, batch, width]` buffer into, per block of rows, the
/// per-step slices of that block's rows.
fn split_rows<'a, T>(
    buf: &'a mut [T],
    batch: usize,
    width: usize,
    blocks: &[Range<usize>],
) -> Vec<Vec<&'a mut [T]>> {
    let mut per_block: Vec<Vec<&'a mut [T]>> = blocks.iter().map(|_| Vec::new()).collect();
    if batch * width == 0 {
        return per_block;
    }
    for step in buf.chunks_exact_mut(batch * width) {
        let mut rest = step;
        for (slices, rows) in per_block.iter_mut().zip(blocks) {
            let (mine, tail) = rest.split_at_mut(rows.len() * width);
            slices.push(mine);
            rest = tail;
        }
    }
    per_block
}

/// Runs `f` on every block: in parallel when there are several.
fn run_blocks<B: Send, R: Send>(blocks: Vec<B>, f: impl Fn(B) -> R + Sync + Send) -> Vec<R> {
    if blocks.len() == 1 {
        blocks.into_iter().map(f).collect()
    } else {
        blocks.into_par_iter().map(f).collect()
    }
}

/// Everything the forward pass keeps for the backward pass.
struct Forward<T: Element> {
    /// Outputs `[T, N, H]` (zero at padded steps), then `h_n` and (LSTM) `c_n`.
    packed: Vec<T>,
    /// Per block of rows: cell states and gates.
    blocks: Vec<BlockCache<T>>,
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
    blocks: &[Range<usize>],
    level: SimdLevel,
) -> Forward<T> {
    let gh = kind.gates() * h;
    let nh = n * h;
    let wt = PackedMatrix::transposed(w, gh, h);
    let mut packed = Vec::with_capacity((steps + 2) * nh);
    packed.resize(steps * nh, T::zero());
    let shared = Shared {
        kind,
        dims: (steps, n, h),
        active,
        h0,
        level,
    };
    let work: Vec<ForwardBlock<'_, T>> = split_rows(&mut packed, n, h, blocks)
        .into_iter()
        .zip(blocks)
        .map(|(out, rows)| {
            let mut cs = Vec::new();
            if let Some(c) = c0 {
                cs = pool::take((steps + 1) * rows.len() * h);
                cs.extend_from_slice(&c[rows.start * h..rows.end * h]);
            }
            ForwardBlock {
                shared: &shared,
                xg,
                wt: &wt,
                b_hh,
                rows: rows.clone(),
                out,
                cs,
            }
        })
        .collect();
    let caches = run_blocks(work, run_block);
    // h_n and c_n: each row's state after its last valid step.
    for (b, &len) in active.iter().enumerate() {
        packed.extend_from_within((len - 1) * nh + b * h..(len - 1) * nh + (b + 1) * h);
    }
    if kind.has_cell() {
        for (rows, bc) in blocks.iter().zip(&caches) {
            for (bi, b) in rows.clone().enumerate() {
                packed.extend_from_slice(&bc.cs[(active[b] * rows.len() + bi) * h..][..h]);
            }
        }
    }
    Forward {
        packed,
        blocks: caches,
    }
}

struct Backward<T> {
    dxg: Vec<T>,
    dh0: Vec<T>,
    dc0: Vec<T>,
    dw: Vec<T>,
    db: Vec<T>,
}

fn backward<T: Element>(
    s: &Shared<'_, T>,
    saved: &Saved<'_, T>,
    w: &[T],
    blocks: &[Range<usize>],
) -> Backward<T> {
    let (steps, n, h) = s.dims;
    let kind = s.kind;
    let gh = kind.gates() * h;
    let nh = n * h;
    let wp = PackedMatrix::row_major(w, gh, h);
    let mut dxg = vec![T::zero(); steps * n * gh];
    // Gradient of the hidden-side pre-activation h·W_hhᵀ + b_hh: equal to
    // dxg except in the GRU's n block, where r scales it.
    let mut dah = if kind == CellKind::Gru {
        pool::zeroed(steps * n * gh)
    } else {
        Vec::new()
    };
    let mut dh0 = vec![T::zero(); nh];
    let mut dc0 = if kind.has_cell() {
        vec![T::zero(); nh]
    } else {
        Vec::new()
    };
    {
        let mut dahs = split_rows(&mut dah, n, gh, blocks).into_iter();
        let mut dh0s = split_rows(&mut dh0, n, h, blocks).into_iter();
        let mut dc0s = split_rows(&mut dc0, n, h, blocks).into_iter();
        let work: Vec<BackwardBlock<'_, T>> = split_rows(&mut dxg, n, gh, blocks)
            .into_iter()
            .zip(blocks)
            .enumerate()
            .map(|(index, (dxg, rows))| BackwardBlock {
                shared: s,
                saved,
                w: &wp,
                rows: rows.clone(),
                index,
                dxg,
                dah: dahs.next().unwrap_or_default(),
                dh0: dh0s.next().and_then(|mut v| v.pop()).unwrap_or_default(),
                dc0: dc0s.next().and_then(|mut v| v.pop()).unwrap_or_default(),
            })
            .collect();
        run_blocks(work, run_block);
    }
    let da = if kind == CellKind::Gru { &dah } else { &dxg };
    // dW_hh = Σ_t dah_tᵀ · h_{t−1}, with h_{t−1} = h_0 then the outputs (a
    // padded step's dah is zero, so its zero output does not matter).
    let mut dw = vec![T::zero(); gh * h];
    gemm(
        gh,
        h,
        n,
        MatRef::transposed(&da[..n * gh], gh),
        MatRef::row_major(s.h0, h),
        &mut dw,
        false,
    );
    gemm(
        gh,
        h,
        (steps - 1) * n,
        MatRef::transposed(&da[n * gh..], gh),
        MatRef::row_major(&saved.out[..(steps - 1) * nh], h),
        &mut dw,
        true,
    );
    let mut db = vec![T::zero(); gh];
    for row in da.chunks_exact(gh) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    pool::give(dah);
    Backward {
        dxg,
        dh0,
        dc0,
        dw,
        db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Rng;

    /// Runs forward and backward of one kind with the batch cut into `blocks`.
    fn run(kind: CellKind, blocks: &[Range<usize>], level: SimdLevel) -> (Vec<f32>, Vec<Vec<f32>>) {
        let (steps, n, h) = (5, 19, 6);
        let gh = kind.gates() * h;
        let mut rng = Rng::seed_from(3);
        let mut rand =
            |len: usize| Tensor::<f32>::rand_uniform(&[len], -1.0, 1.0, &mut rng).into_vec();
        let (xg, h0, c0, w, b) = (
            rand(steps * n * gh),
            rand(n * h),
            rand(n * h),
            rand(gh * h),
            rand(gh),
        );
        let active: Vec<usize> = (0..n).map(|b| 1 + (b * 7) % steps).collect();
        let c0 = kind.has_cell().then_some(&c0[..]);
        let fwd = forward(
            kind,
            &xg,
            &h0,
            c0,
            &w,
            Some(&b),
            &active,
            (steps, n, h),
            blocks,
            level,
        );
        let rows = steps + 1 + usize::from(kind.has_cell());
        let g = rand(rows * n * h);
        let saved = Saved {
            out: &fwd.packed[..steps * n * h],
            blocks: &fwd.blocks,
            g: &g,
        };
        let shared = Shared {
            kind,
            dims: (steps, n, h),
            active: &active,
            h0: &h0,
            level,
        };
        let b = backward(&shared, &saved, &w, blocks);
        (fwd.packed, vec![b.dxg, b.dh0, b.dc0, b.dw, b.db])
    }

    #[test]
    fn blocks_of_rows_give_the_same_bits_as_one_block() {
        for kind in [
            CellKind::RnnTanh,
            CellKind::RnnRelu,
            CellKind::Lstm,
            CellKind::Gru,
        ] {
            for level in simd::available_levels() {
                let one = run(kind, std::slice::from_ref(&(0..19)), level);
                let three = run(kind, &[0..8, 8..11, 11..19], level);
                assert_eq!(one, three, "{kind:?} at {level}");
            }
        }
    }

    #[test]
    fn every_level_agrees_with_the_portable_loops() {
        for kind in [
            CellKind::RnnTanh,
            CellKind::RnnRelu,
            CellKind::Lstm,
            CellKind::Gru,
        ] {
            let blocks = [0..8, 8..19];
            let (out0, grads0) = run(kind, &blocks, SimdLevel::Portable);
            for level in simd::available_levels() {
                let (out, grads) = run(kind, &blocks, level);
                let pairs = out.iter().zip(&out0).chain(
                    grads
                        .iter()
                        .zip(&grads0)
                        .flat_map(|(g, g0)| g.iter().zip(g0)),
                );
                for (a, b) in pairs {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{kind:?} at {level}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
