//! Activation functions (the course's neurons) and softmax.

use nn_tensor::{sigmoid_scalar, AsDim, Element, Tensor};

use crate::trace::Attr;
use crate::Var;
use nn_tensor::or_panic;

/// `(outer, len, inner)` for walking dimension `d` of a row-major shape.
fn lanes(shape: &[usize], d: usize) -> (usize, usize, usize) {
    (
        shape[..d].iter().product(),
        shape[d],
        shape[d + 1..].iter().product(),
    )
}

/// Softmax along dimension `d` of a tensor, max-subtracted so logits of
/// ±1e4 stay finite. With `log`, returns log-softmax instead.
pub fn softmax_tensor<T: Element>(x: &Tensor<T>, d: usize, log: bool) -> Tensor<T> {
    let (outer, len, inner) = lanes(x.shape(), d);
    let src = x.as_slice();
    let mut out = vec![T::zero(); src.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let mut m = T::neg_infinity();
            for k in 0..len {
                m = m.max(src[at(k)]);
            }
            if !m.is_finite() {
                m = T::zero();
            }
            let mut s = T::zero();
            for k in 0..len {
                let e = (src[at(k)] - m).exp();
                out[at(k)] = e;
                s += e;
            }
            if log {
                // (x − m) − ln s, not x − (m + ln s): at |m| = 1e4 in f32 the
                // sum m + ln s would round ln s to the ulp of m (~1e-3).
                let ls = s.ln();
                for k in 0..len {
                    out[at(k)] = (src[at(k)] - m) - ls;
                }
            } else {
                let r = s.recip();
                for k in 0..len {
                    out[at(k)] *= r;
                }
            }
        }
    }
    Tensor::from_vec(out, x.shape())
}

/// The exact GELU `x·Φ(x)`.
fn gelu_exact<T: Element>(x: T) -> T {
    T::of(0.5) * x * (T::one() + (x * T::of(std::f64::consts::FRAC_1_SQRT_2)).erf())
}

