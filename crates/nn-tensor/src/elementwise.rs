//! Element-wise unary and binary operations, with NumPy broadcasting.

use ndarray::{ArrayD, IxDyn, Zip};
use rayon::prelude::*;

use crate::dims::broadcast_shapes;
use crate::error::{or_panic, Result, TensorError};
use crate::parallel::{split_work, CHUNK};
use crate::{Element, Tensor};

/// Applies `f` to every element of `src`, writing into `dst` (same length),
/// in parallel chunks for large inputs.
fn map_slices<T: Element>(src: &[T], dst: &mut [T], f: impl Fn(T) -> T + Sync) {
    if split_work(src.len()) {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, &s)| *d = f(s)));
    } else {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = f(s));
    }
}

fn zip_slices<T: Element>(a: &[T], b: &[T], dst: &mut [T], f: impl Fn(T, T) -> T + Sync) {
    if split_work(a.len()) {
        dst.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(d, (a, b))| {
                for ((d, &a), &b) in d.iter_mut().zip(a).zip(b) {
                    *d = f(a, b);
                }
            });
    } else {
        for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
            *d = f(a, b);
        }
    }
}

/// Allocates an uninitialised-free output buffer of `n` zeros.
#[inline]
fn buffer<T: Element>(n: usize) -> Vec<T> {
    vec![T::zero(); n]
}

impl<T: Element> Tensor<T> {
    /// Applies `f` to every element.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1., -2.], &[2]);
    /// assert_eq!(t.map(|x| x * 2.0).to_vec(), vec![2., -4.]);
    /// ```
    pub fn map(&self, f: impl Fn(T) -> T + Sync) -> Tensor<T> {
        let mut out = buffer(self.numel());
        map_slices(self.as_slice(), &mut out, f);
        Tensor::from_vec(out, self.shape())
    }

    /// Applies `f` pairwise to two tensors of the same shape.
    #[track_caller]
    pub fn zip_map(&self, other: &Tensor<T>, f: impl Fn(T, T) -> T + Sync) -> Tensor<T> {
        or_panic(self.try_zip_map("zip_map", other, f))
    }

    /// Fallible [`Tensor::zip_map`] that names `op` in its error.
    pub fn try_zip_map(
        &self,
        op: &'static str,
        other: &Tensor<T>,
        f: impl Fn(T, T) -> T + Sync,
    ) -> Result<Tensor<T>> {
        if self.shape() != other.shape() {
            return Err(TensorError::shapes(
                op,
                self.shape(),
                other.shape(),
                "the shapes must be equal",
            ));
        }
        let mut out = buffer(self.numel());
        zip_slices(self.as_slice(), other.as_slice(), &mut out, f);
        Ok(Tensor::from_vec(out, self.shape()))
    }

