//! Truncated back-propagation through time: cut a long sequence into
//! chunks and carry the hidden state from chunk to chunk *without* its graph,
//! so memory and the cost of a backward pass stay bounded by the chunk length.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Tensor, TensorError};

/// A recurrent state that can be cut from the graph that produced it.
pub trait Detach {
    /// The same values as constants: no gradient flows back through them.
    fn detach(&self) -> Self;
}

impl<T: Element> Detach for Var<T> {
    fn detach(&self) -> Self {
        Var::detach(self)
    }
}

impl<A: Detach, B: Detach> Detach for (A, B) {
    fn detach(&self) -> Self {
        (self.0.detach(), self.1.detach())
    }
}

impl<S: Detach> Detach for Option<S> {
    fn detach(&self) -> Self {
        self.as_ref().map(Detach::detach)
    }
}

/// Splits `x` along its time axis `time_dim` into chunks of `chunk_len`
/// steps (the last one may be shorter).
pub fn time_chunks<T: Element>(
    x: &Tensor<T>,
    time_dim: usize,
    chunk_len: usize,
) -> Result<Vec<Tensor<T>>> {
    if chunk_len == 0 || time_dim >= x.ndim() {
        return Err(TensorError::invalid(
            "time_chunks",
            format!(
                "chunk_len {chunk_len} must be positive and time_dim {time_dim} < rank {}",
                x.ndim()
            ),
        ));
    }
    let steps = x.shape()[time_dim];
    Ok((0..steps)
        .step_by(chunk_len)
        .map(|s| x.narrow(time_dim, s, chunk_len.min(steps - s)))
        .collect())
}

/// Runs `step` over the chunks of `x` (see [`time_chunks`]), handing each
/// call the state the previous one returned, detached. `step` typically runs
/// the model on the chunk, back-propagates the chunk's loss and updates the
/// parameters; it returns the new state and a value to collect (e.g. the loss).
///
/// ```
/// use nn_rnn::{truncated_bptt, LstmConfig};
/// use nn_autograd::Var;
/// use nn_tensor::{Rng, Tensor};
/// let lstm = LstmConfig::new(2, 3).init::<f64>(&mut Rng::seed_from(0))?;
/// let x = Tensor::ones(&[10, 4, 2]); // [seq, batch, input]
/// let (state, losses) = truncated_bptt(&x, 0, 4, None, |chunk, state| {
///     let s = state.as_ref().map(|(h, c): &(Var<f64>, Var<f64>)| (h, c));
///     let (y, (h, c)) = lstm.forward(chunk, s);
///     let loss = y.square().mean();
///     let _grads = loss.backward(); // reaches back to the chunk start only
///     (Some((h, c)), loss.value().item())
/// })
/// .unwrap();
/// assert_eq!(losses.len(), 3);
/// assert!(!state.unwrap().0.requires_grad());
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
pub fn truncated_bptt<T: Element, S: Detach, R>(
    x: &Tensor<T>,
    time_dim: usize,
    chunk_len: usize,
    initial: S,
    mut step: impl FnMut(Tensor<T>, S) -> (S, R),
) -> Result<(S, Vec<R>)> {
    let mut state = initial.detach();
    let mut results = Vec::new();
    for chunk in time_chunks(x, time_dim, chunk_len)? {
        let (next, r) = step(chunk, state);
        state = next.detach();
        results.push(r);
    }
    Ok((state, results))
}
