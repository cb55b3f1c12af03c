//! Hard attention: select **one** input instead of averaging them.
//!
//! The selection (an argmax or a sample) has no useful derivative, so it is
//! trained with the **straight-through estimator** (Bengio et al. 2013):
//! the forward pass uses the one-hot selection `h`, the backward pass uses
//! the gradient of the soft distribution `p`, i.e. the weights are
//! `h + p − stop_gradient(p)`. It is biased but has low variance and needs no
//! baseline; the selected value still gets its exact gradient. For a
//! score-function (REINFORCE) estimator instead, [`HardAttention::log_prob`]
//! is `log p(selected)`: minimise `(loss − baseline)·log_prob`.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::mask::Mask;
use crate::score::{attention_weights, context};

/// How the input is selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardChoice {
    /// The highest-scoring input (deterministic; for evaluation).
    Argmax,
    /// A sample from the attention distribution (exploration in training).
    Sample,
}

/// The result of [`hard_attention`].
#[derive(Clone, Debug)]
pub struct HardAttention<T: Element> {
    /// The selected values `[N, Dv]` (straight-through differentiable).
    pub context: Var<T>,
    /// The selected index per batch element.
    pub index: Vec<usize>,
    /// The straight-through weights `[N, S]`: one-hot in value.
    pub weights: Var<T>,
    /// `log p(index)` per batch element `[N]`, for REINFORCE.
    pub log_prob: Var<T>,
}

/// Selects one of `values [N, S, Dv]` per batch element from `scores [N, S]`.
///
/// ```
/// use nn_attention::{hard_attention, HardChoice};
/// use nn_autograd::Var;
/// use nn_tensor::{Rng, Tensor};
/// let scores = Var::leaf(Tensor::<f64>::from_vec(vec![0.1, 2.0, -1.0], &[1, 3]));
/// let values = Var::constant(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3, 1]));
/// let h = hard_attention(&scores, &values, None, HardChoice::Argmax, &mut Rng::seed_from(0)).unwrap();
/// assert_eq!((h.index[0], h.context.value().item()), (1, 2.0));
/// let g = h.context.sum().backward(); // straight-through: scores get a gradient
/// assert!(g.get(&scores).is_some());
/// ```
pub fn hard_attention<T: Element>(
    scores: &Var<T>,
    values: &Var<T>,
    mask: Option<&Mask>,
    choice: HardChoice,
    rng: &mut Rng,
) -> Result<HardAttention<T>> {
    if scores.ndim() != 2 {
        return Err(TensorError::invalid(
            "hard_attention",
            format!("scores must be [N, S], got {:?}", scores.shape()),
        ));
    }
    let (n, s) = (scores.shape()[0], scores.shape()[1]);
    let p = attention_weights(scores, mask)?;
    let pv = p.value().to_f64_vec();
    let index: Vec<usize> = (0..n)
        .map(|b| {
            let row = &pv[b * s..(b + 1) * s];
            match choice {
                HardChoice::Argmax => {
                    (0..s).fold(0, |best, j| if row[j] > row[best] { j } else { best })
                }
                HardChoice::Sample => {
                    let u = rng.uniform_f64();
                    let mut acc = 0.0;
                    let mut pick = s - 1;
                    for (j, &q) in row.iter().enumerate() {
                        acc += q;
                        if u < acc && q > 0.0 {
                            pick = j;
                            break;
                        }
                    }
                    pick
                }
            }
        })
        .collect();
    let mut onehot = vec![T::zero(); n * s];
    for (b, &j) in index.iter().enumerate() {
        onehot[b * s + j] = T::one();
    }
    let onehot = Tensor::from_vec(onehot, &[n, s]);
    let weights = p.sub(&p.detach()).add_tensor(&onehot);
    // Gather first: masked entries have p = 0 and log 0 would poison the sum.
    let log_prob = p.gather(1, &index, &[n, 1]).ln().reshape([n]);
    Ok(HardAttention {
        context: context(&weights, values)?,
        index,
        weights,
        log_prob,
    })
}
