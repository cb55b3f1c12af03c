//! # nn-graph: graph neural networks
//!
//! The course extends the recurrence from chains to trees and then to
//! graphs (section 5.3): a node's new state combines its neighbours' states
//! through one shared layer. This crate holds the graph side (the tree side
//! is `nn_rnn::TreeRnn`):
//!
//! * [`Edges`]: a graph as PyTorch Geometric's `edge_index`, and the
//!   matrices built from it (adjacency, GCN normalisation, mean
//!   aggregation); [`GraphBatch`] for several graphs at once;
//! * [`Csr`]: sparse matrices in CSR form, with the differentiable sparse ×
//!   dense product [`Csr::matmul`];
//! * [`GcnConv`] (Kipf & Welling), [`SageConv`] (GraphSAGE, mean
//!   aggregator), and the readout [`global_mean_pool`];
//! * [`datasets`]: Zachary's karate club, embedded.
//!
//! ```
//! use nn_graph::{Edges, GcnConvConfig};
//! use nn_tensor::{Rng, Tensor};
//! let mut rng = Rng::seed_from(0);
//! // A triangle 0-1-2 with a tail 2-3; one-hot node features.
//! let edges = Edges::undirected(4, &[(0, 1), (1, 2), (0, 2), (2, 3)]).unwrap();
//! let a_hat = edges.gcn_normalized::<f64>(true);
//! let (gcn1, gcn2) = (
//!     GcnConvConfig::new(4, 8).init::<f64>(&mut rng).unwrap(),
//!     GcnConvConfig::new(8, 2).init::<f64>(&mut rng).unwrap(),
//! );
//! let x = Tensor::eye(4);
//! let logits = gcn2.forward(&a_hat, &gcn1.forward(&a_hat, &x).relu());
//! let loss = logits.cross_entropy(&[0, 0, 1, 1]);
//! let grads = loss.backward();
//! assert_eq!(grads.get(&gcn1.weight.var()).unwrap().shape(), &[8, 4]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod datasets;
pub mod edges;
pub mod layers;
pub mod sparse;

pub use edges::{Edges, GraphBatch};
pub use layers::{gcn_conv, global_mean_pool, GcnConv, GcnConvConfig, SageConv, SageConvConfig};
pub use sparse::Csr;
