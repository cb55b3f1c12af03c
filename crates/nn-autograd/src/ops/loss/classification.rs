//! The classification losses with PyTorch's options: cross-entropy (class
//! weights, an ignored index, label smoothing, class indices or class
//! probabilities), negative log-likelihood (class weights, an ignored
//! index) and binary cross-entropy on logits (per-element weights, a
//! weight for positives) and on probabilities (per-element weights).
//!
//! Weighted means follow PyTorch: against class indices, the mean divides
//! the sum by the total weight of the (not ignored) targets, not by their
//! number; against class probabilities and in the binary losses, it divides
//! by the number of positions or elements.

use nn_tensor::{or_panic, Element, Result, Tensor, TensorError};

use super::{same_shape, Reduction};
use crate::ops::activation::softmax_tensor;
use crate::ops::target::Target;
use crate::Var;

/// Checks that `input` has a class dim 1 and returns its size C.
fn class_dim<T: Element>(op: &'static str, input: &Var<T>) -> Result<usize> {
    if input.ndim() < 2 {
        return Err(TensorError::invalid(
            op,
            format!("input of shape {:?} needs a class dim 1", input.shape()),
        ));
    }
    Ok(input.shape()[1])
}

/// Checks class-index targets against logits `[N, C, d1, …]` and returns C.
/// A target equal to `ignore` may be any value, as in PyTorch.
fn check_class_targets<T: Element>(
    op: &'static str,
    input: &Var<T>,
    target: &[usize],
    ignore: Option<usize>,
) -> Result<usize> {
    let c = class_dim(op, input)?;
    let expected = input.value().numel() / c.max(1);
    if target.len() != expected {
        return Err(TensorError::invalid(
            op,
            format!(
                "{} targets for input of shape {:?}, which has {expected} positions",
                target.len(),
                input.shape()
            ),
        ));
    }
    if let Some(&bad) = target.iter().find(|&&t| t >= c && Some(t) != ignore) {
        return Err(TensorError::invalid(
            op,
            format!("target class {bad} is out of range for {c} classes"),
        ));
    }
    Ok(c)
}

/// The class weights `[C]` as a vector (all 1 without weights), or an error
/// naming `op`, the input's shape and the weights'.
fn class_weights<T: Element>(
    op: &'static str,
    input: &Var<T>,
    weight: Option<&Tensor<T>>,
    c: usize,
) -> Result<Vec<T>> {
    match weight {
        None => Ok(vec![T::one(); c]),
        Some(w) if w.shape() == [c] => Ok(w.to_vec()),
        Some(w) => Err(TensorError::shapes(
            op,
            input.shape(),
            w.shape(),
            format!("class weights must have shape [{c}]"),
        )),
    }
}

/// A per-element weight broadcast to the input's shape (all 1 without one).
fn element_weights<T: Element>(
    op: &'static str,
    input: &Var<T>,
    weight: Option<&Tensor<T>>,
    what: &str,
) -> Result<Tensor<T>> {
    match weight {
        None => Ok(Tensor::ones(input.shape())),
        Some(w) => w.try_broadcast_to(input.shape()).map_err(|_| {
            TensorError::shapes(
                op,
                input.shape(),
                w.shape(),
                format!("{what} must broadcast to the input's shape"),
            )
        }),
    }
}

/// The shape of per-position losses for logits `[N, C, d1, …]`: `[N, d1, …]`.
fn position_shape(shape: &[usize]) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.remove(1);
    s
}

