//! [`Sequential`]: layers applied one after another.

use nn_autograd::Var;
use nn_tensor::{Element, Result, TensorError};

use crate::module::{AsModule, Forward, Module, TrainFlag};
use crate::summary::Recorder;

/// A chain of single-input layers, named `0`, `1`, … as in PyTorch's
/// `nn.Sequential` (so its `state_dict` keys are `0.weight`, `2.bias`, …).
///
/// ```
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// let mlp = Sequential::<f32>::new()
///     .append(LinearConfig::new(784, 256).init(&mut rng).unwrap())
///     .append(Relu)
///     .append(LinearConfig::new(256, 10).init(&mut rng).unwrap());
/// assert_eq!(mlp.len(), 3);
/// let e = mlp.try_forward(&Var::constant(Tensor::zeros(&[2, 100]))).unwrap_err();
/// assert!(e.to_string().contains("layer 0 (Linear)"), "{e}");
/// ```
pub struct Sequential<T: Element> {
    layers: Vec<Box<dyn Forward<T>>>,
    // Its own mode, so `is_training` answers after `eval()` even when no
    // layer inside depends on the mode (as PyTorch's `self.training` does).
    training: TrainFlag,
}

impl<T: Element> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Sequential<T> {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Sequential {
            layers: Vec::new(),
            training: TrainFlag::default(),
        }
    }

    /// Appends a layer (builder style, like PyTorch's `Sequential.append`).
    pub fn append(mut self, layer: impl Forward<T> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed layer in place.
    pub fn push_boxed(&mut self, layer: Box<dyn Forward<T>>) {
        self.layers.push(layer);
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The `i`-th layer.
    pub fn get(&self, i: usize) -> Option<&dyn Forward<T>> {
        self.layers.get(i).map(|b| b.as_ref())
    }

    /// The layers in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Forward<T>> {
        self.layers.iter().map(|b| b.as_ref())
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn train_flag(&self) -> Option<&TrainFlag> {
        Some(&self.training)
    }
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        for (i, l) in self.layers.iter().enumerate() {
            f(&i.to_string(), l.as_module());
        }
    }
}

impl<T: Element> Sequential<T> {
    /// Runs every layer through `step`, naming the failing layer in an error.
    fn run(
        &self,
        x: &Var<T>,
        mut step: impl FnMut(usize, &dyn Forward<T>, &Var<T>) -> Result<Var<T>>,
    ) -> Result<Var<T>> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            let input_shape = h.shape().to_vec();
            h = step(i, l.as_ref(), &h).map_err(|e| {
                TensorError::invalid(
                    "Sequential",
                    format!(
                        "layer {i} ({}) on input {input_shape:?}: {e}",
                        l.type_name()
                    ),
                )
            })?;
        }
        Ok(h)
    }
}

impl<T: Element> Forward<T> for Sequential<T> {
    /// Runs every layer in turn; an error names the failing layer's index and type.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        self.run(x, |_, l, h| l.try_forward(h))
    }

    /// One container row, then each layer's rows under its index.
    fn try_forward_traced(&self, x: &Var<T>, recorder: &mut Recorder) -> Result<Var<T>> {
        let handle = recorder.enter(self.as_module());
        let y = self.run(x, |i, l, h| {
            recorder.child(&i.to_string(), |r| l.try_forward_traced(h, r))
        })?;
        recorder.exit(handle, y.shape());
        Ok(y)
    }
}

impl<T: Element> std::fmt::Debug for Sequential<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.layers.iter().map(|l| l.type_name()))
            .finish()
    }
}
