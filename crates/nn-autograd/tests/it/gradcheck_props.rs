//! Finite-difference checks of every differentiable op, over random shapes
//! (broadcasting pairs included) and random values.
//!
//! Each property builds its inputs from a pool of random values and asks
//! [`check_gradients`] (central differences in f64) to agree with the
//! analytic gradient. Values are kept away from kinks (relu at 0, clamp
//! bounds, max ties, the huber/smooth-L1 switch) by at least 0.05, far more
//! than the finite-difference step, so a failure means a wrong backward rule.

use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
use nn_autograd::ops::loss::gaussian_kl;
use nn_autograd::{
    BceLoss, BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MseLoss, NllLoss, Reduction,
    SmoothL1Loss, SquaredLoss, Var,
};
use nn_tensor::Tensor;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const CASES: u32 = 28;
/// Enough pool values for the largest tensor any strategy below builds.
const POOL: usize = 160;

type Inputs = Vec<Tensor<f64>>;

/// Runs the checker and turns a failed report into a proptest failure that
/// names the worst element.
fn check(f: impl Fn(&[Var<f64>]) -> Var<f64>, inputs: &[Tensor<f64>]) -> Result<(), TestCaseError> {
    let r = check_gradients(f, inputs, GradCheckConfig::default());
    prop_assert!(
        r.passed,
        "{} (input shapes {:?})",
        r,
        inputs
            .iter()
            .map(|t| t.shape().to_vec())
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// A tensor of `shape` filled from the front of `pool`.
fn tensor(shape: &[usize], pool: &[f64]) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    assert!(
        n <= pool.len(),
        "pool of {} too small for {shape:?}",
        pool.len()
    );
    Tensor::from_vec(pool[..n].to_vec(), shape)
}

/// Values in `[-2, 2]`.
fn smooth_pool() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-2.0f64..2.0, POOL)
}

/// Values with `0.05 <= |x| <= 2`: away from the kink at 0.
fn nonzero_pool() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        (0.05f64..2.0, any::<bool>()).prop_map(|(m, neg)| if neg { -m } else { m }),
        POOL,
    )
}

/// Positive values in `[lo, hi]`.
fn positive_pool(lo: f64, hi: f64) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(lo..hi, POOL)
}

/// Distinct values at least 0.1 apart, in random order: no ties for max.
fn distinct_pool() -> impl Strategy<Value = Vec<f64>> {
    Just((0..POOL).collect::<Vec<usize>>())
        .prop_shuffle()
        .prop_map(|v| v.into_iter().map(|k| 0.1 * k as f64 - 8.0).collect())
}

/// A shape of rank `0..=max_rank` with dims in `1..=max_dim`.
fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, 0..=max_rank)
}

/// A shape of rank `min_rank..=max_rank` with dims in `1..=max_dim`.
fn shape_rank(
    min_rank: usize,
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, min_rank..=max_rank)
}

/// Two shapes that broadcast together: the named awkward pairs (scalar, row,
/// column, leading 1s, rank mismatch), or two shapes derived from a random
/// output shape by dropping leading dims and setting others to 1.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let named: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![2, 3], vec![]),
        (vec![], vec![2, 3]),
        (vec![2, 3], vec![3]),
        (vec![2, 3], vec![2, 1]),
        (vec![2, 1], vec![1, 3]),
        (vec![1, 2, 3], vec![2, 3]),
        (vec![4, 1, 3], vec![2, 1]),
        (vec![3], vec![2, 1]),
        (vec![2, 3, 2], vec![1, 1, 1]),
    ];
    prop_oneof![prop::sample::select(named), derived_broadcast_pair(3)]
}

/// Two shapes derived from a random output shape of rank ≤ `max_rank` (sizes
/// ≤ 3) by dropping leading dims and setting others to 1, so they broadcast
/// together to it or to a suffix of it.
fn derived_broadcast_pair(max_rank: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        shape(max_rank, 3),
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

/// A non-empty subset of the dims of a rank-`rank` shape, each given as a
/// positive or a negative index at random.
fn dim_subset(rank: usize) -> impl Strategy<Value = Vec<isize>> {
    (
        prop::collection::vec(any::<bool>(), rank),
        prop::collection::vec(any::<bool>(), rank),
        0..rank,
    )
        .prop_map(move |(pick, neg, forced)| {
            (0..rank)
                .filter(|&i| pick[i] || i == forced)
                .map(|i| {
                    if neg[i] {
                        i as isize - rank as isize
                    } else {
                        i as isize
                    }
                })
                .collect()
        })
}

/// A shape of rank 1..=3 with a subset of its dims to reduce.
fn shape_and_dims() -> impl Strategy<Value = (Vec<usize>, Vec<isize>)> {
    shape_rank(1, 3, 3).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), dim_subset(r))
    })
}

