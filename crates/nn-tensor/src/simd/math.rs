//! Branch-free `exp`, `ln(1 + u)`, sigmoid and tanh for f32 that vectorise.
//!
//! libm's `expf` and `log1pf` are one call per element: in the LSTM's gates
//! and the VAE's Bernoulli likelihood they dominated the step. These are
//! plain arithmetic with no call, branch or float-to-int conversion, so the
//! loops around them become SIMD code at every [`SimdLevel`](super::SimdLevel)
//! (they avoid `mul_add`, which without FMA in the build is a library call per
//! element). The generic forms keep the exact library functions for f64, so
//! gradient checks and f64 reference computations are unaffected.

use crate::{sigmoid_scalar, Element};

use super::is_f32;

/// `e^x`: about 2 ulp in f32, exact library function in f64.
#[inline(always)]
pub fn exp<T: Element>(x: T) -> T {
    if is_f32::<T>() {
        T::of(exp_f32(x.to_f32().unwrap_or(f32::NAN)) as f64)
    } else {
        x.exp()
    }
}

/// `ln(1 + u)` for `u ∈ [0, 1]` (the softplus's correction term, where `u`
/// is `e^{−|x|}`): a few ulp in f32, exact library function in f64.
#[inline(always)]
pub fn ln_1p_unit<T: Element>(u: T) -> T {
    if is_f32::<T>() {
        T::of(ln_1p_unit_f32(u.to_f32().unwrap_or(f32::NAN)) as f64)
    } else {
        u.ln_1p()
    }
}

/// The logistic function `1 / (1 + e^{−x})` on the fast [`exp`] in f32;
/// the overflow-free library form in f64.
#[inline(always)]
pub fn sigmoid<T: Element>(x: T) -> T {
    if is_f32::<T>() {
        T::one() / (T::one() + exp(-x))
    } else {
        sigmoid_scalar(x)
    }
}

/// `tanh(x) = 2·σ(2x) − 1` on the fast [`sigmoid`] in f32; the library
/// function in f64.
#[inline(always)]
pub fn tanh<T: Element>(x: T) -> T {
    if is_f32::<T>() {
        let two = T::one() + T::one();
        two * sigmoid(two * x) - T::one()
    } else {
        x.tanh()
    }
}

/// `e^x` for f32 by range reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, and a
/// degree-7 polynomial for `e^r` (relative error below 1e-8 before
/// rounding). Inputs below −87 give a tiny normal number instead of a
/// subnormal or 0, which is harmless wherever the result is added to 1.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // Adding 1.5·2²³ rounds to an integer held in the low mantissa bits, so
    // `n` needs no float-to-int conversion (which would not vectorise as well).
    const ROUND: f32 = 12_582_912.0;
    // Cody-Waite: ln2 in two parts keeps r exact to f32 precision.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    // Σ_{k≤7} r^k / k!, in two halves to shorten the dependency chain.
    let lo = 1.0 + r + r2 * (0.5 + r * (1.0 / 6.0));
    let hi = 1.0 / 24.0 + r * (1.0 / 120.0) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0));
    let p = lo + r2 * r2 * hi;
    let k = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(k.wrapping_add(127) << 23)
}

/// `ln(1 + u)` for f32 `u ∈ [0, 1]` as `2·atanh(s)` with `s = u / (2 + u)`,
/// `s ∈ [0, ⅓]`: the odd series `2·(s + s³/3 + … + s¹⁵/15)` truncates below
/// 2e-8 relative, and no `1 + u` is ever rounded, so tiny `u` keep their
/// full precision (`ln(1 + u) ≈ u`).
#[inline(always)]
pub fn ln_1p_unit_f32(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let s2 = s * s;
    let mut p = 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    p = p * s2 + 1.0;
    2.0 * s * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_and_tanh_match_the_library_in_f32() {
        let mut worst: f64 = 0.0;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.004; // −80 .. 80
            let want = (x as f64).exp();
            worst = worst.max((exp(x) as f64 - want).abs() / want);
            let s = sigmoid(x) as f64;
            assert!(
                (s - 1.0 / (1.0 + (-(x as f64)).exp())).abs() < 3e-7,
                "sigmoid({x})"
            );
            assert!(
                (tanh(x) as f64 - (x as f64).tanh()).abs() < 5e-7,
                "tanh({x})"
            );
        }
        assert!(worst < 3e-7, "exp relative error {worst:e}");
        // Far below the range: a tiny positive number, never NaN or 0.
        let tiny = exp(-1e4f32);
        assert!((0.0..1e-37).contains(&tiny), "{tiny}");
        let s = sigmoid(-200.0f32);
        assert!(
            s.is_finite() && (0.0..1e-37).contains(&s),
            "sigmoid(-200) = {s}"
        );
        assert!(sigmoid(200.0f32) == 1.0 && tanh(-50.0f32) == -1.0);
    }

    #[test]
    fn ln_1p_matches_the_library_in_f32_down_to_tiny_inputs() {
        let mut worst = 0.0f64;
        for i in 0..=10_000 {
            let u = i as f32 / 10_000.0;
            let want = (u as f64).ln_1p();
            let got = ln_1p_unit(u) as f64;
            if want > 0.0 {
                worst = worst.max(((got - want) / want).abs());
            } else {
                assert_eq!(got, 0.0);
            }
        }
        for u in [1e-30f32, 1e-12, 3e-8, 1e-4] {
            let want = (u as f64).ln_1p();
            worst = worst.max(((ln_1p_unit(u) as f64 - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn f64_uses_the_exact_functions() {
        assert_eq!(exp(0.3f64), 0.3f64.exp());
        assert_eq!(ln_1p_unit(0.3f64), 0.3f64.ln_1p());
        assert_eq!(sigmoid(0.3f64), sigmoid_scalar(0.3f64));
        assert_eq!(tanh(0.3f64), 0.3f64.tanh());
    }
}
