//! The [`Module`] abstraction: named parameters and buffers, children,
//! train/eval mode; and [`Forward`], the single-input layer interface.
//!
//! # Deriving `Module`
//!
//! `#[derive(Module)]` (re-exported from `nn-derive` beside the trait)
//! writes the visitors from a struct's fields, named as PyTorch's
//! `state_dict` names them:
//!
//! * `Parameter<T>` fields are parameters and `Buffer<T>` fields buffers,
//!   under the field's name; `Option<Parameter<T>>` (an optional bias) when
//!   present; `Vec<Parameter<T>>` as `name.0`, `name.1`, …;
//! * every other field is a sub-module (its type must implement
//!   [`Module`]): `Vec<M>` is PyTorch's `ModuleList` (`blocks.0.weight`),
//!   `Option<M>` is skipped when absent;
//! * a [`TrainFlag`] field is the module's own train/eval flag, a
//!   [`LayerRng`] field a generator saved in training checkpoints;
//! * `#[module(skip)]` leaves a field out (sizes, configs, a plain [`Rng`]);
//!   `#[module(name = "...")]` renames one entry;
//! * on the struct, `#[module(macs = path)]` reports multiply-accumulates to
//!   [`summary`](crate::summary::summary) through
//!   `fn(&Self, &[usize], &[usize]) -> Option<u64>`, and
//!   `#[module(name = "...")]` sets [`Module::type_name`].
//!
//! The element type is the struct's parameter bounded by [`Element`] (or
//! named `T`); a struct without one is a module of the float written in its
//! fields (`Linear<f32>` → `Module<f32>`). Only the forward pass is left to
//! write:
//!
//! ```
//! use nn_layers::prelude::*;
//!
//! /// An encoder (`Sequential`), residual blocks (a list), an optional head.
//! #[derive(Module)]
//! struct Net<T: Element> {
//!     encoder: Sequential<T>,
//!     blocks: Vec<Linear<T>>,
//!     head: Option<Linear<T>>,
//!     scale: Parameter<T>,
//!     #[module(skip)]
//!     width: usize,
//! }
//!
//! impl<T: Element> Forward<T> for Net<T> {
//!     fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
//!         let mut h = self.encoder.try_forward(x)?;
//!         for block in &self.blocks {
//!             h = h.try_add(&block.try_forward(&h)?.relu())?;
//!         }
//!         h = h.try_mul(&self.scale.var())?;
//!         match &self.head {
//!             Some(head) => head.try_forward(&h),
//!             None => Ok(h),
//!         }
//!     }
//! }
//!
//! let mut rng = Rng::seed_from(0);
//! let width = 4;
//! let net = Net::<f32> {
//!     encoder: Sequential::new()
//!         .append(LinearConfig::new(3, width).init(&mut rng).unwrap())
//!         .append(DropoutConfig::new(0.1).init(&mut rng).unwrap()),
//!     blocks: (0..2)
//!         .map(|_| LinearConfig::new(width, width).init(&mut rng).unwrap())
//!         .collect(),
//!     head: None,
//!     scale: Parameter::new(Tensor::ones(&[width])),
//!     width,
//! };
//! let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(
//!     names,
//!     [
//!         "scale",
//!         "encoder.0.weight",
//!         "encoder.0.bias",
//!         "blocks.0.weight",
//!         "blocks.0.bias",
//!         "blocks.1.weight",
//!         "blocks.1.bias",
//!     ]
//! );
//! net.eval(); // reaches the dropout inside the encoder
//! assert!(!net.is_training());
//! assert_eq!(net.forward(&Tensor::zeros(&[2, 3])).shape(), &[2, width]);
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use nn_autograd::{Parameter, Var};
use nn_tensor::{or_panic, Element, Result, Rng, Tensor, TensorError};

use crate::layer_rng::LayerRng;
use crate::summary::Recorder;

/// What a [`Buffer`] holds: real values, or a count that PyTorch stores as int64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferKind {
    /// Floating-point state such as BatchNorm's `running_mean`.
    Float,
    /// An integer counter such as `num_batches_tracked` (saved as int64).
    Count,
}

