//! Times 3×3, padding-1 convolutions of several layer shapes, forward pass
//! and weight gradient (forward + weight gradient, forward time
//! subtracted), in GFLOP/s, median of 5 rounds: the measurements behind the
//! thresholds of `nn-conv`'s shifted-GEMM paths (`CHANNEL_LAST_MIN_*`,
//! `WGRAD_*`). Run a build before and after a change to compare.
//!
//! With `--algorithms`, the forward pass of each shape is instead timed with
//! every algorithm forced in turn (`nn_conv::with_conv_algorithm`), round
//! after round, by the process's CPU time (so a busy machine slows them
//! alike): the measurements behind `nn-conv`'s direct-kernel threshold.
//!
//! `cargo run --release -p nn-bench --example conv_shapes -- THREADS [--algorithms]`

use nn_autograd::{no_grad, Var};
use nn_bench::timing::{cpu_seconds, median_seconds, TimingPlan};
use nn_conv::{conv2d, with_conv_algorithm, ConvAlgorithm, ConvOptions};
use nn_tensor::{Rng, Tensor};

/// The forward algorithms compared by `--algorithms` (the 1×1 one cannot
/// compute a 3×3 kernel).
const FORWARD: [ConvAlgorithm; 4] = [
    ConvAlgorithm::Direct,
    ConvAlgorithm::Shifted,
    ConvAlgorithm::Pitched,
    ConvAlgorithm::Im2col,
];

/// Median GFLOP/s of each forward algorithm over 7 interleaved rounds of
/// about 0.1 s of CPU time each.
fn compare_algorithms(x: &Var<f32>, w: &Var<f32>, o: &ConvOptions<2>, gflop: f64) -> Vec<f64> {
    let run = |a| {
        with_conv_algorithm(a, || {
            std::hint::black_box(no_grad(|| conv2d(x, w, None, o)))
        })
    };
    let calls: Vec<usize> = FORWARD
        .iter()
        .map(|&a| {
            run(a);
            let t = cpu_seconds();
            run(a);
            ((0.1 / (cpu_seconds() - t).max(1e-6)) as usize).clamp(1, 1000)
        })
        .collect();
    let mut rates = vec![Vec::new(); FORWARD.len()];
    for _ in 0..7 {
        for (i, &a) in FORWARD.iter().enumerate() {
            let t = cpu_seconds();
            for _ in 0..calls[i] {
                run(a);
            }
            rates[i].push(gflop * calls[i] as f64 / (cpu_seconds() - t));
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect()
}
/// Median seconds per call of `f` over 5 samples of at least 0.2 s.
fn time(mut f: impl FnMut()) -> f64 {
    let plan = TimingPlan {
        warmup: 2,
        target_seconds: 0.2,
        samples: 5,
    };
    median_seconds(&mut f, plan)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let algorithms = args.iter().any(|a| a == "--algorithms");
    let threads: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1);
    nn_tensor::set_num_threads(threads);
    if algorithms {
        println!("forward GFLOP/s (CPU time), {FORWARD:?}");
    }
    let mut rng = Rng::seed_from(0);
    // (batch, input channels, map side, output channels).
    for &(n, c, h, co) in &[
        (16usize, 64usize, 28usize, 64usize),
        (32, 64, 14, 64),
        (16, 128, 14, 128),
        (2, 128, 56, 128),
        (64, 16, 28, 16),
        (64, 16, 14, 16),
        (64, 32, 14, 32),
        (64, 32, 7, 32),
        (32, 64, 8, 64),
        (8, 256, 14, 256),
        (8, 32, 56, 32),
        (4, 256, 28, 256),
        (8, 96, 28, 96),
        (8, 48, 28, 48),
        (8, 64, 20, 64),
        (8, 256, 20, 256),
        (8, 16, 56, 64),
        (8, 64, 56, 16),
        (8, 64, 56, 64),
    ] {
        let x = Tensor::<f32>::rand_uniform(&[n, c, h, h], -1.0, 1.0, &mut rng);
        let w = Tensor::<f32>::rand_uniform(&[co, c, 3, 3], -0.1, 0.1, &mut rng);
        let o = ConvOptions::default().padding(1);
        let gf = 2.0 * (n * co * h * h * c * 9) as f64 / 1e9;
        let (xc, wc) = (Var::constant(x), Var::constant(w.clone()));
        if algorithms {
            let rates = compare_algorithms(&xc, &wc, &o, gf);
            let cells: Vec<String> = rates.iter().map(|r| format!("{r:.1}")).collect();
            println!("{n}x{c}x{h}x{h} -> {co}: {}", cells.join(" | "));
            continue;
        }
        let wl = Var::leaf(w);
        let f = time(|| {
            std::hint::black_box(no_grad(|| conv2d(&xc, &wc, None, &o)));
        });
        let fb = time(|| {
            std::hint::black_box(conv2d(&xc, &wl, None, &o).sum().backward());
        });
        println!(
            "{n}x{c}x{h}x{h} -> {co}: fwd {:.1} GFLOP/s, wgrad {:.1}",
            gf / f,
            gf / (fb - f)
        );
    }
}