/// The `(outer, classes, inner)` extents of logits `[N, C, d1, …]`: the
/// class `k` of position `(b, i)` is at `(b·C + k)·inner + i`.
fn class_layout(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

/// Reduces per-position losses whose mean divides by `total`, the weight of
/// the targets (their number when unweighted): PyTorch's weighted mean.
/// All targets ignored gives `0/0`, NaN, as in PyTorch.
fn weighted_reduction<T: Element>(per: Var<T>, reduction: Reduction, total: T) -> Var<T> {
    match reduction {
        Reduction::Mean => per.sum().mul_scalar(T::one() / total),
        r => r.apply(per),
    }
}

/// Cross-entropy of logits `[N, C]` or `[N, C, d1, …]` (classes on dim 1),
/// PyTorch's `nn.CrossEntropyLoss`, against either
///
/// * class indices, one per position (`[N]` or `[N, d1, …]`, flat): a
///   position of class `y` costs `−(1−ε)·w[y]·lp[y] − (ε/C)·Σ_c w[c]·lp[c]`,
///   a position whose class is the ignored index costs 0, and the mean is
///   the sum divided by `Σ w[y]` over the positions not ignored; or
/// * class probabilities of the logits' shape (soft targets): each
///   position costs `−Σ_c w[c]·t'[c]·lp[c]` with `t' = (1−ε)·t + ε/C`, and
///   the mean divides by the number of positions (an ignored index is an
///   error here, as in PyTorch),
///
/// where `lp = log_softmax(logits)`, `ε` is the label smoothing and `w` the
/// class weights (all 1 by default). Fused: with `q` the weights that
/// multiply `−lp` above, the gradient `softmax·Σq − q` is computed in one
/// pass; a probability target that requires a gradient gets
/// `−(1−ε)·w·lp`. [`Var::cross_entropy`] is its default form (mean, no
/// smoothing, no weights).
///
/// `T` is the type of the class weights (f32 where the type is named
/// without it, as in a struct field).
///
/// ```
/// use nn_autograd::{CrossEntropyLoss, Reduction, Var};
/// use nn_tensor::Tensor;
/// let logits = Var::leaf(Tensor::<f64>::from_vec(vec![2.0, 0.0, 0.0, 2.0], &[2, 2]));
/// let loss = logits.cross_entropy(&[0, 1]);
/// assert!((loss.item() - (1.0 + (-2.0f64).exp()).ln()).abs() < 1e-12);
/// let smoothed = CrossEntropyLoss::new()
///     .with_reduction(Reduction::Sum)
///     .with_label_smoothing(0.1)?
///     .forward(&logits, &[0, 1]);
/// assert!(smoothed.item() > 2.0 * loss.item());
/// // Class 1 weighs 3: a weighted mean of the two positions' losses, and
/// // an ignored position (class 0 here) costs nothing.
/// let weighted = CrossEntropyLoss::new().with_weight(Tensor::from_vec(vec![1.0, 3.0], &[2]));
/// assert!((weighted.forward(&logits, &[0, 1]).item() - loss.item()).abs() < 1e-12);
/// let padded = CrossEntropyLoss::new().with_ignore_index(0);
/// assert!(padded.forward(&logits, &[0, 0]).item().is_nan()); // 0/0, as in PyTorch
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CrossEntropyLoss<T: Element = f32> {
    /// How per-position losses are combined (default mean).
    pub reduction: Reduction,
    /// Label smoothing `ε` in `[0, 1]` (default 0).
    pub label_smoothing: f64,
    /// Per-class weights `[C]` (default none: all 1).
    pub weight: Option<Tensor<T>>,
    /// A class index whose positions cost nothing and count for nothing in
    /// the mean (PyTorch's `ignore_index`; default none).
    pub ignore_index: Option<usize>,
}

impl<T: Element> Default for CrossEntropyLoss<T> {
    fn default() -> Self {
        CrossEntropyLoss {
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
            weight: None,
            ignore_index: None,
        }
    }
}

impl<T: Element> CrossEntropyLoss<T> {
    /// PyTorch's defaults: the mean, no label smoothing, no class weights,
    /// no ignored index.
    pub fn new() -> Self {
        Self::default()
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// With label smoothing `eps`; errors outside `[0, 1]`.
    pub fn with_label_smoothing(mut self, eps: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&eps) {
            return Err(TensorError::invalid(
                "CrossEntropyLoss",
                format!("label_smoothing = {eps} is outside [0, 1]"),
            ));
        }
        self.label_smoothing = eps;
        Ok(self)
    }
    /// With class weights `[C]` (PyTorch's `weight`; their shape is checked
    /// against the logits when used).
    pub fn with_weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }
    /// With a class index to ignore (PyTorch's `ignore_index`, e.g. the
    /// padding token): it may lie outside `0..C`.
    pub fn with_ignore_index(mut self, index: usize) -> Self {
        self.ignore_index = Some(index);
        self
    }
    /// The loss of `logits: [N, C]` (or `[N, C, d1, …]`) against class
    /// indices (`N`, or `N·d1·…`, of them) or class probabilities of the
    /// logits' shape: a scalar `[]` when reduced, `[N]` (or `[N, d1, …]`)
    /// with [`Reduction::None`].
    pub fn try_forward<'a>(
        &self,
        logits: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        const OP: &str = "cross_entropy";
        let eps = T::of(self.label_smoothing);
        if !(eps >= T::zero() && eps <= T::one()) {
            return Err(TensorError::invalid(
                OP,
                format!("label_smoothing {eps} is outside [0, 1]"),
            ));
        }
        let target = target.into();
        let c = match &target {
            Target::Classes(y) => check_class_targets(OP, logits, y, self.ignore_index)?,
            Target::Values(t) => {
                let c = class_dim(OP, logits)?;
                same_shape(OP, logits, t)?;
                if let Some(i) = self.ignore_index {
                    return Err(TensorError::invalid(
                        OP,
                        format!(
                            "ignore_index {i} applies to class indices, not to class \
                             probabilities of shape {:?}",
                            t.shape()
                        ),
                    ));
                }
                c
            }
        };
        let w = class_weights(OP, logits, self.weight.as_ref(), c)?;
        let (n, _, inner) = class_layout(logits.shape());
        let uniform = eps / T::from_usize(c).unwrap();
        Ok(match target {
            Target::Classes(y) => {
                let mut q = vec![T::zero(); n * c * inner];
                let mut total = T::zero();
                for b in 0..n {
                    for i in 0..inner {
                        let y = y[b * inner + i];
                        if Some(y) == self.ignore_index {
                            continue;
                        }
                        total += w[y];
                        for (k, &wk) in w.iter().enumerate() {
                            q[(b * c + k) * inner + i] = uniform * wk;
                        }
                        q[(b * c + y) * inner + i] += (T::one() - eps) * w[y];
                    }
                }
                weighted_reduction(fused_cross_entropy(logits, q, None), self.reduction, total)
            }
            Target::Values(t) => {
                let q: Vec<T> = t
                    .value()
                    .as_slice()
                    .iter()
                    .enumerate()
                    .map(|(at, &p)| ((T::one() - eps) * p + uniform) * w[at / inner % c])
                    .collect();
                let dq_dt: Vec<T> = w.iter().map(|&wk| (T::one() - eps) * wk).collect();
                self.reduction
                    .apply(fused_cross_entropy(logits, q, Some((&t, dq_dt))))
            }
        })
    }
    /// Panicking [`CrossEntropyLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a>(&self, logits: &Var<T>, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_forward(logits, target))
    }
}

