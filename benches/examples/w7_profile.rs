//! Where the time of one W7 (VAE) training step goes, on one thread.
//!
//! Times the phases of the step (forward with loss, backward, freeing the
//! graph, Adam update) and, separately, the eleven matrix products the step
//! performs with the same shapes and layouts; the rest of the step is
//! element-wise work, graph bookkeeping and allocation. Each figure is the
//! calling thread's CPU time (Linux `schedstat`, so other jobs on the machine
//! do not inflate it) and wall time, per step, median of several runs.
//!
//! `cargo run --release -p nn-bench --example w7_profile [steps]`

use std::hint::black_box;
use std::time::Instant;

use nn_bench::phase_clock::{median, thread_cpu_seconds, PhaseClock};
use nn_bench::w7_vae::{build_vae, BATCH, HIDDEN, INPUT, LATENT, LR};
use nn_layers::Module;
use nn_optim::AdamConfig;
use nn_tensor::{Rng, Tensor};

fn main() {
    nn_tensor::set_num_threads(1);
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let vae = build_vae(0);
    let mut opt = AdamConfig::new(LR)
        .init(vae.named_parameters())
        .expect("valid Adam configuration");
    let x = Tensor::rand_uniform(&[BATCH, INPUT], 0.0, 1.0, &mut Rng::seed_from(1));
    let mut noise = Rng::seed_from(2);
    // The eleven products of a step: 4 forward, 4 weight gradients, 3 input
    // gradients (the image needs none).
    let mut rng = Rng::seed_from(3);
    let mut u = |s: &[usize]| Tensor::<f32>::rand_uniform(s, -1.0, 1.0, &mut rng);
    let widths = [
        (INPUT, HIDDEN),
        (HIDDEN, 2 * LATENT),
        (LATENT, HIDDEN),
        (HIDDEN, INPUT),
    ];
    let acts: Vec<Tensor<f32>> = widths.iter().map(|&(i, _)| u(&[BATCH, i])).collect();
    let grads: Vec<Tensor<f32>> = widths.iter().map(|&(_, o)| u(&[BATCH, o])).collect();
    let weights: Vec<Tensor<f32>> = widths.iter().map(|&(i, o)| u(&[o, i])).collect();
    let gemms = || {
        for i in 0..4 {
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
        "adam update",
        "step total",
        "11 GEMMs alone",
    ];
    let mut runs: Vec<[PhaseClock; 6]> = Vec::new();
    for _ in 0..5 {
        let mut c = [PhaseClock::default(); 6];
        for _ in 0..steps {
            let w0 = (thread_cpu_seconds(), Instant::now());
            let mut loss = None;
            c[0].time(|| loss = Some(vae.loss(&x, &mut noise)));
            let loss = loss.unwrap();
            let mut g = None;
            c[1].time(|| g = Some(loss.total.backward()));
            c[2].time(|| drop(loss));
            let g = g.unwrap();
            c[3].time(|| opt.step(&g));
            c[4].cpu += thread_cpu_seconds() - w0.0;
            c[4].wall += w0.1.elapsed().as_secs_f64();
            c[5].time(gemms);
        }
        runs.push(c);
    }
    println!("W7 step phases, 1 thread, per step (median of 5 runs of {steps} steps):");
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
