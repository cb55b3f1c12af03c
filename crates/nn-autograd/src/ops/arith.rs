//! Element-wise arithmetic with broadcasting, and unary math functions.

use nn_tensor::{or_panic, Element, Result, Tensor};

use crate::trace::Attr;
use crate::Var;

/// The gradient of a broadcast operand: summed back to its own shape.
fn unbroadcast<T: Element>(g: Tensor<T>, shape: &[usize]) -> Tensor<T> {
    if g.shape() == shape {
        g
    } else {
        g.sum_to_shape(shape)
    }
}

impl<T: Element> Var<T> {
    /// Fallible `self + other` with broadcasting.
    pub fn try_add(&self, other: &Var<T>) -> Result<Var<T>> {
        let y = self.value().try_add(other.as_tensor())?;
        let (sa, sb) = (self.shape().to_vec(), other.shape().to_vec());
        Ok(Var::from_op(
            "add",
            y,
            vec![self.clone(), other.clone()],
            move |g| {
                vec![
                    Some(unbroadcast(g.clone(), &sa)),
                    Some(unbroadcast(g.clone(), &sb)),
                ]
            },
        ))
    }

    /// Fallible `self - other` with broadcasting.
    pub fn try_sub(&self, other: &Var<T>) -> Result<Var<T>> {
        let y = self.value().try_sub(other.as_tensor())?;
        let (sa, sb) = (self.shape().to_vec(), other.shape().to_vec());
        Ok(Var::from_op(
            "sub",
            y,
            vec![self.clone(), other.clone()],
            move |g| {
                vec![
                    Some(unbroadcast(g.clone(), &sa)),
                    Some(unbroadcast(g.neg(), &sb)),
                ]
            },
        ))
    }

    /// Fallible `self * other` with broadcasting.
    pub fn try_mul(&self, other: &Var<T>) -> Result<Var<T>> {
        let y = self.value().try_mul(other.as_tensor())?;
        let (a, b) = (self.value().clone(), other.value().clone());
        let (ra, rb) = (self.requires_grad(), other.requires_grad());
        Ok(Var::from_op(
            "mul",
            y,
            vec![self.clone(), other.clone()],
            move |g| {
                vec![
                    ra.then(|| unbroadcast(g.mul(&b), a.shape())),
                    rb.then(|| unbroadcast(g.mul(&a), b.shape())),
                ]
            },
        ))
    }

    /// Fallible `self / other` with broadcasting.
    pub fn try_div(&self, other: &Var<T>) -> Result<Var<T>> {
        let y = self.value().try_div(other.as_tensor())?;
        let (a, b) = (self.value().clone(), other.value().clone());
        let (ra, rb) = (self.requires_grad(), other.requires_grad());
        let yc = y.clone();
        Ok(Var::from_op(
            "div",
            y,
            vec![self.clone(), other.clone()],
            move |g| {
                vec![
                    ra.then(|| unbroadcast(g.div(&b), a.shape())),
                    // d(a/b)/db = -a/b² = -y/b
                    rb.then(|| unbroadcast(g.mul(&yc).div(&b).neg(), b.shape())),
                ]
            },
        ))
    }

    /// `self + other` with broadcasting; panics on incompatible shapes.
    #[track_caller]
    pub fn add(&self, other: &Var<T>) -> Var<T> {
        or_panic(self.try_add(other))
    }
    /// `self - other` with broadcasting.
    #[track_caller]
    pub fn sub(&self, other: &Var<T>) -> Var<T> {
        or_panic(self.try_sub(other))
    }
    /// `self * other` with broadcasting.
    #[track_caller]
    pub fn mul(&self, other: &Var<T>) -> Var<T> {
        or_panic(self.try_mul(other))
    }
    /// `self / other` with broadcasting.
    #[track_caller]
    pub fn div(&self, other: &Var<T>) -> Var<T> {
        or_panic(self.try_div(other))
    }

    /// Adds a constant tensor (broadcasting), e.g. a fixed offset.
    #[track_caller]
    pub fn add_tensor(&self, t: &Tensor<T>) -> Var<T> {
        self.add(&Var::constant(t.clone()))
    }

    /// Multiplies by a constant tensor (broadcasting), e.g. a mask.
    #[track_caller]
    pub fn mul_tensor(&self, t: &Tensor<T>) -> Var<T> {
        self.mul(&Var::constant(t.clone()))
    }

