//! W6: one training step of a Transformer encoder layer (d_model 128, 4
//! heads, FFN 512, post-norm, ReLU, dropout 0) on a fixed input
//! `16 × 64 × 128`, MSE to a fixed target, Adam lr 1e-3; reported in
//! training steps per second.

use nn_attention::{TransformerEncoderLayer, TransformerEncoderLayerConfig};
use nn_autograd::Var;
use nn_layers::Module;
use nn_optim::{Adam, AdamConfig};
use nn_tensor::{Rng, Tensor};

use crate::workload::Workload;

/// Model width.
pub const D_MODEL: usize = 128;
/// Attention heads.
pub const HEADS: usize = 4;
/// Feed-forward width.
pub const FFN: usize = 512;
/// Batch size.
pub const BATCH: usize = 16;
/// Sequence length.
pub const SEQ: usize = 64;
/// Adam learning rate.
pub const LR: f64 = 1e-3;

/// The layer, its optimiser, the fixed input and the fixed target.
pub struct TransformerTraining {
    /// The encoder layer being trained.
    pub layer: TransformerEncoderLayer<f32>,
    opt: Adam<f32>,
    x: Var<f32>,
    target: Var<f32>,
}

impl TransformerTraining {
    /// The README's set-up: layer from seed 0 (PyTorch's initialisation),
    /// input and target U[-1, 1) from seed 1.
    pub fn new() -> TransformerTraining {
        let layer = TransformerEncoderLayerConfig::new(D_MODEL, HEADS)
            .with_dim_feedforward(FFN)
            .with_dropout(0.0)
            .with_norm_first(false)
            .init(&mut Rng::seed_from(0))
            .expect("valid Transformer layer configuration");
        let opt = AdamConfig::new(LR)
            .init(layer.named_parameters())
            .expect("valid Adam configuration");
        let mut rng = Rng::seed_from(1);
        let shape = [BATCH, SEQ, D_MODEL];
        let x = Tensor::rand_uniform(&shape, -1.0, 1.0, &mut rng);
        let target = Tensor::rand_uniform(&shape, -1.0, 1.0, &mut rng);
        TransformerTraining {
            layer,
            opt,
            x: Var::constant(x),
            target: Var::constant(target),
        }
    }

    /// Forward, MSE loss, backward, Adam update; returns the loss before the
    /// update.
    pub fn step(&mut self) -> f32 {
        let loss = self
            .layer
            .forward(&self.x, None, None)
            .mse_loss(&self.target);
        let value = loss.value().item();
        let grads = loss.backward();
        // Free the graph so the parameters' storage is no longer shared and
        // the update writes in place.
        drop(loss);
        self.opt.step(&grads);
        value
    }
}

impl Default for TransformerTraining {
    fn default() -> Self {
        TransformerTraining::new()
    }
}

/// `W6_transformer`.
pub fn workloads() -> Vec<Workload> {
    vec![Workload::repeated(
        "W6_transformer",
        "steps/s",
        1.0,
        3,
        TransformerTraining::new,
        |t| t.step(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_lowers_the_loss() {
        let mut t = TransformerTraining::new();
        let first = t.step();
        let mut last = first;
        for _ in 0..20 {
            last = t.step();
        }
        assert!(first.is_finite() && last < 0.9 * first, "{first} → {last}");
    }

    #[test]
    fn parameters_have_pytorch_names_and_shapes() {
        let t = TransformerTraining::new();
        let named = t.layer.named_parameters();
        let shape = |n: &str| {
            named
                .iter()
                .find(|(k, _)| k == n)
                .unwrap_or_else(|| panic!("{n} missing"))
                .1
                .shape()
        };
        assert_eq!(
            shape("self_attn.in_proj_weight"),
            vec![3 * D_MODEL, D_MODEL]
        );
        assert_eq!(shape("linear1.weight"), vec![FFN, D_MODEL]);
        assert_eq!(shape("linear2.weight"), vec![D_MODEL, FFN]);
        assert_eq!(named.len(), 12);
    }
}
