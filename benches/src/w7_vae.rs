//! W7: one training step of the VAE of Kingma & Welling's MNIST experiments
//! (encoder 784-400-(20 μ, 20 log σ²), decoder 20-400-784, ReLU), with
//! Bernoulli pixels (BCE-with-logits summed over the batch) plus the KL to
//! `N(0, I)`, reparameterised with fresh noise every step, Adam lr 1e-3, on a
//! fixed batch of 128 images drawn from U[0, 1); reported in training
//! samples per second.
//!
//! The model is [`nn_generative::Vae`] over [`nn_layers`] modules, used
//! through its public API only, so the workload times the library as a user
//! would run it.

use nn_generative::{Vae, VaeConfig};
use nn_layers::{Linear, LinearConfig, Module, Relu, Sequential};
use nn_optim::{Adam, AdamConfig};
use nn_tensor::{Rng, Tensor};

use crate::workload::Workload;

/// Pixels per image.
pub const INPUT: usize = 784;
/// Hidden width of the encoder and of the decoder.
pub const HIDDEN: usize = 400;
/// Latent dimension.
pub const LATENT: usize = 20;
/// Samples per step.
pub const BATCH: usize = 128;
/// Adam learning rate.
pub const LR: f64 = 1e-3;

/// The VAE of this workload: `Sequential` encoder and decoder.
pub type BenchVae = Vae<f32, Sequential<f32>, Sequential<f32>>;

/// The model, its optimiser, the fixed batch and the noise generator.
pub struct VaeTraining {
    /// The VAE being trained.
    pub vae: BenchVae,
    opt: Adam<f32>,
    x: Tensor<f32>,
    noise: Rng,
}

fn linear(inputs: usize, outputs: usize, rng: &mut Rng) -> Linear<f32> {
    LinearConfig::new(inputs, outputs)
        .init(rng)
        .expect("valid Linear configuration")
}

/// The README's VAE with PyTorch's default initialisation from `seed`. The
/// encoder's last layer is PyTorch's `fc21` and `fc22` side by side (means
/// then log-variances), which is the same function.
pub fn build_vae(seed: u64) -> BenchVae {
    let mut rng = Rng::seed_from(seed);
    let encoder = Sequential::new()
        .append(linear(INPUT, HIDDEN, &mut rng))
        .append(Relu)
        .append(linear(HIDDEN, 2 * LATENT, &mut rng));
    let decoder = Sequential::new()
        .append(linear(LATENT, HIDDEN, &mut rng))
        .append(Relu)
        .append(linear(HIDDEN, INPUT, &mut rng));
    VaeConfig::new(LATENT)
        .init(encoder, decoder, &mut rng)
        .expect("valid VAE configuration")
}

impl VaeTraining {
    /// The README's set-up: model from seed 0, batch U[0, 1) from seed 1,
    /// noise from seed 2.
    pub fn new() -> VaeTraining {
        let vae = build_vae(0);
        let opt = AdamConfig::new(LR)
            .init(vae.named_parameters())
            .expect("valid Adam configuration");
        let x = Tensor::rand_uniform(&[BATCH, INPUT], 0.0, 1.0, &mut Rng::seed_from(1));
        VaeTraining {
            vae,
            opt,
            x,
            noise: Rng::seed_from(2),
        }
    }

    /// Forward with fresh noise, loss, backward, Adam update; returns the
    /// negative ELBO per image before the update.
    pub fn step(&mut self) -> f64 {
        let loss = self.vae.loss(&self.x, &mut self.noise);
        let value = loss.neg_elbo();
        let grads = loss.total.backward();
        // Free the graph so the parameters' storage is no longer shared and
        // the update writes in place.
        drop(loss);
        self.opt.step(&grads);
        value
    }
}

impl Default for VaeTraining {
    fn default() -> Self {
        VaeTraining::new()
    }
}

/// `W7_vae`.
pub fn workloads() -> Vec<Workload> {
    vec![Workload::repeated(
        "W7_vae",
        "samples/s",
        BATCH as f64,
        5,
        VaeTraining::new,
        |t| t.step(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_reaches_the_best_constant_prediction() {
        // On uniform noise the best a young model can do is predict 0.5 for
        // every pixel, which costs 784·ln 2 ≈ 543.4 nats whatever the image,
        // and shrink the KL term to 0. A fresh model is a few nats above
        // that (its KL and its logits away from 0); 60 steps reach it.
        let floor = INPUT as f64 * std::f64::consts::LN_2;
        let mut t = VaeTraining::new();
        let first = t.step();
        assert!(first > floor + 3.0 && first < floor + 30.0, "{first}");
        let mut last = first;
        for _ in 0..60 {
            last = t.step();
        }
        assert!((last - floor).abs() < 1.0, "{first} → {last}");
    }

    #[test]
    fn parameters_have_the_readme_shapes() {
        let vae = build_vae(0);
        let shapes: Vec<(String, Vec<usize>)> = vae
            .named_parameters()
            .into_iter()
            .map(|(n, p)| (n, p.shape()))
            .collect();
        let want = [
            ("encoder.0.weight", vec![HIDDEN, INPUT]),
            ("encoder.0.bias", vec![HIDDEN]),
            ("encoder.2.weight", vec![2 * LATENT, HIDDEN]),
            ("encoder.2.bias", vec![2 * LATENT]),
            ("decoder.0.weight", vec![HIDDEN, LATENT]),
            ("decoder.0.bias", vec![HIDDEN]),
            ("decoder.2.weight", vec![INPUT, HIDDEN]),
            ("decoder.2.bias", vec![INPUT]),
        ];
        assert_eq!(shapes.len(), want.len());
        for (n, s) in want {
            assert!(
                shapes.contains(&(n.to_string(), s.clone())),
                "{n} {s:?} in {shapes:?}"
            );
        }
    }
}