fn reduction() -> impl Strategy<Value = Reduction> {
    prop::sample::select(vec![
        Reduction::None,
        Reduction::Mean,
        Reduction::Sum,
        Reduction::BatchMean,
    ])
}

// ---------------------------------------------------------------- arithmetic

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn add_sub_mul_broadcast((sa, sb) in broadcast_pair(), pa in smooth_pool(), pb in smooth_pool()) {
        let ins: Inputs = vec![tensor(&sa, &pa), tensor(&sb, &pb)];
        check(|v| v[0].add(&v[1]), &ins)?;
        check(|v| v[0].sub(&v[1]), &ins)?;
        check(|v| v[0].mul(&v[1]), &ins)?;
        // The same input on both sides: gradients from two uses add up.
        check(|v| v[0].mul(&v[0]).add(&v[1]), &ins)?;
    }

    #[test]
    fn div_broadcast((sa, sb) in broadcast_pair(), pa in smooth_pool(), pb in nonzero_pool()) {
        // Denominators with |b| >= 0.5 keep 1/b² moderate.
        let pb: Vec<f64> = pb.iter().map(|&x| x.signum() * (0.5 + x.abs())).collect();
        check(|v| v[0].div(&v[1]), &[tensor(&sa, &pa), tensor(&sb, &pb)])?;
    }

    #[test]
    fn maximum_broadcast(
        (sa, sb) in broadcast_pair(),
        ia in prop::collection::vec(-8i32..8, POOL),
        ib in prop::collection::vec(-8i32..8, POOL),
    ) {
        // a on the grid 0.2·i + 0.05, b on 0.2·j − 0.05: never within 0.1 of each other.
        let pa: Vec<f64> = ia.iter().map(|&i| 0.2 * i as f64 + 0.05).collect();
        let pb: Vec<f64> = ib.iter().map(|&i| 0.2 * i as f64 - 0.05).collect();
        check(|v| v[0].maximum(&v[1]), &[tensor(&sa, &pa), tensor(&sb, &pb)])?;
    }

    #[test]
    fn where_else_broadcast(
        (sa, sb) in broadcast_pair(),
        cond_from_a in any::<bool>(),
        bits in prop::collection::vec(any::<bool>(), POOL),
        pa in smooth_pool(),
        pb in smooth_pool(),
    ) {
        let sc = if cond_from_a { sa.clone() } else { sb.clone() };
        let cond: Vec<f64> = bits.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let cond = tensor(&sc, &cond);
        check(move |v| v[0].where_else(&cond, &v[1]), &[tensor(&sa, &pa), tensor(&sb, &pb)])?;
    }

    #[test]
    fn scalar_ops(s in shape(3, 3), p in smooth_pool(), a in -2.0f64..2.0, m in -2.0f64..2.0) {
        let ins = [tensor(&s, &p)];
        check(move |v| v[0].add_scalar(a), &ins)?;
        check(move |v| v[0].mul_scalar(m), &ins)?;
        check(|v| v[0].neg(), &ins)?;
        check(|v| v[0].square(), &ins)?;
        check(|v| v[0].exp(), &ins)?;
        check(move |v| &v[0] - a, &ins)?;
        check(move |v| a - &v[0], &ins)?;
        check(move |v| &v[0] * m + 1.0, &ins)?;
        check(|v| &v[0] / 2.5, &ins)?;
    }

    #[test]
    fn scalar_over_var(s in shape(3, 3), p in nonzero_pool(), a in -2.0f64..2.0) {
        let ins = [tensor(&s, &p)];
        check(move |v| a / &v[0], &ins)?;
        check(|v| v[0].recip(), &ins)?;
    }

    #[test]
    fn powf_ln_sqrt(s in shape(3, 3), p in positive_pool(0.2, 3.0), e in -2.0f64..3.0) {
        let ins = [tensor(&s, &p)];
        check(move |v| v[0].powf(e), &ins)?;
        check(|v| v[0].ln(), &ins)?;
        check(|v| v[0].sqrt(), &ins)?;
    }

    #[test]
    fn abs_away_from_zero(s in shape(3, 3), p in nonzero_pool()) {
        check(|v| v[0].abs(), &[tensor(&s, &p)])?;
    }

    #[test]
    fn clamp_away_from_bounds(
        s in shape(3, 3),
        grid in prop::collection::vec(-15i32..15, POOL),
        lo in -10i32..5,
        width in 0i32..10,
    ) {
        // Values at 0.1·i + 0.05 never come within 0.05 of bounds at multiples of 0.1.
        let p: Vec<f64> = grid.iter().map(|&i| 0.1 * i as f64 + 0.05).collect();
        let (min, max) = (0.1 * lo as f64, 0.1 * (lo + width) as f64);
        check(move |v| v[0].clamp(min, max), &[tensor(&s, &p)])?;
    }
}

