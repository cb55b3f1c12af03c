//! [`Var`]: a tensor that remembers how it was computed.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nn_tensor::{Element, Tensor};

/// The identity of a value in the graph. Gradients are stored under it.
/// A model parameter keeps one id for its whole life, so an optimiser can
/// find its gradient step after step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl VarId {
    /// A fresh id, never handed out before in this process.
    pub fn fresh() -> Self {
        VarId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number (for display and debugging).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Computes the gradients of an op's inputs from the gradient of its output.
/// Returns one entry per parent, `None` where no gradient flows.
pub type BackwardFn<T> = Box<dyn Fn(&Tensor<T>) -> Vec<Option<Tensor<T>>> + Send + Sync>;

pub(crate) struct GradFn<T: Element> {
    pub(crate) op: &'static str,
    pub(crate) parents: Vec<Var<T>>,
    pub(crate) backward: BackwardFn<T>,
}

pub(crate) struct Node<T: Element> {
    pub(crate) id: VarId,
    pub(crate) value: Tensor<T>,
    pub(crate) requires_grad: bool,
    pub(crate) grad_fn: Option<GradFn<T>>,
}

impl<T: Element> Drop for Node<T> {
    // Dropping a long chain (an RNN unrolled over many steps) recursively
    // would overflow the stack; unlink the parents iteratively instead.
    fn drop(&mut self) {
        let Some(g) = self.grad_fn.take() else { return };
        let mut stack = g.parents;
        while let Some(v) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(v.node)
                && let Some(g) = node.grad_fn.take()
            {
                stack.extend(g.parents);
            }
        }
    }
}

/// A tensor in the autograd graph: its value, and (when it needs a gradient)
/// the operation and inputs that produced it.
///
/// Cloning a `Var` is cheap. Arithmetic on vars builds the graph as it runs
/// (eager, define-by-run); [`Var::backward`] walks it back and returns the
/// gradients in a [`Gradients`](crate::Gradients) store.
///
/// ```
/// use nn_autograd::Var;
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]));
/// let y = (&x * &x).sum(); // y = Σ x²
/// let grads = y.backward();
/// assert_eq!(grads.get(&x).unwrap().to_vec(), vec![2.0, 4.0, 6.0]);
/// ```
pub struct Var<T: Element> {
    pub(crate) node: Arc<Node<T>>,
}

impl<T: Element> Clone for Var<T> {
    fn clone(&self) -> Self {
        Var {
            node: Arc::clone(&self.node),
        }
    }
}

thread_local! {
    static NO_GRAD: Cell<bool> = const { Cell::new(false) };
}

/// True while inside [`no_grad`] on this thread.
pub fn is_grad_disabled() -> bool {
    NO_GRAD.with(|c| c.get())
}

/// Runs `f` without recording a graph: every op returns a constant. Use it
/// for evaluation and for updates that must not be differentiated.
///
/// ```
/// use nn_autograd::{no_grad, Var};
/// use nn_tensor::Tensor;
/// let w = Var::leaf(Tensor::<f32>::ones(&[2]));
/// let y = no_grad(|| &w * &w);
/// assert!(!y.requires_grad());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Disables graph recording on this thread until dropped.
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Disables recording; the previous setting comes back on drop.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let previous = NO_GRAD.with(|c| c.replace(true));
        NoGradGuard { previous }
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD.with(|c| c.set(self.previous));
    }
}

impl<T: Element> Var<T> {
    fn from_node(node: Node<T>) -> Self {
        Var {
            node: Arc::new(node),
        }
    }

    /// A value that needs no gradient (data, targets, masks).
    pub fn constant(value: Tensor<T>) -> Self {
        Self::from_node(Node {
            id: VarId::fresh(),
            value,
            requires_grad: false,
            grad_fn: None,
        })
    }

    /// A leaf that gradients are computed for (an input to differentiate with respect to).
    pub fn leaf(value: Tensor<T>) -> Self {
        Self::from_node(Node {
            id: VarId::fresh(),
            value,
            requires_grad: true,
            grad_fn: None,
        })
    }

