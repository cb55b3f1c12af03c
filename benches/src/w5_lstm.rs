//! W5: a 1-layer LSTM (input 32, hidden 128, PyTorch's default init),
//! batch-first input `[32, 50, 32]` uniform in [-1, 1); one call is the
//! forward pass and the backward pass of `sum(output)`, with no update, in
//! f32; reported in steps per second.

use nn_autograd::Var;
use nn_layers::Module;
use nn_rnn::{Lstm, LstmConfig};
use nn_tensor::{Rng, Tensor};

use crate::workload::Workload;

/// Features per input step.
pub const INPUT: usize = 32;
/// Hidden units.
pub const HIDDEN: usize = 128;
/// Time steps.
pub const SEQ: usize = 50;
/// Sequences per batch.
pub const BATCH: usize = 32;

/// The layer and its fixed batch.
pub struct LstmStep {
    /// The layer (batch-first).
    pub lstm: Lstm<f32>,
    x: Var<f32>,
}

impl LstmStep {
    /// The README's set-up: layer from seed 0, input from seed 1.
    pub fn new() -> LstmStep {
        let lstm = LstmConfig::new(INPUT, HIDDEN)
            .with_batch_first(true)
            .init(&mut Rng::seed_from(0))
            .expect("the workload's sizes are positive");
        let x = Tensor::rand_uniform(&[BATCH, SEQ, INPUT], -1.0, 1.0, &mut Rng::seed_from(1));
        LstmStep {
            lstm,
            x: Var::constant(x),
        }
    }

    /// Forward, `sum(output)`, backward; returns the sum and the number of
    /// parameter gradients produced (four: both weights, both biases).
    pub fn step(&self) -> (f32, usize) {
        let (out, _) = self.lstm.forward(&self.x, None);
        let total = out.sum();
        let grads = total.backward();
        let produced = self
            .lstm
            .named_parameters()
            .iter()
            .filter(|(_, p)| grads.get_id(p.id()).is_some())
            .count();
        (total.value().item(), produced)
    }
}

impl Default for LstmStep {
    fn default() -> Self {
        LstmStep::new()
    }
}

/// `W5_lstm`.
pub fn workloads() -> Vec<Workload> {
    vec![Workload::repeated(
        "W5_lstm",
        "steps/s",
        1.0,
        3,
        LstmStep::new,
        |t| t.step(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_produces_every_gradient_and_a_finite_sum() {
        let t = LstmStep::new();
        let (sum, produced) = t.step();
        assert!(sum.is_finite());
        assert_eq!(produced, 4);
        // The output of a tanh-squashed cell is bounded by 1 in magnitude.
        assert!(sum.abs() < (BATCH * SEQ * HIDDEN) as f32);
        assert_eq!(
            t.lstm.named_parameters()[0].1.shape(),
            vec![4 * HIDDEN, INPUT]
        );
    }
}
