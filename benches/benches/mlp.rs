//! Criterion micro-benchmark of W2: one MLP training step, and its forward
//! pass alone (the difference is backward plus the update).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nn_autograd::Var;
use nn_bench::w2_mlp::{MlpTraining, BATCH, SIZES};
use nn_tensor::{Rng, Tensor};

fn mlp(c: &mut Criterion) {
    let mut g = c.benchmark_group("W2_mlp");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    let t = MlpTraining::new();
    g.bench_function("train_step", |b| b.iter(|| std::hint::black_box(t.step())));
    let mut rng = Rng::seed_from(1);
    let x = Var::constant(Tensor::rand_uniform(
        &[BATCH, SIZES[0]],
        -1.0,
        1.0,
        &mut rng,
    ));
    let y: Vec<usize> = (0..BATCH).map(|i| i % 10).collect();
    g.bench_function("forward_loss", |b| {
        b.iter(|| {
            let l = t.model.forward(&x).cross_entropy(&y);
            std::hint::black_box(l.value().item())
        })
    });
    g.finish();
}

criterion_group!(benches, mlp);
criterion_main!(benches);
