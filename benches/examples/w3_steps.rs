//! Times W3 training steps with a fixed step count, for before/after
//! comparisons of the convolution code on a busy machine: prints wall time
//! and process CPU time per step, median over rounds.
//!
//! `cargo run --release -p nn-bench --example w3_steps -- THREADS STEPS ROUNDS`

use std::time::Instant;

use nn_bench::w3_lenet::LeNetTraining;
use nn_layers::Module;

/// User + system CPU time of the whole process, in seconds.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (threads, steps, rounds) = (args[0], args[1], args[2]);
    nn_tensor::set_num_threads(threads);
    let mut t = LeNetTraining::new();
    for _ in 0..5 {
        t.step();
    }
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..rounds {
        let (w, c) = (Instant::now(), process_cpu());
        for _ in 0..steps {
            std::hint::black_box(t.step());
        }
        walls.push(w.elapsed().as_secs_f64() / steps as f64 * 1e3);
        cpus.push((process_cpu() - c) / steps as f64 * 1e3);
    }
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    // FNV-1a over every parameter's bits: equal between thread counts
    // when the step is deterministic.
    let mut sum: u64 = 0xcbf2_9ce4_8422_2325;
    for (_, p) in t.model.named_parameters() {
        for v in p.value().to_vec() {
            sum = (sum ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3);
        }
    }
    println!(
        "threads {threads}: wall {:.3} ms/step (min {:.3}), cpu {:.3} ms/step, samples/s {:.0}, checksum {sum:016x}",
        walls[rounds / 2],
        walls[0],
        cpus[rounds / 2],
        64.0 / walls[0] * 1e3
    );
}
