//! Tensor ops against naive reference implementations written index by
//! index, over random shapes and values.

use nn_tensor::{broadcast_shapes, Tensor};
use proptest::prelude::*;

const CASES: u32 = 48;
const POOL: usize = 256;

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// The element of `t` that position `out_idx` of a broadcast result reads.
fn broadcast_read(t: &Tensor<f64>, out_idx: &[usize]) -> f64 {
    let pad = out_idx.len() - t.ndim();
    let idx: Vec<usize> = t
        .shape()
        .iter()
        .enumerate()
        .map(|(d, &n)| if n == 1 { 0 } else { out_idx[pad + d] })
        .collect();
    t.as_slice()[ravel(&idx, t.shape())]
}

fn tensor(shape: &[usize], pool: &[f64]) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    Tensor::from_vec(pool[..n].to_vec(), shape)
}

fn pool() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-3.0f64..3.0, POOL)
}

fn shape(min_rank: usize, max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, min_rank..=max_rank)
}

/// Two shapes broadcasting to a common one: from a random output shape,
/// each operand drops some leading dims and sets others to 1.
fn broadcast_pair(max_rank: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        shape(0, max_rank, 3),
        prop::collection::vec(any::<bool>(), max_rank),
        prop::collection::vec(any::<bool>(), max_rank),
        0..=max_rank,
        0..=max_rank,
    )
        .prop_map(|(out, ka, kb, da, db)| {
            let derive = |keep: &[bool], drop: usize| -> Vec<usize> {
                let drop = drop.min(out.len());
                (drop..out.len())
                    .map(|i| if keep[i] { out[i] } else { 1 })
                    .collect()
            };
            (derive(&ka, da), derive(&kb, db))
        })
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())))
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| x * y)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn broadcast_binary_ops_match_naive((sa, sb) in broadcast_pair(4), pa in pool(), pb in pool()) {
        let (a, b) = (tensor(&sa, &pa), tensor(&sb, &pb));
        let out = broadcast_shapes("test", &sa, &sb).unwrap();
        let n: usize = out.iter().product();
        type Case = (Tensor<f64>, fn(f64, f64) -> f64);
        let cases: [Case; 5] = [
            (a.add(&b), |x, y| x + y),
            (a.sub(&b), |x, y| x - y),
            (a.mul(&b), |x, y| x * y),
            (a.div(&b), |x, y| x / y),
            (a.maximum(&b), f64::max),
        ];
        for (got, f) in cases {
            prop_assert_eq!(got.shape(), out.as_slice());
            for flat in 0..n {
                let idx = unravel(flat, &out);
                let want = f(broadcast_read(&a, &idx), broadcast_read(&b, &idx));
                let g = got.as_slice()[flat];
                prop_assert!(g == want || (g.is_nan() && want.is_nan()), "at {:?}: {} vs {}", idx, g, want);
            }
        }
        // broadcast_to agrees with reading through the broadcast.
        let ab = a.broadcast_to(&out);
        for flat in 0..n {
            prop_assert_eq!(ab.as_slice()[flat], broadcast_read(&a, &unravel(flat, &out)));
        }
    }

    #[test]
    fn sum_to_shape_is_the_adjoint_of_broadcast_to((sa, sb) in broadcast_pair(4), pa in pool(), pb in pool()) {
        let out = broadcast_shapes("test", &sa, &sb).unwrap();
        let a = tensor(&sa, &pa);
        let y = tensor(&out, &pb);
        let lhs = dot(&a.broadcast_to(&out), &y);
        let rhs = dot(&a, &y.sum_to_shape(&sa));
        prop_assert!((lhs - rhs).abs() <= 1e-9 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
    }

    #[test]
    fn reductions_match_naive(
        s in shape(1, 4, 3),
        pick in prop::collection::vec(any::<bool>(), 4),
        keepdim in any::<bool>(),
        p in pool(),
    ) {
        let x = tensor(&s, &p);
        let dims: Vec<usize> = (0..s.len()).filter(|&d| pick[d]).collect();
        let kept: Vec<usize> = s.iter().enumerate().map(|(d, &n)| if dims.contains(&d) { 1 } else { n }).collect();
        let m: usize = kept.iter().product();
        let mut sum = vec![0.0; m];
        let mut max = vec![f64::NEG_INFINITY; m];
        for flat in 0..x.numel() {
            let mut idx = unravel(flat, &s);
            for &d in &dims {
                idx[d] = 0;
            }
            let o = ravel(&idx, &kept);
            sum[o] += x.as_slice()[flat];
            max[o] = max[o].max(x.as_slice()[flat]);
        }
        let count = (x.numel() / m) as f64;
        let mean: Vec<f64> = sum.iter().map(|v| v / count).collect();
        let want_shape: Vec<usize> = if keepdim {
            kept.clone()
        } else {
            s.iter().enumerate().filter(|(d, _)| !dims.contains(d)).map(|(_, &n)| n).collect()
        };
        let got = x.sum_dims(&dims, keepdim);
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        prop_assert!(close(got.as_slice(), &sum, 1e-12), "sum {:?} vs {:?}", got, sum);
        prop_assert!(close(x.mean_dims(&dims, keepdim).as_slice(), &mean, 1e-12));
        prop_assert_eq!(x.max_dims(&dims, keepdim).to_vec(), max.clone());
        // Variance and logsumexp from their definitions.
        let mut sq = vec![0.0; m];
        let mut lse = vec![0.0; m];
        for flat in 0..x.numel() {
            let mut idx = unravel(flat, &s);
            for &d in &dims {
                idx[d] = 0;
            }
            let o = ravel(&idx, &kept);
            let v = x.as_slice()[flat];
            sq[o] += (v - mean[o]).powi(2);
            lse[o] += (v - max[o]).exp();
        }
        let var: Vec<f64> = sq.iter().map(|v| v / count).collect();
        let lse: Vec<f64> = lse.iter().zip(&max).map(|(s, m)| s.ln() + m).collect();
        prop_assert!(close(x.var_dims(&dims, 0, keepdim).as_slice(), &var, 1e-10));
        prop_assert!(close(x.logsumexp(&dims, keepdim).as_slice(), &lse, 1e-12));
    }

    #[test]
    fn permute_matches_naive(
        s in shape(0, 4, 4),
        perm_seed in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
        p in pool(),
    ) {
        let perm: Vec<usize> = perm_seed.into_iter().filter(|&i| i < s.len()).collect();
        let x = tensor(&s, &p);
        let y = x.permute(&perm);
        let ys: Vec<usize> = perm.iter().map(|&i| s[i]).collect();
        prop_assert_eq!(y.shape(), ys.as_slice());
        for flat in 0..y.numel() {
            let oi = unravel(flat, &ys);
            let mut ii = vec![0; s.len()];
            for (o, &pi) in perm.iter().enumerate() {
                ii[pi] = oi[o];
            }
            prop_assert_eq!(y.as_slice()[flat], x.as_slice()[ravel(&ii, &s)]);
        }
    }

    #[test]
    fn batched_matmul_matches_naive(
        (ba, bb) in broadcast_pair(2),
        m in 1usize..6,
        k in 1usize..6,
        n in 1usize..6,
        ta in any::<bool>(),
        tb in any::<bool>(),
        pa in pool(),
        pb in pool(),
    ) {
        let mut sa = ba.clone();
        sa.extend(if ta { [k, m] } else { [m, k] });
        let mut sb = bb.clone();
        sb.extend(if tb { [n, k] } else { [k, n] });
        let (a, b) = (tensor(&sa, &pa), tensor(&sb, &pb));
        let batch = broadcast_shapes("test", &ba, &bb).unwrap();
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        let got = a.matmul_t(&b, ta, tb);
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let nb: usize = batch.iter().product();
        for bi in 0..nb {
            let bidx = unravel(bi, &batch);
            for i in 0..m {
                for j in 0..n {
                    let mut want = 0.0;
                    for l in 0..k {
                        let mut ia = bidx.clone();
                        ia.extend(if ta { [l, i] } else { [i, l] });
                        let mut ib = bidx.clone();
                        ib.extend(if tb { [j, l] } else { [l, j] });
                        want += broadcast_read(&a, &ia) * broadcast_read(&b, &ib);
                    }
                    let g = got.as_slice()[(bi * m + i) * n + j];
                    prop_assert!((g - want).abs() <= 1e-10 * (1.0 + want.abs()), "batch {:?} ({}, {}): {} vs {}", bidx, i, j, g, want);
                }
            }
        }
        if !ta && !tb {
            prop_assert_eq!(a.matmul(&b), got);
        }
    }

    #[test]
    fn gather_and_scatter_add_are_adjoint(
        s in shape(1, 3, 4),
        d in 0usize..3,
        len in 1usize..5,
        raw in prop::collection::vec(0usize..64, POOL),
        px in pool(),
        py in pool(),
    ) {
        let d = d % s.len();
        let mut is = s.clone();
        is[d] = len;
        let n: usize = is.iter().product();
        let idx: Vec<usize> = raw[..n].iter().map(|i| i % s[d]).collect();
        let x = tensor(&s, &px);
        let y = tensor(&is, &py);
        let g = x.gather(d, &idx, &is);
        // Gather read position by position.
        for (flat, (&ix, &got)) in idx.iter().zip(g.as_slice()).enumerate() {
            let mut src = unravel(flat, &is);
            src[d] = ix;
            prop_assert_eq!(got, x.as_slice()[ravel(&src, &s)]);
        }
        // ⟨gather(x), y⟩ = ⟨x, scatter_add(0, y)⟩
        let lhs = dot(&g, &y);
        let rhs = dot(&x, &Tensor::zeros(&s).scatter_add(d, &idx, &y));
        prop_assert!((lhs - rhs).abs() <= 1e-10 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
    }

    #[test]
    fn concat_split_roundtrip(
        s in shape(1, 3, 3),
        d in 0usize..3,
        sizes in prop::collection::vec(1usize..4, 1..4),
        p in pool(),
    ) {
        let d = d % s.len();
        let parts: Vec<Tensor<f64>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                let mut sk = s.clone();
                sk[d] = n;
                tensor(&sk, &p[k * 60..])
            })
            .collect();
        let refs: Vec<&Tensor<f64>> = parts.iter().collect();
        let joined = Tensor::concat(&refs, d);
        prop_assert_eq!(joined.shape()[d], sizes.iter().sum::<usize>());
        prop_assert_eq!(joined.split(d, &sizes), parts.clone());
        // Narrow picks each part back out; padding the first part back with
        // zeros gives the joined shape with zeros after it.
        let mut start = 0;
        for (part, &n) in parts.iter().zip(&sizes) {
            prop_assert_eq!(&joined.narrow(d, start, n), part);
            start += n;
        }
        let mut pads = vec![(0, 0); d + 1];
        pads[d] = (0, joined.shape()[d] - sizes[0]);
        let padded = parts[0].pad(&pads, 0.0);
        prop_assert_eq!(padded.shape(), joined.shape());
        prop_assert_eq!(padded.narrow(d, 0, sizes[0]), parts[0].clone());
        prop_assert!(padded.narrow(d, sizes[0], joined.shape()[d] - sizes[0]).as_slice().iter().all(|&v| v == 0.0));
        // stack = concat of unsqueezed parts.
        let same: Vec<Tensor<f64>> = (0..sizes.len()).map(|k| tensor(&s, &p[k * 60..])).collect();
        let srefs: Vec<&Tensor<f64>> = same.iter().collect();
        let stacked = Tensor::stack(&srefs, d);
        for (k, t) in same.iter().enumerate() {
            prop_assert_eq!(&stacked.narrow(d, k, 1).squeeze(d), t);
        }
        // chunk pieces rejoin to the original.
        let chunks = joined.chunk(2, d);
        let crefs: Vec<&Tensor<f64>> = chunks.iter().collect();
        prop_assert_eq!(Tensor::concat(&crefs, d), joined);
    }
}

/// Empty tensors broadcast like any other (an empty batch must not crash
/// the bias-addition fast path).
#[test]
fn empty_tensors_broadcast() {
    let a = Tensor::<f64>::zeros(&[2, 0]);
    let b = Tensor::<f64>::zeros(&[0]);
    assert_eq!(a.add(&b).shape(), &[2, 0]);
    assert_eq!(b.mul(&a).shape(), &[2, 0]);
    assert_eq!(a.sub(&Tensor::zeros(&[1, 0])).shape(), &[2, 0]);
    assert_eq!(
        Tensor::<f64>::zeros(&[0, 3])
            .add(&Tensor::ones(&[3]))
            .shape(),
        &[0, 3]
    );
}