    /// Applies `f` pairwise after broadcasting both tensors to a common shape.
    pub fn try_broadcast_zip(
        &self,
        op: &'static str,
        other: &Tensor<T>,
        f: impl Fn(T, T) -> T + Sync,
    ) -> Result<Tensor<T>> {
        if self.shape() == other.shape() {
            return self.try_zip_map(op, other, f);
        }
        let out_shape = broadcast_shapes(op, self.shape(), other.shape())?;
        let n: usize = out_shape.iter().product();
        if n == 0 {
            // Nothing to compute, and the fast paths below would chunk by an
            // operand length of 0.
            return Ok(Tensor::from_vec(vec![], &out_shape));
        }
        // Fast paths: one operand is a scalar, or fills the trailing dims of
        // the output and is repeated over the leading ones (bias addition).
        if other.numel() == 1 && self.shape() == out_shape.as_slice() {
            let b = other.as_slice()[0];
            let mut out = buffer(n);
            map_slices(self.as_slice(), &mut out, |a| f(a, b));
            return Ok(Tensor::from_vec(out, &out_shape));
        }
        if self.numel() == 1 && other.shape() == out_shape.as_slice() {
            let a = self.as_slice()[0];
            let mut out = buffer(n);
            map_slices(other.as_slice(), &mut out, |b| f(a, b));
            return Ok(Tensor::from_vec(out, &out_shape));
        }
        if self.shape() == out_shape.as_slice() && is_trailing(other.shape(), &out_shape) {
            let b = other.as_slice();
            let mut out = buffer(n);
            let a = self.as_slice();
            for (o, a) in out.chunks_mut(b.len()).zip(a.chunks(b.len())) {
                for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                    *o = f(a, b);
                }
            }
            return Ok(Tensor::from_vec(out, &out_shape));
        }
        if other.shape() == out_shape.as_slice() && is_trailing(self.shape(), &out_shape) {
            let a = self.as_slice();
            let mut out = buffer(n);
            let b = other.as_slice();
            for (o, b) in out.chunks_mut(a.len()).zip(b.chunks(a.len())) {
                for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                    *o = f(a, b);
                }
            }
            return Ok(Tensor::from_vec(out, &out_shape));
        }
        let (aa, ba) = (self.array(), other.array());
        let av = aa.broadcast(IxDyn(&out_shape)).expect("shapes checked");
        let bv = ba.broadcast(IxDyn(&out_shape)).expect("shapes checked");
        let mut out = ArrayD::<T>::zeros(IxDyn(&out_shape));
        Zip::from(&mut out)
            .and(&av)
            .and(&bv)
            .for_each(|o, &a, &b| *o = f(a, b));
        Ok(Tensor::from_array(out))
    }

    /// Fallible element-wise addition with broadcasting.
    pub fn try_add(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.try_broadcast_zip("add", other, |a, b| a + b)
    }
    /// Fallible element-wise subtraction with broadcasting.
    pub fn try_sub(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.try_broadcast_zip("sub", other, |a, b| a - b)
    }
    /// Fallible element-wise multiplication with broadcasting.
    pub fn try_mul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.try_broadcast_zip("mul", other, |a, b| a * b)
    }
    /// Fallible element-wise division with broadcasting.
    pub fn try_div(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.try_broadcast_zip("div", other, |a, b| a / b)
    }

    /// Element-wise `self + other` with broadcasting; panics on incompatible shapes.
    #[track_caller]
    pub fn add(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_add(other))
    }
    /// Element-wise `self - other` with broadcasting.
    #[track_caller]
    pub fn sub(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_sub(other))
    }
    /// Element-wise `self * other` with broadcasting.
    #[track_caller]
    pub fn mul(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_mul(other))
    }
    /// Element-wise `self / other` with broadcasting.
    #[track_caller]
    pub fn div(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_div(other))
    }
    /// Element-wise maximum with broadcasting.
    #[track_caller]
    pub fn maximum(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_broadcast_zip("maximum", other, |a, b| a.max(b)))
    }
    /// Element-wise minimum with broadcasting.
    #[track_caller]
    pub fn minimum(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_broadcast_zip("minimum", other, |a, b| a.min(b)))
    }
    /// Element-wise power `self ^ other` with broadcasting.
    #[track_caller]
    pub fn pow(&self, other: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_broadcast_zip("pow", other, |a, b| a.powf(b)))
    }

    /// Adds a scalar to every element.
    pub fn add_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x + s)
    }
    /// Multiplies every element by a scalar.
    pub fn mul_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x * s)
    }
    /// Raises every element to the power `p`.
    #[doc(alias = "pow")]
    pub fn powf(&self, p: T) -> Tensor<T> {
        self.map(|x| x.powf(p))
    }
    /// Negation.
    pub fn neg(&self) -> Tensor<T> {
        self.map(|x| -x)
    }
    /// Exponential.
    pub fn exp(&self) -> Tensor<T> {
        self.map(|x| x.exp())
    }
    /// Natural logarithm.
    pub fn ln(&self) -> Tensor<T> {
        self.map(|x| x.ln())
    }
    /// Square root.
    pub fn sqrt(&self) -> Tensor<T> {
        self.map(|x| x.sqrt())
    }
    /// Square.
    pub fn square(&self) -> Tensor<T> {
        self.map(|x| x * x)
    }
    /// Absolute value.
    pub fn abs(&self) -> Tensor<T> {
        self.map(|x| x.abs())
    }
    /// Reciprocal `1/x`.
    pub fn recip(&self) -> Tensor<T> {
        self.map(|x| x.recip())
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor<T> {
        self.map(|x| x.tanh())
    }
    /// Logistic sigmoid `1/(1+e^-x)`, computed without overflow for any x.
    pub fn sigmoid(&self) -> Tensor<T> {
        self.map(sigmoid_scalar)
    }
    /// Sign: -1, 0 or 1.
    pub fn signum(&self) -> Tensor<T> {
        self.map(|x| if x == T::zero() { x } else { x.signum() })
    }

    /// Clamps every element into `[min, max]`.
    #[track_caller]
    pub fn clamp(&self, min: T, max: T) -> Tensor<T> {
        or_panic(self.try_clamp(min, max))
    }

    /// Fallible [`Tensor::clamp`]: errors when `min > max` or either is NaN.
    pub fn try_clamp(&self, min: T, max: T) -> Result<Tensor<T>> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(TensorError::invalid(
                "clamp",
                format!("min {min} must not exceed max {max}"),
            ));
        }
        Ok(self.map(|x| x.max(min).min(max)))
    }

    #[track_caller]
    fn compare(
        &self,
        op: &'static str,
        other: &Tensor<T>,
        f: impl Fn(T, T) -> bool + Sync,
    ) -> Tensor<T> {
        or_panic(self.try_broadcast_zip(
            op,
            other,
            |a, b| if f(a, b) { T::one() } else { T::zero() },
        ))
    }

    /// 1 where `self > other`, else 0 (broadcasting).
    #[track_caller]
    pub fn gt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.compare("gt", other, |a, b| a > b)
    }
    /// 1 where `self >= other`, else 0 (broadcasting).
    #[track_caller]
    pub fn ge(&self, other: &Tensor<T>) -> Tensor<T> {
        self.compare("ge", other, |a, b| a >= b)
    }
    /// 1 where `self < other`, else 0 (broadcasting).
    #[track_caller]
    pub fn lt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.compare("lt", other, |a, b| a < b)
    }
    /// 1 where `self <= other`, else 0 (broadcasting).
    #[track_caller]
    pub fn le(&self, other: &Tensor<T>) -> Tensor<T> {
        self.compare("le", other, |a, b| a <= b)
    }
    /// 1 where `self == other`, else 0 (broadcasting): the element-wise
    /// comparison, PyTorch's `a.eq(b)` (and `a == b` on tensors there).
    ///
    /// In Rust `a == b` on two tensors is [`PartialEq`]: one `bool` saying
    /// whether the whole tensors are equal (see [`Tensor::equal`]). Counting
    /// correct predictions reads `pred.eq(&labels).mean_all()`.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// let pred = Tensor::<f32>::from_vec(vec![1., 2., 3.], &[3]);
    /// let labels = Tensor::<f32>::from_vec(vec![1., 0., 3.], &[3]);
    /// assert_eq!(pred.eq(&labels).to_vec(), vec![1., 0., 1.]);
    /// assert!((pred.eq(&labels).mean_all().item() - 2.0 / 3.0).abs() < 1e-6);
    /// ```
    #[track_caller]
    #[allow(clippy::should_implement_trait)]
    pub fn eq(&self, other: &Tensor<T>) -> Tensor<T> {
        self.compare("eq", other, |a, b| a == b)
    }
    /// 1 where `self != other`, else 0 (broadcasting; PyTorch's `a.ne(b)`).
    #[track_caller]
    #[allow(clippy::should_implement_trait)]
    pub fn ne(&self, other: &Tensor<T>) -> Tensor<T> {
        self.compare("ne", other, |a, b| a != b)
    }

    /// Picks `on_true` where `self` (the condition) is non-zero, else
    /// `on_false`; all three broadcast to a common shape.
    ///
    /// ```
    /// use nn_tensor::Tensor;
    /// let c = Tensor::<f32>::from_vec(vec![1., 0.], &[2]);
    /// let y = c.where_(&Tensor::full(&[2], 5.0), &Tensor::zeros(&[2]));
    /// assert_eq!(y.to_vec(), vec![5., 0.]);
    /// ```
    #[doc(alias = "where")]
    #[track_caller]
    pub fn where_(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        or_panic(self.try_where(on_true, on_false))
    }

    /// Fallible [`Tensor::where_`].
    pub fn try_where(&self, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Result<Tensor<T>> {
        let s = broadcast_shapes("where", on_true.shape(), on_false.shape())?;
        let s = broadcast_shapes("where", self.shape(), &s)?;
        let c = self.try_broadcast_to(&s)?;
        let a = on_true.try_broadcast_to(&s)?;
        let b = on_false.try_broadcast_to(&s)?;
        let out: Vec<T> = c
            .as_slice()
            .iter()
            .zip(a.as_slice())
            .zip(b.as_slice())
            .map(|((&c, &a), &b)| if c != T::zero() { a } else { b })
            .collect();
        Ok(Tensor::from_vec(out, &s))
    }
}