// ---------------------------------------------------------------- reductions

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn sum_and_mean_all(s in shape(3, 3), p in smooth_pool()) {
        let ins = [tensor(&s, &p)];
        check(|v| v[0].sum(), &ins)?;
        check(|v| v[0].mean(), &ins)?;
    }

    #[test]
    fn sum_mean_dims((s, dims) in shape_and_dims(), keepdim in any::<bool>(), p in smooth_pool()) {
        let ins = [tensor(&s, &p)];
        check(|v| v[0].sum_dims(&dims, keepdim), &ins)?;
        check(|v| v[0].mean_dims(&dims, keepdim), &ins)?;
    }

    #[test]
    fn var_dims((s, dims) in shape_and_dims(), keepdim in any::<bool>(), correction in 0usize..=1, p in smooth_pool()) {
        check(|v| v[0].var_dims(&dims, correction, keepdim), &[tensor(&s, &p)])?;
    }

    #[test]
    fn max_dims((s, dims) in shape_and_dims(), keepdim in any::<bool>(), p in distinct_pool()) {
        check(|v| v[0].max_dims(&dims, keepdim), &[tensor(&s, &p)])?;
    }

    #[test]
    fn logsumexp((s, dims) in shape_and_dims(), keepdim in any::<bool>(), p in smooth_pool(), scale in 1.0f64..5.0) {
        let p: Vec<f64> = p.iter().map(|x| x * scale).collect();
        check(|v| v[0].logsumexp(&dims, keepdim), &[tensor(&s, &p)])?;
    }
}