    /// A leaf with a given id: how a parameter enters a graph with the same
    /// id every step.
    pub fn with_id(id: VarId, value: Tensor<T>, requires_grad: bool) -> Self {
        Self::from_node(Node {
            id,
            value,
            requires_grad,
            grad_fn: None,
        })
    }

    /// The result of an op on `parents`. `backward` maps the output's
    /// gradient to one gradient per parent. The graph is recorded only when
    /// some parent needs a gradient and recording is on; otherwise the
    /// result is a constant and `backward` is dropped unused.
    ///
    /// This is how to write a custom differentiable op (PyTorch's
    /// `torch.autograd.Function`): compute the value from the parents'
    /// tensors, and give a closure that turns the output's gradient `g` into
    /// one gradient per parent (`None` where none flows), each of its
    /// parent's shape. Check it against finite differences with
    /// [`check_gradients`](crate::gradcheck::check_gradients), which works
    /// in `f64`; write the op generically over [`Element`] so the same code
    /// runs in `f64` for the check and in `f32` for training. Constants are
    /// written `T::of(3.0)` in generic code (a bare `3.0` is an `f64`).
    ///
    /// ```
    /// use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
    /// use nn_autograd::Var;
    /// use nn_tensor::{Element, Tensor};
    ///
    /// /// `y = x³ + x`, element-wise, with `dy/dx = 3x² + 1`.
    /// fn cube_plus<T: Element>(x: &Var<T>) -> Var<T> {
    ///     let xv = x.value();
    ///     let y = xv.map(|v| v * v * v + v);
    ///     Var::from_op("cube_plus", y, vec![x.clone()], move |g| {
    ///         let slope = xv.map(|v| T::of(3.0) * v * v + T::one());
    ///         vec![Some(g * &slope)]
    ///     })
    /// }
    ///
    /// // Forward and backward in f32, as in training:
    /// let x = Var::leaf(Tensor::<f32>::from_vec(vec![1.0, -2.0], &[2]));
    /// let grads = cube_plus(&x).sum().backward();
    /// assert_eq!(grads.get(&x).unwrap().to_vec(), vec![4.0, 13.0]);
    ///
    /// // The same op in f64, checked against finite differences:
    /// let x = Tensor::<f64>::from_vec(vec![0.3, -0.7, 1.1], &[3]);
    /// let report = check_gradients(|v| cube_plus(&v[0]), &[x], GradCheckConfig::default());
    /// assert!(report.passed, "{report}");
    /// ```
    pub fn from_op(
        op: &'static str,
        value: Tensor<T>,
        parents: Vec<Var<T>>,
        backward: impl Fn(&Tensor<T>) -> Vec<Option<Tensor<T>>> + Send + Sync + 'static,
    ) -> Self {
        // While tracing, the op is recorded for an exporter too.
        let traced = crate::trace::is_tracing().then(|| parents.clone());
        let v = if is_grad_disabled() || !parents.iter().any(|p| p.requires_grad()) {
            Self::constant(value)
        } else {
            Self::from_node(Node {
                id: VarId::fresh(),
                value,
                requires_grad: true,
                grad_fn: Some(GradFn {
                    op,
                    parents,
                    backward: Box::new(backward),
                }),
            })
        };
        if let Some(parents) = traced {
            crate::trace::record_op(op, parents, &v);
        }
        v
    }

    /// True when an op on `parents` would be recorded: use it to skip
    /// saving tensors for a backward pass that will never run.
    /// While [tracing](crate::trace), every op is built with
    /// [`Var::from_op`] so that it is recorded.
    pub fn records(parents: &[&Var<T>]) -> bool {
        crate::trace::is_tracing()
            || (!is_grad_disabled() && parents.iter().any(|p| p.requires_grad()))
    }

