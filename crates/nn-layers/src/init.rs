//! Weight initialisers, as in `torch.nn.init`.
//!
//! Each function returns a fresh tensor of the given shape. Fans follow
//! PyTorch: for a weight `[out, in, k…]`, `fan_in = in·Πk` and
//! `fan_out = out·Πk`; a 1-d shape has `fan_in = fan_out = len`.
//!
//! ## Why not start from zeros?
//!
//! If every weight of a layer starts equal (all zeros, or any constant),
//! every hidden unit computes the same function of the input, receives the
//! same gradient, and takes the same update, so after any number of steps
//! the units are still identical: a layer of 100 units behaves like one unit
//! copied 100 times. (With all zeros and ReLU it is worse: the output weights
//! are zero, so no gradient reaches the first layer at all.) Random
//! initialisation breaks this symmetry. [`rows_identical`] checks whether a
//! weight `[out, in]` is still symmetric; the test
//! `zero_init_keeps_hidden_units_identical` trains a tiny MLP both ways.
//!
//! ```
//! use nn_layers::init::{kaiming_uniform, FanMode, Nonlinearity};
//! use nn_tensor::Rng;
//! let mut rng = Rng::seed_from(0);
//! let w = kaiming_uniform::<f32>(&[64, 100], FanMode::FanIn, Nonlinearity::Relu, &mut rng).unwrap();
//! let bound = (6.0f32 / 100.0).sqrt(); // gain √2 · √(3 / fan_in)
//! assert!(w.as_slice().iter().all(|v| v.abs() <= bound));
//! ```

use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

/// Which fan scales a Kaiming initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FanMode {
    /// Preserve the variance of activations in the forward pass (PyTorch's default).
    #[default]
    FanIn,
    /// Preserve the variance of gradients in the backward pass.
    FanOut,
}

/// The non-linearity after a layer, for [`calculate_gain`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// Identity / linear / convolution: gain 1.
    Linear,
    /// Sigmoid: gain 1.
    Sigmoid,
    /// Tanh: gain 5/3.
    Tanh,
    /// ReLU: gain √2.
    Relu,
    /// Leaky ReLU with the given negative slope: gain √(2 / (1 + slope²)).
    LeakyRelu(f64),
}

/// The recommended gain for a non-linearity (`torch.nn.init.calculate_gain`).
pub fn calculate_gain(nl: Nonlinearity) -> f64 {
    match nl {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
    }
}

/// `(fan_in, fan_out)` of a weight shape; errors on an empty shape or a zero fan.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    let (fi, fo) = match shape {
        [] => {
            return Err(TensorError::invalid(
                "init::fans",
                "a scalar has no fan in or fan out",
            ))
        }
        [n] => (*n, *n),
        [out, inp, rest @ ..] => {
            let k: usize = rest.iter().product();
            (inp * k, out * k)
        }
    };
    if fi == 0 || fo == 0 {
        return Err(TensorError::invalid(
            "init::fans",
            format!("shape {shape:?} has a zero fan"),
        ));
    }
    Ok((fi, fo))
}

fn check_finite(op: &'static str, name: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(TensorError::invalid(
            op,
            format!("{name} = {v} is not finite"),
        ))
    }
}

/// All zeros (see the module docs for why a hidden layer must not start here).
pub fn zeros<T: Element>(shape: &[usize]) -> Tensor<T> {
    Tensor::zeros(shape)
}

/// All ones.
pub fn ones<T: Element>(shape: &[usize]) -> Tensor<T> {
    Tensor::ones(shape)
}

/// Every element equal to `value`.
pub fn constant<T: Element>(shape: &[usize], value: f64) -> Tensor<T> {
    Tensor::full(shape, T::of(value))
}

/// Uniform on `[low, high)`.
pub fn uniform<T: Element>(
    shape: &[usize],
    low: f64,
    high: f64,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    Tensor::try_rand_uniform(shape, low, high, rng)
}

/// Normal with the given mean and standard deviation (`std >= 0`).
pub fn normal<T: Element>(
    shape: &[usize],
    mean: f64,
    std: f64,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    check_finite("init::normal", "mean", mean)?;
    if !(std >= 0.0 && std.is_finite()) {
        return Err(TensorError::invalid(
            "init::normal",
            format!("std = {std} must be finite and >= 0"),
        ));
    }
    Ok(Tensor::rand_normal(shape, mean, std, rng))
}

