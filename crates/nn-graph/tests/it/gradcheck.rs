//! Finite-difference checks (f64) of the graph ops over random graphs:
//! the sparse × dense product, the GCN layer (features, weight, bias),
//! GraphSAGE and the mean-pool readout.

use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
use nn_autograd::Var;
use nn_graph::{gcn_conv, global_mean_pool, Edges, GraphBatch, SageConvConfig};
use nn_tensor::{Rng, Tensor};
use proptest::prelude::*;

/// A random directed graph on `n` nodes with `e` edges (repeats and
/// self-loops allowed: both must be handled).
fn random_edges(n: usize, e: usize, rng: &mut Rng) -> Edges {
    let s = (0..e).map(|_| rng.below(n)).collect();
    let t = (0..e).map(|_| rng.below(n)).collect();
    Edges::new(n, s, t).unwrap()
}

fn assert_passes(f: impl Fn(&[Var<f64>]) -> Var<f64>, inputs: &[Tensor<f64>]) {
    let r = check_gradients(f, inputs, GradCheckConfig::default());
    assert!(r.passed, "{r}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn gcn_conv_gradients(
        seed in any::<u64>(), n in 1usize..7, e in 0usize..12, fi in 1usize..4, fo in 1usize..4,
        self_loops in any::<bool>(), bias in any::<bool>(),
    ) {
        let mut rng = Rng::seed_from(seed);
        let a = random_edges(n, e, &mut rng).gcn_normalized::<f64>(self_loops);
        let x = Tensor::rand_normal(&[n, fi], 0.0, 1.0, &mut rng);
        let w = Tensor::rand_normal(&[fo, fi], 0.0, 1.0, &mut rng);
        let b = Tensor::rand_normal(&[fo], 0.0, 1.0, &mut rng);
        let probe = Var::constant(Tensor::rand_normal(&[n, fo], 0.0, 1.0, &mut rng));
        if bias {
            assert_passes(|v| gcn_conv(&a, &v[0], &v[1], Some(&v[2])).unwrap().mul(&probe).sum(), &[x, w, b]);
        } else {
            assert_passes(|v| gcn_conv(&a, &v[0], &v[1], None).unwrap().mul(&probe).sum(), &[x, w]);
        }
    }

    #[test]
    fn sage_and_pool_gradients(seed in any::<u64>(), n in 1usize..7, e in 0usize..12, f in 1usize..4) {
        let mut rng = Rng::seed_from(seed);
        let m = random_edges(n, e, &mut rng).mean_aggregation::<f64>();
        let sage = SageConvConfig::new(f, 2).init::<f64>(&mut rng).unwrap();
        let graphs = 1 + rng.below(n);
        let batch = GraphBatch::new(graphs, (0..n).map(|i| i % graphs).collect()).unwrap();
        let pool = batch.mean_pool_matrix::<f64>();
        let x = Tensor::rand_normal(&[n, f], 0.0, 1.0, &mut rng);
        let probe = Var::constant(Tensor::rand_normal(&[graphs, 2], 0.0, 1.0, &mut rng));
        assert_passes(|v| global_mean_pool(&pool, &sage.forward(&m, &v[0]).tanh()).unwrap().mul(&probe).sum(), &[x]);
    }
}
