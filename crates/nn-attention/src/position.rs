//! Positional information: the sinusoidal encoding of "Attention Is All You
//! Need" and learned position embeddings.

use nn_autograd::{Parameter, Var};
use nn_layers::Module;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::parts::require_sizes;

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

/// How to build a [`PositionalEncoding`]: the sinusoidal table for
/// `max_len` positions of width `d_model`, base 10000.
///
/// ```
/// use nn_attention::PositionalEncodingConfig;
/// use nn_tensor::Rng;
/// let pe = PositionalEncodingConfig::new(16, 8).init::<f32>(&mut Rng::seed_from(0))?;
/// assert_eq!(pe.table().shape(), &[16, 8]);
///
/// let err = PositionalEncodingConfig::new(0, 8).init::<f32>(&mut Rng::seed_from(0));
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "PositionalEncoding: max_len = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionalEncodingConfig {
    /// The most positions the table covers.
    pub max_len: usize,
    /// The width E of the vectors it is added to.
    pub d_model: usize,
}

impl PositionalEncodingConfig {
    /// A table for up to `max_len` positions of width `d_model`.
    pub fn new(max_len: usize, d_model: usize) -> Self {
        PositionalEncodingConfig { max_len, d_model }
    }

    /// The layer. The table is a function of the sizes, so `_rng` is
    /// unused: every layer's `init` takes one, so that building any model
    /// reads the same.
    ///
    /// # Errors
    /// If `max_len` or `d_model` is 0.
    pub fn init<T: Element>(&self, _rng: &mut Rng) -> Result<PositionalEncoding<T>> {
        require_sizes(
            "PositionalEncoding",
            &[("max_len", self.max_len), ("d_model", self.d_model)],
        )?;
        Ok(PositionalEncoding {
            table: sinusoidal_encoding(self.max_len, self.d_model, 10000.0),
        })
    }
}

/// Adds the sinusoidal encoding to `x [N, L, E]` (positions `offset..offset+L`).
/// The table has no parameters; it is computed once up to `max_len`.
/// Built by [`PositionalEncodingConfig`].
#[derive(Clone, Debug, Module)]
pub struct PositionalEncoding<T: Element> {
    /// A function of the shape, so not saved.
    #[module(skip)]
    table: Tensor<T>,
}

impl<T: Element> PositionalEncoding<T> {
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

/// How to build a [`LearnedPositionEmbedding`]: a table for `max_len`
/// positions of width `d_model`, drawn N(0, 1) as PyTorch's `Embedding`.
///
/// ```
/// use nn_attention::LearnedPositionEmbeddingConfig;
/// use nn_tensor::Rng;
/// let mut rng = Rng::seed_from(0);
/// let pos = LearnedPositionEmbeddingConfig::new(16, 8).init::<f32>(&mut rng)?;
/// assert_eq!(pos.weight.shape(), &[16, 8]);
///
/// let err = LearnedPositionEmbeddingConfig::new(16, 0).init::<f32>(&mut rng);
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "LearnedPositionEmbedding: d_model = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnedPositionEmbeddingConfig {
    /// The most positions the table covers.
    pub max_len: usize,
    /// The width E of the vectors it is added to.
    pub d_model: usize,
}

impl LearnedPositionEmbeddingConfig {
    /// A table for `max_len` positions of width `d_model`.
    pub fn new(max_len: usize, d_model: usize) -> Self {
        LearnedPositionEmbeddingConfig { max_len, d_model }
    }

    /// The layer, its table drawn from `rng`.
    ///
    /// # Errors
    /// If `max_len` or `d_model` is 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<LearnedPositionEmbedding<T>> {
        require_sizes(
            "LearnedPositionEmbedding",
            &[("max_len", self.max_len), ("d_model", self.d_model)],
        )?;
        Ok(LearnedPositionEmbedding {
            weight: Parameter::new(Tensor::rand_normal(
                &[self.max_len, self.d_model],
                0.0,
                1.0,
                rng,
            )),
        })
    }
}

/// Learned position embeddings: a trainable table `weight [max_len, E]`
/// added to `x [N, L, E]` (as in BERT and GPT). Built by
/// [`LearnedPositionEmbeddingConfig`].
#[derive(Clone, Debug, Module)]
pub struct LearnedPositionEmbedding<T: Element> {
    /// `[max_len, E]`, starts N(0, 1) as PyTorch's `Embedding`.
    pub weight: Parameter<T>,
}

impl<T: Element> LearnedPositionEmbedding<T> {
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