struct BufferInner<T: Element> {
    value: RwLock<Tensor<T>>,
    kind: BufferKind,
}

/// Non-learnable state of a module (BatchNorm's running statistics).
///
/// Like a [`Parameter`], a buffer is shared on clone and updated through
/// `&self`, so a forward pass in training mode can refresh it; unlike a
/// parameter it never enters a graph and no optimiser sees it. It is saved
/// and loaded with the parameters ([`Module::state_dict`]).
pub struct Buffer<T: Element> {
    inner: Arc<BufferInner<T>>,
}

impl<T: Element> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        Buffer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Element> Buffer<T> {
    /// A floating-point buffer.
    pub fn new(value: Tensor<T>) -> Self {
        Self::with_kind(value, BufferKind::Float)
    }

    /// A buffer of the given kind.
    pub fn with_kind(value: Tensor<T>, kind: BufferKind) -> Self {
        Buffer {
            inner: Arc::new(BufferInner {
                value: RwLock::new(value),
                kind,
            }),
        }
    }

    /// Float or count.
    pub fn kind(&self) -> BufferKind {
        self.inner.kind
    }

    /// The current value (a cheap shared copy).
    pub fn value(&self) -> Tensor<T> {
        self.inner
            .value
            .read()
            .expect("buffer lock poisoned")
            .clone()
    }

    /// The shape of the value.
    pub fn shape(&self) -> Vec<usize> {
        self.inner
            .value
            .read()
            .expect("buffer lock poisoned")
            .shape()
            .to_vec()
    }

    /// Replaces the value; errors if the shape differs.
    pub fn try_set_value(&self, value: Tensor<T>) -> Result<()> {
        let mut v = self.inner.value.write().expect("buffer lock poisoned");
        if v.shape() != value.shape() {
            return Err(TensorError::shapes(
                "Buffer::set_value",
                v.shape(),
                value.shape(),
                "a buffer keeps its shape",
            ));
        }
        *v = value;
        Ok(())
    }

    /// Panicking [`Buffer::try_set_value`].
    #[track_caller]
    pub fn set_value(&self, value: Tensor<T>) {
        or_panic(self.try_set_value(value));
    }
}

impl<T: Element> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({:?}, shape={:?})", self.kind(), self.shape())
    }
}

/// A module's own training flag (PyTorch's `self.training`), settable
/// through `&self` so [`Module::train`] can reach modules shared by `Arc`.
/// Starts in training mode, as in PyTorch.
#[derive(Debug)]
pub struct TrainFlag(AtomicBool);

impl Default for TrainFlag {
    fn default() -> Self {
        TrainFlag(AtomicBool::new(true))
    }
}

impl TrainFlag {
    /// True in training mode.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Sets training (`true`) or evaluation (`false`) mode.
    pub fn set(&self, training: bool) {
        self.0.store(training, Ordering::Relaxed)
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Strips the module path and generic arguments: `nn_layers::linear::Linear<f32>` → `Linear`.
pub fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    let start = base.rfind("::").map(|i| i + 2).unwrap_or(0);
    &full[start..base.len()]
}

/// A node of a model: it owns named [`Parameter`]s and [`Buffer`]s and named
/// child modules. Everything that walks a model (optimisers, savers,
/// parameter counts, summaries) goes through the three visitors, and names
/// come out dotted as in PyTorch's `state_dict` (`features.0.weight`).
///
/// A leaf layer implements [`Module::visit_local_parameters`] (and buffers,
/// and [`Module::train_flag`] when its behaviour depends on the mode); a
/// container implements [`Module::visit_children`]. `#[derive(Module)]`
/// writes all of them from a struct's fields ([module docs](self#deriving-module));
/// the recursive visitors and everything else are provided.
///
/// The trait is object-safe: `&dyn Module<T>` is how summaries walk a tree.
/// Every module is `'static` ([`Any`](std::any::Any) is a supertrait), so a
/// tool walking a model through [`Module::visit_children`] can recognise a
/// child's concrete type by upcasting `&dyn Module<T>` to `&dyn Any` (the
/// ONNX exporter of `nn-onnx` does, for models written with the derive).
///
/// ```
/// use nn_layers::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// let model = Sequential::<f32>::new()
///     .append(LinearConfig::new(4, 3).init(&mut rng).unwrap())
///     .append(Relu)
///     .append(LinearConfig::new(3, 2).init(&mut rng).unwrap());
/// let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// assert_eq!(model.num_parameters(), 4 * 3 + 3 + 3 * 2 + 2);
/// model.eval();
/// assert!(!model.is_training());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Module<{T}>`",
    note = "in a `#[derive(Module)]` struct, a field that holds no parameters, buffers or modules needs `#[module(skip)]`"
)]
pub trait Module<T: Element>: Send + Sync + std::any::Any {
    /// The name a summary shows (`"Linear"`); by default the Rust type's name
    /// without path or generics.
    fn type_name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Calls `f` on this module's own parameters, with local names (`"weight"`).
    fn visit_local_parameters(&self, _f: &mut dyn FnMut(&str, &Parameter<T>)) {}