    /// Applies `f` element-wise with derivative `df(x, y)` (given input and
    /// output). The building block of every unary op here; custom
    /// element-wise functions can use it too.
    pub fn map_with_grad(
        &self,
        op: &'static str,
        f: impl Fn(T) -> T + Sync,
        df: impl Fn(T, T) -> T + Send + Sync + 'static,
    ) -> Var<T> {
        let y = self.value().map(f);
        if !Var::records(&[self]) {
            return Var::constant(y);
        }
        let (x, yc) = (self.value().clone(), y.clone());
        Var::from_op(op, y, vec![self.clone()], move |g| {
            let mut d = x.zip_map(&yc, &df);
            for (d, &g) in d.as_mut_slice().iter_mut().zip(g.as_slice()) {
                *d *= g;
            }
            vec![Some(d)]
        })
    }

    /// Adds a scalar.
    pub fn add_scalar(&self, s: T) -> Var<T> {
        let y = self.value().add_scalar(s);
        Var::from_op("add_scalar", y, vec![self.clone()], |g| {
            vec![Some(g.clone())]
        })
        .traced_with(|| vec![("value", Attr::Float(s.to_f64_lossless()))])
    }

    /// Multiplies by a scalar.
    pub fn mul_scalar(&self, s: T) -> Var<T> {
        let y = self.value().mul_scalar(s);
        Var::from_op("mul_scalar", y, vec![self.clone()], move |g| {
            vec![Some(g.mul_scalar(s))]
        })
        .traced_with(|| vec![("value", Attr::Float(s.to_f64_lossless()))])
    }

    /// Divides by a scalar (`self / s`; also the `/` operator with a scalar).
    pub fn div_scalar(&self, s: T) -> Var<T> {
        let y = self.value().map(|x| x / s);
        Var::from_op("div_scalar", y, vec![self.clone()], move |g| {
            vec![Some(g.map(|g| g / s))]
        })
        .traced_with(|| vec![("value", Attr::Float(s.to_f64_lossless()))])
    }

    /// `s - self` (the `-` operator with a scalar on the left).
    pub fn rsub_scalar(&self, s: T) -> Var<T> {
        self.map_with_grad("rsub_scalar", move |x| s - x, |_, _| -T::one())
            .traced_with(|| vec![("value", Attr::Float(s.to_f64_lossless()))])
    }

    /// `s / self` (the `/` operator with a scalar on the left).
    pub fn rdiv_scalar(&self, s: T) -> Var<T> {
        self.map_with_grad("rdiv_scalar", move |x| s / x, |x, y| -y / x)
            .traced_with(|| vec![("value", Attr::Float(s.to_f64_lossless()))])
    }

    /// `1 / self`.
    pub fn recip(&self) -> Var<T> {
        self.rdiv_scalar(T::one())
    }

    /// Negation.
    pub fn neg(&self) -> Var<T> {
        self.mul_scalar(-T::one())
    }

    /// `self ^ p` for a constant exponent.
    #[doc(alias = "pow")]
    pub fn powf(&self, p: T) -> Var<T> {
        self.map_with_grad(
            "powf",
            move |x| x.powf(p),
            move |x, _| p * x.powf(p - T::one()),
        )
        .traced_with(|| vec![("value", Attr::Float(p.to_f64_lossless()))])
    }

    /// Square.
    pub fn square(&self) -> Var<T> {
        self.map_with_grad("square", |x| x * x, |x, _| x + x)
    }

    /// Exponential.
    pub fn exp(&self) -> Var<T> {
        self.map_with_grad("exp", |x| x.exp(), |_, y| y)
    }

    /// Natural logarithm.
    pub fn ln(&self) -> Var<T> {
        self.map_with_grad("ln", |x| x.ln(), |x, _| x.recip())
    }

    /// Square root.
    pub fn sqrt(&self) -> Var<T> {
        self.map_with_grad("sqrt", |x| x.sqrt(), |_, y| T::of(0.5) / y)
    }

    /// Absolute value (gradient 0 at 0).
    pub fn abs(&self) -> Var<T> {
        self.map_with_grad(
            "abs",
            |x| x.abs(),
            |x, _| {
                if x > T::zero() {
                    T::one()
                } else if x < T::zero() {
                    -T::one()
                } else {
                    T::zero()
                }
            },
        )
    }

    /// Clamps into `[min, max]`; the gradient is 1 inside and 0 outside.
    #[track_caller]
    pub fn clamp(&self, min: T, max: T) -> Var<T> {
        assert!(min <= max, "clamp: min {min} must not exceed max {max}");
        self.map_with_grad(
            "clamp",
            move |x| x.max(min).min(max),
            move |x, _| {
                if x >= min && x <= max {
                    T::one()
                } else {
                    T::zero()
                }
            },
        )
        .traced_with(|| {
            vec![
                ("min", Attr::Float(min.to_f64_lossless())),
                ("max", Attr::Float(max.to_f64_lossless())),
            ]
        })
    }

