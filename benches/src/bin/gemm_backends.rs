//! The matrix-product backends side by side on one thread: the `gemm`
//! crate with its own packing threshold, with the library's
//! (`nn_tensor::matmul`), and the system's OpenBLAS where it is installed
//! (`nn_tensor::blas`, feature `openblas`, on in this crate).
//!
//! usage: `gemm_backends [--rounds R] [M,N,K ...]` (default: the shapes in
//! `docs/performance.md`). The backends take turns, round after round, and
//! each is timed by the process's CPU time, so a busy machine slows all of
//! them alike; the best and the median round are printed in GFLOP/s.

use std::process::ExitCode;

use nn_bench::timing::cpu_seconds;
use nn_tensor::{gemm, MatRef};

/// `[M, N, K]` of `C (M × N) = A (M × K) · B (K × N)`: squares, the MLP's
/// and a convolution's shapes, and skinny products.
const SHAPES: [[usize; 3]; 9] = [
    [512, 512, 512],
    [1024, 1024, 1024],
    [2048, 2048, 2048],
    [128, 256, 784],
    [128, 784, 256],
    [64, 2048, 512],
    [1024, 2048, 256],
    [4096, 576, 64],
    [3136, 64, 576],
];

/// The packing threshold the `gemm` crate starts with.
const GEMM_CRATE_DEFAULT: usize = gemm::DEFAULT_RHS_PACKING_THRESHOLD;

fn main() -> ExitCode {
    let mut rounds = 9usize;
    let mut shapes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rounds" {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(r) if r >= 1 => rounds = r,
                _ => return fail("--rounds needs a count >= 1"),
            }
        } else {
            let dims: Vec<usize> = a.split(',').filter_map(|d| d.parse().ok()).collect();
            match dims[..] {
                [m, n, k] if m > 0 && n > 0 && k > 0 => shapes.push([m, n, k]),
                _ => return fail(&format!("a shape is M,N,K with sizes >= 1, got {a:?}")),
            }
        }
    }
    if shapes.is_empty() {
        shapes = SHAPES.to_vec();
    }
    nn_tensor::set_num_threads(1);
    let openblas = nn_tensor::blas::available();
    println!(
        "one thread; OpenBLAS {}",
        if openblas { "found" } else { "not found" }
    );
    for [m, n, k] in shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104_729) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        // Enough calls per round for ~0.1 s.
        let calls = ((1e10 / flops) as usize).clamp(1, 1000);
        let mut product = || {
            for _ in 0..calls {
                gemm(
                    m,
                    n,
                    k,
                    MatRef::row_major(&a, k),
                    MatRef::row_major(&b, n),
                    &mut c,
                    false,
                );
            }
        };
        product(); // the library sets its packing threshold on first use
        let library = nn_tensor::matmul::GEMM_RHS_PACKING_THRESHOLD;
        // (name, OpenBLAS on, the gemm crate's packing threshold)
        let mut backends = vec![
            ("gemm crate, its packing", false, GEMM_CRATE_DEFAULT),
            ("gemm crate, library's packing", false, library),
        ];
        if openblas {
            backends.push(("library (OpenBLAS where it takes the shape)", true, library));
        }
        let mut seconds = vec![Vec::new(); backends.len()];
        for _ in 0..rounds {
            for (i, &(_, on_openblas, threshold)) in backends.iter().enumerate() {
                nn_tensor::blas::set_enabled(on_openblas);
                gemm::set_rhs_packing_threshold(threshold);
                let t = cpu_seconds();
                product();
                seconds[i].push((cpu_seconds() - t) / calls as f64);
            }
        }
        for ((name, _, _), mut s) in backends.iter().zip(seconds) {
            s.sort_by(f64::total_cmp);
            println!(
                "{m}x{k} . {k}x{n}  {name:<45} best {:6.1}  median {:6.1} GFLOP/s",
                flops / s[0] / 1e9,
                flops / s[s.len() / 2] / 1e9
            );
        }
    }
    nn_tensor::blas::set_enabled(true);
    ExitCode::SUCCESS
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("gemm_backends: {msg}");
    ExitCode::FAILURE
}