    /// Calls `f` on this module's own buffers, with local names (`"running_mean"`).
    fn visit_local_buffers(&self, _f: &mut dyn FnMut(&str, &Buffer<T>)) {}

    /// Calls `f` on each direct child with its name (`"0"`, `"encoder"`).
    fn visit_children(&self, _f: &mut dyn FnMut(&str, &dyn Module<T>)) {}

    /// The module a transparent wrapper stands for (a `Box<dyn Forward<T>>`,
    /// the variant of a derived enum), which has its names and children:
    /// a tool that finds modules by identity (the ONNX exporter's tracer)
    /// looks through it. `None`, the default, for every other module.
    fn transparent_inner(&self) -> Option<&dyn Module<T>> {
        None
    }

    /// Multiply-accumulates this module does to turn an input of
    /// `input_shape` into an output of `output_shape` (batch included), for
    /// [`summary`](crate::summary::summary). `None` (the default) means "not
    /// reported"; a layer overrides it with its formula (`Linear`:
    /// `output elements × in_features`; a convolution: `output elements ×
    /// kernel area × input channels / groups`).
    fn macs(&self, _input_shape: &[usize], _output_shape: &[usize]) -> Option<u64> {
        None
    }

    /// This module's own training flag, if its forward depends on the mode.
    fn train_flag(&self) -> Option<&TrainFlag> {
        None
    }

    /// Calls `f` on this module's own random generators (`Dropout`'s mask
    /// source), with local names (`"rng"`). Not tensors, so not in the
    /// `state_dict`; training checkpoints save them to resume bit for bit.
    fn visit_local_rngs(&self, _f: &mut dyn FnMut(&str, &LayerRng)) {}

    /// Calls `f` on every random generator of the tree with its full dotted name.
    fn visit_rngs(&self, prefix: &str, f: &mut dyn FnMut(&str, &LayerRng)) {
        self.visit_local_rngs(&mut |name, g| f(&join(prefix, name), g));
        self.visit_children(&mut |name, child| child.visit_rngs(&join(prefix, name), f));
    }

    /// Every random generator of the tree with its dotted name (`"2.rng"`),
    /// as a copy at its current position.
    fn named_rngs(&self) -> Vec<(String, Rng)> {
        let mut out = Vec::new();
        self.visit_rngs("", &mut |n, g| out.push((n.to_string(), g.get())));
        out
    }