    /// The value, as a tensor of its own (a cheap copy: the storage is
    /// shared), so it can be taken from a temporary:
    ///
    /// ```
    /// use nn_autograd::{no_grad, Var};
    /// use nn_tensor::Tensor;
    /// let w = Var::leaf(Tensor::<f32>::from_vec(vec![1.0, -2.0], &[2]));
    /// let y = no_grad(|| &w * 3.0).value();
    /// assert_eq!(y.to_vec(), vec![3.0, -6.0]);
    /// ```
    ///
    /// [`Var::as_tensor`] borrows it instead.
    #[doc(alias = "data")]
    #[doc(alias = "detach")]
    pub fn value(&self) -> Tensor<T> {
        self.node.value.clone()
    }

    /// The value, borrowed (no copy at all; see [`Var::value`] for an owned one).
    pub fn as_tensor(&self) -> &Tensor<T> {
        &self.node.value
    }

    /// The id gradients are stored under.
    pub fn id(&self) -> VarId {
        self.node.id
    }

    /// True when a gradient flows to or through this value.
    pub fn requires_grad(&self) -> bool {
        self.node.requires_grad
    }

    /// The shape of the value.
    #[doc(alias = "size")]
    pub fn shape(&self) -> &[usize] {
        self.node.value.shape()
    }

    /// The number of dimensions of the value.
    #[doc(alias = "dim")]
    pub fn ndim(&self) -> usize {
        self.node.value.ndim()
    }

    /// The number of elements of the value.
    pub fn numel(&self) -> usize {
        self.node.value.numel()
    }

    /// The single element of a one-element var (a loss, a metric); panics
    /// otherwise, as [`Tensor::item`] does.
    ///
    /// ```
    /// use nn_autograd::Var;
    /// use nn_tensor::Tensor;
    /// let x = Var::leaf(Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]));
    /// assert_eq!((&x * &x).sum().item(), 5.0);
    /// ```
    #[track_caller]
    pub fn item(&self) -> T {
        self.node.value.item()
    }

    /// The elements in row-major order.
    #[doc(alias = "tolist")]
    pub fn to_vec(&self) -> Vec<T> {
        self.node.value.to_vec()
    }

    /// The index of the largest element along `dim`, for every position of
    /// the other dims (the predicted class of each row of logits:
    /// `logits.argmax(1)`). Not differentiable, so it returns plain indices.
    #[track_caller]
    pub fn argmax(&self, dim: impl nn_tensor::AsDim) -> Vec<usize> {
        self.node.value.argmax(dim)
    }

    /// The name of the op that produced this value (`None` for leaves and constants).
    pub fn op_name(&self) -> Option<&'static str> {
        self.node.grad_fn.as_ref().map(|g| g.op)
    }

    /// The same value cut from the graph: no gradient flows back through it.
    pub fn detach(&self) -> Var<T> {
        Var::constant(self.value().clone())
    }
}

impl<T: Element> fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Var(id={}, op={}, requires_grad={}, {:?})",
            self.id().as_u64(),
            self.op_name().unwrap_or("leaf"),
            self.requires_grad(),
            self.value()
        )
    }
}

/// Prints the value, as [`Tensor`]'s `Display` does (the graph is in `{:?}`).
impl<T: Element> fmt::Display for Var<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.node.value, f)
    }
}

/// Wraps a borrowed tensor as a constant (a cheap copy), so a layer's
/// `forward(&x)` takes a tensor as it is.
impl<T: Element> From<&Tensor<T>> for Var<T> {
    fn from(t: &Tensor<T>) -> Self {
        Var::constant(t.clone())
    }
}

/// The same var (a cheap copy of the handle), so `forward(&v)` keeps the graph.
impl<T: Element> From<&Var<T>> for Var<T> {
    fn from(v: &Var<T>) -> Self {
        v.clone()
    }
}

impl<T: Element> From<Tensor<T>> for Var<T> {
    /// Wraps a tensor as a constant.
    fn from(t: Tensor<T>) -> Self {
        Var::constant(t)
    }
}