// ---------------------------------------------------------------- shape ops

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn reshape_and_flatten(s in shape(4, 3), p in smooth_pool()) {
        let rev: Vec<usize> = s.iter().rev().copied().collect();
        let n: usize = s.iter().product();
        let ins = [tensor(&s, &p)];
        // A weighted output makes a scrambled backward visible.
        check(|v| v[0].reshape(&rev).mul(&v[0].reshape(&rev)), &ins)?;
        check(|v| v[0].reshape([n]).exp(), &ins)?;
        let start = s.len().min(1);
        check(move |v| v[0].flatten_from(start).exp(), &ins)?;
    }

    #[test]
    fn permute_transpose(
        s in shape_rank(1, 4, 3),
        perm_seed in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
        d0 in 0usize..4,
        d1 in 0usize..4,
        p in smooth_pool(),
    ) {
        let r = s.len();
        let perm: Vec<usize> = perm_seed.into_iter().filter(|&i| i < r).collect();
        let ins = [tensor(&s, &p)];
        check(|v| v[0].permute(&perm), &ins)?;
        check(|v| v[0].transpose(d0 % r, -((d1 % r) as isize) - 1), &ins)?;
    }

    #[test]
    fn broadcast_to((sa, sb) in broadcast_pair(), p in smooth_pool()) {
        let out = nn_tensor::broadcast_shapes("test", &sa, &sb).unwrap();
        check(|v| v[0].broadcast_to(&out), &[tensor(&sa, &p)])?;
    }

    #[test]
    fn squeeze_unsqueeze(s in shape(3, 3), at in 0usize..4, p in smooth_pool()) {
        let at = at % (s.len() + 1);
        let mut with_one = s.clone();
        with_one.insert(at, 1);
        check(|v| v[0].unsqueeze(at).exp(), &[tensor(&s, &p)])?;
        check(|v| v[0].squeeze(at as isize - with_one.len() as isize).exp(), &[tensor(&with_one, &p)])?;
    }

    #[test]
    fn narrow(s in shape_rank(1, 3, 4), d in 0usize..3, a in 0usize..4, b in 0usize..4, p in smooth_pool()) {
        let d = d % s.len();
        let n = s[d];
        let (start, end) = (a % n, b % n);
        let (start, end) = (start.min(end), start.max(end) + 1);
        check(|v| v[0].narrow(d, start, end - start), &[tensor(&s, &p)])?;
    }

    #[test]
    fn index_select(s in shape_rank(1, 3, 3), d in 0usize..3, raw in prop::collection::vec(0usize..16, 1..6), p in smooth_pool()) {
        let d = d % s.len();
        let idx: Vec<usize> = raw.iter().map(|i| i % s[d]).collect();
        check(|v| v[0].index_select(d, &idx), &[tensor(&s, &p)])?;
    }

    #[test]
    fn gather(s in shape_rank(1, 3, 3), d in 0usize..3, len in 1usize..5, raw in prop::collection::vec(0usize..16, POOL), p in smooth_pool()) {
        let d = d % s.len();
        let mut is = s.clone();
        is[d] = len;
        let n: usize = is.iter().product();
        let idx: Vec<usize> = raw[..n].iter().map(|i| i % s[d]).collect();
        check(|v| v[0].gather(d, &idx, &is), &[tensor(&s, &p)])?;
    }

    #[test]
    fn concat_and_stack(s in shape_rank(1, 3, 3), d in 0usize..3, sizes in prop::collection::vec(1usize..4, 2..4), p in smooth_pool()) {
        let d = d % s.len();
        let ins: Inputs = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                let mut sk = s.clone();
                sk[d] = n;
                tensor(&sk, &p[k * 40..])
            })
            .collect();
        check(|v| Var::concat(&v.iter().collect::<Vec<_>>(), d as isize - s.len() as isize), &ins)?;
        let same: Inputs = (0..sizes.len()).map(|k| tensor(&s, &p[k * 40..])).collect();
        check(|v| Var::stack(&v.iter().collect::<Vec<_>>(), d), &same)?;
    }

    #[test]
    fn split_and_chunk(s in shape_rank(1, 3, 5), d in 0usize..3, cuts in prop::collection::vec(any::<bool>(), 4), n in 1usize..4, p in smooth_pool()) {
        let d = d % s.len();
        // Sizes from cutting dim d after every position whose flag is set.
        let mut sizes = vec![];
        let mut run = 0;
        for i in 0..s[d] {
            run += 1;
            if i + 1 == s[d] || cuts[i % 4] {
                sizes.push(run);
                run = 0;
            }
        }
        // Rejoin the pieces in reverse order, so each piece's gradient must
        // land at its own offset.
        let rejoin = |parts: Vec<Var<f64>>| {
            let rev: Vec<&Var<f64>> = parts.iter().rev().collect();
            Var::concat(&rev, d)
        };
        let ins = [tensor(&s, &p)];
        check(|v| rejoin(v[0].split(d, &sizes)), &ins)?;
        check(|v| rejoin(v[0].chunk(n, d)), &ins)?;
    }

    #[test]
    fn pad(s in shape_rank(1, 3, 3), pads in prop::collection::vec((0usize..3, 0usize..3), 0..4), value in -1.0f64..1.0, p in smooth_pool()) {
        let pads: Vec<(usize, usize)> = pads.into_iter().take(s.len()).collect();
        check(|v| v[0].pad(&pads, value).exp(), &[tensor(&s, &p)])?;
    }
}

// ---------------------------------------------------------------- matmul

/// Batch shapes (rank ≤ 2, broadcast against each other), `m, k, n` and the
/// two transpose flags.
fn matmul_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, [usize; 3], bool, bool)> {
    (
        derived_broadcast_pair(2),
        [1usize..5, 1usize..5, 1usize..5],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((ba, bb), mkn, ta, tb)| (ba, bb, mkn, ta, tb))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn matmul_t_all_flags_batched((ba, bb, [m, k, n], ta, tb) in matmul_case(), pa in smooth_pool(), pb in smooth_pool()) {
        let mut sa = ba.clone();
        sa.extend(if ta { [k, m] } else { [m, k] });
        let mut sb = bb.clone();
        sb.extend(if tb { [n, k] } else { [k, n] });
        let ins = [tensor(&sa, &pa), tensor(&sb, &pb)];
        check(|v| v[0].matmul_t(&v[1], ta, tb), &ins)?;
        if !ta && !tb {
            check(|v| v[0].matmul(&v[1]), &ins)?;
        }
        // One side constant: the other's gradient must not depend on it being a leaf.
        let b = ins[1].clone();
        check(move |v| v[0].matmul_t(&Var::constant(b.clone()), ta, tb), &ins[..1])?;
    }
}

