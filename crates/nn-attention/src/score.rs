//! Scoring functions and soft attention: a distribution over inputs given a
//! query, and the weighted sum of values it selects (the context).
//!
//! Shapes: queries `[N, L, Dq]` (or one query `[N, Dq]`), keys `[N, S, Dk]`,
//! values `[N, S, Dv]`, scores and weights `[N, L, S]` (or `[N, S]`).

use nn_autograd::{Parameter, Var};
use nn_layers::Module;
use nn_tensor::{Element, Result, Rng, Tensor, TensorError};

use crate::mask::Mask;
use crate::parts::require_sizes;

/// Dot-product scores `q·kᵀ` (Luong "dot"): `[N, L, D] × [N, S, D] → [N, L, S]`.
pub fn dot_scores<T: Element>(q: &Var<T>, k: &Var<T>) -> Result<Var<T>> {
    q.try_matmul_t(k, false, true)
}

/// Scaled dot-product scores `q·kᵀ/√D` (Vaswani et al.): the scaling keeps
/// the softmax out of saturation when D is large.
pub fn scaled_dot_scores<T: Element>(q: &Var<T>, k: &Var<T>) -> Result<Var<T>> {
    let d = *q.shape().last().unwrap_or(&1) as f64;
    Ok(dot_scores(q, k)?.mul_scalar(T::of(1.0 / d.sqrt())))
}

/// How to build a [`BilinearScore`]: queries of size `dq`, keys of size
/// `dk`; `W` starts uniform in `[−1/√dk, 1/√dk]`.
///
/// ```
/// use nn_attention::BilinearScoreConfig;
/// use nn_tensor::Rng;
/// let score = BilinearScoreConfig::new(4, 3).init::<f32>(&mut Rng::seed_from(0))?;
/// assert_eq!(score.weight.shape(), &[4, 3]);
///
/// let err = BilinearScoreConfig::new(4, 0).init::<f32>(&mut Rng::seed_from(0));
/// assert_eq!(err.unwrap_err().to_string(), "BilinearScore: dk = 0, expected at least 1");
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BilinearScoreConfig {
    /// Query size Dq.
    pub dq: usize,
    /// Key size Dk.
    pub dk: usize,
}

impl BilinearScoreConfig {
    /// Scores between queries of size `dq` and keys of size `dk`.
    pub fn new(dq: usize, dk: usize) -> Self {
        BilinearScoreConfig { dq, dk }
    }

    /// The layer, `W` drawn from `rng`.
    ///
    /// # Errors
    /// If `dq` or `dk` is 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<BilinearScore<T>> {
        let (dq, dk) = (self.dq, self.dk);
        require_sizes("BilinearScore", &[("dq", dq), ("dk", dk)])?;
        let a = 1.0 / (dk as f64).sqrt();
        Ok(BilinearScore {
            weight: Parameter::new(Tensor::rand_uniform(&[dq, dk], -a, a, rng)),
        })
    }
}

/// Bilinear ("general", Luong et al. 2015) scores `q·W·kᵀ`, `W: [Dq, Dk]`.
/// Built by [`BilinearScoreConfig`].
#[derive(Clone, Debug, Module)]
pub struct BilinearScore<T: Element> {
    /// `[Dq, Dk]`.
    pub weight: Parameter<T>,
}

impl<T: Element> BilinearScore<T> {
    /// `[N, L, Dq] × [N, S, Dk] → [N, L, S]`.
    pub fn scores(&self, q: &Var<T>, k: &Var<T>) -> Result<Var<T>> {
        q.try_matmul_t(&self.weight.var(), false, false)?
            .try_matmul_t(k, false, true)
    }
}

