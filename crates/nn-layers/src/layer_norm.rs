//! [`LayerNorm`]: normalisation over each sample's trailing dims.

use nn_autograd::{Parameter, Var};
use nn_tensor::parallel::{CHUNK, PARALLEL_THRESHOLD};
use nn_tensor::{num_threads, Element, Result, Rng, Tensor, TensorError};
use rayon::prelude::*;

use crate::functional;
use crate::{Forward, Module};

/// How to build a [`LayerNorm`]; the defaults are PyTorch's.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// The trailing dims normalised over (e.g. `[d_model]`).
    pub normalized_shape: Vec<usize>,
    /// Added to the variance (default 1e-5), > 0.
    pub eps: f64,
    /// Learn `weight` (starts at 1) and `bias` (starts at 0) (default `true`).
    pub elementwise_affine: bool,
    /// Learn the `bias` when affine (default `true`).
    pub bias: bool,
}

impl LayerNormConfig {
    /// Layer norm over `normalized_shape` with PyTorch's defaults.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNormConfig {
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
        }
    }

    /// With another `eps`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Builds the layer (weight 1, bias 0); errors on an empty or zero-sized
    /// shape or `eps <= 0`. Nothing is random, so `_rng` is unused: every
    /// layer's `init` takes one, so that building any model reads the same.
    pub fn init<T: Element>(&self, _rng: &mut Rng) -> Result<LayerNorm<T>> {
        let s = &self.normalized_shape;
        if s.is_empty() || s.contains(&0) {
            return Err(TensorError::invalid(
                "LayerNormConfig",
                format!("normalized_shape {s:?} must be non-empty with no zero dim"),
            ));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(TensorError::invalid(
                "LayerNormConfig",
                format!("eps = {} must be > 0", self.eps),
            ));
        }
        let affine = self.elementwise_affine;
        Ok(LayerNorm {
            normalized_shape: s.clone(),
            eps: self.eps,
            weight: affine.then(|| Parameter::new(Tensor::ones(s))),
            bias: (affine && self.bias).then(|| Parameter::new(Tensor::zeros(s))),
        })
    }
}

/// Layer normalisation (`torch.nn.LayerNorm`): each sample is normalised
/// over its trailing `normalized_shape` dims, then scaled and shifted.
///
/// * input `[..., *normalized_shape]`, output the same shape;
/// * parameters `weight` and `bias`, shaped `normalized_shape`.
///
/// ```
/// use nn_layers::prelude::*;
/// let ln = LayerNormConfig::new(&[3]).init::<f64>(&mut Rng::seed_from(0)).unwrap();
/// let y = ln.forward(&Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]));
/// assert!(y.value().sum_all().item().abs() < 1e-12);
/// ```
#[derive(Clone, Debug, Module)]
#[module(macs = crate::summary::macs_per_output_element)]
pub struct LayerNorm<T: Element> {
    #[module(skip)]
    normalized_shape: Vec<usize>,
    #[module(skip)]
    eps: f64,
    /// Scale, shaped `normalized_shape`.
    pub weight: Option<Parameter<T>>,
    /// Shift, shaped `normalized_shape`.
    pub bias: Option<Parameter<T>>,
}

impl<T: Element> LayerNorm<T> {
    /// The normalised trailing shape.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The `eps` added to the variance.
    pub fn eps(&self) -> f64 {
        self.eps
    }
}

impl<T: Element> Forward<T> for LayerNorm<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let w = self.weight.as_ref().map(|p| p.var());
            let b = self.bias.as_ref().map(|p| p.var());
            functional::layer_norm(x, &self.normalized_shape, w.as_ref(), b.as_ref(), self.eps)
                .map_err(|e| TensorError::invalid("LayerNorm", e.to_string()))
        })
    }
}