    /// Calls `f` on every parameter of the tree with its full dotted name,
    /// in definition order (own parameters first, then each child's).
    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        self.visit_local_parameters(&mut |name, p| f(&join(prefix, name), p));
        self.visit_children(&mut |name, child| child.visit_parameters(&join(prefix, name), f));
    }

    /// Calls `f` on every buffer of the tree with its full dotted name.
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        self.visit_local_buffers(&mut |name, b| f(&join(prefix, name), b));
        self.visit_children(&mut |name, child| child.visit_buffers(&join(prefix, name), f));
    }

    /// Sets training (`true`) or evaluation mode on this module and every descendant.
    fn set_training(&self, training: bool) {
        if let Some(flag) = self.train_flag() {
            flag.set(training);
        }
        self.visit_children(&mut |_, child| child.set_training(training));
    }

    /// Training mode (PyTorch's `model.train()`).
    fn train(&self) {
        self.set_training(true)
    }

    /// Evaluation mode (PyTorch's `model.eval()`): dropout off, BatchNorm on running stats.
    fn eval(&self) {
        self.set_training(false)
    }

    /// The mode of this module's own flag, else of the first descendant
    /// (in definition order) that has one; `None` when no part depends on the mode.
    fn training_state(&self) -> Option<bool> {
        if let Some(flag) = self.train_flag() {
            return Some(flag.get());
        }
        let mut found = None;
        self.visit_children(&mut |_, child| {
            if found.is_none() {
                found = child.training_state();
            }
        });
        found
    }

    /// True in training mode ([`Module::training_state`], `true` when no
    /// part of the module depends on the mode).
    fn is_training(&self) -> bool {
        self.training_state().unwrap_or(true)
    }

    /// Every parameter with its dotted name, in definition order.
    fn named_parameters(&self) -> Vec<(String, Parameter<T>)> {
        let mut out = Vec::new();
        self.visit_parameters("", &mut |n, p| out.push((n.to_string(), p.clone())));
        out
    }

    /// Every parameter, in definition order (what an optimiser is given).
    fn parameters(&self) -> Vec<Parameter<T>> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// Every buffer with its dotted name.
    fn named_buffers(&self) -> Vec<(String, Buffer<T>)> {
        let mut out = Vec::new();
        self.visit_buffers("", &mut |n, b| out.push((n.to_string(), b.clone())));
        out
    }

    /// The number of scalars in all parameters.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_parameters("", &mut |_, p| n += p.numel());
        n
    }

    /// The number of scalars in trainable (not frozen) parameters.
    fn num_trainable_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_parameters("", &mut |_, p| {
            if p.is_trainable() {
                n += p.numel()
            }
        });
        n
    }

    /// Freezes every parameter: none gets a gradient, so no optimiser moves it.
    fn freeze(&self) {
        self.visit_parameters("", &mut |_, p| p.set_trainable(false));
    }

    /// Makes every parameter trainable again.
    fn unfreeze(&self) {
        self.visit_parameters("", &mut |_, p| p.set_trainable(true));
    }

    /// Parameters then buffers, by `state_dict` name, as current values.
    /// Counts (`num_batches_tracked`) appear as float tensors here; the
    /// [`serialize`](crate::serialize) module writes them as int64.
    fn state_dict(&self) -> Vec<(String, Tensor<T>)> {
        let mut out: Vec<(String, Tensor<T>)> = Vec::new();
        self.visit_parameters("", &mut |n, p| out.push((n.to_string(), p.value())));
        self.visit_buffers("", &mut |n, b| out.push((n.to_string(), b.value())));
        out
    }

    /// Writes the [`Module::state_dict`] to a safetensors file under
    /// PyTorch's names, atomically (see [`crate::serialize::save`]): the same
    /// call as an optimiser's `opt.save(path)`.
    fn save(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> std::result::Result<(), crate::SerializeError>
    where
        Self: Sized,
    {
        crate::serialize::save(self, path)
    }

    /// Reads a weights file written by [`Module::save`] (or by PyTorch through
    /// safetensors) into this model, strictly: nothing changes unless every
    /// name and shape matches (see [`crate::serialize::load`] for the lenient
    /// mode). The same call as an optimiser's `opt.load(path)`.
    fn load(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> std::result::Result<crate::LoadReport, crate::SerializeError>
    where
        Self: Sized,
    {
        crate::serialize::load(self, path, crate::LoadMode::Strict)
    }
}

/// Upcasts any module to `&dyn Module<T>` (so [`Forward`] objects can be
/// walked as modules without relying on trait upcasting).
pub trait AsModule<T: Element> {
    /// `self` as a module trait object.
    fn as_module(&self) -> &dyn Module<T>;

    /// `self` as [`Any`](std::any::Any), so that a tool walking a model
    /// (the ONNX exporter of `nn-onnx`) can recognise the concrete layer
    /// types behind `dyn Forward` and read their settings.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: Element, M: Module<T> + 'static> AsModule<T> for M {
    fn as_module(&self) -> &dyn Module<T> {
        self
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A module with one input and one output: what [`Sequential`](crate::Sequential) chains.
/// Multi-input modules (attention, recurrent layers) have their own
/// inherent `forward` but still implement [`Module`].
pub trait Forward<T: Element>: Module<T> + AsModule<T> {
    /// The output for input `x`, or an error naming the layer and the shapes.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>>;

    /// Panicking [`Forward::try_forward`], taking anything that turns into a
    /// var: a `&Tensor` or `Tensor` (wrapped as a constant input), or a
    /// `&Var` / `Var` (whose graph carries on).
    #[track_caller]
    fn forward(&self, x: impl Into<Var<T>>) -> Var<T>
    where
        Self: Sized,
    {
        or_panic(self.try_forward(&x.into()))
    }

    /// [`Forward::try_forward`] that also records this layer in a
    /// [`summary`](crate::summary::summary). By default the layer is one row;
    /// a composite layer overrides it to record its parts (see
    /// [`Recorder`] and `Sequential`'s implementation).
    fn try_forward_traced(&self, x: &Var<T>, recorder: &mut Recorder) -> Result<Var<T>> {
        let y = self.try_forward(x)?;
        recorder.leaf(self.as_module(), x.shape(), y.shape());
        Ok(y)
    }
}

/// A boxed layer is a layer, so `Box<dyn Forward<T>>` has `forward` too.
impl<T: Element> Forward<T> for Box<dyn Forward<T>> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        self.as_ref().try_forward(x)
    }
    fn try_forward_traced(&self, x: &Var<T>, recorder: &mut Recorder) -> Result<Var<T>> {
        self.as_ref().try_forward_traced(x, recorder)
    }
}

/// A list of modules is a module whose children are named `0`, `1`, …
/// (PyTorch's `ModuleList`): a field `blocks: Vec<Block<T>>` yields `blocks.0.weight`.
impl<T: Element, M: Module<T>> Module<T> for Vec<M> {
    fn type_name(&self) -> &'static str {
        "ModuleList"
    }
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        for (i, m) in self.iter().enumerate() {
            f(&i.to_string(), m);
        }
    }
}

