//! Where the time of one W2 training step goes, on one thread.
//!
//! Times the phases of the step (forward with loss, backward, freeing the
//! graph, SGD update) and, separately, the eight matrix products the step
//! performs with the same shapes and layouts; the rest of the step is
//! element-wise work, graph bookkeeping and allocation. Each figure is the
//! calling thread's CPU time (Linux `schedstat`, so other jobs on the machine
//! do not inflate it) and wall time, per step, median of several runs.
//!
//! `cargo run --release -p nn-bench --example w2_profile [steps]`

use std::hint::black_box;
use std::time::Instant;

use nn_autograd::Reduction;
use nn_bench::phase_clock::{median, thread_cpu_seconds, PhaseClock};
use nn_bench::w2_mlp::{sgd_step, MlpTraining, BATCH, LR, SIZES};
use nn_tensor::{Rng, Tensor};

fn main() {
    nn_tensor::set_num_threads(1);
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let t = MlpTraining::new();
    let x = t.input().clone();
    let y = t.labels().to_vec();
    // The eight products of a step: 3 forward, 3 weight gradients, 2 input
    // gradients (the first layer's input needs none).
    let mut rng = Rng::seed_from(2);
    let mut u = |s: &[usize]| Tensor::<f32>::rand_uniform(s, -1.0, 1.0, &mut rng);
    let (b, s) = (BATCH, SIZES);
    let acts: Vec<Tensor<f32>> = (0..3).map(|i| u(&[b, s[i]])).collect();
    let grads: Vec<Tensor<f32>> = (0..3).map(|i| u(&[b, s[i + 1]])).collect();
    let weights: Vec<Tensor<f32>> = (0..3).map(|i| u(&[s[i + 1], s[i]])).collect();
    let gemms = || {
        for i in 0..3 {
            black_box(acts[i].matmul_t(&weights[i], false, true));
            black_box(grads[i].matmul_t(&acts[i], true, false));
            if i > 0 {
                black_box(grads[i].matmul_t(&weights[i], false, false));
            }
        }
    };
    let names = [
        "forward+loss",
        "backward",
        "free graph",
        "sgd update",
        "step total",
        "8 GEMMs alone",
    ];
    let mut runs: Vec<[PhaseClock; 6]> = Vec::new();
    for _ in 0..5 {
        let mut c = [PhaseClock::default(); 6];
        for _ in 0..steps {
            let w0 = (thread_cpu_seconds(), Instant::now());
            let mut loss = None;
            c[0].time(|| loss = Some(t.model.forward(&x).cross_entropy(&y, Reduction::Mean, 0.0)));
            let loss = loss.unwrap();
            let mut g = None;
            c[1].time(|| g = Some(loss.backward()));
            c[2].time(|| drop(loss));
            let g = g.unwrap();
            c[3].time(|| sgd_step(&t.model.parameters(), &g, LR));
            c[4].cpu += thread_cpu_seconds() - w0.0;
            c[4].wall += w0.1.elapsed().as_secs_f64();
            c[5].time(gemms);
        }
        runs.push(c);
    }
    println!("W2 step phases, 1 thread, per step (median of 5 runs of {steps} steps):");
    println!("{:16} {:>10} {:>10}", "phase", "cpu ms", "wall ms");
    let per = |i: usize, f: fn(&PhaseClock) -> f64| {
        median(runs.iter().map(|c| f(&c[i]) / steps as f64 * 1e3).collect())
    };
    for (i, n) in names.iter().enumerate() {
        println!(
            "{n:16} {:10.3} {:10.3}",
            per(i, |c| c.cpu),
            per(i, |c| c.wall)
        );
    }
    let rest = per(4, |c| c.cpu) - per(5, |c| c.cpu);
    println!("{:16} {:10.3}", "step - GEMMs", rest);
}