    /// Element-wise maximum of two vars (the gradient goes to the larger;
    /// ties send it to `self`).
    #[track_caller]
    pub fn maximum(&self, other: &Var<T>) -> Var<T> {
        let y = self.value().maximum(other.as_tensor());
        let (a, b) = (self.value().clone(), other.value().clone());
        Var::from_op("maximum", y, vec![self.clone(), other.clone()], move |g| {
            let mask = a.ge(&b);
            let ga = g.mul(&mask);
            let gb = g.sub(&ga);
            vec![
                Some(unbroadcast(ga, a.shape())),
                Some(unbroadcast(gb, b.shape())),
            ]
        })
    }

    /// Picks `self` where `cond` is non-zero and `other` elsewhere; the
    /// gradient follows the pick. `cond` is a constant mask.
    #[doc(alias = "where")]
    #[track_caller]
    pub fn where_else(&self, cond: &Tensor<T>, other: &Var<T>) -> Var<T> {
        let y = cond.where_(self.as_tensor(), other.as_tensor());
        let (c, sa, sb) = (cond.clone(), self.shape().to_vec(), other.shape().to_vec());
        Var::from_op("where", y, vec![self.clone(), other.clone()], move |g| {
            let zero = Tensor::zeros(&[]);
            let ga = c.where_(g, &zero);
            let gb = c.where_(&zero, g);
            vec![Some(unbroadcast(ga, &sa)), Some(unbroadcast(gb, &sb))]
        })
    }
}

// The arithmetic operators, in every by-value / by-reference combination and
// with a scalar on either side, as the methods above (broadcasting, and
// panicking at the caller's line with the op and both shapes when the shapes
// do not broadcast). A scalar on the left needs one impl per element type:
// the orphan rule forbids `impl<T> Add<Var<T>> for T`.
macro_rules! var_operator {
    ($trait:ident, $method:ident, $right:ident, $left:ident) => {
        impl<T: Element> std::ops::$trait<&Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                Var::$method(self, rhs)
            }
        }
        impl<T: Element> std::ops::$trait<Var<T>> for Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                Var::$method(&self, &rhs)
            }
        }
        impl<T: Element> std::ops::$trait<&Var<T>> for Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                Var::$method(&self, rhs)
            }
        }
        impl<T: Element> std::ops::$trait<Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                Var::$method(self, &rhs)
            }
        }
        impl<T: Element> std::ops::$trait<T> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, rhs: T) -> Var<T> {
                $right(self, rhs)
            }
        }
        impl<T: Element> std::ops::$trait<T> for Var<T> {
            type Output = Var<T>;
            fn $method(self, rhs: T) -> Var<T> {
                $right(&self, rhs)
            }
        }
        var_scalar_on_the_left!($trait, $method, $left, f32);
        var_scalar_on_the_left!($trait, $method, $left, f64);
    };
}

macro_rules! var_scalar_on_the_left {
    ($trait:ident, $method:ident, $left:ident, $t:ty) => {
        impl std::ops::$trait<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn $method(self, rhs: &Var<$t>) -> Var<$t> {
                $left(rhs, self)
            }
        }
        impl std::ops::$trait<Var<$t>> for $t {
            type Output = Var<$t>;
            fn $method(self, rhs: Var<$t>) -> Var<$t> {
                $left(&rhs, self)
            }
        }
    };
}

// `v op s` and `s op v` for each operator, as plain functions the macro names.
fn plus<T: Element>(v: &Var<T>, s: T) -> Var<T> {
    v.add_scalar(s)
}
fn minus<T: Element>(v: &Var<T>, s: T) -> Var<T> {
    v.add_scalar(-s)
}
fn times<T: Element>(v: &Var<T>, s: T) -> Var<T> {
    v.mul_scalar(s)
}
fn over<T: Element>(v: &Var<T>, s: T) -> Var<T> {
    v.div_scalar(s)
}
fn from_scalar<T: Element>(v: &Var<T>, s: T) -> Var<T> {
    v.rsub_scalar(s)
}
fn into_scalar<T: Element>(v: &Var<T>, s: T) -> Var<T> {
    v.rdiv_scalar(s)
}

var_operator!(Add, add, plus, plus);
var_operator!(Sub, sub, minus, from_scalar);
var_operator!(Mul, mul, times, times);
var_operator!(Div, div, over, into_scalar);

impl<T: Element> std::ops::Neg for &Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(self)
    }
}
impl<T: Element> std::ops::Neg for Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(&self)
    }
}
