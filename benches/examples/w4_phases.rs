//! Splits W4's forward + backward into its three convolutions, so a change
//! to one kernel can be measured on its own: the forward pass (no graph),
//! forward + input gradient (weight held constant) and forward + weight
//! gradient (input held constant). Prints GFLOP/s of each phase alone
//! (forward time subtracted), median over rounds.
//!
//! `cargo run --release -p nn-bench --example w4_phases -- THREADS ROUNDS`
//!
//! Between the phases glibc may hand the freed output and gradient buffers
//! back to the kernel and fault them in again on the next call, which here
//! cost the input-gradient phase up to a third of its speed (the
//! `workloads` binary is not affected). For kernel comparisons, run with
//! `MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000`.

use std::time::Instant;

use nn_autograd::{no_grad, Var};
use nn_bench::timing::{median_seconds, TimingPlan, TARGET_SECONDS};
use nn_bench::w4_conv::{forward_gflop, setup};
use nn_conv::{conv2d, ConvOptions};

/// Median seconds per call of `f` over `rounds` samples of at least 0.3 s.
fn time(rounds: usize, mut f: impl FnMut()) -> f64 {
    let plan = TimingPlan {
        warmup: 2,
        target_seconds: TARGET_SECONDS,
        samples: rounds,
    };
    median_seconds(&mut f, plan)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (threads, rounds) = (
        args.first().copied().unwrap_or(1),
        args.get(1).copied().unwrap_or(5),
    );
    nn_tensor::set_num_threads(threads);
    let opts = ConvOptions::default().padding(1);
    let (x, w) = setup();
    let gf = forward_gflop();
    let (xc, wc) = (Var::constant(x.clone()), Var::constant(w.value()));
    let (xl, wl) = (Var::leaf(x), w.var());
    // `ONLY=dx` (or fwd, dw, all) loops one phase alone, for a profiler.
    if let Ok(phase) = std::env::var("ONLY") {
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < 3.0 {
            match phase.as_str() {
                "fwd" => drop(no_grad(|| conv2d(&xc, &wc, None, &opts))),
                "dx" => drop(conv2d(&xl, &wc, None, &opts).sum().backward()),
                "dw" => drop(conv2d(&xc, &wl, None, &opts).sum().backward()),
                _ => drop(conv2d(&xl, &wl, None, &opts).sum().backward()),
            }
        }
        return;
    }
    let fwd = time(rounds, || {
        std::hint::black_box(no_grad(|| conv2d(&xc, &wc, None, &opts)));
    });
    let dx = time(rounds, || {
        std::hint::black_box(conv2d(&xl, &wc, None, &opts).sum().backward());
    });
    let dw = time(rounds, || {
        std::hint::black_box(conv2d(&xc, &wl, None, &opts).sum().backward());
    });
    let all = time(rounds, || {
        std::hint::black_box(conv2d(&xl, &wl, None, &opts).sum().backward());
    });
    println!(
        "threads {threads}: forward {:.1} GFLOP/s, input grad {:.1}, weight grad {:.1}, forward+backward {:.1} (3x fwd flops)",
        gf / fwd,
        gf / (dx - fwd),
        gf / (dw - fwd),
        3.0 * gf / all
    );
}