/// Per-position `−Σ_k q[k]·lp[k]` of logits `[N, C, d1, …]` and weights `q`
/// of the same layout, `lp = log_softmax(logits)` over dim 1. With a
/// probability target, `q` is linear in it with slope `dq_dt[k]` per class,
/// and a target that requires a gradient gets `−dq_dt[k]·lp[k]`.
fn fused_cross_entropy<T: Element>(
    logits: &Var<T>,
    q: Vec<T>,
    target: Option<(&Var<T>, Vec<T>)>,
) -> Var<T> {
    let lp = softmax_tensor(logits.as_tensor(), 1, true);
    let shape = logits.shape().to_vec();
    let (n, c, inner) = class_layout(&shape);
    let lps = lp.as_slice();
    let mut losses = vec![T::zero(); n * inner];
    let mut mass = vec![T::zero(); n * inner];
    for b in 0..n {
        for i in 0..inner {
            let at = |k: usize| (b * c + k) * inner + i;
            losses[b * inner + i] = -(0..c).map(|k| q[at(k)] * lps[at(k)]).sum::<T>();
            mass[b * inner + i] = (0..c).map(|k| q[at(k)]).sum();
        }
    }
    let per = Tensor::from_vec(losses, &position_shape(&shape));
    let mut parents = vec![logits.clone()];
    let target_slope = target.map(|(t, slope)| {
        parents.push(t.clone());
        (t.requires_grad(), slope)
    });
    Var::from_op("cross_entropy", per, parents, move |g| {
        // d/d logits = softmax·Σ_k q[k] − q.
        let gs = g.as_slice();
        let mut dx = lp.exp();
        let dxs = dx.as_mut_slice();
        for b in 0..n {
            for i in 0..inner {
                let (gp, m) = (gs[b * inner + i], mass[b * inner + i]);
                for k in 0..c {
                    let at = (b * c + k) * inner + i;
                    dxs[at] = (dxs[at] * m - q[at]) * gp;
                }
            }
        }
        let mut grads = vec![Some(dx)];
        if let Some((wanted, slope)) = &target_slope {
            grads.push(wanted.then(|| {
                let mut dt = lp.clone();
                let dts = dt.as_mut_slice();
                for b in 0..n {
                    for i in 0..inner {
                        let gp = gs[b * inner + i];
                        for (k, &s) in slope.iter().enumerate() {
                            let at = (b * c + k) * inner + i;
                            dts[at] = -s * dts[at] * gp;
                        }
                    }
                }
                dt
            }));
        }
        grads
    })
}

