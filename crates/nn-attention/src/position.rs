//! Positional information: the sinusoidal encoding of "Attention Is All You
//! Need" and learned position embeddings.

use nn_autograd::{Parameter, Var};
use nn_layers::Module;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::parts::check_sizes;

/// The sinusoidal table `pe [max_len, d_model]`:
/// `pe[pos, j] = sin(pos / base^(2⌊j/2⌋/d))` for even j, `cos(…)` for odd j.
/// An odd `d_model` ends with a sine column.
///
/// ```
/// use nn_attention::sinusoidal_encoding;
/// let pe = sinusoidal_encoding::<f64>(4, 5, 10000.0);
/// assert_eq!(pe.shape(), &[4, 5]);
/// assert_eq!(pe.get(&[0, 1]), 1.0); // cos 0
/// ```
pub fn sinusoidal_encoding<T: Element>(max_len: usize, d_model: usize, base: f64) -> Tensor<T> {
    let mut v = Vec::with_capacity(max_len * d_model);
    for pos in 0..max_len {
        for j in 0..d_model {
            let angle = pos as f64 / base.powf((2 * (j / 2)) as f64 / d_model as f64);
            v.push(T::of(if j % 2 == 0 { angle.sin() } else { angle.cos() }));
        }
    }
    Tensor::from_vec(v, &[max_len, d_model])
}

/// Adds the sinusoidal encoding to `x [N, L, E]` (positions `offset..offset+L`).
/// The table has no parameters; it is computed once up to `max_len`.
#[derive(Clone, Debug, Module)]
pub struct PositionalEncoding<T: Element> {
    /// A function of the shape, so not saved.
    #[module(skip)]
    table: Tensor<T>,
}

impl<T: Element> PositionalEncoding<T> {
    /// A table for up to `max_len` positions, base 10000.
    ///
    /// # Panics
    /// If `max_len` or `d_model` is 0.
    #[track_caller]
    pub fn new(max_len: usize, d_model: usize) -> Self {
        check_sizes(
            "PositionalEncoding",
            &[("max_len", max_len), ("d_model", d_model)],
        );
        PositionalEncoding {
            table: sinusoidal_encoding(max_len, d_model, 10000.0),
        }
    }

    /// The table `[max_len, d_model]`.
    pub fn table(&self) -> &Tensor<T> {
        &self.table
    }

    /// `x + pe[offset .. offset + L]`, broadcast over the batch.
    pub fn try_forward(&self, x: &Var<T>, offset: usize) -> Result<Var<T>> {
        let (max, d) = (self.table.shape()[0], self.table.shape()[1]);
        if x.ndim() != 3 || x.shape()[2] != d || offset + x.shape()[1] > max {
            return Err(TensorError::invalid(
                "PositionalEncoding::forward",
                format!(
                    "x must be [N, L, {d}] with offset + L ≤ {max}; got {:?} at offset {offset}",
                    x.shape()
                ),
            ));
        }
        Ok(x.add_tensor(&self.table.narrow(0, offset, x.shape()[1])))
    }
}

/// Learned position embeddings: a trainable table `weight [max_len, E]`
/// added to `x [N, L, E]` (as in BERT and GPT).
#[derive(Clone, Debug, Module)]
pub struct LearnedPositionEmbedding<T: Element> {
    /// `[max_len, E]`, starts N(0, 1) as PyTorch's `Embedding`.
    pub weight: Parameter<T>,
}

impl<T: Element> LearnedPositionEmbedding<T> {
    /// A table for `max_len` positions.
    ///
    /// # Panics
    /// If `max_len` or `d_model` is 0.
    #[track_caller]
    pub fn new(max_len: usize, d_model: usize, rng: &mut Rng) -> Self {
        check_sizes(
            "LearnedPositionEmbedding",
            &[("max_len", max_len), ("d_model", d_model)],
        );
        LearnedPositionEmbedding {
            weight: Parameter::new(Tensor::rand_normal(&[max_len, d_model], 0.0, 1.0, rng)),
        }
    }

    /// `x + weight[offset .. offset + L]`; the rows used get gradients.
    pub fn try_forward(&self, x: &Var<T>, offset: usize) -> Result<Var<T>> {
        let shape = self.weight.shape();
        if x.ndim() != 3 || x.shape()[2] != shape[1] || offset + x.shape()[1] > shape[0] {
            return Err(TensorError::invalid(
                "LearnedPositionEmbedding::forward",
                format!(
                    "x must be [N, L, {}] with offset + L ≤ {}; got {:?} at offset {offset}",
                    shape[1],
                    shape[0],
                    x.shape()
                ),
            ));
        }
        x.try_add(&self.weight.var().narrow(0, offset, x.shape()[1]))
    }
}
