//! Times 3×3, padding-1 convolutions of several layer shapes, forward pass
//! and weight gradient (forward + weight gradient, forward time
//! subtracted), in GFLOP/s, median of 5 rounds: the measurements behind the
//! thresholds of `nn-conv`'s shifted-GEMM paths (`CHANNEL_LAST_MIN_*`,
//! `WGRAD_*`). Run a build before and after a change to compare.
//!
//! `cargo run --release -p nn-bench --example conv_shapes -- THREADS`

use nn_autograd::{no_grad, Var};
use nn_bench::timing::{median_seconds, TimingPlan};
use nn_conv::{conv2d, ConvOptions};
use nn_tensor::{Rng, Tensor};
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
    let threads: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(1);
    nn_tensor::set_num_threads(threads);
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
    ] {
        let x = Tensor::<f32>::rand_uniform(&[n, c, h, h], -1.0, 1.0, &mut rng);
        let w = Tensor::<f32>::rand_uniform(&[co, c, 3, 3], -0.1, 0.1, &mut rng);
        let o = ConvOptions::default().padding(1);
        let gf = 2.0 * (n * co * h * h * c * 9) as f64 / 1e9;
        let (xc, wc) = (Var::constant(x), Var::constant(w.clone()));
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
