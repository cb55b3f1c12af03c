//! Criterion micro-benchmark of W1: `Tensor::matmul` on square f32 matrices.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nn_bench::w1_gemm::operands;

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("W1_gemm");
    g.sample_size(10);
    for n in [128usize, 256, 512] {
        let (a, b) = operands(n);
        g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, _| {
            bch.iter(|| std::hint::black_box(a.matmul(&b)))
        });
    }
    g.finish();
}

criterion_group!(benches, gemm);
criterion_main!(benches);