/// Negative log-likelihood of log-probabilities `[N, C]` (or
/// `[N, C, d1, …]`) against class indices, PyTorch's `nn.NLLLoss`, with
/// optional class weights `[C]` and an ignored index: a position of class
/// `y` costs `−w[y]·input[y]`, an ignored one 0. With [`Reduction::Mean`]
/// the sum is divided by the total weight of the targets not ignored, as
/// PyTorch does. [`Var::nll_loss`] is its default form.
#[derive(Clone, Debug, PartialEq)]
pub struct NllLoss<T: Element> {
    /// Per-class weights `[C]` (default none: all 1).
    pub weight: Option<Tensor<T>>,
    /// A class index whose positions cost nothing and count for nothing in
    /// the mean (PyTorch's `ignore_index`; default none).
    pub ignore_index: Option<usize>,
    /// How per-position losses are combined (default mean: divided by the
    /// total target weight).
    pub reduction: Reduction,
}

impl<T: Element> Default for NllLoss<T> {
    fn default() -> Self {
        NllLoss {
            weight: None,
            ignore_index: None,
            reduction: Reduction::Mean,
        }
    }
}

impl<T: Element> NllLoss<T> {
    /// PyTorch's defaults: no class weights, no ignored index, the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With class weights `[C]` (their shape is checked against the input).
    pub fn with_weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }
    /// With a class index to ignore (PyTorch's `ignore_index`): it may lie
    /// outside `0..C`.
    pub fn with_ignore_index(mut self, index: usize) -> Self {
        self.ignore_index = Some(index);
        self
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `log_probs: [N, C]` (or `[N, C, d1, …]`) against class
    /// indices, one per position: a scalar `[]` when reduced, `[N]` (or
    /// `[N, d1, …]`) with [`Reduction::None`].
    pub fn try_forward<'a>(
        &self,
        log_probs: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        const OP: &str = "nll_loss";
        let target = target.into();
        let target = target.classes(OP)?;
        let c = check_class_targets(OP, log_probs, target, self.ignore_index)?;
        let w = class_weights(OP, log_probs, self.weight.as_ref(), c)?;
        let shape = log_probs.shape().to_vec();
        // Gather −w[y]·input[y] with gather so the gradient is a scatter; an
        // ignored position gathers class 0 with coefficient 0.
        let (idx, coef): (Vec<usize>, Vec<T>) = target
            .iter()
            .map(|&y| {
                if Some(y) == self.ignore_index {
                    (0, T::zero())
                } else {
                    (y, -w[y])
                }
            })
            .unzip();
        let mut gshape = shape.clone();
        gshape[1] = 1;
        let picked = log_probs
            .gather(1, &idx, &gshape)
            .reshape(position_shape(&shape));
        let total: T = coef.iter().map(|&c| -c).sum();
        let per = picked.mul_tensor(&Tensor::from_vec(coef, &position_shape(&shape)));
        Ok(weighted_reduction(per, self.reduction, total))
    }
    /// Panicking [`NllLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a>(&self, log_probs: &Var<T>, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_forward(log_probs, target))
    }
}

