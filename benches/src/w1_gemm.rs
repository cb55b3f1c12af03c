//! W1: square f32 GEMM `C = A·B` through [`Tensor::matmul`], N = 128 … 2048,
//! reported in GFLOP/s (2·N³ flops per product).

use std::hint::black_box;

use nn_tensor::{Rng, Tensor};

use crate::timing::{TimingPlan, TARGET_SECONDS};
use crate::workload::Workload;

/// The matrix sizes of the README.
pub const SIZES: [usize; 5] = [128, 256, 512, 1024, 2048];

/// The two `n × n` operands, uniform in [-1, 1) from a fixed seed.
pub fn operands(n: usize) -> (Tensor<f32>, Tensor<f32>) {
    let mut rng = Rng::seed_from(1);
    let a = Tensor::rand_uniform(&[n, n], -1.0, 1.0, &mut rng);
    let b = Tensor::rand_uniform(&[n, n], -1.0, 1.0, &mut rng);
    (a, b)
}

/// `W1_gemm_N` for every size.
pub fn workloads() -> Vec<Workload> {
    SIZES
        .iter()
        .map(|&n| Workload {
            name: format!("W1_gemm_{n}"),
            metric: "GFLOP/s",
            units_per_call: 2.0 * (n as f64).powi(3) / 1e9,
            plan: TimingPlan {
                warmup: 3,
                target_seconds: TARGET_SECONDS,
                samples: 7,
            },
            setup: Box::new(move || {
                let (a, b) = operands(n);
                Box::new(move || {
                    black_box(black_box(&a).matmul(black_box(&b)));
                })
            }),
        })
        .collect()
}
