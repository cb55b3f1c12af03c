//! Determinism: training gives bit-identical weights run after run with one
//! seed, and with 1 or 2 threads. Reductions and GEMM splits must not depend
//! on the thread count (see `nn_tensor::parallel`), so a result can be
//! reproduced on any machine.
//!
//! Each run trains inside its own rayon pool (`pool.install`), which is what
//! `nn_tensor::num_threads` reads, so one test binary can compare thread
//! counts. The sizes are the W2/W3 benchmark shapes, large enough that the
//! 2-thread runs really split GEMMs, convolutions and element-wise loops.

use nnkit::conv::layers::LeNet5Config;
use nnkit::prelude::*;

/// Runs `f` in a fresh rayon pool of `threads` threads.
fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a local rayon pool");
    pool.install(|| {
        assert_eq!(nnkit::tensor::num_threads(), threads);
        f()
    })
}

/// Every parameter's bits, in `state_dict` order.
fn bits<M: Module<f32>>(m: &M) -> Vec<Vec<u32>> {
    m.named_parameters()
        .iter()
        .map(|(_, p)| p.value().as_slice().iter().map(|x| x.to_bits()).collect())
        .collect()
}

/// A synthetic classification set: `n` inputs of `shape` with labels from
/// a fixed random linear rule, so the loss really moves.
fn synthetic(n: usize, shape: &[usize], seed: u64) -> TensorDataset<f32> {
    let mut rng = Rng::seed_from(seed);
    let mut full = vec![n];
    full.extend_from_slice(shape);
    let x = Tensor::<f32>::rand_uniform(&full, -1.0, 1.0, &mut rng);
    let per: usize = shape.iter().product();
    let w = Tensor::<f32>::rand_normal(&[per, 10], 0.0, 1.0, &mut rng);
    let y = x.reshape([n, per]).matmul(&w).argmax(1);
    TensorDataset::classification(x, y).unwrap()
}

/// Trains `model` for `steps` mini-batches (shuffled, Adam) and returns its weights.
fn train<M: Forward<f32>>(
    model: &M,
    data: &TensorDataset<f32>,
    batch: usize,
    steps: usize,
) -> Vec<Vec<u32>> {
    let mut opt = AdamConfig::new(1e-3)
        .init(model.named_parameters())
        .unwrap();
    let loader = DataLoader::new(data, batch).unwrap().shuffle(7);
    let mut done = 0;
    'outer: for epoch in 0.. {
        for b in loader.epoch(epoch) {
            let b = b.unwrap();
            let logits = model.forward(b.inputs());
            let loss = logits.cross_entropy(b.targets());
            opt.step(&loss.backward());
            done += 1;
            if done == steps {
                break 'outer;
            }
        }
    }
    bits(model)
}

/// The W2 MLP (784-256-128-10) with a dropout layer, so the layer's private
/// generator is part of what must repeat.
fn mlp_run(seed: u64, threads: usize) -> Vec<Vec<u32>> {
    let data = synthetic(512, &[784], 1);
    in_pool(threads, || {
        let mut rng = Rng::seed_from(seed);
        let model = Sequential::<f32>::new()
            .append(LinearConfig::new(784, 256).init(&mut rng).unwrap())
            .append(Relu)
            .append(DropoutConfig::new(0.2).init(&mut rng).unwrap())
            .append(LinearConfig::new(256, 128).init(&mut rng).unwrap())
            .append(Relu)
            .append(LinearConfig::new(128, 10).init(&mut rng).unwrap());
        train(&model, &data, 128, 24)
    })
}

/// LeNet-5 with batch norm (batch statistics are parallel reductions) at
/// the W3 batch of 64 on 28×28 inputs.
fn lenet_run(seed: u64, threads: usize) -> Vec<Vec<u32>> {
    let data = synthetic(256, &[1, 28, 28], 2);
    in_pool(threads, || {
        let model = LeNet5Config::new(1, 10)
            .with_batch_norm(true)
            .init::<f32>(&mut Rng::seed_from(seed))
            .unwrap();
        train(&model, &data, 64, 8)
    })
}

fn check(run: impl Fn(u64, usize) -> Vec<Vec<u32>>, what: &str) {
    let two = run(5, 2);
    assert_eq!(
        run(5, 2),
        two,
        "{what}: two runs with one seed differ (2 threads)"
    );
    assert_eq!(
        run(5, 1),
        two,
        "{what}: 1 thread and 2 threads give different weights"
    );
    // Not vacuous: another seed gives other weights.
    assert_ne!(run(6, 2), two, "{what}: the seed has no effect");
}

#[test]
fn mlp_training_is_bit_identical_across_runs_and_thread_counts() {
    check(mlp_run, "MLP");
}

#[test]
fn lenet_training_is_bit_identical_across_runs_and_thread_counts() {
    check(lenet_run, "LeNet-5");
}