/// True when `small`, padded with leading ones, equals the trailing dims of
/// `big` exactly after dropping its leading ones (so `big` is `small` repeated).
fn is_trailing(small: &[usize], big: &[usize]) -> bool {
    let mut s = small;
    while let [1, rest @ ..] = s {
        s = rest;
    }
    s.len() <= big.len() && big[big.len() - s.len()..] == *s
}

/// The logistic sigmoid of one value, stable for large |x|.
#[inline]
pub fn sigmoid_scalar<T: Element>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

// The arithmetic operators, in every by-value / by-reference combination and
// with a scalar on either side, as `add`, `sub`, `mul` and `div` (broadcasting,
// and panicking at the caller's line with the op and both shapes when the
// shapes do not broadcast). A scalar on the left needs one impl per element
// type: the orphan rule forbids `impl<T> Add<Tensor<T>> for T`.
macro_rules! binary_operator {
    ($trait:ident, $method:ident, $scalar:expr) => {
        impl<T: Element> std::ops::$trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                Tensor::$method(self, rhs)
            }
        }
        impl<T: Element> std::ops::$trait<Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                Tensor::$method(&self, &rhs)
            }
        }
        impl<T: Element> std::ops::$trait<&Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                Tensor::$method(&self, rhs)
            }
        }
        impl<T: Element> std::ops::$trait<Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                Tensor::$method(self, &rhs)
            }
        }
        impl<T: Element> std::ops::$trait<T> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: T) -> Tensor<T> {
                let f: fn(T, T) -> T = $scalar;
                self.map(move |x| f(x, rhs))
            }
        }
        impl<T: Element> std::ops::$trait<T> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: T) -> Tensor<T> {
                std::ops::$trait::$method(&self, rhs)
            }
        }
        scalar_on_the_left!($trait, $method, $scalar, f32);
        scalar_on_the_left!($trait, $method, $scalar, f64);
    };
}