/// Normal(mean, std) conditioned on `[low, high]`, by rejection (as
/// `trunc_normal_` does in spirit). Errors unless `low < high`, `std > 0`,
/// and the interval holds at least 1e-4 of the probability mass (else
/// rejection would spin).
pub fn trunc_normal<T: Element>(
    shape: &[usize],
    mean: f64,
    std: f64,
    low: f64,
    high: f64,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    let op = "init::trunc_normal";
    for (n, v) in [("mean", mean), ("std", std), ("low", low), ("high", high)] {
        check_finite(op, n, v)?;
    }
    if !(std > 0.0 && low < high) {
        return Err(TensorError::invalid(
            op,
            format!("needs std > 0 and low < high, got std {std}, [{low}, {high}]"),
        ));
    }
    let cdf = |z: f64| 0.5 * (1.0 + nn_tensor::element::erf_f64(z / 2f64.sqrt()));
    let mass = cdf((high - mean) / std) - cdf((low - mean) / std);
    if mass < 1e-4 {
        return Err(TensorError::invalid(
            op,
            format!("[{low}, {high}] holds only {mass:.2e} of N({mean}, {std}²)"),
        ));
    }
    let n: usize = shape.iter().product();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let x = mean + std * rng.normal_f64();
        if (low..=high).contains(&x) {
            v.push(T::of(x));
        }
    }
    Ok(Tensor::from_vec(v, shape))
}

/// Glorot uniform: `U(−a, a)` with `a = gain·√(6 / (fan_in + fan_out))`.
pub fn xavier_uniform<T: Element>(shape: &[usize], gain: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    let (fi, fo) = fans(shape)?;
    check_finite("init::xavier_uniform", "gain", gain)?;
    let a = gain * (6.0 / (fi + fo) as f64).sqrt();
    uniform(shape, -a, a, rng)
}

/// Glorot normal: `N(0, σ²)` with `σ = gain·√(2 / (fan_in + fan_out))`.
pub fn xavier_normal<T: Element>(shape: &[usize], gain: f64, rng: &mut Rng) -> Result<Tensor<T>> {
    let (fi, fo) = fans(shape)?;
    check_finite("init::xavier_normal", "gain", gain)?;
    normal(
        shape,
        0.0,
        gain.abs() * (2.0 / (fi + fo) as f64).sqrt(),
        rng,
    )
}

fn kaiming_std(shape: &[usize], mode: FanMode, nl: Nonlinearity) -> Result<f64> {
    let (fi, fo) = fans(shape)?;
    let fan = match mode {
        FanMode::FanIn => fi,
        FanMode::FanOut => fo,
    };
    Ok(calculate_gain(nl) / (fan as f64).sqrt())
}

/// He uniform: `U(−b, b)` with `b = gain·√(3 / fan)`. PyTorch's default
/// `Linear` weight is `kaiming_uniform` with `LeakyRelu(√5)`, i.e. `b = 1/√fan_in`.
pub fn kaiming_uniform<T: Element>(
    shape: &[usize],
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    let b = 3f64.sqrt() * kaiming_std(shape, mode, nl)?;
    uniform(shape, -b, b, rng)
}

/// He normal: `N(0, σ²)` with `σ = gain / √fan`.
pub fn kaiming_normal<T: Element>(
    shape: &[usize],
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut Rng,
) -> Result<Tensor<T>> {
    let s = kaiming_std(shape, mode, nl)?;
    normal(shape, 0.0, s, rng)
}

/// A choice of initialiser, stored in layer configs (Burn style) so a model
/// description says how its weights start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    /// All `value`.
    Constant(f64),
    /// All zeros (symmetric: see the module docs).
    Zeros,
    /// All ones.
    Ones,
    /// `U(low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// `N(mean, std²)`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// `N(mean, std²)` truncated to `[low, high]`.
    TruncNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// Lower cut.
        low: f64,
        /// Upper cut.
        high: f64,
    },
    /// Glorot uniform with a gain.
    XavierUniform {
        /// Gain.
        gain: f64,
    },
    /// Glorot normal with a gain.
    XavierNormal {
        /// Gain.
        gain: f64,
    },
    /// He uniform.
    KaimingUniform {
        /// Which fan.
        mode: FanMode,
        /// The non-linearity whose gain applies.
        nonlinearity: Nonlinearity,
    },
    /// He normal.
    KaimingNormal {
        /// Which fan.
        mode: FanMode,
        /// The non-linearity whose gain applies.
        nonlinearity: Nonlinearity,
    },
}

impl Initializer {
    /// PyTorch's default for `Linear` and `Conv*` weights:
    /// `kaiming_uniform_(w, a=√5)`, which is `U(−1/√fan_in, 1/√fan_in)`.
    pub const PYTORCH_DEFAULT: Initializer = Initializer::KaimingUniform {
        mode: FanMode::FanIn,
        nonlinearity: Nonlinearity::LeakyRelu(2.23606797749979),
    };

    /// A tensor of `shape` drawn from this initialiser.
    pub fn init<T: Element>(&self, shape: &[usize], rng: &mut Rng) -> Result<Tensor<T>> {
        match *self {
            Initializer::Constant(v) => {
                check_finite("init::constant", "value", v)?;
                Ok(constant(shape, v))
            }
            Initializer::Zeros => Ok(zeros(shape)),
            Initializer::Ones => Ok(ones(shape)),
            Initializer::Uniform { low, high } => uniform(shape, low, high, rng),
            Initializer::Normal { mean, std } => normal(shape, mean, std, rng),
            Initializer::TruncNormal {
                mean,
                std,
                low,
                high,
            } => trunc_normal(shape, mean, std, low, high, rng),
            Initializer::XavierUniform { gain } => xavier_uniform(shape, gain, rng),
            Initializer::XavierNormal { gain } => xavier_normal(shape, gain, rng),
            Initializer::KaimingUniform { mode, nonlinearity } => {
                kaiming_uniform(shape, mode, nonlinearity, rng)
            }
            Initializer::KaimingNormal { mode, nonlinearity } => {
                kaiming_normal(shape, mode, nonlinearity, rng)
            }
        }
    }
}

