//! Criterion micro-benchmark of W7: one VAE training step, and the forward
//! pass with its loss alone (the difference is backward plus the update).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nn_bench::w7_vae::{build_vae, VaeTraining, BATCH, INPUT};
use nn_tensor::{Rng, Tensor};

fn vae(c: &mut Criterion) {
    let mut g = c.benchmark_group("W7_vae");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut t = VaeTraining::new();
    g.bench_function("train_step", |b| b.iter(|| std::hint::black_box(t.step())));
    let model = build_vae(0);
    let x = Tensor::rand_uniform(&[BATCH, INPUT], 0.0, 1.0, &mut Rng::seed_from(1));
    let mut noise = Rng::seed_from(2);
    g.bench_function("forward_loss", |b| {
        b.iter(|| std::hint::black_box(model.loss(&x, &mut noise).neg_elbo()))
    });
    g.finish();
}

criterion_group!(benches, vae);
criterion_main!(benches);