/// An optional sub-module contributes nothing when absent.
impl<T: Element, M: Module<T>> Module<T> for Option<M> {
    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        if let Some(m) = self {
            m.visit_parameters(prefix, f)
        }
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        if let Some(m) = self {
            m.visit_buffers(prefix, f)
        }
    }
    fn visit_rngs(&self, prefix: &str, f: &mut dyn FnMut(&str, &LayerRng)) {
        if let Some(m) = self {
            m.visit_rngs(prefix, f)
        }
    }
    fn set_training(&self, training: bool) {
        if let Some(m) = self {
            m.set_training(training)
        }
    }
    fn training_state(&self) -> Option<bool> {
        self.as_ref().and_then(|m| m.training_state())
    }
}

/// A boxed layer is a module (so `Sequential` and user code can hold `Box<dyn Forward<T>>`).
impl<T: Element> Module<T> for Box<dyn Forward<T>> {
    fn type_name(&self) -> &'static str {
        self.as_ref().type_name()
    }
    fn transparent_inner(&self) -> Option<&dyn Module<T>> {
        Some(self.as_ref().as_module())
    }
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        self.as_ref().visit_local_parameters(f)
    }
    fn visit_local_buffers(&self, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        self.as_ref().visit_local_buffers(f)
    }
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        self.as_ref().visit_children(f)
    }
    fn train_flag(&self) -> Option<&TrainFlag> {
        self.as_ref().train_flag()
    }
    fn visit_local_rngs(&self, f: &mut dyn FnMut(&str, &LayerRng)) {
        self.as_ref().visit_local_rngs(f)
    }
    fn macs(&self, input_shape: &[usize], output_shape: &[usize]) -> Option<u64> {
        self.as_ref().macs(input_shape, output_shape)
    }
}