/// Softmax of `scores` over the last axis (the keys), with `mask [N, S]`
/// (`true` = masked out) applied to every query of batch element n.
pub fn attention_weights<T: Element>(scores: &Var<T>, mask: Option<&Mask>) -> Result<Var<T>> {
    let r = scores.ndim();
    let mut s = scores.clone();
    if let Some(m) = mask {
        let (n, keys) = (scores.shape()[0], scores.shape()[r - 1]);
        if r < 2 || (m.rows(), m.cols()) != (n, keys) {
            return Err(TensorError::shapes(
                "attention_weights",
                scores.shape(),
                &[m.rows(), m.cols()],
                "the mask must be [N, S] for scores [N, .., S]",
            ));
        }
        let mut shape = vec![n];
        shape.extend(std::iter::repeat_n(1, r - 2));
        shape.push(keys);
        s = s.try_add(&Var::constant(m.to_additive(&shape)))?;
    }
    Ok(s.softmax(r - 1))
}

/// The context: weights `[N, L, S]` (or `[N, S]`) times values `[N, S, Dv]`
/// gives `[N, L, Dv]` (or `[N, Dv]`).
pub fn context<T: Element>(weights: &Var<T>, values: &Var<T>) -> Result<Var<T>> {
    if weights.ndim() == 2 {
        let (n, s) = (weights.shape()[0], weights.shape()[1]);
        let c = weights
            .reshape([n, 1, s])
            .try_matmul_t(values, false, false)?;
        let dv = c.shape()[2];
        Ok(c.reshape([n, dv]))
    } else {
        weights.try_matmul_t(values, false, false)
    }
}

/// Soft attention from scores: `(context, weights)`.
pub fn soft_attention<T: Element>(
    scores: &Var<T>,
    values: &Var<T>,
    mask: Option<&Mask>,
) -> Result<(Var<T>, Var<T>)> {
    let w = attention_weights(scores, mask)?;
    Ok((context(&w, values)?, w))
}

/// Key-value attention with scaled dot-product scores: the keys decide
/// where to look, the values are what is summed. `(context, weights)`.
///
/// ```
/// use nn_attention::key_value_attention;
/// use nn_autograd::Var;
/// use nn_tensor::Tensor;
/// let q = Var::constant(Tensor::<f64>::from_vec(vec![10.0, 0.0], &[1, 1, 2]));
/// let k = Var::constant(Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[1, 2, 2]));
/// let v = Var::constant(Tensor::from_vec(vec![5.0, 7.0], &[1, 2, 1]));
/// let (c, _w) = key_value_attention(&q, &k, &v, None).unwrap();
/// assert!((c.value().item() - 5.0).abs() < 1e-2); // the first key matches
/// ```
pub fn key_value_attention<T: Element>(
    queries: &Var<T>,
    keys: &Var<T>,
    values: &Var<T>,
    mask: Option<&Mask>,
) -> Result<(Var<T>, Var<T>)> {
    soft_attention(&scaled_dot_scores(queries, keys)?, values, mask)
}

/// How to build an [`AdditiveAttention`]: queries of size `dq`, keys of
/// size `dk`, a hidden layer of `attention_dim` units; every tensor starts
/// uniform in `[−1/√fan_in, 1/√fan_in]`.
///
/// ```
/// use nn_attention::AdditiveAttentionConfig;
/// use nn_tensor::Rng;
/// let att = AdditiveAttentionConfig::new(4, 3, 8).init::<f32>(&mut Rng::seed_from(0))?;
/// assert_eq!(att.w_key.shape(), &[8, 3]);
///
/// let err = AdditiveAttentionConfig::new(4, 4, 0).init::<f32>(&mut Rng::seed_from(0));
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "AdditiveAttention: attention_dim = 0, expected at least 1"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdditiveAttentionConfig {
    /// Query size Dq.
    pub dq: usize,
    /// Key size Dk.
    pub dk: usize,
    /// Hidden units A of the scoring layer.
    pub attention_dim: usize,
}

impl AdditiveAttentionConfig {
    /// Attention of queries of size `dq` over keys of size `dk` through
    /// `attention_dim` hidden units.
    pub fn new(dq: usize, dk: usize, attention_dim: usize) -> Self {
        AdditiveAttentionConfig {
            dq,
            dk,
            attention_dim,
        }
    }

