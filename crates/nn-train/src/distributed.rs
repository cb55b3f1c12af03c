//! Training across processes: [`DataParallelism`], what
//! [`Trainer::with_distributed`](crate::Trainer::with_distributed) needs from
//! a data-parallel group. The `nn-distributed` crate implements it on MPI
//! (`DataParallel`); this crate stays free of any transport.
//!
//! In a distributed run every rank holds a replica of the model and runs the
//! same loop: each global batch is split into micro-batches, each rank
//! computes the gradients of its own, and the group averages them, so the
//! optimiser steps identically everywhere. Rank 0 (the root) shows progress,
//! writes history files and checkpoints, and decides when to stop: its
//! decision (early stopping, a checkpoint) is broadcast, so all ranks stop
//! after the same epoch. Validation runs on every rank over the whole
//! validation loader, so every rank records the same metrics.

use nn_autograd::{Gradients, Var};
use nn_data::{Batch, Shard, ShardBatch};
use nn_tensor::Element;

/// A micro-batch's training loss, or the reason it could not be computed.
pub type MicroBatchLoss<'a, T> = dyn FnMut(&Batch<T>) -> Result<Var<T>, String> + 'a;

/// One global batch's gradients, averaged over the group.
#[derive(Clone, Debug)]
pub struct ReducedGradients<T: Element> {
    /// The gradient of the global batch's mean loss, the same on every rank.
    pub gradients: Gradients<T>,
    /// The global batch's mean loss, the same on every rank.
    pub loss: f64,
}

/// A data-parallel group as the training loop sees it. Every rank must
/// call the same methods in the same order, as with MPI collectives.
pub trait DataParallelism<T: Element> {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn ranks(&self) -> usize;

    /// Which micro-batches of every global batch this rank reads (see
    /// [`DataLoader::epoch_shard`](nn_data::DataLoader::epoch_shard)).
    fn shard(&self) -> Shard;

    /// Copies rank 0's parameters to every rank.
    fn broadcast_parameters(&mut self);

    /// Runs `loss` on each of this rank's micro-batches of `batch`,
    /// back-propagates, and averages the gradients over the whole global
    /// batch and every rank. An error on any rank is an error on all of them.
    fn reduce_gradients(
        &mut self,
        batch: &ShardBatch<Batch<T>>,
        loss: &mut MicroBatchLoss<'_, T>,
    ) -> Result<ReducedGradients<T>, String>;

    /// Copies rank 0's `bytes` into every rank's `bytes` (same length everywhere).
    fn broadcast_from_root(&self, bytes: &mut [u8]);

    /// Waits until every rank has reached this call.
    fn barrier(&self);
}
