//! Branch-free `exp` and `ln(1 + u)` for f32 that vectorise.
//!
//! libm's `expf` and `log1pf` are one call per element; in a VAE step the
//! Bernoulli likelihood evaluates them on every pixel of the batch, and the
//! two calls took a third of the whole training step. These versions are
//! plain arithmetic, so the compiler turns the loops around them into SIMD
//! code (they avoid `mul_add`, which without a target CPU that has FMA is a
//! library call per element). f64 keeps the exact library functions, so
//! gradient checks and f64 reference computations are unaffected.

use nn_tensor::Element;

/// True when `T` is f32 (the only other element type is f64).
#[inline(always)]
fn is_f32<T: Element>() -> bool {
    std::mem::size_of::<T>() == 4
}

/// `e^x`: about 2 ulp in f32, exact library function in f64.
#[inline(always)]
pub(crate) fn exp<T: Element>(x: T) -> T {
    if is_f32::<T>() {
        T::of(exp_f32(x.to_f32().unwrap_or(f32::NAN)) as f64)
    } else {
        x.exp()
    }
}

/// `ln(1 + u)` for `u ∈ [0, 1]` (the softplus's correction term, where `u`
/// is `e^{−|x|}`): a few ulp in f32, exact library function in f64.
#[inline(always)]
pub(crate) fn ln_1p_unit<T: Element>(u: T) -> T {
    if is_f32::<T>() {
        T::of(ln_1p_unit_f32(u.to_f32().unwrap_or(f32::NAN)) as f64)
    } else {
        u.ln_1p()
    }
}

/// `e^x` for f32 by range reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, and a
/// degree-6 polynomial for `e^r` (relative error below 3e-8 before rounding).
/// Inputs below −87 give a tiny normal number instead of a subnormal or 0,
/// which is harmless wherever the result is added to 1.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    // Adding 1.5·2²³ rounds to an integer held in the low mantissa bits, so
    // `n` needs no float-to-int conversion (which would not vectorise as well).
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // Cody-Waite: ln2 in two parts keeps r exact to f32 precision.
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Horner form of Σ_{k≤6} r^k / k!.
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let k = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(k.wrapping_add(127) << 23)
}

/// `ln(1 + u)` for f32 `u ∈ [0, 1]` as `2·atanh(s)` with `s = u / (2 + u)`,
/// `s ∈ [0, ⅓]`: the odd series `2·(s + s³/3 + … + s¹⁵/15)` truncates below
/// 2e-8 relative, and no `1 + u` is ever rounded, so tiny `u` keep their
/// full precision (`ln(1 + u) ≈ u`).
#[inline(always)]
fn ln_1p_unit_f32(u: f32) -> f32 {
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
    fn exp_matches_the_library_in_f32() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp::<f32>(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        // Far below the range: a tiny positive number, never NaN.
        let tiny = exp::<f32>(-1e4);
        assert!((0.0..1e-37).contains(&tiny), "{tiny}");
    }

    #[test]
    fn ln_1p_matches_the_library_in_f32_down_to_tiny_inputs() {
        let mut worst = 0.0f64;
        for i in 0..=10_000 {
            let u = i as f32 / 10_000.0;
            let want = (u as f64).ln_1p();
            let got = ln_1p_unit::<f32>(u) as f64;
            if want > 0.0 {
                worst = worst.max(((got - want) / want).abs());
            } else {
                assert_eq!(got, 0.0);
            }
        }
        for u in [1e-30f32, 1e-12, 3e-8, 1e-4] {
            let want = (u as f64).ln_1p();
            let got = ln_1p_unit::<f32>(u) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn f64_uses_the_exact_functions() {
        assert_eq!(exp(0.3f64), 0.3f64.exp());
        assert_eq!(ln_1p_unit(0.3f64), 0.3f64.ln_1p());
    }
}
