//! The generator a distributed run hands each step (`StepContext::rng`):
//! one per micro-batch, derived from the trainer's seed, the epoch, the
//! batch and the micro-batch's index in the global batch (see
//! `Trainer::with_distributed`). So a micro-batch draws the same numbers
//! whichever rank computes it and however many ranks there are, a seed
//! reproduces every draw, and no two micro-batches share a stream.
//!
//! Checked in one process with a stand-in group playing one rank of `R`;
//! the MPI group itself runs under mpirun in nn-distributed's tests.

use std::collections::BTreeMap;

use nn_data::{Batch, DataLoader, Shard, ShardBatch, TensorDataset};
use nn_layers::prelude::*;
use nn_optim::AdamConfig;
use nn_train::{
    DataParallelism, Evaluation, MicroBatchLoss, ReducedGradients, StepContext, Trainer,
};

const MICRO_BATCHES: usize = 4;

/// Rank `rank` of `ranks`, exchanging nothing: it runs the loss on its own
/// micro-batches and steps on their gradients alone. The weights then
/// differ from rank to rank, but the generators do not depend on them.
struct LoneRank(Shard);

impl DataParallelism<f64> for LoneRank {
    fn rank(&self) -> usize {
        self.0.rank()
    }

    fn ranks(&self) -> usize {
        self.0.ranks()
    }

    fn shard(&self) -> Shard {
        self.0
    }

    fn broadcast_parameters(&mut self) {}

    fn reduce_gradients(
        &mut self,
        batch: &ShardBatch<Batch<f64>>,
        loss: &mut MicroBatchLoss<'_, f64>,
    ) -> Result<ReducedGradients<f64>, String> {
        let mut total: Option<Var<f64>> = None;
        for micro in batch.micro_batches.iter().flatten() {
            let l = loss(micro)?;
            total = Some(match total {
                Some(t) => t.add(&l),
                None => l,
            });
        }
        let total = total.ok_or("the rank holds no rows of this batch")?;
        let value = total.value().item();
        Ok(ReducedGradients {
            gradients: total.backward(),
            loss: value,
        })
    }

    fn broadcast_from_root(&self, _bytes: &mut [u8]) {}

    fn barrier(&self) {}
}

/// What each step drew, keyed by (epoch, batch, the micro-batch's rows):
/// row `i` of the data set holds the feature `i`.
type Draws = BTreeMap<(usize, usize, Vec<u64>), u64>;

/// Trains two epochs of three batches of 4 rows, cut into 4 micro-batches,
/// as rank `rank` of `ranks`, recording the first draw of every step.
fn draws(seed: u64, rank: usize, ranks: usize) -> Draws {
    let rows = 12;
    let x = Tensor::<f64>::from_vec((0..rows).map(|i| i as f64).collect(), &[rows, 1]);
    let y = Tensor::<f64>::zeros(&[rows, 1]);
    let data = TensorDataset::regression(x, y).unwrap();
    let loader = DataLoader::new(&data, 4).unwrap().shuffle(5);
    let model = LinearConfig::new(1, 1)
        .init::<f64>(&mut Rng::seed_from(0))
        .unwrap();
    let mut opt = AdamConfig::new(0.01)
        .init(model.named_parameters())
        .unwrap();
    let mut seen = Draws::new();
    let step = |m: &Linear<f64>, b: &Batch<f64>, ctx: &mut StepContext<'_>| {
        let rows = b.features.as_slice().iter().map(|&r| r as u64).collect();
        let first = seen.insert((ctx.epoch, ctx.batch, rows), ctx.rng.next_u64());
        assert!(first.is_none(), "a micro-batch ran twice");
        m.forward(&b.features).square().sum()
    };
    let evaluate = |m: &Linear<f64>, b: &Batch<f64>| {
        let out = m.forward(&b.features);
        Evaluation::new(&out.square().mean(), &out)
    };
    let group = LoneRank(Shard::new(rank, ranks, MICRO_BATCHES).unwrap());
    Trainer::custom(&model, &mut opt, step, evaluate)
        .epochs(2)
        .seed(seed)
        .with_distributed(group)
        .quiet()
        .fit_without_validation(&loader)
        .unwrap();
    seen
}

#[test]
fn each_micro_batch_draws_from_its_own_generator_whatever_the_rank() {
    let one = draws(7, 0, 1);
    // 2 epochs × 3 batches × 4 micro-batches, each with its own stream.
    assert_eq!(one.len(), 24);
    let mut firsts: Vec<u64> = one.values().copied().collect();
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(firsts.len(), 24, "two micro-batches drew the same number");

    // The same micro-batch draws the same on any rank of any rank count.
    for ranks in [2, 4] {
        let mut union = Draws::new();
        for rank in 0..ranks {
            let mine = draws(7, rank, ranks);
            assert_eq!(mine.len(), 24 / ranks, "rank {rank} of {ranks}");
            union.extend(mine);
        }
        assert_eq!(union, one, "{ranks} ranks");
    }

    // The seed reproduces every draw, and another seed changes them all.
    assert_eq!(draws(7, 0, 1), one);
    let other = draws(8, 0, 1);
    assert_eq!(
        other.keys().collect::<Vec<_>>(),
        one.keys().collect::<Vec<_>>()
    );
    assert!(other.iter().all(|(k, v)| one[k] != *v));
}
