//! W2: one training step of an MLP 784-256-128-10 (ReLU, softmax
//! cross-entropy with mean reduction, plain SGD with lr 0.01) on a fixed
//! batch of 128, in f32; reported in training samples per second.
//!
//! Built directly on [`Parameter`] and [`Var`] ops until the layer and
//! optimiser crates exist; when they land, only this module changes.

use nn_autograd::{Gradients, Parameter, Var};
use nn_tensor::{Rng, Tensor};

use crate::workload::Workload;

/// Layer widths, input first.
pub const SIZES: [usize; 4] = [784, 256, 128, 10];
/// Samples per step.
pub const BATCH: usize = 128;
/// SGD learning rate.
pub const LR: f32 = 0.01;

/// A fully connected layer `y = x·Wᵀ + b` with PyTorch's layout and default
/// initialisation.
pub struct Linear {
    /// `[out, in]`.
    pub weight: Parameter<f32>,
    /// `[out]`.
    pub bias: Parameter<f32>,
}

impl Linear {
    /// PyTorch's default `nn.Linear` init: kaiming-uniform with a = √5 for
    /// the weight, which is U(−1/√in, 1/√in), and the same bound for the bias.
    pub fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> Linear {
        let bound = 1.0 / (inputs as f64).sqrt();
        Linear {
            weight: Parameter::new(Tensor::rand_uniform(&[outputs, inputs], -bound, bound, rng)),
            bias: Parameter::new(Tensor::rand_uniform(&[outputs], -bound, bound, rng)),
        }
    }

    /// `x: [batch, in]` → `[batch, out]`.
    pub fn forward(&self, x: &Var<f32>) -> Var<f32> {
        x.matmul_t(&self.weight.var(), false, true)
            .add(&self.bias.var())
    }
}

/// The MLP: Linear-ReLU-Linear-ReLU-Linear.
pub struct Mlp {
    /// The layers, input side first.
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// A fresh model with widths `sizes` (input first) from `seed`.
    pub fn new(sizes: &[usize], seed: u64) -> Mlp {
        let mut rng = Rng::seed_from(seed);
        Mlp {
            layers: sizes
                .windows(2)
                .map(|w| Linear::new(w[0], w[1], &mut rng))
                .collect(),
        }
    }

    /// Logits `[batch, classes]` for `x: [batch, inputs]`.
    pub fn forward(&self, x: &Var<f32>) -> Var<f32> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h);
            if i < last {
                h = h.relu();
            }
        }
        h
    }

    /// Every parameter, weight before bias, input side first.
    pub fn parameters(&self) -> Vec<&Parameter<f32>> {
        self.layers
            .iter()
            .flat_map(|l| [&l.weight, &l.bias])
            .collect()
    }
}

/// Plain SGD: `p ← p − lr·∂L/∂p` for every parameter with a gradient. The
/// update runs in place (the graph must be dropped first, or each parameter's
/// storage is still shared and gets copied).
pub fn sgd_step(params: &[&Parameter<f32>], grads: &Gradients<f32>, lr: f32) {
    for p in params {
        let Some(g) = grads.get_id(p.id()) else {
            continue;
        };
        p.update(|v| {
            for (w, &g) in v.as_mut_slice().iter_mut().zip(g.as_slice()) {
                *w -= lr * g;
            }
        });
    }
}

/// The model, the fixed batch and its labels.
pub struct MlpTraining {
    /// The model being trained.
    pub model: Mlp,
    x: Var<f32>,
    y: Vec<usize>,
}

impl MlpTraining {
    /// The README's set-up: model from seed 0, inputs U[-1, 1) and labels
    /// uniform over the classes from seed 1.
    pub fn new() -> MlpTraining {
        let model = Mlp::new(&SIZES, 0);
        let mut rng = Rng::seed_from(1);
        let x = Tensor::rand_uniform(&[BATCH, SIZES[0]], -1.0, 1.0, &mut rng);
        let classes = SIZES[SIZES.len() - 1];
        let y = (0..BATCH).map(|_| rng.below(classes)).collect();
        MlpTraining {
            model,
            x: Var::constant(x),
            y,
        }
    }

    /// The fixed input batch `[BATCH, 784]`.
    pub fn input(&self) -> &Var<f32> {
        &self.x
    }

    /// The fixed labels, one per sample.
    pub fn labels(&self) -> &[usize] {
        &self.y
    }

    /// Forward, loss, backward, SGD update; returns the loss before the update.
    pub fn step(&self) -> f32 {
        let loss = self.model.forward(&self.x).cross_entropy(&self.y);
        let value = loss.value().item();
        let grads = loss.backward();
        // Free the graph so the parameters' storage is no longer shared and
        // the update below writes in place.
        drop(loss);
        sgd_step(&self.model.parameters(), &grads, LR);
        value
    }
}

impl Default for MlpTraining {
    fn default() -> Self {
        MlpTraining::new()
    }
}

/// `W2_mlp`.
pub fn workloads() -> Vec<Workload> {
    vec![Workload::repeated(
        "W2_mlp",
        "samples/s",
        BATCH as f64,
        5,
        MlpTraining::new,
        |t| t.step(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_follows_pytorch_bounds() {
        let m = Mlp::new(&SIZES, 3);
        for (l, &fan_in) in m.layers.iter().zip(&SIZES) {
            let bound = 1.0 / (fan_in as f32).sqrt();
            for p in [&l.weight, &l.bias] {
                let v = p.value();
                assert!(v.max_all() < bound && v.min_all() >= -bound);
            }
            // The weights (thousands of draws) fill the interval.
            let w = l.weight.value();
            assert!(w.max_all() > 0.9 * bound && w.min_all() < -0.9 * bound);
        }
        assert_eq!(m.layers[0].weight.shape(), vec![256, 784]);
        assert_eq!(m.layers[2].bias.shape(), vec![10]);
    }

    #[test]
    fn training_steps_lower_the_loss_and_update_in_place() {
        let t = MlpTraining::new();
        let first = t.step();
        // ln(10) ≈ 2.30 for an untrained 10-way classifier.
        assert!((first - 10f32.ln()).abs() < 0.3, "{first}");
        let mut last = first;
        for _ in 0..100 {
            last = t.step();
        }
        // Random labels on one fixed batch: SGD at lr 0.01 memorises slowly
        // but steadily.
        assert!(last < first - 0.05, "{first} -> {last}");
    }

    #[test]
    fn sgd_step_matches_the_formula() {
        let p = Parameter::new(Tensor::<f32>::from_vec(vec![1.0, -2.0], &[2]));
        let mut g = Gradients::new();
        g.insert(p.id(), Tensor::from_vec(vec![10.0, 100.0], &[2]));
        sgd_step(&[&p], &g, 0.01);
        assert_eq!(p.value().to_vec(), vec![0.9, -3.0]);
    }
}