macro_rules! scalar_on_the_left {
    ($trait:ident, $method:ident, $scalar:expr, $t:ty) => {
        impl std::ops::$trait<&Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            fn $method(self, rhs: &Tensor<$t>) -> Tensor<$t> {
                let f: fn($t, $t) -> $t = $scalar;
                rhs.map(move |x| f(self, x))
            }
        }
        impl std::ops::$trait<Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            fn $method(self, rhs: Tensor<$t>) -> Tensor<$t> {
                std::ops::$trait::$method(self, &rhs)
            }
        }
    };
}

binary_operator!(Add, add, |a, b| a + b);
binary_operator!(Sub, sub, |a, b| a - b);
binary_operator!(Mul, mul, |a, b| a * b);
binary_operator!(Div, div, |a, b| a / b);

impl<T: Element> std::ops::Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        Tensor::neg(self)
    }
}
impl<T: Element> std::ops::Neg for Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        Tensor::neg(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
        Tensor::from_f64s(v, s)
    }

    #[test]
    fn operators_take_every_operand_form() {
        let a = t(&[1., 2., 4.], &[3]);
        let b = t(&[2., 2., 2.], &[3]);
        let want = vec![3., 4., 6.];
        assert_eq!((&a + &b).to_vec(), want);
        assert_eq!((a.clone() + &b).to_vec(), want);
        assert_eq!((&a + b.clone()).to_vec(), want);
        assert_eq!((a.clone() + b.clone()).to_vec(), want);
        assert_eq!((&a - 1.0).to_vec(), vec![0., 1., 3.]);
        assert_eq!((1.0 - &a).to_vec(), vec![0., -1., -3.]);
        assert_eq!((&a * 2.0).to_vec(), vec![2., 4., 8.]);
        assert_eq!((2.0 * a.clone()).to_vec(), vec![2., 4., 8.]);
        assert_eq!((a.clone() / 2.0).to_vec(), vec![0.5, 1., 2.]);
        assert_eq!((4.0 / &a).to_vec(), vec![4., 2., 1.]);
        assert_eq!((-a.clone()).to_vec(), vec![-1., -2., -4.]);
        assert_eq!((-&a).to_vec(), vec![-1., -2., -4.]);
        let a32 = Tensor::<f32>::from_vec(vec![1., 2.], &[2]);
        assert_eq!((1.0f32 - &a32 * 2.0).to_vec(), vec![-1., -3.]);
    }

    #[test]
    fn broadcast_paths_agree() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let row = t(&[10., 20., 30.], &[3]);
        let col = t(&[100., 200.], &[2, 1]);
        assert_eq!((&a + &row).to_vec(), vec![11., 22., 33., 14., 25., 36.]);
        assert_eq!((&row + &a).to_vec(), vec![11., 22., 33., 14., 25., 36.]);
        assert_eq!(
            (&a + &col).to_vec(),
            vec![101., 102., 103., 204., 205., 206.]
        );
        assert_eq!((&col - &row).shape(), &[2, 3]);
        assert_eq!(
            (&a * &Tensor::scalar(2.0)).to_vec(),
            vec![2., 4., 6., 8., 10., 12.]
        );
    }

    #[test]
    fn mismatch_names_op_and_shapes() {
        let e = t(&[1., 2.], &[2])
            .try_mul(&t(&[1., 2., 3.], &[3]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "mul: shapes [2] and [3] do not match: dimension 0 of the broadcast has sizes 2 and 3"
        );
    }

    #[test]
    fn large_parallel_map_matches_serial() {
        let n = crate::parallel::PARALLEL_THRESHOLD * 3 + 7;
        let a = Tensor::<f32>::from_vec((0..n).map(|i| i as f32).collect(), &[n]);
        let b = a.map(|x| x * 2.0);
        assert!(b
            .as_slice()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == 2.0 * i as f32));
    }

    #[test]
    fn sigmoid_is_stable() {
        let s = t(&[-1000., 0., 1000.], &[3]).sigmoid().to_vec();
        assert_eq!(s, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn clamp_rejects_inverted_bounds() {
        assert_eq!(
            t(&[1.], &[1]).try_clamp(1.0, 0.0).unwrap_err().to_string(),
            "clamp: min 1 must not exceed max 0"
        );
    }
}
