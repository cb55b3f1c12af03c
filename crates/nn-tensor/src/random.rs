//! A seedable, portable random number generator and random tensors.
//!
//! ChaCha8 gives the same stream on every platform, and normal samples use
//! the Box–Muller transform computed in f64, so a seed reproduces the same
//! numbers on every machine and in both precisions.

use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{or_panic, Result, TensorError};
use crate::{Element, Tensor};

/// The library's random number generator. Every random choice (weight
/// initialisation, dropout masks, shuffling) takes one, so a run is
/// reproducible from its seed.
///
/// ```
/// use nn_tensor::{Rng, Tensor};
/// let mut a = Rng::seed_from(7);
/// let mut b = Rng::seed_from(7);
/// let x = Tensor::<f32>::rand_normal(&[3], 0.0, 1.0, &mut a);
/// assert_eq!(x, Tensor::rand_normal(&[3], 0.0, 1.0, &mut b));
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
    /// A second normal sample left over from the last Box–Muller pair.
    spare_normal: Option<f64>,
}

/// A snapshot of an [`Rng`]: saved into checkpoints so a resumed run draws
/// exactly the numbers the uninterrupted run would have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RngState {
    /// The 32-byte ChaCha seed.
    pub seed: [u8; 32],
    /// The position in the stream, in 32-bit words.
    pub word_pos: u128,
    /// The spare normal sample, as raw bits, if one is pending.
    pub spare_normal: Option<u64>,
}

impl Rng {
    /// A generator seeded from a number.
    #[doc(alias = "manual_seed")]
    pub fn seed_from(seed: u64) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(seed),
            spare_normal: None,
        }
    }

    /// The generator's state, to restore later with [`Rng::from_state`].
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.inner.get_seed(),
            word_pos: self.inner.get_word_pos(),
            spare_normal: self.spare_normal.map(f64::to_bits),
        }
    }

    /// Rebuilds a generator from a saved state.
    pub fn from_state(s: &RngState) -> Self {
        let mut inner = ChaCha8Rng::from_seed(s.seed);
        inner.set_word_pos(s.word_pos);
        Rng {
            inner,
            spare_normal: s.spare_normal.map(f64::from_bits),
        }
    }

    /// A new independent generator derived from this one (for a sub-task
    /// such as one dropout layer), advancing this one.
    pub fn fork(&mut self) -> Rng {
        Rng::seed_from(self.next_u64())
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform sample from `[0, 1)` with 53 random bits.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.inner.gen_range(0..n)
    }

    /// A standard normal sample (Box–Muller).
    pub fn normal_f64(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // u1 in (0, 1] so the log is finite.
        let u1 = 1.0 - self.uniform_f64();
        let u2 = self.uniform_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare_normal = Some(r * s);
        r * c
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<X>(&mut self, items: &mut [X]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

impl<T: Element> Tensor<T> {
    /// Samples uniformly from `[low, high)`.
    #[doc(alias = "rand")]
    #[track_caller]
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, rng: &mut Rng) -> Tensor<T> {
        or_panic(Self::try_rand_uniform(shape, low, high, rng))
    }

    /// Fallible [`Tensor::rand_uniform`]: errors unless `low <= high`, both finite.
    pub fn try_rand_uniform(
        shape: &[usize],
        low: f64,
        high: f64,
        rng: &mut Rng,
    ) -> Result<Tensor<T>> {
        if !(low.is_finite() && high.is_finite() && low <= high) {
            return Err(TensorError::invalid(
                "rand_uniform",
                format!("bounds [{low}, {high}) are not a finite interval"),
            ));
        }
        let n = shape.iter().product();
        let v = (0..n)
            .map(|_| T::of(low + (high - low) * rng.uniform_f64()))
            .collect();
        Ok(Tensor::from_vec(v, shape))
    }

    /// Samples from a normal distribution with the given mean and standard deviation.
    #[doc(alias = "randn")]
    #[doc(alias = "normal")]
    #[track_caller]
    pub fn rand_normal(shape: &[usize], mean: f64, std: f64, rng: &mut Rng) -> Tensor<T> {
        assert!(
            std >= 0.0 && std.is_finite() && mean.is_finite(),
            "rand_normal: std {std} must be finite and >= 0, mean {mean} finite"
        );
        let n = shape.iter().product();
        let v = (0..n)
            .map(|_| T::of(mean + std * rng.normal_f64()))
            .collect();
        Tensor::from_vec(v, shape)
    }

    /// 1 with probability `p`, else 0.
    #[track_caller]
    pub fn rand_bernoulli(shape: &[usize], p: f64, rng: &mut Rng) -> Tensor<T> {
        assert!(
            (0.0..=1.0).contains(&p),
            "rand_bernoulli: probability {p} is outside [0, 1]"
        );
        let n = shape.iter().product();
        let v = (0..n)
            .map(|_| {
                if rng.uniform_f64() < p {
                    T::one()
                } else {
                    T::zero()
                }
            })
            .collect();
        Tensor::from_vec(v, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_state_restores() {
        let mut a = Rng::seed_from(42);
        let _ = a.normal_f64();
        let saved = a.state();
        let x: Vec<f64> = (0..5).map(|_| a.normal_f64()).collect();
        let mut b = Rng::from_state(&saved);
        let y: Vec<f64> = (0..5).map(|_| b.normal_f64()).collect();
        assert_eq!(x, y);
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut r = Rng::seed_from(1);
        let n = Tensor::<f64>::rand_normal(&[20000], 2.0, 3.0, &mut r);
        assert!((n.mean_all().item() - 2.0).abs() < 0.1);
        assert!((n.var_dims(&[0], 1, false).item().sqrt() - 3.0).abs() < 0.1);
        let u = Tensor::<f64>::rand_uniform(&[20000], -1.0, 1.0, &mut r);
        assert!(u.max_all() < 1.0 && u.min_all() >= -1.0);
        let b = Tensor::<f64>::rand_bernoulli(&[20000], 0.3, &mut r);
        assert!((b.mean_all().item() - 0.3).abs() < 0.02);
    }
}