/// `Σ a` with eight running sums, so the loop vectorises (a single running
/// sum is a dependency chain the compiler may not reorder).
fn sum<T: Element>(a: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = a.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(T::zero(), |s, &v| s + v);
    for c in chunks {
        for (s, &v) in acc.iter_mut().zip(c) {
            *s += v;
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `Σ a·b`, vectorised as [`sum`].
fn dot<T: Element>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(T::zero(), |s, (&x, &y)| s + x * y);
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// Runs `f` on matching pieces of `a` and `b` (`rows` rows each), on the
/// pool when the work is large and there is more than one thread. The
/// pieces depend on the sizes only, so results never depend on the thread
/// count; `f`'s results come back in row order.
fn by_rows<T: Element, R: Send>(
    (a, wa): (&mut [T], usize),
    (b, wb): (&mut [T], usize),
    rows: usize,
    f: impl Fn(usize, &mut [T], &mut [T]) -> R + Sync + Send,
) -> Vec<R> {
    if a.len() >= PARALLEL_THRESHOLD && num_threads() > 1 {
        a.par_chunks_mut(rows * wa)
            .zip(b.par_chunks_mut(rows * wb))
            .enumerate()
            .map(|(i, (x, y))| f(i * rows, x, y))
            .collect()
    } else {
        a.chunks_mut(rows * wa)
            .zip(b.chunks_mut(rows * wb))
            .enumerate()
            .map(|(i, (x, y))| f(i * rows, x, y))
            .collect()
    }
}

/// Layer norm over the trailing `k` dims of `x` as one graph node with a
/// hand-written backward. Composed from generic ops (mean, subtract,
/// square, mean, add, sqrt, divide, scale, shift) it allocated nine
/// temporaries each way and was about a tenth of a Transformer training
/// step. Shapes are checked by [`functional::layer_norm`].
pub(crate) fn layer_norm_node<T: Element>(
    x: &Var<T>,
    k: usize,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    eps: f64,
) -> Var<T> {
    let shape = x.shape().to_vec();
    let width: usize = shape[shape.len() - k..].iter().product();
    let n_rows = x.value().numel() / width;
    let rows = (CHUNK / width).max(1);
    let w = weight.map(|w| w.value().clone());
    let b = bias.map(|b| b.value().clone());
    let inv = T::of(1.0 / width as f64);
    // x̂ = (x − mean)·rstd per row (biased variance), y = x̂·w + b.
    let mut xhat = x.value().as_slice().to_vec();
    let mut y = vec![T::zero(); xhat.len()];
    let rstd: Vec<Vec<T>> = by_rows((&mut xhat, width), (&mut y, width), rows, |_, xs, ys| {
        let mut r_out = Vec::with_capacity(xs.len() / width);
        for (row, out) in xs.chunks_exact_mut(width).zip(ys.chunks_exact_mut(width)) {
            let mean = sum(row) * inv;
            row.iter_mut().for_each(|v| *v -= mean);
            let r = (dot(row, row) * inv + T::of(eps)).sqrt().recip();
            r_out.push(r);
            row.iter_mut().for_each(|v| *v *= r);
            match &w {
                Some(w) => out
                    .iter_mut()
                    .zip(row.iter().zip(w.as_slice()))
                    .for_each(|(o, (v, g))| *o = *v * *g),
                None => out.copy_from_slice(row),
            }
            if let Some(b) = &b {
                out.iter_mut().zip(b.as_slice()).for_each(|(o, c)| *o += *c);
            }
        }
        r_out
    });
    let rstd: Vec<T> = rstd.concat();
    debug_assert_eq!(rstd.len(), n_rows);
    let mut parents = vec![x.clone()];
    parents.extend(weight.cloned());
    parents.extend(bias.cloned());
    let (has_w, has_b) = (weight.is_some(), bias.is_some());
    let xhat = Tensor::from_vec(xhat, &shape);
    Var::from_op(
        "layer_norm",
        Tensor::from_vec(y, &shape),
        parents,
        move |g| {
            // dx̂ = g·w;  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂));
            // dw = Σ_rows g·x̂;  db = Σ_rows g (partial sums per piece, added in order).
            let (gs, xh) = (g.as_slice(), xhat.as_slice());
            let mut dx = vec![T::zero(); gs.len()];
            let mut scratch = vec![T::zero(); gs.len() / width];
            let partials = by_rows((&mut dx, width), (&mut scratch, 1), rows, |r0, dxs, _| {
                let mut dw = vec![T::zero(); if has_w { width } else { 0 }];
                let mut db = vec![T::zero(); if has_b { width } else { 0 }];
                for (i, dxr) in dxs.chunks_exact_mut(width).enumerate() {
                    let at = (r0 + i) * width;
                    let (gr, xr) = (&gs[at..at + width], &xh[at..at + width]);
                    match &w {
                        Some(w) => dxr
                            .iter_mut()
                            .zip(gr.iter().zip(w.as_slice()))
                            .for_each(|(d, (g, w))| *d = *g * *w),
                        None => dxr.copy_from_slice(gr),
                    }
                    let (m1, m2) = (sum(dxr) * inv, dot(dxr, xr) * inv);
                    let r = rstd[r0 + i];
                    dxr.iter_mut()
                        .zip(xr)
                        .for_each(|(d, x)| *d = (*d - m1 - *x * m2) * r);
                    dw.iter_mut()
                        .zip(gr.iter().zip(xr))
                        .for_each(|(a, (g, x))| *a += *g * *x);
                    db.iter_mut().zip(gr).for_each(|(a, g)| *a += *g);
                }
                (dw, db)
            });
            let norm_shape = &shape[shape.len() - k..];
            let (dws, dbs): (Vec<Vec<T>>, Vec<Vec<T>>) = partials.into_iter().unzip();
            let total = |parts: Vec<Vec<T>>| {
                let mut acc = vec![T::zero(); width];
                for p in &parts {
                    acc.iter_mut().zip(p).for_each(|(a, v)| *a += *v);
                }
                Some(Tensor::from_vec(acc, norm_shape))
            };
            let mut grads = vec![Some(Tensor::from_vec(dx, &shape))];
            if has_w {
                grads.push(total(dws));
            }
            if has_b {
                grads.push(total(dbs));
            }
            grads
        },
    )
}