fn gelu_exact_grad<T: Element>(x: T) -> T {
    let cdf = T::of(0.5) * (T::one() + (x * T::of(std::f64::consts::FRAC_1_SQRT_2)).erf());
    let pdf = (T::of(-0.5) * x * x).exp() * T::of(0.398_942_280_401_432_7);
    cdf + x * pdf
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

impl<T: Element> Var<T> {
    /// `max(x, 0)`.
    pub fn relu(&self) -> Var<T> {
        let y = self.value().map(|x| x.max(T::zero()));
        if !Var::records(&[self]) {
            return Var::constant(y);
        }
        // y > 0 exactly where x > 0, so the output alone masks the gradient:
        // one pass and one buffer instead of a derivative tensor times g.
        let yc = y.clone();
        Var::from_op("relu", y, vec![self.clone()], move |g| {
            vec![Some(g.zip_map(&yc, |g, y| {
                if y > T::zero() {
                    g
                } else {
                    T::zero()
                }
            }))]
        })
    }

    /// `x` for positive x, else `slope·x`.
    pub fn leaky_relu(&self, slope: T) -> Var<T> {
        self.map_with_grad(
            "leaky_relu",
            move |x| if x > T::zero() { x } else { slope * x },
            move |x, _| if x > T::zero() { T::one() } else { slope },
        )
        .traced_with(|| vec![("alpha", Attr::Float(slope.to_f64_lossless()))])
    }

    /// `x` for positive x, else `alpha·(eˣ − 1)`.
    pub fn elu(&self, alpha: T) -> Var<T> {
        self.map_with_grad(
            "elu",
            move |x| if x > T::zero() { x } else { alpha * x.exp_m1() },
            move |x, y| if x > T::zero() { T::one() } else { y + alpha },
        )
        .traced_with(|| vec![("alpha", Attr::Float(alpha.to_f64_lossless()))])
    }

    /// The logistic sigmoid, stable for any input.
    pub fn sigmoid(&self) -> Var<T> {
        self.map_with_grad("sigmoid", sigmoid_scalar, |_, y| y * (T::one() - y))
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Var<T> {
        self.map_with_grad("tanh", |x| x.tanh(), |_, y| T::one() - y * y)
    }

    /// The exact GELU `0.5·x·(1 + erf(x/√2))`.
    pub fn gelu(&self) -> Var<T> {
        self.map_with_grad("gelu", gelu_exact, |x, _| gelu_exact_grad(x))
    }

    /// GELU's tanh approximation `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    pub fn gelu_tanh(&self) -> Var<T> {
        let c = T::of(SQRT_2_OVER_PI);
        let a = T::of(0.044715);
        self.map_with_grad(
            "gelu_tanh",
            move |x| T::of(0.5) * x * (T::one() + (c * (x + a * x * x * x)).tanh()),
            move |x, _| {
                let t = (c * (x + a * x * x * x)).tanh();
                T::of(0.5) * (T::one() + t)
                    + T::of(0.5) * x * (T::one() - t * t) * c * (T::one() + T::of(3.0) * a * x * x)
            },
        )
    }

    /// `log(1 + exp(beta·x))/beta`, and exactly `x` where `beta·x > threshold`.
    #[track_caller]
    pub fn softplus(&self, beta: T, threshold: T) -> Var<T> {
        assert!(beta > T::zero(), "softplus: beta {beta} must be positive");
        self.map_with_grad(
            "softplus",
            move |x| {
                let z = beta * x;
                if z > threshold {
                    x
                } else {
                    // log1p(e^z) computed stably for large negative or positive z
                    (z.max(T::zero()) + (-z.abs()).exp().ln_1p()) / beta
                }
            },
            move |x, _| {
                if beta * x > threshold {
                    T::one()
                } else {
                    sigmoid_scalar(beta * x)
                }
            },
        )
        .traced_with(|| {
            vec![
                ("beta", Attr::Float(beta.to_f64_lossless())),
                ("threshold", Attr::Float(threshold.to_f64_lossless())),
            ]
        })
    }

    /// PReLU: `x` for positive x, else `weight[c]·x`, where `c` indexes dim 1
    /// (`weight` has one slope per channel) or `weight` has one shared slope.
    /// The slopes learn: they get gradients.
    #[track_caller]
    pub fn prelu(&self, weight: &Var<T>) -> Var<T> {
        let n = weight.value().numel();
        let channels = if self.ndim() >= 2 { self.shape()[1] } else { 1 };
        assert!(
            weight.ndim() == 1 && (n == 1 || n == channels),
            "prelu: weight of shape {:?} must be [1] or [channels = {channels}] for input {:?}",
            weight.shape(),
            self.shape()
        );
        let inner: usize = if self.ndim() >= 2 {
            self.shape()[2..].iter().product()
        } else {
            1
        };
        let ch_of = move |i: usize| if n == 1 { 0 } else { (i / inner) % channels };
        let x = self.value().clone();
        let w = weight.value().clone();
        let (xs, ws) = (x.as_slice(), w.as_slice());
        let y: Vec<T> = xs
            .iter()
            .enumerate()
            .map(|(i, &v)| if v > T::zero() { v } else { ws[ch_of(i)] * v })
            .collect();
        let y = Tensor::from_vec(y, x.shape());
        Var::from_op("prelu", y, vec![self.clone(), weight.clone()], move |g| {
            let (xs, ws, gs) = (x.as_slice(), w.as_slice(), g.as_slice());
            let mut gx = vec![T::zero(); xs.len()];
            let mut gw = vec![T::zero(); ws.len()];
            for i in 0..xs.len() {
                if xs[i] > T::zero() {
                    gx[i] = gs[i];
                } else {
                    let c = ch_of(i);
                    gx[i] = gs[i] * ws[c];
                    gw[c] += gs[i] * xs[i];
                }
            }
            vec![
                Some(Tensor::from_vec(gx, x.shape())),
                Some(Tensor::from_vec(gw, w.shape())),
            ]
        })
    }

    /// Softmax along `dim`, stable for logits of ±1e4.
    ///
    /// ```
    /// use nn_autograd::Var;
    /// use nn_tensor::Tensor;
    /// let p = Var::constant(Tensor::<f64>::from_vec(vec![1e4, 0.0], &[2])).softmax(0);
    /// assert_eq!(p.value().to_vec(), vec![1.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn softmax(&self, dim: impl AsDim) -> Var<T> {
        let d = or_panic(dim.resolve("softmax", self.ndim()));
        let y = softmax_tensor(self.as_tensor(), d, false);
        let yc = y.clone();
        Var::from_op("softmax", y, vec![self.clone()], move |g| {
            // dx = y ⊙ (g − Σ_d g⊙y)
            let s = g.mul(&yc).sum_dims(&[d], true);
            vec![Some(yc.mul(&g.sub(&s)))]
        })
        .traced_with(|| vec![("axis", Attr::Int(d as i64))])
    }

    /// Log-softmax along `dim`, stable for logits of ±1e4.
    #[track_caller]
    pub fn log_softmax(&self, dim: impl AsDim) -> Var<T> {
        let d = or_panic(dim.resolve("log_softmax", self.ndim()));
        let y = softmax_tensor(self.as_tensor(), d, true);
        let yc = y.clone();
        Var::from_op("log_softmax", y, vec![self.clone()], move |g| {
            // dx = g − softmax ⊙ Σ_d g
            let s = g.sum_dims(&[d], true);
            vec![Some(g.sub(&yc.exp().mul(&s)))]
        })
        .traced_with(|| vec![("axis", Attr::Int(d as i64))])
    }
}
