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

use nn_bench::step_profile::{profile_step, StepGemms};
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
    // gradients.
    let widths = [
        (INPUT, HIDDEN),
        (HIDDEN, 2 * LATENT),
        (LATENT, HIDDEN),
        (HIDDEN, INPUT),
    ];
    profile_step(
        "W7",
        "adam update",
        steps,
        || vae.loss(&x, &mut noise),
        |loss| loss.total.backward(),
        |g| opt.step(g),
        &StepGemms::new(BATCH, &widths, 3),
    );
}
