//! The small building blocks the attention layers are made of: an affine
//! map, layer normalisation, dropout. (`nn-layers` provides the full
//! modules; these keep this crate independent of it.)

use nn_autograd::{Parameter, Var};
use nn_layers::{LayerRng, TrainFlag};
use nn_tensor::{Element, Result, Rng, Tensor};

/// Panics unless every size is at least 1, naming the constructor, the
/// argument and its value.
#[track_caller]
pub(crate) fn check_sizes(what: &str, sizes: &[(&str, usize)]) {
    for &(name, value) in sizes {
        assert!(value >= 1, "{what}: {name} = {value}, expected at least 1");
    }
}

/// Panics unless `p` is a dropout probability in `[0, 1)` (NaN is not).
#[track_caller]
pub(crate) fn check_dropout(what: &str, name: &str, p: f64) {
    assert!(
        (0.0..1.0).contains(&p),
        "{what}: {name} = {p}, expected a value in [0, 1)"
    );
}

/// Panics unless `eps` is finite and not negative.
#[track_caller]
pub(crate) fn check_eps(what: &str, name: &str, eps: f64) {
    assert!(
        eps.is_finite() && eps >= 0.0,
        "{what}: {name} = {eps}, expected a finite value >= 0"
    );
}

type Lookup<'a, T> = Box<dyn Fn(&str) -> Option<Var<T>> + 'a>;

/// The weights a forward pass reads, looked up by PyTorch name: a module's
/// own parameters ([`Weights::of_params`]), or vars the caller supplies
/// ([`Weights::from_fn`]), e.g. weights of a file brought into a graph, or
/// leaves whose gradients a test inspects.
pub struct Weights<'a, T: Element> {
    lookup: Lookup<'a, T>,
}

impl<'a, T: Element> Weights<'a, T> {
    /// Weights from a lookup function (`None` = no such weight).
    pub fn from_fn(f: impl Fn(&str) -> Option<Var<T>> + 'a) -> Self {
        Weights {
            lookup: Box::new(f),
        }
    }

    /// A module's own parameters, by the names of its `named_parameters`.
    pub fn of_params(named: Vec<(String, Parameter<T>)>) -> Weights<'static, T> {
        let map: std::collections::HashMap<String, Parameter<T>> = named.into_iter().collect();
        Weights::from_fn(move |n| map.get(n).map(Parameter::var))
    }

    /// The weight called `name`; an error naming it when absent.
    pub fn get(&self, name: &str) -> Result<Var<T>> {
        (self.lookup)(name).ok_or_else(|| {
            nn_tensor::TensorError::invalid("Weights::get", format!("no weight named {name:?}"))
        })
    }

    /// The weight called `name` when `present`, else `None` (optional biases).
    pub fn get_if(&self, present: bool, name: &str) -> Result<Option<Var<T>>> {
        present.then(|| self.get(name)).transpose()
    }
}

/// `x·wᵀ + b` for `x: [.., in]`, `w: [out, in]`, `b: [out]`.
pub fn affine<T: Element>(x: &Var<T>, w: &Var<T>, b: Option<&Var<T>>) -> Result<Var<T>> {
    let y = x.try_matmul_t(w, false, true)?;
    match b {
        Some(b) => y.try_add(b),
        None => Ok(y),
    }
}