/// Binary cross-entropy of logits against targets in `[0, 1]` of the same
/// shape, PyTorch's `nn.BCEWithLogitsLoss`, with an optional per-element
/// `weight` `w` and an optional `pos_weight` `p` (both broadcast to the
/// logits' shape; `p` usually one per class, along the last dim). Each
/// element costs `w·[(1−t)·x + (1 + (p−1)·t)·softplus(−x)]`, finite for
/// logits of ±1e4; the mean divides by the number of elements. A target
/// that requires a gradient gets `w·[−x + (p−1)·softplus(−x)]`.
/// [`Var::binary_cross_entropy_with_logits`] is its default form.
///
/// ```
/// use nn_autograd::{BceWithLogitsLoss, Var};
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f64>::from_vec(vec![0.0, 0.0], &[1, 2]));
/// let t = Tensor::from_vec(vec![1.0, 0.0], &[1, 2]);
/// // Both elements cost ln 2; the weights [3, 1] make the mean 2·ln 2.
/// let bce = BceWithLogitsLoss::new().with_weight(Tensor::from_vec(vec![3.0, 1.0], &[2]));
/// assert!((bce.forward(&x, &t).item() - 2.0 * 2f64.ln()).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BceWithLogitsLoss<T: Element> {
    /// Per-element weights, broadcast to the logits' shape (default none: 1).
    pub weight: Option<Tensor<T>>,
    /// Weight of positive examples, broadcast to the logits' shape (default
    /// none: 1).
    pub pos_weight: Option<Tensor<T>>,
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl<T: Element> Default for BceWithLogitsLoss<T> {
    fn default() -> Self {
        BceWithLogitsLoss {
            weight: None,
            pos_weight: None,
            reduction: Reduction::Mean,
        }
    }
}

