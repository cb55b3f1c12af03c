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

use nn_bench::step_profile::{profile_step, StepGemms};
use nn_bench::w2_mlp::{sgd_step, MlpTraining, BATCH, LR, SIZES};

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
    // gradients.
    let widths: Vec<(usize, usize)> = SIZES.windows(2).map(|w| (w[0], w[1])).collect();
    profile_step(
        "W2",
        "sgd update",
        steps,
        || t.model.forward(&x).cross_entropy(&y),
        |loss| loss.backward(),
        |g| sgd_step(&t.model.parameters(), g, LR),
        &StepGemms::new(BATCH, &widths, 2),
    );
}
