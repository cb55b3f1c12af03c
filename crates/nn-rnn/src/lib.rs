//! # nn-rnn: recurrent networks
//!
//! * [`RnnCell`], [`LstmCell`], [`GruCell`]: one step at a time;
//! * [`Rnn`], [`Lstm`], [`Gru`]: whole sequences, stacked, bidirectional,
//!   dropout between layers, variable-length batches, configured by
//!   built from [`RnnConfig`], [`LstmConfig`], [`GruConfig`];
//! * [`recurrence`](mod@recurrence): the fused op underneath (hand-written BPTT);
//! * [`RecurrentInit`]: orthogonal recurrent weights, LSTM forget-gate bias;
//! * [`stepwise`]: the layer-normalised and recurrent-dropout options
//!   (`with_layer_norm`, `with_recurrent_dropout`), step by step;
//! * [`truncated_bptt`]: carry the state across chunks without the graph;
//! * [`tree`]: recursive (tree) networks, [`TreeRnn`] over a [`Forest`] of
//!   binary [`Tree`]s, batched by height.
//!
//! Parameter names, shapes and gate order follow PyTorch (`weight_ih_l0`,
//! LSTM gates i, f, g, o; GRU gates r, z, n), so PyTorch weights load directly.
//!
//! ```
//! use nn_rnn::GruConfig;
//! use nn_autograd::Var;
//! use nn_tensor::{Rng, Tensor};
//! let gru = GruConfig::new(4, 8).with_num_layers(2).init::<f64>(&mut Rng::seed_from(0))?;
//! let x = Var::leaf(Tensor::ones(&[6, 3, 4])); // [seq, batch, input]
//! let (y, h_n) = gru.forward(&x, None);
//! assert_eq!((y.shape(), h_n.shape()), (&[6, 3, 8][..], &[2, 3, 8][..]));
//! let grads = y.sum().backward();
//! assert_eq!(grads.get(&x).unwrap().shape(), &[6, 3, 4]);
//! # Ok::<(), nn_tensor::TensorError>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod bptt;
pub mod cell;
pub mod init;
mod packed;
pub mod recurrence;
pub mod sequence;
pub mod stepwise;
pub mod tbptt;
pub mod tree;

pub use cell::{
    GruCell, GruCellConfig, LstmCell, LstmCellConfig, Nonlinearity, RnnCell, RnnCellConfig,
};
pub use init::{orthogonal, DirectionVars, DirectionWeights, RecurrentInit};
/// Re-exported so `named_parameters()`, `eval()` and friends need only this crate.
pub use nn_layers::Module;
pub use recurrence::{recurrence, CellKind, RecurrenceOutput};
pub use sequence::{
    recurrent_forward, Gru, GruConfig, Lstm, LstmConfig, LstmOutput, RecurrentConfig, Rnn,
    RnnConfig, SequenceOutput,
};
pub use tbptt::{time_chunks, truncated_bptt, Detach};
pub use tree::{tree_rnn, Forest, Tree, TreeRnn, TreeRnnConfig, TreeRnnOutput};
