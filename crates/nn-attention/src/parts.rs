//! The small building blocks the attention layers are made of: an affine
//! map, layer normalisation, dropout. (`nn-layers` provides the full
//! modules; these keep this crate independent of it.)

use std::sync::Mutex;

use nn_autograd::{Parameter, Var};
use nn_tensor::{Element, Result, Rng, Tensor};

/// `y = x·Wᵀ + b` with PyTorch's `Linear` layout and default initialisation.
#[derive(Clone, Debug)]
pub struct Affine<T: Element> {
    /// `[out, in]`.
    pub weight: Parameter<T>,
    /// `[out]`.
    pub bias: Option<Parameter<T>>,
}

impl<T: Element> Affine<T> {
    /// Weight and bias uniform in `[−1/√in, 1/√in]` (PyTorch's `Linear`).
    pub fn new(input: usize, output: usize, bias: bool, rng: &mut Rng) -> Self {
        let k = 1.0 / (input.max(1) as f64).sqrt();
        Affine {
            weight: Parameter::new(Tensor::rand_uniform(&[output, input], -k, k, rng)),
            bias: bias.then(|| Parameter::new(Tensor::rand_uniform(&[output], -k, k, rng))),
        }
    }

    /// `x: [.., in]` → `[.., out]`.
    pub fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        let y = x.try_matmul_t(&self.weight.var(), false, true)?;
        match &self.bias {
            Some(b) => y.try_add(&b.var()),
            None => Ok(y),
        }
    }

    /// Names `{prefix}weight`, `{prefix}bias`.
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        let mut v = vec![(format!("{prefix}weight"), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push((format!("{prefix}bias"), b.clone()));
        }
        v
    }
}

/// Layer normalisation over the last dim (PyTorch's `LayerNorm(E)`).
#[derive(Clone, Debug)]
pub struct Norm<T: Element> {
    /// `[E]`, starts at 1.
    pub weight: Parameter<T>,
    /// `[E]`, starts at 0.
    pub bias: Parameter<T>,
    /// Added to the variance.
    pub eps: f64,
}

impl<T: Element> Norm<T> {
    /// Weight 1, bias 0.
    pub fn new(dim: usize, eps: f64) -> Self {
        Norm {
            weight: Parameter::new(Tensor::ones(&[dim])),
            bias: Parameter::new(Tensor::zeros(&[dim])),
            eps,
        }
    }

    /// `(x − mean)/√(var + eps)·weight + bias` over the last dim (biased variance).
    pub fn forward(&self, x: &Var<T>) -> Var<T> {
        let d = x.ndim() - 1;
        let centred = x.sub(&x.mean_dims(&[d], true));
        let var = centred.square().mean_dims(&[d], true);
        let xhat = centred.div(&var.add_scalar(T::of(self.eps)).sqrt());
        xhat.mul(&self.weight.var()).add(&self.bias.var())
    }

    /// Names `{prefix}weight`, `{prefix}bias`.
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        vec![
            (format!("{prefix}weight"), self.weight.clone()),
            (format!("{prefix}bias"), self.bias.clone()),
        ]
    }
}

/// Inverted dropout with its own random stream (so `forward` takes `&self`).
#[derive(Debug)]
pub struct DropoutRng {
    rng: Mutex<Rng>,
}

impl Clone for DropoutRng {
    fn clone(&self) -> Self {
        DropoutRng {
            rng: Mutex::new(self.rng.lock().expect("rng lock").clone()),
        }
    }
}

impl DropoutRng {
    /// A stream forked from `rng`.
    pub fn new(rng: &mut Rng) -> Self {
        DropoutRng {
            rng: Mutex::new(rng.fork()),
        }
    }

    /// Zeroes each element with probability `p` and scales the rest by
    /// 1/(1−p); the identity when `p == 0` or not `training`.
    pub fn apply<T: Element>(&self, x: &Var<T>, p: f64, training: bool) -> Var<T> {
        if !training || p <= 0.0 {
            return x.clone();
        }
        let mut rng = self.rng.lock().expect("rng lock");
        let keep = Tensor::<T>::rand_bernoulli(x.shape(), 1.0 - p, &mut rng)
            .mul_scalar(T::of(1.0 / (1.0 - p)));
        x.mul_tensor(&keep)
    }

    /// Runs `f` with the stream (for dropout on attention weights).
    pub fn with<R>(&self, f: impl FnOnce(&mut Rng) -> R) -> R {
        f(&mut self.rng.lock().expect("rng lock"))
    }
}
