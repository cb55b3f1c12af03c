//! [`Dropout`]: inverted dropout, identity in evaluation mode.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::layer_rng::LayerRng;
use crate::module::TrainFlag;
use crate::{Forward, Module};

/// How to build a [`Dropout`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutConfig {
    /// Probability of zeroing an element (default 0.5), in `[0, 1)`.
    pub p: f64,
}

impl Default for DropoutConfig {
    fn default() -> Self {
        DropoutConfig { p: 0.5 }
    }
}

impl DropoutConfig {
    /// Dropout with probability `p`.
    pub fn new(p: f64) -> Self {
        DropoutConfig { p }
    }

    /// Builds the layer with its own generator forked from `rng`, so a model
    /// built from a seed drops the same elements run after run.
    pub fn init(&self, rng: &mut Rng) -> Result<Dropout> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(TensorError::invalid(
                "DropoutConfig",
                format!("p = {} is outside [0, 1)", self.p),
            ));
        }
        Ok(Dropout {
            p: self.p,
            rng: LayerRng::new(rng.fork()),
            training: TrainFlag::default(),
        })
    }
}

/// Inverted dropout: in training, each element is zeroed with probability
/// `p` and the survivors are scaled by `1/(1−p)`, so the expected output
/// equals the input and evaluation needs no rescaling; in evaluation mode
/// it is the identity. Input and output: any shape.
///
/// ```
/// use nn_layers::prelude::*;
/// let drop = DropoutConfig::new(0.5).init(&mut Rng::seed_from(0)).unwrap();
/// let x = Tensor::<f32>::ones(&[1000]);
/// let y = drop.forward(&x);
/// assert!(y.value().as_slice().iter().all(|&v| v == 0.0 || v == 2.0));
/// Module::<f32>::eval(&drop); // Dropout works for any element type: name one
/// assert_eq!(drop.forward(&x).value(), x);
/// ```
/// As a module: its mask generator `rng` (so a training checkpoint resumes
/// the same masks) and its train flag; the mask multiply is element-wise,
/// counted as no MACs.
#[derive(Debug, Module)]
#[module(macs = crate::summary::zero_macs)]
pub struct Dropout {
    #[module(skip)]
    p: f64,
    rng: LayerRng,
    training: TrainFlag,
}

impl Dropout {
    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl<T: Element> Forward<T> for Dropout {
    /// `x: [*]` → the same shape; the identity in evaluation mode.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let mask = self
            .rng
            .with(|rng| Tensor::<T>::rand_bernoulli(x.shape(), keep, rng));
        Ok(x.mul_tensor(&mask.mul_scalar(T::of(1.0 / keep))))
    }
}
