//! Which vector instructions the hand-written kernels run with: the one
//! place where the CPU is asked what it has.
//!
//! The library is compiled for the baseline of its target (SSE2 on x86-64),
//! so a kernel that should use AVX2 or AVX-512 is compiled a second and third
//! time with those instruction sets enabled and chosen at run time. Three
//! [`SimdLevel`]s exist: [`Avx512`](SimdLevel::Avx512),
//! [`Avx2Fma`](SimdLevel::Avx2Fma) and [`Portable`](SimdLevel::Portable)
//! (plain Rust that the compiler vectorises for the build target: SSE2 on
//! x86-64, NEON on aarch64).
//!
//! * [`detected`]: the best level this CPU supports. A level counts only when
//!   the CPU has **every** feature its builds are compiled with (the list is
//!   written once, in the macro that generates both the check and the build).
//! * [`level`]: the level kernels use: [`detected`], capped by the
//!   environment variable `NN_SIMD` (`avx512`, `avx2` or `portable`, read
//!   once) or by [`set_level`].
//! * [`dispatch`]: runs a closure in the build of a level. Asking for a level
//!   the CPU lacks runs the best one it has, so the call is always sound.
//!
//! The matrix products go through the `gemm` crate, which picks its own
//! kernels from the CPU and has no run-time cap: `NN_SIMD` does not reach
//! it. Its AVX-512 kernels are compiled in only with this crate's
//! `gemm-avx512` feature (on by default); building without it caps GEMM at
//! AVX2 + FMA. With the `openblas` feature, large products run on the
//! system's OpenBLAS only when the level is not capped (see
//! `nn_tensor::blas`).
//!
//! ```
//! use nn_tensor::simd::{self, SimdLevel};
//! // Kernels never run above what the CPU has, whatever is asked for.
//! assert!(simd::level() <= simd::detected());
//! let sum = simd::dispatch(SimdLevel::Avx2Fma, || (1..=4).sum::<i32>());
//! assert_eq!(sum, 10);
//! ```

pub mod math;

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::Element;

/// An instruction-set level of the hand-written kernels, ordered from the
/// plainest to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// Plain Rust vectorised by the compiler for the build target.
    Portable,
    /// x86-64 with AVX, AVX2 and FMA (8 f32 lanes).
    Avx2Fma,
    /// x86-64 with AVX-512 F, DQ, VL and BW, besides AVX2 and FMA (16 f32 lanes).
    Avx512,
}

impl SimdLevel {
    /// Every level, plainest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Portable, SimdLevel::Avx2Fma, SimdLevel::Avx512];

    /// The name `NN_SIMD` uses for the level: `portable`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Portable => "portable",
            SimdLevel::Avx2Fma => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// The level called `name` (as in `NN_SIMD`), if there is one.
    ///
    /// ```
    /// use nn_tensor::simd::SimdLevel;
    /// assert_eq!(SimdLevel::from_name("avx2"), Some(SimdLevel::Avx2Fma));
    /// assert_eq!(SimdLevel::from_name("sse"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<SimdLevel> {
        SimdLevel::ALL.into_iter().find(|l| l.name() == name)
    }

    fn index(self) -> u8 {
        self as u8
    }

    fn from_index(i: u8) -> SimdLevel {
        SimdLevel::ALL[usize::from(i).min(2)]
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The environment variable that caps the level.
pub const ENV_VAR: &str = "NN_SIMD";

/// Defines, for one level, the run-time check and the build of a closure
/// from one list of target features, so the check can never miss a feature
/// the build is compiled with.
macro_rules! x86_level {
    ($has:ident, $run:ident, [$($feature:tt),+]) => {
        /// Whether the CPU has every feature of the level.
        #[cfg(target_arch = "x86_64")]
        fn $has() -> bool {
            true $(&& std::arch::is_x86_feature_detected!($feature))+
        }

        /// Runs `f` compiled with the level's features.
        ///
        /// # Safety
        /// The CPU must have every one of those features (`$has()` is true).
        #[cfg(target_arch = "x86_64")]
        $(#[target_feature(enable = $feature)])+
        unsafe fn $run<R, F: FnOnce() -> R>(f: F) -> R {
            f()
        }
    };
}

x86_level!(
    has_avx512,
    run_avx512,
    ["avx512f", "avx512dq", "avx512vl", "avx512bw", "avx2", "fma", "avx"]
);
x86_level!(has_avx2_fma, run_avx2_fma, ["avx2", "fma", "avx"]);

/// The best level this CPU supports (asked once, then remembered).
pub fn detected() -> SimdLevel {
    static DETECTED: OnceLock<SimdLevel> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx512() {
                return SimdLevel::Avx512;
            }
            if has_avx2_fma() {
                return SimdLevel::Avx2Fma;
            }
        }
        SimdLevel::Portable
    })
}

/// The cap on the level: a [`SimdLevel`] index, or [`UNSET`] before `NN_SIMD`
/// was read or [`set_level`] called.
static CAP: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;

/// The cap `NN_SIMD` asks for ([`SimdLevel::Avx512`], no cap, when unset or empty).
///
/// # Panics
/// When `NN_SIMD` holds anything but `avx512`, `avx2`, `portable` or nothing:
/// a typo must not silently time or test another level than the one meant.
fn cap_from_env() -> SimdLevel {
    match std::env::var(ENV_VAR) {
        Ok(v) if !v.trim().is_empty() => {
            SimdLevel::from_name(v.trim().to_ascii_lowercase().as_str()).unwrap_or_else(|| {
                panic!("{ENV_VAR}={v:?}: expected one of avx512, avx2, portable")
            })
        }
        _ => SimdLevel::Avx512,
    }
}

