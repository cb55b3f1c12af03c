//! # nn-distributed
//!
//! Data-parallel training for the `nn` deep-learning library across
//! processes and machines, on MPI (Open MPI through the `mpi` crate):
//!
//! * [`communicator`]: the [`Communicator`] trait (the collectives training
//!   needs) and [`SingleProcess`], the communicator of a plain program;
//! * `mpi_world` (feature `mpi`): `MpiCommunicator`, the world of a job
//!   started by `mpirun`, with the failure behaviour described there;
//! * [`reduce`]: the ordered, bucketed all-reduce whose result does not
//!   depend on the rank count;
//! * [`data_parallel`]: [`DataParallel`], one training step's gradients
//!   averaged across ranks, for a hand-written training loop;
//! * [`trainer`]: [`DataParallel`] as `nn-train`'s `DataParallelism`, so
//!   `Trainer::with_distributed(ddp)` trains across the ranks, rank 0
//!   deciding when to stop and writing checkpoints;
//! * [`watchdog`]: a timer on collectives, so a hung peer ends the job.
//!
//! Each rank holds a full replica of the model and reads its own part of
//! every global batch ([`nn_data::Shard`]); with the same seed and global
//! batch, training on 1, 2 or 4 ranks gives bit-identical weights.
//!
//! Without the `mpi` feature the crate builds without an MPI installation
//! and offers the single-process communicator: the same script then runs,
//! with the same results, as a plain program.
//!
//! ```
//! use nn_autograd::Parameter;
//! use nn_data::{DataLoader, TensorDataset};
//! use nn_distributed::{DataParallel, DataParallelConfig, SingleProcess};
//! use nn_tensor::Tensor;
//! // Under mpirun: `let comm = nn_distributed::MpiCommunicator::init()?;`
//! let comm = SingleProcess;
//! let x = Tensor::<f32>::from_vec((0..16).map(|i| i as f32 / 16.0).collect(), &[16, 1]);
//! let data = TensorDataset::regression(x.clone(), x.mul_scalar(2.0))?;
//! let w = Parameter::new(Tensor::<f32>::zeros(&[1, 1]));
//! let mut ddp = DataParallel::new(comm, vec![("w".into(), w.clone())], DataParallelConfig::with_micro_batches(4))?;
//! ddp.broadcast_parameters(); // every rank starts from rank 0's weights
//! let loader = DataLoader::new(&data, 8)?.shuffle(0);
//! for epoch in 0..50 {
//!     for batch in loader.epoch_shard(epoch, ddp.shard()) {
//!         let step = ddp.gradients(&batch?, |b| {
//!             Ok::<_, String>(b.inputs().matmul(&w.var()).mse_loss(b.targets()))
//!         })?;
//!         let g = step.gradients.get_id(w.id()).unwrap().clone();
//!         w.update(|v| v.as_mut_slice()[0] -= 0.5 * g.as_slice()[0]);
//!     }
//! }
//! assert!((w.value().as_slice()[0] - 2.0).abs() < 1e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod communicator;
pub mod data_parallel;
pub mod error;
#[cfg(feature = "mpi")]
pub mod mpi_world;
pub mod reduce;
pub mod trainer;
pub mod watchdog;

pub use communicator::{Communicator, SingleProcess};
pub use data_parallel::{DataParallel, DataParallelConfig, ReducedStep};
pub use error::{DistributedError, Result};
#[cfg(feature = "mpi")]
pub use mpi_world::MpiCommunicator;
pub use reduce::{AllReduce, ReduceAlgorithm, WireElement};
