//! [`DataParallel`] as the data parallelism of `nn-train`'s `Trainer`
//! (`Trainer::with_distributed`): the trainer then shards every global
//! batch, averages the gradients through this crate's ordered all-reduce,
//! and broadcasts rank 0's decisions (stop, checkpoint) to every rank.

use nn_data::{Batch, Shard, ShardBatch};
use nn_train::{DataParallelism, MicroBatchLoss, ReducedGradients};

use crate::communicator::Communicator;
use crate::data_parallel::DataParallel;
use crate::reduce::WireElement;

impl<T: WireElement, C: Communicator> DataParallelism<T> for DataParallel<T, C> {
    fn rank(&self) -> usize {
        self.comm().rank()
    }

    fn ranks(&self) -> usize {
        self.comm().size()
    }

    fn shard(&self) -> Shard {
        DataParallel::shard(self)
    }

    fn broadcast_parameters(&mut self) {
        DataParallel::broadcast_parameters(self)
    }

    fn reduce_gradients(
        &mut self,
        batch: &ShardBatch<Batch<T>>,
        loss: &mut MicroBatchLoss<'_, T>,
    ) -> Result<ReducedGradients<T>, String> {
        let step = self.gradients(batch, loss).map_err(|e| e.to_string())?;
        Ok(ReducedGradients {
            gradients: step.gradients,
            loss: step.loss,
        })
    }

    fn broadcast_from_root(&self, bytes: &mut [u8]) {
        self.comm().broadcast(0, bytes)
    }

    fn barrier(&self) {
        self.comm().barrier()
    }
}