/// The level kernels run with: [`detected`] capped by `NN_SIMD` (read on the
/// first call) or by the last [`set_level`].
///
/// # Panics
/// On the first call, when `NN_SIMD` holds an unknown name.
pub fn level() -> SimdLevel {
    let mut cap = CAP.load(Ordering::Relaxed);
    if cap == UNSET {
        let from_env = cap_from_env().index();
        // A set_level() racing with this first read wins.
        cap = match CAP.compare_exchange(UNSET, from_env, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => from_env,
            Err(set) => set,
        };
    }
    SimdLevel::from_index(cap).min(detected())
}

/// Caps the level of every kernel from now on, for the whole process (in
/// place of `NN_SIMD`); returns the level kernels will run with, which is
/// lower than `cap` when the CPU lacks it. Meant for the start of a program:
/// kernels already running keep the level they started with.
///
/// ```
/// use nn_tensor::simd::{self, SimdLevel};
/// assert_eq!(simd::set_level(SimdLevel::Portable), SimdLevel::Portable);
/// assert_eq!(simd::level(), SimdLevel::Portable);
/// simd::set_level(SimdLevel::Avx512); // back to the best the CPU has
/// assert_eq!(simd::level(), simd::detected());
/// ```
pub fn set_level(cap: SimdLevel) -> SimdLevel {
    CAP.store(cap.index(), Ordering::Relaxed);
    level()
}

/// Every level this CPU can run, plainest first: what tests loop over.
pub fn available_levels() -> Vec<SimdLevel> {
    SimdLevel::ALL
        .into_iter()
        .filter(|&l| l <= detected())
        .collect()
}

/// Runs `f` compiled for `level`, or for the best level below it that the
/// CPU has.
///
/// Only code inlined into `f` is compiled for the level: mark the closure
/// `#[inline(always)]` and keep the helpers it calls `#[inline(always)]`
/// (a function called out of line runs its own baseline build).
///
/// ```
/// use nn_tensor::simd::{self, SimdLevel};
/// let xs = vec![1.5f32; 1000];
/// let total = simd::dispatch(simd::level(), #[inline(always)] || xs.iter().sum::<f32>());
/// assert_eq!(total, 1500.0);
/// ```
pub fn dispatch<R, F: FnOnce() -> R>(level: SimdLevel, f: F) -> R {
    match level.min(detected()) {
        // SAFETY: `detected()` is Avx512 only when `has_avx512()` found every
        // feature `run_avx512` is compiled with.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { run_avx512(f) },
        // SAFETY: as above, `has_avx2_fma()` checked each feature.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma => unsafe { run_avx2_fma(f) },
        _ => f(),
    }
}

/// True when `T` is `f32` (the only other [`Element`] is `f64`): kernels
/// take their fast f32 paths on it and keep exact library functions for the
/// f64 of gradient checks.
#[inline(always)]
pub fn is_f32<T: Element>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `s` as f32 values when `T` is f32, for kernels written with f32 intrinsics.
#[inline(always)]
pub fn as_f32<T: Element>(s: &[T]) -> Option<&[f32]> {
    is_f32::<T>().then(|| {
        // SAFETY: T is f32 (same type id), so the cast is the identity.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
    })
}

/// `s` as mutable f32 values when `T` is f32.
#[inline(always)]
pub fn as_f32_mut<T: Element>(s: &mut [T]) -> Option<&mut [f32]> {
    is_f32::<T>().then(|| {
        // SAFETY: T is f32 (same type id), so the cast is the identity.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_levels_are_ordered() {
        for l in SimdLevel::ALL {
            assert_eq!(SimdLevel::from_name(l.name()), Some(l));
            assert_eq!(l.to_string(), l.name());
        }
        assert!(SimdLevel::Portable < SimdLevel::Avx2Fma);
        assert!(SimdLevel::Avx2Fma < SimdLevel::Avx512);
        assert_eq!(SimdLevel::from_name("AVX2"), None);
    }

    #[test]
    fn available_levels_run_and_stay_within_the_cpu() {
        let levels = available_levels();
        assert_eq!(levels[0], SimdLevel::Portable);
        assert_eq!(*levels.last().unwrap(), detected());
        // Every level, including ones above the CPU, runs (clamped).
        for l in SimdLevel::ALL {
            let xs: Vec<f32> = (0..100).map(|i| i as f32).collect();
            let s = dispatch(
                l,
                #[inline(always)]
                || xs.iter().map(|x| x * 2.0).sum::<f32>(),
            );
            assert_eq!(s, 9900.0, "{l}");
        }
        assert!(level() <= detected());
    }

    #[test]
    fn f32_views_exist_for_f32_only() {
        let a = [1.0f32, 2.0];
        let mut b = [1.0f64, 2.0];
        assert!(is_f32::<f32>() && !is_f32::<f64>());
        assert_eq!(as_f32(&a), Some(&a[..]));
        assert!(as_f32(&b).is_none() && as_f32_mut(&mut b).is_none());
    }
}
