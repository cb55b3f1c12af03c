//! [`Flatten`]: merges a range of dims into one.

use nn_autograd::Var;
use nn_tensor::{AsDim, Element, Result, TensorError};

use crate::module::{Forward, Module};

/// Flattens dims `start_dim..=end_dim` into one (PyTorch's defaults: 1 and −1),
/// e.g. `[N, C, H, W]` → `[N, C·H·W]` between convolutions and a classifier.
///
/// ```
/// use nn_layers::prelude::*;
/// let y = Flatten::default().forward(&Tensor::<f32>::zeros(&[2, 3, 4, 5]));
/// assert_eq!(y.shape(), &[2, 60]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flatten {
    /// First dim to merge (may be negative).
    pub start_dim: isize,
    /// Last dim to merge, inclusive (may be negative).
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Flatten {
    /// Flattens `start_dim..=end_dim`.
    pub fn new(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim }
    }
}

impl<T: Element> Module<T> for Flatten {
    /// A reshape: no arithmetic.
    fn macs(&self, _: &[usize], _: &[usize]) -> Option<u64> {
        Some(0)
    }
}

impl<T: Element> Forward<T> for Flatten {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        let rank = x.ndim().max(1);
        let s = self.start_dim.resolve("Flatten", rank)?;
        let e = self.end_dim.resolve("Flatten", rank)?;
        if s > e {
            return Err(TensorError::invalid(
                "Flatten",
                format!(
                    "start_dim {s} is after end_dim {e} for input {:?}",
                    x.shape()
                ),
            ));
        }
        if x.ndim() == 0 {
            return Ok(x.reshape([1]));
        }
        let sh = x.shape();
        let mut out: Vec<usize> = sh[..s].to_vec();
        out.push(sh[s..=e].iter().product());
        out.extend_from_slice(&sh[e + 1..]);
        x.try_reshape(&out)
    }
}