    /// The layer, its tensors drawn from `rng` (`W_query`, `W_key`,
    /// `bias`, `v_score`, in that order).
    ///
    /// # Errors
    /// If `dq`, `dk` or `attention_dim` is 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<AdditiveAttention<T>> {
        let (dq, dk, attention_dim) = (self.dq, self.dk, self.attention_dim);
        require_sizes(
            "AdditiveAttention",
            &[("dq", dq), ("dk", dk), ("attention_dim", attention_dim)],
        )?;
        let u = |shape: &[usize], fan: usize, rng: &mut Rng| {
            let a = 1.0 / (fan as f64).sqrt();
            Parameter::new(Tensor::rand_uniform(shape, -a, a, rng))
        };
        Ok(AdditiveAttention {
            w_query: u(&[attention_dim, dq], dq, rng),
            w_key: u(&[attention_dim, dk], dk, rng),
            bias: u(&[attention_dim], attention_dim, rng),
            v_score: u(&[attention_dim], attention_dim, rng),
        })
    }
}

/// Additive (Bahdanau et al. 2015) attention:
/// `e[n, j] = v · tanh(W_query·query[n] + W_key·keys[n, j] + bias)`,
/// `α = softmax_j(e)`, `context[n] = Σ_j α[n, j]·values[n, j]`. Built by
/// [`AdditiveAttentionConfig`].
#[derive(Clone, Debug, Module)]
pub struct AdditiveAttention<T: Element> {
    /// `W_query [A, Dq]`.
    #[module(name = "W_query")]
    pub w_query: Parameter<T>,
    /// `W_key [A, Dk]`.
    #[module(name = "W_key")]
    pub w_key: Parameter<T>,
    /// `bias [A]`.
    pub bias: Parameter<T>,
    /// `v_score [A]`.
    pub v_score: Parameter<T>,
}

impl<T: Element> AdditiveAttention<T> {
    /// The scores `e [N, S]` of `query [N, Dq]` against `keys [N, S, Dk]`.
    pub fn scores(&self, query: &Var<T>, keys: &Var<T>) -> Result<Var<T>> {
        additive_scores(
            query,
            keys,
            &self.w_query.var(),
            &self.w_key.var(),
            &self.bias.var(),
            &self.v_score.var(),
        )
    }

    /// `(context [N, Dv], weights [N, S])`; `mask [N, S]`, `true` = ignored key.
    pub fn try_forward(
        &self,
        query: &Var<T>,
        keys: &Var<T>,
        values: &Var<T>,
        mask: Option<&Mask>,
    ) -> Result<(Var<T>, Var<T>)> {
        soft_attention(&self.scores(query, keys)?, values, mask)
    }
}

/// The functional form of [`AdditiveAttention::scores`], on caller-owned
/// weights: `e[n, j] = v_score · tanh(w_query·query[n] + w_key·keys[n, j] + bias)`.
pub fn additive_scores<T: Element>(
    query: &Var<T>,
    keys: &Var<T>,
    w_query: &Var<T>,
    w_key: &Var<T>,
    bias: &Var<T>,
    v_score: &Var<T>,
) -> Result<Var<T>> {
    if query.ndim() != 2 || keys.ndim() != 3 || query.shape()[0] != keys.shape()[0] {
        return Err(TensorError::shapes(
            "additive_scores",
            query.shape(),
            keys.shape(),
            "query must be [N, Dq] and keys [N, S, Dk]",
        ));
    }
    let (n, s) = (keys.shape()[0], keys.shape()[1]);
    let a = bias.shape()[0];
    let qp = query.try_matmul_t(w_query, false, true)?; // [N, A]
    let kp = keys.try_matmul_t(w_key, false, true)?; // [N, S, A]
    let hidden = kp.try_add(&qp.reshape([n, 1, a]))?.try_add(bias)?.tanh();
    Ok(hidden
        .try_matmul_t(&v_score.reshape([a, 1]), false, false)?
        .reshape([n, s]))
}
