//! What the step-profiling examples (`w2_profile`, `w7_profile`) share: the
//! matrix products of a training step through linear layers, and the loop
//! that times a step phase by phase next to those products alone.

use std::hint::black_box;
use std::time::Instant;

use nn_autograd::Gradients;
use nn_tensor::{Rng, Tensor};

use crate::phase_clock::{median, thread_cpu_seconds, PhaseClock};

/// How many runs [`profile_step`] takes the median of.
pub const RUNS: usize = 5;

/// Random operands with the shapes and layouts of the matrix products a
/// training step through linear layers performs: per layer the forward
/// product `x·Wᵀ` and the weight gradient `gᵀ·x`, and for every layer but
/// the first (whose input needs no gradient) the input gradient `g·W`.
pub struct StepGemms {
    inputs: Vec<Tensor<f32>>,
    output_grads: Vec<Tensor<f32>>,
    weights: Vec<Tensor<f32>>,
}

impl StepGemms {
    /// Operands for layers of `(in, out)` features `widths` on `batch` rows,
    /// drawn uniformly in `[-1, 1]` from `seed`.
    ///
    /// ```
    /// let g = nn_bench::step_profile::StepGemms::new(4, &[(3, 5), (5, 2)], 0);
    /// assert_eq!(g.count(), 5);
    /// g.run();
    /// ```
    pub fn new(batch: usize, widths: &[(usize, usize)], seed: u64) -> Self {
        let mut rng = Rng::seed_from(seed);
        let mut draw = |shape: &[usize]| Tensor::<f32>::rand_uniform(shape, -1.0, 1.0, &mut rng);
        let inputs = widths.iter().map(|&(i, _)| draw(&[batch, i])).collect();
        let output_grads = widths.iter().map(|&(_, o)| draw(&[batch, o])).collect();
        let weights = widths.iter().map(|&(i, o)| draw(&[o, i])).collect();
        StepGemms {
            inputs,
            output_grads,
            weights,
        }
    }

    /// How many products [`StepGemms::run`] performs.
    pub fn count(&self) -> usize {
        (3 * self.weights.len()).saturating_sub(1)
    }

    /// Performs every product once.
    pub fn run(&self) {
        let layers = self
            .inputs
            .iter()
            .zip(&self.output_grads)
            .zip(&self.weights);
        for (i, ((x, g), w)) in layers.enumerate() {
            black_box(x.matmul_t(w, false, true));
            black_box(g.matmul_t(x, true, false));
            if i > 0 {
                black_box(g.matmul_t(w, false, false));
            }
        }
    }
}

/// Times `steps` training steps split into their phases (`forward` with
/// the loss, `backward`, freeing the graph, the optimiser's `update`), and
/// after each step the products of `gemms` alone, in [`RUNS`] runs; prints
/// the per-step medians of the calling thread's CPU time and of wall time
/// under the heading `"{workload} step phases"`, and what the step spends
/// beyond the products. `update_phase` names the update (`"sgd update"`).
pub fn profile_step<L>(
    workload: &str,
    update_phase: &str,
    steps: usize,
    mut forward: impl FnMut() -> L,
    mut backward: impl FnMut(&L) -> Gradients<f32>,
    mut update: impl FnMut(&Gradients<f32>),
    gemms: &StepGemms,
) {
    let gemm_phase = format!("{} GEMMs alone", gemms.count());
    let names = [
        "forward+loss",
        "backward",
        "free graph",
        update_phase,
        "step total",
        &gemm_phase,
    ];
    let mut runs: Vec<[PhaseClock; 6]> = Vec::new();
    for _ in 0..RUNS {
        let mut c = [PhaseClock::default(); 6];
        for _ in 0..steps {
            let w0 = (thread_cpu_seconds(), Instant::now());
            let loss = c[0].time(&mut forward);
            let g = c[1].time(|| backward(&loss));
            c[2].time(|| drop(loss));
            c[3].time(|| update(&g));
            c[4].cpu += thread_cpu_seconds() - w0.0;
            c[4].wall += w0.1.elapsed().as_secs_f64();
            c[5].time(|| gemms.run());
        }
        runs.push(c);
    }
    println!(
        "{workload} step phases, 1 thread, per step (median of {RUNS} runs of {steps} steps):"
    );
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