// ---------------------------------------------------------------- activations

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn relu_leaky_elu(s in shape(3, 3), p in nonzero_pool(), slope in 0.01f64..0.5, alpha in 0.1f64..2.0) {
        let ins = [tensor(&s, &p)];
        check(|v| v[0].relu(), &ins)?;
        check(move |v| v[0].leaky_relu(slope), &ins)?;
        check(move |v| v[0].elu(alpha), &ins)?;
    }

    #[test]
    fn prelu_per_channel_and_shared(s in shape_rank(1, 4, 3), shared in any::<bool>(), p in nonzero_pool(), w in prop::collection::vec(-0.5f64..0.5, 4)) {
        let channels = if s.len() >= 2 { s[1] } else { 1 };
        let nw = if shared { 1 } else { channels };
        let ins = [tensor(&s, &p), tensor(&[nw], &w)];
        check(|v| v[0].prelu(&v[1]), &ins)?;
    }

    #[test]
    fn smooth_activations(s in shape(3, 3), p in smooth_pool()) {
        let ins = [tensor(&s, &p)];
        check(|v| v[0].sigmoid(), &ins)?;
        check(|v| v[0].tanh(), &ins)?;
        check(|v| v[0].gelu(), &ins)?;
        check(|v| v[0].gelu_tanh(), &ins)?;
    }

    #[test]
    fn softplus_both_sides_of_threshold(s in shape(3, 3), p in smooth_pool(), beta in 0.5f64..2.0, threshold in prop::sample::select(vec![0.5, 1.0, 20.0])) {
        // Keep beta·x at least 0.05 from the threshold, where the two branches meet.
        let p: Vec<f64> = p
            .iter()
            .map(|&x| if (beta * x - threshold).abs() < 0.05 { x + 0.1 / beta } else { x })
            .collect();
        check(move |v| v[0].softplus(beta, threshold), &[tensor(&s, &p)])?;
    }

    #[test]
    fn softmax_log_softmax(s in shape_rank(1, 3, 4), d in 0usize..3, p in smooth_pool(), scale in 0.5f64..4.0) {
        let d = d % s.len();
        let p: Vec<f64> = p.iter().map(|x| x * scale).collect();
        let ins = [tensor(&s, &p)];
        check(|v| v[0].softmax(d), &ins)?;
        check(|v| v[0].log_softmax(d as isize - s.len() as isize), &ins)?;
    }
}

// ---------------------------------------------------------------- losses