/// Layer normalisation over the last dim: `(x − mean)/√(var + eps)·w + b`
/// (biased variance, as PyTorch).
pub fn layer_norm<T: Element>(x: &Var<T>, w: &Var<T>, b: &Var<T>, eps: f64) -> Result<Var<T>> {
    let d = x.ndim() - 1;
    let centred = x.sub(&x.mean_dims(&[d], true));
    let var = centred.square().mean_dims(&[d], true);
    let xhat = centred.div(&var.add_scalar(T::of(eps)).sqrt());
    xhat.try_mul(w)?.try_add(b)
}

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
    ///
    /// # Panics
    /// If `input` or `output` is 0.
    #[track_caller]
    pub fn new(input: usize, output: usize, bias: bool, rng: &mut Rng) -> Self {
        check_sizes(
            "Affine::new",
            &[("in_features", input), ("out_features", output)],
        );
        let k = 1.0 / (input.max(1) as f64).sqrt();
        Affine {
            weight: Parameter::new(Tensor::rand_uniform(&[output, input], -k, k, rng)),
            bias: bias.then(|| Parameter::new(Tensor::rand_uniform(&[output], -k, k, rng))),
        }
    }

    /// `x: [.., in]` → `[.., out]`.
    pub fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        affine(
            x,
            &self.weight.var(),
            self.bias.as_ref().map(Parameter::var).as_ref(),
        )
    }

    /// The same map, `[.., in]` → `[.., out]`, on weights looked up under
    /// `{prefix}weight`, `{prefix}bias`.
    pub fn forward_with(&self, x: &Var<T>, w: &Weights<'_, T>, prefix: &str) -> Result<Var<T>> {
        let b = w.get_if(self.bias.is_some(), &format!("{prefix}bias"))?;
        affine(x, &w.get(&format!("{prefix}weight"))?, b.as_ref())
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
    ///
    /// # Panics
    /// If `dim` is 0 or `eps` is negative or not finite.
    #[track_caller]
    pub fn new(dim: usize, eps: f64) -> Self {
        check_sizes("LayerNorm::new", &[("normalized_shape", dim)]);
        check_eps("LayerNorm::new", "eps", eps);
        Norm {
            weight: Parameter::new(Tensor::ones(&[dim])),
            bias: Parameter::new(Tensor::zeros(&[dim])),
            eps,
        }
    }

    /// `(x − mean)/√(var + eps)·weight + bias` over the last dim (biased
    /// variance): `x: [.., E]` → `[.., E]`.
    pub fn forward(&self, x: &Var<T>) -> Var<T> {
        layer_norm(x, &self.weight.var(), &self.bias.var(), self.eps)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same, `[.., E]` → `[.., E]`, on weights looked up under
    /// `{prefix}weight`, `{prefix}bias`.
    pub fn forward_with(&self, x: &Var<T>, w: &Weights<'_, T>, prefix: &str) -> Result<Var<T>> {
        let (g, b) = (
            w.get(&format!("{prefix}weight"))?,
            w.get(&format!("{prefix}bias"))?,
        );
        layer_norm(x, &g, &b, self.eps)
    }

    /// Names `{prefix}weight`, `{prefix}bias`.
    pub fn named(&self, prefix: &str) -> Vec<(String, Parameter<T>)> {
        vec![
            (format!("{prefix}weight"), self.weight.clone()),
            (format!("{prefix}bias"), self.bias.clone()),
        ]
    }
}

/// A layer's [`TrainFlag`] that clones into an independent flag with the same
/// mode (so the layers can keep deriving `Clone`).
#[derive(Debug, Default)]
pub(crate) struct ModeFlag(pub(crate) TrainFlag);

impl ModeFlag {
    /// True in training mode.
    pub(crate) fn get(&self) -> bool {
        self.0.get()
    }
}

impl Clone for ModeFlag {
    fn clone(&self) -> Self {
        let copy = ModeFlag::default();
        copy.0.set(self.get());
        copy
    }
}

/// Inverted dropout with its own random stream (so `forward` takes `&self`).
/// The stream is a [`LayerRng`], listed by the owning layer's
/// [`Module::visit_local_rngs`](nn_layers::Module::visit_local_rngs) so
/// training checkpoints save its position.
#[derive(Clone, Debug)]
pub struct DropoutRng {
    rng: LayerRng,
}

impl DropoutRng {
    /// A stream forked from `rng`.
    pub fn new(rng: &mut Rng) -> Self {
        DropoutRng {
            rng: LayerRng::new(rng.fork()),
        }
    }

    /// The generator itself (for checkpoints).
    pub fn layer_rng(&self) -> &LayerRng {
        &self.rng
    }

    /// Zeroes each element with probability `p` and scales the rest by
    /// 1/(1−p); the identity when `p == 0` or not `training`.
    pub fn apply<T: Element>(&self, x: &Var<T>, p: f64, training: bool) -> Var<T> {
        if !training || p <= 0.0 {
            return x.clone();
        }
        let keep = self
            .rng
            .with(|rng| Tensor::<T>::rand_bernoulli(x.shape(), 1.0 - p, rng))
            .mul_scalar(T::of(1.0 / (1.0 - p)));
        x.mul_tensor(&keep)
    }

    /// Runs `f` with the stream (for dropout on attention weights).
    pub fn with<R>(&self, f: impl FnOnce(&mut Rng) -> R) -> R {
        self.rng.with(f)
    }
}