/// True when every row of a weight `[out, in]` equals the first within
/// `tol`: the hidden units it feeds are indistinguishable (the symmetry an
/// all-zero or constant initialisation never breaks; see the module docs).
pub fn rows_identical<T: Element>(weight: &Tensor<T>, tol: f64) -> bool {
    if weight.ndim() != 2 || weight.shape()[0] == 0 {
        return true;
    }
    let cols = weight.shape()[1];
    let s = weight.as_slice();
    s.chunks(cols).all(|row| {
        row.iter()
            .zip(&s[..cols])
            .all(|(a, b)| (*a - *b).abs().to_f64_lossless() <= tol)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(t: &Tensor<f64>) -> (f64, f64) {
        let v = t.as_slice();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
        (m, var.sqrt())
    }

    #[test]
    fn gains_match_pytorch() {
        assert_eq!(calculate_gain(Nonlinearity::Linear), 1.0);
        assert_eq!(calculate_gain(Nonlinearity::Sigmoid), 1.0);
        assert!((calculate_gain(Nonlinearity::Tanh) - 5.0 / 3.0).abs() < 1e-15);
        assert!((calculate_gain(Nonlinearity::Relu) - 2f64.sqrt()).abs() < 1e-15);
        let g = calculate_gain(Nonlinearity::LeakyRelu(5f64.sqrt()));
        assert!((g - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn fans_of_linear_and_conv_shapes() {
        assert_eq!(fans(&[10, 20]).unwrap(), (20, 10));
        assert_eq!(fans(&[8, 3, 5, 5]).unwrap(), (75, 200));
        assert_eq!(fans(&[7]).unwrap(), (7, 7));
        assert!(fans(&[]).is_err());
        assert!(fans(&[0, 4]).is_err());
    }

    #[test]
    fn distributions_have_the_documented_spread() {
        let mut rng = Rng::seed_from(3);
        let shape = [200, 300];
        let w: Tensor<f64> =
            kaiming_normal(&shape, FanMode::FanIn, Nonlinearity::Relu, &mut rng).unwrap();
        let (m, s) = moments(&w);
        assert!(
            m.abs() < 0.01 && (s - (2.0f64 / 300.0).sqrt()).abs() < 0.002,
            "{m} {s}"
        );
        let w: Tensor<f64> =
            kaiming_normal(&shape, FanMode::FanOut, Nonlinearity::Linear, &mut rng).unwrap();
        assert!((moments(&w).1 - (1.0f64 / 200.0).sqrt()).abs() < 0.002);
        let w: Tensor<f64> = xavier_uniform(&shape, 1.0, &mut rng).unwrap();
        let a = (6.0f64 / 500.0).sqrt();
        assert!(w.max_all() <= a && w.min_all() >= -a && w.max_all() > 0.95 * a);
        let w: Tensor<f64> = xavier_normal(&shape, 2.0, &mut rng).unwrap();
        assert!((moments(&w).1 - 2.0 * (2.0f64 / 500.0).sqrt()).abs() < 0.003);
        let w: Tensor<f64> =
            kaiming_uniform(&shape, FanMode::FanIn, Nonlinearity::Tanh, &mut rng).unwrap();
        let b = 5.0 / 3.0 * (3.0f64 / 300.0).sqrt();
        assert!(w.max_all() <= b && w.max_all() > 0.95 * b);
        let w: Tensor<f64> = trunc_normal(&[10000], 0.0, 1.0, -0.5, 2.0, &mut rng).unwrap();
        assert!(w.min_all() >= -0.5 && w.max_all() <= 2.0 && w.max_all() > 1.5);
        let w: Tensor<f64> = Initializer::PYTORCH_DEFAULT
            .init(&[16, 25], &mut rng)
            .unwrap();
        assert!(w.max_all() <= 0.2 && w.max_all() > 0.18);
        assert_eq!(constant::<f32>(&[2], 0.5).to_vec(), vec![0.5, 0.5]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut rng = Rng::seed_from(0);
        assert!(normal::<f32>(&[2], 0.0, -1.0, &mut rng).is_err());
        assert!(uniform::<f32>(&[2], 1.0, 0.0, &mut rng).is_err());
        assert!(trunc_normal::<f32>(&[2], 0.0, 1.0, 10.0, 11.0, &mut rng).is_err());
        assert!(trunc_normal::<f32>(&[2], 0.0, 1.0, 1.0, -1.0, &mut rng).is_err());
        assert!(xavier_uniform::<f32>(&[0, 3], 1.0, &mut rng).is_err());
        assert!(Initializer::Constant(f64::NAN)
            .init::<f32>(&[2], &mut rng)
            .is_err());
    }
}
