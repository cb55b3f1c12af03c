//! [`Embedding`]: a lookup table of learnable vectors.

use nn_autograd::{Parameter, Var};
use nn_tensor::{or_panic, Element, Result, Rng, TensorError};

use crate::functional;
use crate::init::Initializer;
use crate::{Forward, Module};

/// How to build an [`Embedding`]; the defaults are PyTorch's.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingConfig {
    /// Size of the vocabulary.
    pub num_embeddings: usize,
    /// Size of each vector.
    pub embedding_dim: usize,
    /// A row that stays zero and gets no gradient (default none).
    pub padding_idx: Option<usize>,
    /// How the table starts (default `N(0, 1)`, as in PyTorch).
    pub initializer: Initializer,
}

impl EmbeddingConfig {
    /// A table of `num_embeddings` vectors of size `embedding_dim`.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        EmbeddingConfig {
            num_embeddings,
            embedding_dim,
            padding_idx: None,
            initializer: Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            },
        }
    }

    /// With a padding row.
    pub fn with_padding_idx(mut self, idx: usize) -> Self {
        self.padding_idx = Some(idx);
        self
    }

    /// Builds the table; errors on zero sizes or a padding index out of range.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Embedding<T>> {
        if self.num_embeddings == 0 || self.embedding_dim == 0 {
            return Err(TensorError::invalid(
                "EmbeddingConfig",
                format!(
                    "num_embeddings = {} and embedding_dim = {} must both be > 0",
                    self.num_embeddings, self.embedding_dim
                ),
            ));
        }
        if let Some(p) = self.padding_idx.filter(|&p| p >= self.num_embeddings) {
            return Err(TensorError::invalid(
                "EmbeddingConfig",
                format!(
                    "padding_idx = {p} is out of range for {} embeddings",
                    self.num_embeddings
                ),
            ));
        }
        let mut w = self
            .initializer
            .init::<T>(&[self.num_embeddings, self.embedding_dim], rng)?;
        if let Some(p) = self.padding_idx {
            let d = self.embedding_dim;
            w.as_mut_slice()[p * d..(p + 1) * d].fill(T::zero());
        }
        Ok(Embedding {
            weight: Parameter::new(w),
            padding_idx: self.padding_idx,
        })
    }
}

/// A lookup table: index `i` → row `i` of `weight [num_embeddings, embedding_dim]`.
///
/// * [`Embedding::try_lookup`]: indices of any shape `S` → `[..S, embedding_dim]`;
/// * as a [`Forward`] layer the input var holds the indices as (integral) floats.
///
/// A table lookup: a summary counts no multiply-accumulates.
#[derive(Debug, Module)]
#[module(macs = crate::summary::zero_macs)]
pub struct Embedding<T: Element> {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Parameter<T>,
    /// The padding row, if any.
    #[module(skip)]
    pub padding_idx: Option<usize>,
}

impl<T: Element> Embedding<T> {
    /// The vectors of `indices` laid out as `shape`; errors on an index out of range.
    pub fn try_lookup(&self, indices: &[usize], shape: &[usize]) -> Result<Var<T>> {
        functional::embedding(indices, shape, &self.weight.var(), self.padding_idx)
    }

    /// Panicking [`Embedding::try_lookup`].
    #[track_caller]
    pub fn lookup(&self, indices: &[usize], shape: &[usize]) -> Var<T> {
        or_panic(self.try_lookup(indices, shape))
    }
}

impl<T: Element> Forward<T> for Embedding<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let mut idx = Vec::with_capacity(x.value().numel());
            for &v in x.value().as_slice() {
                if !(v >= T::zero() && v.fract() == T::zero()) {
                    return Err(TensorError::invalid(
                        "Embedding",
                        format!(
                            "index {v} is not a non-negative integer (input shape {:?})",
                            x.shape()
                        ),
                    ));
                }
                idx.push(v.to_usize().unwrap_or(usize::MAX));
            }
            self.try_lookup(&idx, x.shape())
        })
    }
}