impl<T: Element> BceWithLogitsLoss<T> {
    /// PyTorch's defaults: no weights, the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With per-element weights (PyTorch's `weight`; their shape is checked
    /// against the input when used).
    pub fn with_weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }
    /// With a weight for positives (its shape is checked against the input).
    pub fn with_pos_weight(mut self, pos_weight: Tensor<T>) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of `logits` against targets in `[0, 1]` of the same shape: a
    /// scalar `[]` when reduced, the logits' shape with [`Reduction::None`].
    pub fn try_forward<'a>(
        &self,
        logits: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        const OP: &str = "binary_cross_entropy_with_logits";
        let target = target.into();
        let target = target.values(OP, logits.shape())?;
        same_shape(OP, logits, target)?;
        let p = match &self.pos_weight {
            Some(p) => p.try_broadcast_to(logits.shape()).map_err(|_| {
                TensorError::shapes(
                    OP,
                    logits.shape(),
                    p.shape(),
                    "pos_weight must broadcast along the last dim",
                )
            })?,
            None => Tensor::ones(logits.shape()),
        };
        let w = element_weights(OP, logits, self.weight.as_ref(), "weight")?;
        let x = logits.value().clone();
        let t = target.value().clone();
        let softplus = |z: T| z.max(T::zero()) + (-z.abs()).exp().ln_1p();
        let (xs, ts, ps, ws) = (x.as_slice(), t.as_slice(), p.as_slice(), w.as_slice());
        let l: Vec<T> = (0..xs.len())
            .map(|i| {
                ws[i]
                    * ((T::one() - ts[i]) * xs[i]
                        + (T::one() + (ps[i] - T::one()) * ts[i]) * softplus(-xs[i]))
            })
            .collect();
        let target_grad = target.requires_grad();
        let per = Var::from_op(
            "bce_with_logits",
            Tensor::from_vec(l, x.shape()),
            vec![logits.clone(), target.clone()],
            move |g| {
                let (xs, ts, ps) = (x.as_slice(), t.as_slice(), p.as_slice());
                let (ws, gs) = (w.as_slice(), g.as_slice());
                // d/dx = w·[(1−t) − (1 + (p−1)t)·σ(−x)]
                let dx: Vec<T> = (0..xs.len())
                    .map(|i| {
                        gs[i]
                            * ws[i]
                            * ((T::one() - ts[i])
                                - (T::one() + (ps[i] - T::one()) * ts[i])
                                    * nn_tensor::sigmoid_scalar(-xs[i]))
                    })
                    .collect();
                // d/dt = w·[−x + (p−1)·softplus(−x)]
                let dt = target_grad.then(|| {
                    let d: Vec<T> = (0..xs.len())
                        .map(|i| gs[i] * ws[i] * (-xs[i] + (ps[i] - T::one()) * softplus(-xs[i])))
                        .collect();
                    Tensor::from_vec(d, x.shape())
                });
                vec![Some(Tensor::from_vec(dx, x.shape())), dt]
            },
        );
        Ok(self.reduction.apply(per))
    }
    /// Panicking [`BceWithLogitsLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a>(&self, logits: &Var<T>, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_forward(logits, target))
    }
}

/// PyTorch's floor on `ln p` and `ln(1 − p)` in the binary cross-entropy of
/// probabilities, so that a saturated probability costs 100, not infinity.
const LOG_FLOOR: f64 = -100.0;
/// PyTorch's floor on `p·(1 − p)` in that loss's gradient.
const GRAD_FLOOR: f64 = 1e-12;

/// Binary cross-entropy of probabilities `p` in `[0, 1]` against targets
/// `t` in `[0, 1]` of the same shape, PyTorch's `nn.BCELoss`, with an
/// optional per-element `weight` `w` broadcast to the input's shape. Each
/// element costs `−w·[t·ln p + (1−t)·ln(1−p)]`, each log floored at −100
/// as PyTorch does; the gradient is `w·(p − t) / max(p·(1−p), 1e-12)`, and
/// a target that requires a gradient gets `−w·ln(p / (1−p))`. Prefer
/// [`BceWithLogitsLoss`] on logits, which is exact where `p` saturates.
/// [`Var::binary_cross_entropy`] is its default form.
///
/// ```
/// use nn_autograd::{BceLoss, Var};
/// use nn_tensor::Tensor;
/// let p = Var::leaf(Tensor::<f64>::from_vec(vec![0.5, 0.25], &[2]));
/// let t = Tensor::from_vec(vec![1.0, 0.0], &[2]);
/// let want = -(0.5f64.ln() + 0.75f64.ln()) / 2.0;
/// assert!((p.binary_cross_entropy(&t).item() - want).abs() < 1e-12);
/// let weighted = BceLoss::new().with_weight(Tensor::from_vec(vec![2.0, 0.0], &[2]));
/// assert!((weighted.forward(&p, &t).item() + 0.5f64.ln()).abs() < 1e-12);
/// assert_eq!(
///     p.try_binary_cross_entropy(&Tensor::from_vec(vec![1.0, 0.0, 1.0], &[3]))
///         .unwrap_err()
///         .to_string(),
///     "binary_cross_entropy: shapes [2] and [3] do not match: input and target must have the same shape"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BceLoss<T: Element> {
    /// Per-element weights, broadcast to the input's shape (default none: 1).
    pub weight: Option<Tensor<T>>,
    /// How per-element losses are combined (default mean).
    pub reduction: Reduction,
}