/// Logits `[N, C, d1, …]` (0 to 2 extra dims) and class targets.
fn class_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        1usize..4,
        2usize..5,
        shape(2, 3),
        prop::collection::vec(0usize..64, POOL),
    )
        .prop_map(|(n, c, extra, raw)| {
            let mut s = vec![n, c];
            s.extend(&extra);
            let positions = n * extra.iter().product::<usize>();
            let target = raw[..positions].iter().map(|t| t % c).collect();
            (s, target)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn mse_loss(s in shape_rank(1, 3, 3), r in reduction(), pa in smooth_pool(), pb in smooth_pool()) {
        let mse = MseLoss::new().with_reduction(r);
        check(move |v| mse.forward(&v[0], &v[1]), &[tensor(&s, &pa), tensor(&s, &pb)])?;
    }

    #[test]
    fn squared_loss_is_half_mse(s in shape_rank(1, 3, 3), r in reduction(), pa in smooth_pool(), pb in smooth_pool()) {
        let (a, b) = (tensor(&s, &pa), tensor(&s, &pb));
        let (sq, mse) = (SquaredLoss::new().with_reduction(r), MseLoss::new().with_reduction(r));
        check(move |v| sq.forward(&v[0], &v[1]), &[a.clone(), b.clone()])?;
        let (a, b) = (Var::constant(a), Var::constant(b));
        let half = sq.forward(&a, &b).value().to_vec();
        let full = mse.forward(&a, &b).value().to_vec();
        for (h, f) in half.iter().zip(&full) {
            prop_assert!((2.0 * h - f).abs() <= 1e-12 * f.abs().max(1.0));
        }
    }

    #[test]
    fn cross_entropy_extra_dims_smoothing((s, target) in class_case(), r in reduction(), smoothing in prop_oneof![Just(0.0), 0.0f64..0.4], p in smooth_pool()) {
        let ce = CrossEntropyLoss::new().with_reduction(r).with_label_smoothing(smoothing).unwrap();
        check(|v| ce.forward(&v[0], &target), &[tensor(&s, &p)])?;
    }

    /// Class probabilities (soft targets, PyTorch 1.10's form): the logits
    /// and the probabilities both get gradients; unnormalised targets too,
    /// so the `softmax·Σt'` term of the backward is exercised.
    #[test]
    fn cross_entropy_probabilities((s, _) in class_case(), r in reduction(), smoothing in prop_oneof![Just(0.0), 0.0f64..0.4], p in smooth_pool(), t in positive_pool(0.05, 1.0)) {
        let ce = CrossEntropyLoss::new().with_reduction(r).with_label_smoothing(smoothing).unwrap();
        check(|v| ce.forward(&v[0], &v[1]), &[tensor(&s, &p), tensor(&s, &t)])?;
    }

    /// Class weights and an ignored index (never the first position's class,
    /// so a mean never divides by 0; sometimes outside the classes).
    #[test]
    fn cross_entropy_weight_ignore_index((s, target) in class_case(), r in reduction(), smoothing in prop_oneof![Just(0.0), 0.0f64..0.4], w in positive_pool(0.2, 2.0), ignore in prop::option::of(0usize..6), p in smooth_pool()) {
        let c = s[1];
        let mut ce = CrossEntropyLoss::new()
            .with_reduction(r)
            .with_label_smoothing(smoothing)
            .unwrap()
            .with_weight(tensor(&[c], &w));
        if let Some(k) = ignore {
            ce = ce.with_ignore_index((target[0] + 1 + k % c) % (c + 1));
        }
        check(|v| ce.forward(&v[0], &target), &[tensor(&s, &p)])?;
    }

    /// Class weights with class probabilities: both sides get gradients.
    #[test]
    fn cross_entropy_probabilities_weighted((s, _) in class_case(), r in reduction(), smoothing in prop_oneof![Just(0.0), 0.0f64..0.4], w in positive_pool(0.2, 2.0), p in smooth_pool(), t in positive_pool(0.05, 1.0)) {
        let ce = CrossEntropyLoss::new()
            .with_reduction(r)
            .with_label_smoothing(smoothing)
            .unwrap()
            .with_weight(tensor(&[s[1]], &w));
        check(|v| ce.forward(&v[0], &v[1]), &[tensor(&s, &p), tensor(&s, &t)])?;
    }

    #[test]
    fn nll_loss_ignore_index((s, target) in class_case(), r in reduction(), w in positive_pool(0.2, 2.0), k in 0usize..6, p in smooth_pool()) {
        let c = s[1];
        let nll = NllLoss::new()
            .with_reduction(r)
            .with_weight(tensor(&[c], &w))
            .with_ignore_index((target[0] + 1 + k % c) % (c + 1));
        check(|v| nll.forward(&v[0].log_softmax(1), &target), &[tensor(&s, &p)])?;
    }

    #[test]
    fn nll_loss_with_weights((s, target) in class_case(), r in reduction(), weighted in any::<bool>(), w in positive_pool(0.2, 2.0), p in smooth_pool()) {
        let c = s[1];
        let mut nll = NllLoss::new().with_reduction(r);
        if weighted {
            nll = nll.with_weight(tensor(&[c], &w));
        }
        check(|v| nll.forward(&v[0].log_softmax(1), &target), &[tensor(&s, &p)])?;
        check(|v| nll.forward(&v[0], &target), &[tensor(&s, &p)])?;
    }

    #[test]
    fn bce_with_logits_pos_weight(s in shape_rank(1, 3, 3), r in reduction(), with_pos in any::<bool>(), t in positive_pool(0.0, 1.0), pw in positive_pool(0.2, 3.0), p in smooth_pool(), scale in 1.0f64..4.0) {
        let p: Vec<f64> = p.iter().map(|x| x * scale).collect();
        let target = tensor(&s, &t);
        let mut bce = BceWithLogitsLoss::new().with_reduction(r);
        if with_pos {
            bce = bce.with_pos_weight(tensor(&[*s.last().unwrap()], &pw));
        }
        check(|v| bce.forward(&v[0], &target), &[tensor(&s, &p)])?;
        // A target that requires a gradient gets one.
        check(|v| bce.forward(&v[0], &v[1]), &[tensor(&s, &p), target.clone()])?;
    }

    /// Per-element weights broadcast from a trailing suffix of the shape,
    /// with and without `pos_weight`.
    #[test]
    fn bce_with_logits_weight(s in shape_rank(1, 3, 3), from in 0usize..3, r in reduction(), with_pos in any::<bool>(), t in positive_pool(0.0, 1.0), w in positive_pool(0.0, 2.0), pw in positive_pool(0.2, 3.0), p in smooth_pool()) {
        let ws = &s[from.min(s.len() - 1)..];
        let mut bce = BceWithLogitsLoss::new().with_reduction(r).with_weight(tensor(ws, &w));
        if with_pos {
            bce = bce.with_pos_weight(tensor(&[*s.last().unwrap()], &pw));
        }
        let target = tensor(&s, &t);
        check(|v| bce.forward(&v[0], &target), &[tensor(&s, &p)])?;
        check(|v| bce.forward(&v[0], &v[1]), &[tensor(&s, &p), target.clone()])?;
    }

    /// Probabilities kept inside (0.05, 0.95), where no floor applies.
    #[test]
    fn bce_weight(s in shape_rank(1, 3, 3), r in reduction(), weighted in any::<bool>(), p in positive_pool(0.05, 0.95), t in positive_pool(0.0, 1.0), w in positive_pool(0.0, 2.0)) {
        let mut bce = BceLoss::new().with_reduction(r);
        if weighted {
            bce = bce.with_weight(tensor(&s, &w));
        }
        let target = tensor(&s, &t);
        check(|v| bce.forward(&v[0], &target), &[tensor(&s, &p)])?;
        check(|v| bce.forward(&v[0], &v[1]), &[tensor(&s, &p), target.clone()])?;
    }

    #[test]
    fn gaussian_kl_loss(n in 1usize..4, d in 1usize..5, r in reduction(), pm in smooth_pool(), pl in smooth_pool()) {
        check(|v| gaussian_kl(&v[0], &v[1], r), &[tensor(&[n, d], &pm), tensor(&[n, d], &pl)])?;
    }

    #[test]
    fn huber_and_smooth_l1(
        s in shape_rank(1, 3, 3),
        r in reduction(),
        grid in prop::collection::vec(-30i32..30, POOL),
        pt in smooth_pool(),
        width in 1i32..15,
    ) {
        // Differences at 0.1·i + 0.05 stay 0.05 away from delta = beta = 0.1·width.
        let delta = 0.1 * width as f64;
        let diff: Vec<f64> = grid.iter().map(|&i| 0.1 * i as f64 + 0.05).collect();
        let input: Vec<f64> = pt.iter().zip(&diff).map(|(t, d)| t + d).collect();
        let ins = [tensor(&s, &input), tensor(&s, &pt)];
        let huber = HuberLoss::new().with_delta(delta).unwrap().with_reduction(r);
        let smooth = SmoothL1Loss::new().with_beta(delta).unwrap().with_reduction(r);
        check(move |v| huber.forward(&v[0], &v[1]), &ins)?;
        check(move |v| smooth.forward(&v[0], &v[1]), &ins)?;
        // beta = 0 is the plain L1 loss.
        let l1 = SmoothL1Loss::new().with_beta(0.0).unwrap().with_reduction(r);
        check(move |v| l1.forward(&v[0], &v[1]), &ins)?;
        let l1 = L1Loss::new().with_reduction(r);
        check(move |v| l1.forward(&v[0], &v[1]), &ins)?;
    }
}

// ---------------------------------------------------------------- docs

/// The gradient-checker example of `docs/architecture.md`, kept runnable.
#[test]
fn architecture_md_example() {
    let x = Tensor::<f64>::from_vec(vec![0.3, -0.7, 1.1, 0.4, 0.9, -0.2], &[2, 3]);
    let w = Tensor::<f64>::from_vec(vec![0.5, -1.0, 0.25], &[3, 1]);
    let target = Tensor::<f64>::from_vec(vec![0.1, -0.3], &[2, 1]);
    let report = check_gradients(
        |v| v[0].matmul(&v[1]).tanh().mse_loss(&target),
        &[x, w],
        GradCheckConfig::default(), // step 1e-6, tolerance 1e-6
    );
    assert!(report.passed, "{report}");
}
