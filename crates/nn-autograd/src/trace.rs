//! Tracing: a record of the ops a forward runs, for exporters (what
//! `torch.onnx.export` does when it traces a module's `forward`).
//!
//! [`trace`] runs a closure with tracing on for this thread and returns,
//! besides its result, the [`Event`]s it ran in order: every op built with
//! [`Var::from_op`] (its name, the attributes it was given with
//! [`Var::traced_with`], its inputs and output), and every built-in layer
//! that marks its forward with [`layer`], as one event whose inner ops are
//! not recorded (an exporter writes the layer as a whole, under its
//! parameters' names). Values computed outside the vars (from
//! `var.value()`) are not seen: an exporter must check its result.
//!
//! When tracing is off, which is always outside [`trace`], each hook costs
//! one thread-local read.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};

use nn_tensor::Element;

use crate::Var;

/// An op's setting that the value and the shapes do not tell (a softmax's
/// dim, a scalar's value, a permutation).
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// An integer (a dim, a flag).
    Int(i64),
    /// A list of integers (dims, a permutation).
    Ints(Vec<i64>),
    /// A number (a slope, a scalar operand).
    Float(f64),
}

/// A var of any element type, as recorded (downcast to `Var<T>`).
pub type AnyVar = Box<dyn Any>;

/// One op of a traced forward.
pub struct OpEvent {
    /// The op's name, as given to [`Var::from_op`] (`"add"`, `"softmax"`).
    pub op: &'static str,
    /// The settings the op recorded with [`Var::traced_with`].
    pub attrs: Vec<(&'static str, Attr)>,
    /// The op's inputs (`Var<T>`), in order.
    pub inputs: Vec<AnyVar>,
    /// The op's output (`Var<T>`).
    pub output: AnyVar,
}

impl OpEvent {
    /// The attribute `name`, if recorded.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }
}

/// One call of a built-in layer's forward, marked with [`layer`].
pub struct LayerEvent {
    /// The layer's address, which with [`LayerEvent::type_id`] finds it in
    /// the module tree.
    pub address: usize,
    /// The layer's concrete type.
    pub type_id: TypeId,
    /// The layer's type, for messages.
    pub type_name: &'static str,
    /// What the layer was called with (vars, and its other arguments as
    /// the layer documents them).
    pub inputs: Vec<Box<dyn Any>>,
    /// What it returned (vars).
    pub outputs: Vec<AnyVar>,
}

/// What a traced forward ran, in order.
pub enum Event {
    /// An op outside every marked layer.
    Op(OpEvent),
    /// A marked layer (its inner ops are not recorded).
    Layer(LayerEvent),
}

thread_local! {
    static TRACING: Cell<bool> = const { Cell::new(false) };
    /// How many marked layers the current op runs inside.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// True while inside [`trace`] on this thread.
#[inline]
pub fn is_tracing() -> bool {
    TRACING.with(|t| t.get())
}

/// Runs `f` with tracing on and returns its result with the events it ran.
/// Traces do not nest: inside a trace, `trace` returns `None` without
/// running `f`.
///
/// ```
/// use nn_autograd::trace::{trace, Event};
/// use nn_autograd::Var;
/// use nn_tensor::Tensor;
/// let x = Var::constant(Tensor::<f32>::ones(&[2, 3]));
/// let (y, events) = trace(|| x.relu().softmax(1)).unwrap();
/// let ops: Vec<&str> = events
///     .iter()
///     .filter_map(|e| match e {
///         Event::Op(o) => Some(o.op),
///         Event::Layer(_) => None,
///     })
///     .collect();
/// assert_eq!(ops, ["relu", "softmax"]);
/// assert_eq!(y.shape(), &[2, 3]);
/// ```
pub fn trace<R>(f: impl FnOnce() -> R) -> Option<(R, Vec<Event>)> {
    if is_tracing() {
        return None;
    }
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            TRACING.with(|t| t.set(false));
            DEPTH.with(|d| d.set(0));
        }
    }
    EVENTS.with(|e| e.borrow_mut().clear());
    TRACING.with(|t| t.set(true));
    let off = Off;
    let r = f();
    drop(off);
    Some((r, EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut()))))
}

fn push(event: Event) {
    EVENTS.with(|e| e.borrow_mut().push(event));
}

/// Records an op (called by [`Var::from_op`] while tracing).
pub(crate) fn record_op<T: Element>(op: &'static str, inputs: Vec<Var<T>>, output: &Var<T>) {
    if DEPTH.with(|d| d.get()) > 0 {
        return;
    }
    push(Event::Op(OpEvent {
        op,
        attrs: Vec::new(),
        inputs: inputs.into_iter().map(|v| Box::new(v) as AnyVar).collect(),
        output: Box::new(output.clone()),
    }));
}

/// Runs a built-in layer's forward `body`, recorded while tracing as one
/// [`LayerEvent`] (its inner ops are not): `inputs` and `outputs` list what
/// it was called with and what it returned, computed only when tracing.
/// A layer that calls another marked layer inside is recorded once, as
/// the outer one.
pub fn layer<L: Any, R>(
    layer: &L,
    inputs: impl FnOnce() -> Vec<Box<dyn Any>>,
    body: impl FnOnce() -> R,
    outputs: impl FnOnce(&R) -> Vec<AnyVar>,
) -> R {
    if !is_tracing() {
        return body();
    }
    let outer = DEPTH.with(|d| d.replace(d.get() + 1)) == 0;
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    let leave = Leave;
    let inputs = outer.then(inputs);
    let r = body();
    drop(leave);
    if let Some(inputs) = inputs {
        push(Event::Layer(LayerEvent {
            address: layer as *const L as *const () as usize,
            type_id: TypeId::of::<L>(),
            type_name: std::any::type_name::<L>(),
            inputs,
            outputs: outputs(&r),
        }));
    }
    r
}

/// `vars` boxed for a [`LayerEvent`].
pub fn vars<T: Element>(vars: &[&Var<T>]) -> Vec<AnyVar> {
    vars.iter()
        .map(|&v| Box::new(v.clone()) as AnyVar)
        .collect()
}

impl<T: Element> Var<T> {
    /// Attaches the settings `attrs` to the op that produced `self`, when
    /// tracing and that op was the last one recorded (an exporter needs
    /// them: a softmax's dim, a scalar). Returns `self`.
    pub fn traced_with(self, attrs: impl FnOnce() -> Vec<(&'static str, Attr)>) -> Self {
        if is_tracing() {
            EVENTS.with(|e| {
                if let Some(Event::Op(o)) = e.borrow_mut().last_mut()
                    && o.output.downcast_ref::<Var<T>>().map(|v| v.id()) == Some(self.id())
                {
                    o.attrs = attrs();
                }
            });
        }
        self
    }
}

/// [`layer`] for a layer of one input and one output (most of them): its
/// forward `body` on `x`, recorded as one event while tracing.
pub fn unary_layer<L: Any, T: Element>(
    layer: &L,
    x: &Var<T>,
    body: impl FnOnce() -> nn_tensor::Result<Var<T>>,
) -> nn_tensor::Result<Var<T>> {
    self::layer(
        layer,
        || vars(&[x]),
        body,
        |r| r.as_ref().map(|y| vars(&[y])).unwrap_or_default(),
    )
}