impl<T: Element> Default for BceLoss<T> {
    fn default() -> Self {
        BceLoss {
            weight: None,
            reduction: Reduction::Mean,
        }
    }
}

impl<T: Element> BceLoss<T> {
    /// PyTorch's defaults: no weights, the mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// With per-element weights (PyTorch's `weight`; their shape is checked
    /// against the input when used).
    pub fn with_weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }
    /// With another reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// The loss of probabilities `input` in `[0, 1]` against targets of the
    /// same shape: a scalar `[]` when reduced, the input's shape with
    /// [`Reduction::None`]. An input value outside `[0, 1]` is an error.
    pub fn try_forward<'a>(
        &self,
        input: &Var<T>,
        target: impl Into<Target<'a, T>>,
    ) -> Result<Var<T>> {
        const OP: &str = "binary_cross_entropy";
        let target = target.into();
        let target = target.values(OP, input.shape())?;
        same_shape(OP, input, target)?;
        let w = element_weights(OP, input, self.weight.as_ref(), "weight")?;
        let p = input.value().clone();
        if let Some(bad) = p
            .as_slice()
            .iter()
            .find(|&&v| !(v >= T::zero() && v <= T::one()))
        {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "input values must be probabilities in [0, 1], got {bad} in an input of shape {:?}",
                    p.shape()
                ),
            ));
        }
        let t = target.value().clone();
        let floor = T::of(LOG_FLOOR);
        let (ps, ts, ws) = (p.as_slice(), t.as_slice(), w.as_slice());
        let l: Vec<T> = (0..ps.len())
            .map(|i| {
                let (ln_p, ln_q) = (ps[i].ln().max(floor), (-ps[i]).ln_1p().max(floor));
                -ws[i] * (ts[i] * ln_p + (T::one() - ts[i]) * ln_q)
            })
            .collect();
        let target_grad = target.requires_grad();
        let per = Var::from_op(
            OP,
            Tensor::from_vec(l, p.shape()),
            vec![input.clone(), target.clone()],
            move |g| {
                let (ps, ts, ws, gs) = (p.as_slice(), t.as_slice(), w.as_slice(), g.as_slice());
                let grad_floor = T::of(GRAD_FLOOR);
                let dp: Vec<T> = (0..ps.len())
                    .map(|i| {
                        let denom = (ps[i] * (T::one() - ps[i])).max(grad_floor);
                        gs[i] * ws[i] * (ps[i] - ts[i]) / denom
                    })
                    .collect();
                let dt = target_grad.then(|| {
                    let d: Vec<T> = (0..ps.len())
                        .map(|i| -gs[i] * ws[i] * (ps[i] / (T::one() - ps[i])).ln())
                        .collect();
                    Tensor::from_vec(d, p.shape())
                });
                vec![Some(Tensor::from_vec(dp, p.shape())), dt]
            },
        );
        Ok(self.reduction.apply(per))
    }
    /// Panicking [`BceLoss::try_forward`].
    #[track_caller]
    pub fn forward<'a>(&self, input: &Var<T>, target: impl Into<Target<'a, T>>) -> Var<T> {
        or_panic(self.try_forward(input, target))
    }
}
