//! W3: one training step of LeNet-5 (the README's definition: conv 1→6 5×5
//! pad 2, ReLU, max pool 2, conv 6→16 5×5, ReLU, max pool 2, fc 400→120→84→10
//! with ReLU; softmax cross-entropy, plain SGD with lr 0.01) on a fixed batch
//! of 64 images of 1×28×28, in f32; reported in training samples per second.
//!
//! The model is the library's own [`LeNet5`] (no batch norm) and the update
//! the library's [`Sgd`], so this times what a user's training loop runs.

use nn_autograd::Var;
use nn_conv::layers::{LeNet5, LeNet5Config};
use nn_layers::{CrossEntropyLoss, Forward, Module};
use nn_optim::{Sgd, SgdConfig};
use nn_tensor::{Rng, Tensor};

use crate::workload::Workload;

/// Samples per step.
pub const BATCH: usize = 64;
/// SGD learning rate.
pub const LR: f64 = 0.01;

/// The model, its optimiser, the fixed batch and its labels.
pub struct LeNetTraining {
    /// The model being trained.
    pub model: LeNet5<f32>,
    opt: Sgd<f32>,
    loss: CrossEntropyLoss,
    x: Var<f32>,
    y: Vec<usize>,
}

impl LeNetTraining {
    /// The README's set-up: model from seed 0, inputs U[-1, 1) and labels
    /// uniform over the 10 classes from seed 1.
    pub fn new() -> LeNetTraining {
        let model: LeNet5<f32> = LeNet5Config::new(1, 10)
            .init(&mut Rng::seed_from(0))
            .expect("LeNet-5 config is valid");
        let opt = SgdConfig::new(LR)
            .init(model.named_parameters())
            .expect("SGD config is valid");
        let mut rng = Rng::seed_from(1);
        let x = Tensor::rand_uniform(&[BATCH, 1, 28, 28], -1.0, 1.0, &mut rng);
        let y = (0..BATCH).map(|_| rng.below(10)).collect();
        LeNetTraining {
            model,
            opt,
            loss: CrossEntropyLoss::default(),
            x: Var::constant(x),
            y,
        }
    }

    /// Forward, loss, backward, SGD update; returns the loss before the update.
    pub fn step(&mut self) -> f32 {
        let loss = self.loss.forward(&self.model.forward(&self.x), &self.y);
        let value = loss.value().item();
        let grads = loss.backward();
        // Free the graph first so the parameters' storage is no longer
        // shared and the update writes in place.
        drop(loss);
        self.opt.step(&grads);
        value
    }
}

impl Default for LeNetTraining {
    fn default() -> Self {
        LeNetTraining::new()
    }
}

/// `W3_lenet`.
pub fn workloads() -> Vec<Workload> {
    vec![Workload::repeated(
        "W3_lenet",
        "samples/s",
        BATCH as f64,
        3,
        LeNetTraining::new,
        |t| t.step(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_lower_the_loss() {
        let mut t = LeNetTraining::new();
        let first = t.step();
        // ln(10) ≈ 2.30 for an untrained 10-way classifier.
        assert!((first - 10f32.ln()).abs() < 0.3, "{first}");
        let mut last = first;
        for _ in 0..60 {
            last = t.step();
        }
        // Random labels on one fixed batch: SGD at lr 0.01 memorises
        // slowly but steadily.
        assert!(last < first - 0.005, "{first} -> {last}");
        assert_eq!(t.model.num_parameters(), 61_706);
    }
}
