//! W8: the W2 MLP step (784-256-128-10, ReLU, cross-entropy, SGD at lr
//! 0.01) on a global batch of 256, data-parallel: one process with 2
//! threads against 2 MPI ranks with 1 thread each, the same arithmetic.
//!
//! The portable part lives here (it runs on any [`Communicator`], and its
//! tests on [`nn_distributed::SingleProcess`]); the `w8_ddp` binary (feature
//! `distributed`, needs Open MPI) times it under `mpirun`.

use nn_autograd::{Parameter, Var};
use nn_data::{Batch, DataLoader, ShardBatch, TensorDataset};
use nn_distributed::{
    Communicator, DataParallel, DataParallelConfig, ReduceAlgorithm, ReducedStep,
};
use nn_tensor::{Rng, Tensor};

use crate::w2_mlp::{sgd_step, Mlp, LR, SIZES};

/// Samples per step, all ranks together.
pub const GLOBAL_BATCH: usize = 256;

/// W2's model from seed 0 and a fixed global batch: inputs U[-1, 1) and
/// uniform labels from seed 1, as in W2.
fn model_and_data() -> (Mlp, TensorDataset<f32>) {
    let model = Mlp::new(&SIZES, 0);
    let mut rng = Rng::seed_from(1);
    let x = Tensor::rand_uniform(&[GLOBAL_BATCH, SIZES[0]], -1.0, 1.0, &mut rng);
    let classes = SIZES[SIZES.len() - 1];
    let y = (0..GLOBAL_BATCH).map(|_| rng.below(classes)).collect();
    let data = TensorDataset::classification(x, y).expect("one label per row");
    (model, data)
}

fn loss(model: &Mlp, b: &Batch<f32>) -> Var<f32> {
    model
        .forward(&Var::constant(b.features.clone()))
        .cross_entropy(b.classes())
}

/// The single-process step: W2's step on the whole global batch.
pub struct SingleStep {
    model: Mlp,
    batch: Batch<f32>,
}

impl SingleStep {
    /// The model and the global batch.
    pub fn new() -> SingleStep {
        let (model, data) = model_and_data();
        let batch = DataLoader::new(&data, GLOBAL_BATCH)
            .expect("batch size")
            .epoch(0)
            .next()
            .expect("one batch")
            .expect("gathering the batch");
        SingleStep { model, batch }
    }

    /// Forward, backward and SGD on the global batch; returns the loss.
    pub fn step(&self) -> f32 {
        let l = loss(&self.model, &self.batch);
        let value = l.value().item();
        let grads = l.backward();
        drop(l);
        sgd_step(&self.model.parameters(), &grads, LR);
        value
    }
}

impl Default for SingleStep {
    fn default() -> Self {
        SingleStep::new()
    }
}

/// The data-parallel step: each rank computes its `GLOBAL_BATCH / ranks`
/// rows (one micro-batch), the gradients are all-reduced, every rank
/// steps.
pub struct DataParallelStep<C: Communicator> {
    model: Mlp,
    params: Vec<Parameter<f32>>,
    ddp: DataParallel<f32, C>,
    batch: ShardBatch<Batch<f32>>,
}

impl<C: Communicator> DataParallelStep<C> {
    /// The model, this rank's rows of the global batch, and the
    /// all-reduce over `comm`.
    pub fn new(comm: C, algorithm: ReduceAlgorithm) -> DataParallelStep<C> {
        let (model, data) = model_and_data();
        let params: Vec<Parameter<f32>> = model.parameters().into_iter().cloned().collect();
        let named = params
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("p{i}"), p.clone()))
            .collect();
        let ranks = comm.size();
        let config = DataParallelConfig {
            algorithm,
            ..DataParallelConfig::with_micro_batches(ranks)
        };
        let ddp = DataParallel::new(comm, named, config).expect("the same model on every rank");
        let batch = DataLoader::new(&data, GLOBAL_BATCH)
            .expect("batch size")
            .epoch_shard(0, ddp.shard())
            .next()
            .expect("one batch")
            .expect("gathering the batch");
        DataParallelStep {
            model,
            params,
            ddp,
            batch,
        }
    }

    /// This rank's forward and backward, the all-reduce, SGD; returns the
    /// step's loss and where its time went.
    pub fn step(&mut self) -> ReducedStep<f32> {
        let model = &self.model;
        let step = self
            .ddp
            .gradients(&self.batch, |b| Ok::<_, String>(loss(model, b)))
            .expect("a data-parallel step");
        let refs: Vec<&Parameter<f32>> = self.params.iter().collect();
        sgd_step(&refs, &step.gradients, LR);
        step
    }

    /// The communicator.
    pub fn comm(&self) -> &C {
        self.ddp.comm()
    }

    /// Bytes each rank's all-reduce sends per step: `2·(R−1)/R` of the
    /// gradient vector for the reduce-scatter, `R−1` vectors for the
    /// gather-and-sum (with MPI's usual ring or pairwise collectives).
    pub fn bytes_sent_per_step(&self) -> usize {
        let r = self.ddp.comm().size();
        let bytes = self.ddp.gradient_elems() * std::mem::size_of::<f32>();
        match self.ddp.config().algorithm {
            ReduceAlgorithm::GatherSum => (r - 1) * bytes,
            ReduceAlgorithm::Auto if r <= 2 => (r - 1) * bytes,
            _ => 2 * (r - 1) * bytes / r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_distributed::SingleProcess;

    /// On one rank the data-parallel step is W2's step on the global batch:
    /// the same loss sequence to rounding.
    #[test]
    fn one_rank_follows_the_single_process_step() {
        let single = SingleStep::new();
        let mut ddp = DataParallelStep::new(SingleProcess, ReduceAlgorithm::GatherSum);
        for _ in 0..3 {
            let a = single.step();
            let b = ddp.step().loss as f32;
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(ddp.bytes_sent_per_step(), 0);
    }
}
