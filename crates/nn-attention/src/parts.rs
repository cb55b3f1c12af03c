//! What the attention layers share: weights looked up by name, nn-layers'
//! `Linear` and `LayerNorm` run on such weights, argument checks, the train
//! flag and dropout.

use nn_autograd::{Parameter, Var};
use nn_layers::{
    functional, LayerNorm, LayerNormConfig, LayerRng, Linear, LinearConfig, Module, TrainFlag,
};
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

/// An error unless every size is at least 1, naming the layer, the
/// argument and its value (`"MultiHeadAttention: num_heads = 0, expected at least 1"`).
pub(crate) fn require_sizes(layer: &'static str, sizes: &[(&str, usize)]) -> Result<()> {
    match sizes.iter().find(|&&(_, value)| value == 0) {
        Some((name, value)) => Err(TensorError::invalid(
            layer,
            format!("{name} = {value}, expected at least 1"),
        )),
        None => Ok(()),
    }
}

/// An error unless `p` is a dropout probability in `[0, 1)` (NaN is not).
pub(crate) fn require_dropout(layer: &'static str, name: &str, p: f64) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(TensorError::invalid(
            layer,
            format!("{name} = {p}, expected a value in [0, 1)"),
        ))
    }
}

/// An error unless `eps` is finite and positive (a LayerNorm divides by
/// `√(var + eps)`), naming the layer, the argument and its value.
pub(crate) fn require_eps(layer: &'static str, name: &str, eps: f64) -> Result<()> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(TensorError::invalid(
            layer,
            format!("{name} = {eps}, expected a finite value > 0"),
        ))
    }
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

    /// A module's own parameters under their `state_dict` names: what
    /// [`Weights::of_params`] makes of `named_parameters()`, without the
    /// intermediate list.
    pub(crate) fn of_module(module: &dyn Module<T>) -> Weights<'static, T> {
        let mut map = std::collections::HashMap::new();
        module.visit_parameters("", &mut |n, p| {
            map.insert(n.to_string(), p.clone());
        });
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

// The affine maps and layer norms are nn-layers' `Linear` and `LayerNorm`
// (same `state_dict` names, same initialisation, one fused node for the
// norm). The helpers below only add what attention needs on top: running
// them on weights looked up by name (a `Weights`), so a layer can be
// evaluated on weights that are not its own parameters.

/// `Linear(input → output)` with PyTorch's initialisation (the caller has
/// checked the sizes, so its errors name the attention layer).
pub(crate) fn new_linear<T: Element>(
    input: usize,
    output: usize,
    bias: bool,
    rng: &mut Rng,
) -> Result<Linear<T>> {
    LinearConfig::new(input, output).with_bias(bias).init(rng)
}

/// `LayerNorm(dim)` with weight 1, bias 0 (no random draws).
pub(crate) fn new_layer_norm<T: Element>(dim: usize, eps: f64) -> Result<LayerNorm<T>> {
    LayerNormConfig::new(&[dim])
        .with_eps(eps)
        .init(&mut Rng::seed_from(0))
}

/// `layer`'s map, `[.., in]` → `[.., out]`, on weights looked up under
/// `{prefix}weight`, `{prefix}bias`.
pub(crate) fn linear_with<T: Element>(
    layer: &Linear<T>,
    x: &Var<T>,
    w: &Weights<'_, T>,
    prefix: &str,
) -> Result<Var<T>> {
    let b = w.get_if(layer.bias.is_some(), &format!("{prefix}bias"))?;
    functional::linear(x, &w.get(&format!("{prefix}weight"))?, b.as_ref())
}

/// `layer`'s normalisation, `[.., E]` → `[.., E]`, on weights looked up
/// under `{prefix}weight`, `{prefix}bias`.
pub(crate) fn layer_norm_with<T: Element>(
    layer: &LayerNorm<T>,
    x: &Var<T>,
    w: &Weights<'_, T>,
    prefix: &str,
) -> Result<Var<T>> {
    let g = w.get_if(layer.weight.is_some(), &format!("{prefix}weight"))?;
    let b = w.get_if(layer.bias.is_some(), &format!("{prefix}bias"))?;
    functional::layer_norm(
        x,
        layer.normalized_shape(),
        g.as_ref(),
        b.as_ref(),
        layer.eps(),
    )
}

/// `module`'s parameters named under `prefix` (`{prefix}weight`, ...).
pub(crate) fn named_under<T: Element>(
    module: &dyn Module<T>,
    prefix: &str,
) -> Vec<(String, Parameter<T>)> {
    let mut named = Vec::new();
    module.visit_parameters("", &mut |n, p| {
        named.push((format!("{prefix}{n}"), p.clone()))
    });
    named
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
/// [`Module::visit_local_rngs`] so
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
