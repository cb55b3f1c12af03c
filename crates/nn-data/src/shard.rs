//! Sharded loading for data-parallel training: each rank reads only its own
//! part of every global batch, and the global batches are exactly those of
//! the single-process run.
//!
//! A global batch (the rows `b·B .. (b+1)·B` of the epoch's permutation,
//! [`DataLoader::order`]) is cut into a fixed number `M` of *micro-batches*
//! (micro-batch `i` holds the rows `⌊i·L/M⌋ .. ⌊(i+1)·L/M⌋` of a batch of
//! `L` rows), and rank `r` of `R` reads the `M/R` consecutive micro-batches
//! `r·M/R ..`. The cut depends on `M` only, never on `R`: a run on 1, 2 or 4
//! ranks computes the same micro-batch gradients, which is what lets the
//! gradient reduction give bit-identical results for every rank count.
//!
//! ```
//! use nn_data::{DataLoader, Shard, TensorDataset};
//! use nn_tensor::Tensor;
//! let x = Tensor::<f32>::zeros(&[10, 2]);
//! let ds = TensorDataset::classification(x, (0..10).collect()).unwrap();
//! let loader = DataLoader::new(&ds, 8).unwrap().shuffle(3);
//! let whole = loader.epoch(0).next().unwrap().unwrap();
//! // Two ranks, four micro-batches per global batch: rank 1 reads the last two.
//! let shard = Shard::new(1, 2, 4).unwrap();
//! let mine = loader.epoch_shard(0, shard).next().unwrap().unwrap();
//! assert_eq!(mine.global_len, 8);
//! let rows: Vec<usize> = mine.micro_batches.iter().flatten().flat_map(|b| b.classes().to_vec()).collect();
//! assert_eq!(rows, whole.classes()[4..].to_vec());
//! ```

use std::ops::Range;

use crate::dataset::BatchDataset;
use crate::error::{DataError, Result};
use crate::loader::DataLoader;

/// Which part of every global batch a rank reads: rank `rank` of `ranks`,
/// with each global batch cut into `micro_batches` micro-batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    rank: usize,
    ranks: usize,
    micro_batches: usize,
}

impl Shard {
    /// Rank `rank` of `ranks`, `micro_batches` micro-batches per global
    /// batch. Errors unless `rank < ranks` and `ranks` divides `micro_batches`.
    pub fn new(rank: usize, ranks: usize, micro_batches: usize) -> Result<Shard> {
        if ranks == 0 || rank >= ranks {
            return Err(DataError::invalid(
                "Shard::new",
                format!("rank {rank} is not one of {ranks} ranks"),
            ));
        }
        if micro_batches == 0 || !micro_batches.is_multiple_of(ranks) {
            return Err(DataError::invalid(
                "Shard::new",
                format!(
                    "the micro-batch count {micro_batches} must be a positive multiple of the rank count {ranks}"
                ),
            ));
        }
        Ok(Shard {
            rank,
            ranks,
            micro_batches,
        })
    }

    /// This shard's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// Micro-batches per global batch (all ranks together).
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// The global indices of the micro-batches this rank reads.
    pub fn owned(&self) -> Range<usize> {
        let per_rank = self.micro_batches / self.ranks;
        self.rank * per_rank..(self.rank + 1) * per_rank
    }

    /// The rows `start..end` of micro-batch `index` within a global batch of `len` rows.
    pub fn micro_batch_rows(&self, index: usize, len: usize) -> Range<usize> {
        let m = self.micro_batches;
        index * len / m..(index + 1) * len / m
    }
}

/// One rank's part of one global batch, from [`DataLoader::epoch_shard`].
#[derive(Clone, Debug, PartialEq)]
pub struct ShardBatch<B> {
    /// The rank's micro-batches in order (global indices
    /// [`Shard::owned`]); `None` for an empty one (a last, short global
    /// batch with fewer rows than micro-batches).
    pub micro_batches: Vec<Option<B>>,
    /// The number of rows of each of the rank's micro-batches.
    pub sizes: Vec<usize>,
    /// The number of rows of the whole global batch (all ranks).
    pub global_len: usize,
}

impl<B> ShardBatch<B> {
    /// The number of rows this rank holds.
    pub fn local_len(&self) -> usize {
        self.sizes.iter().sum()
    }
}

impl<D: BatchDataset> DataLoader<D> {
    /// The batches of epoch `epoch` as rank `shard.rank()` sees them: the
    /// global batches are those of [`DataLoader::epoch`], and each rank
    /// gathers only the rows of its own micro-batches.
    pub fn epoch_shard(&self, epoch: u64, shard: Shard) -> ShardedBatches<'_, D> {
        ShardedBatches {
            loader: self,
            shard,
            order: self.order(epoch),
            next: 0,
            end: self.num_batches(),
        }
    }
}

/// The rank's parts of one epoch's batches, from [`DataLoader::epoch_shard`].
#[derive(Debug)]
pub struct ShardedBatches<'a, D> {
    loader: &'a DataLoader<D>,
    shard: Shard,
    order: Vec<usize>,
    next: usize,
    end: usize,
}

impl<D: BatchDataset> ShardedBatches<'_, D> {
    /// Skips the first `n` global batches without gathering them (to resume
    /// an interrupted epoch).
    pub fn skip_batches(mut self, n: usize) -> Self {
        self.next = self.next.saturating_add(n).min(self.end);
        self
    }
}

impl<D: BatchDataset> Iterator for ShardedBatches<'_, D> {
    type Item = Result<ShardBatch<D::Batch>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let bs = self.loader.batch_size();
        let start = self.next * bs;
        let global = &self.order[start..(start + bs).min(self.order.len())];
        self.next += 1;
        let mut micro_batches = Vec::new();
        let mut sizes = Vec::new();
        for index in self.shard.owned() {
            let rows = &global[self.shard.micro_batch_rows(index, global.len())];
            sizes.push(rows.len());
            micro_batches.push(if rows.is_empty() {
                None
            } else {
                match self.loader.dataset().get_batch(rows) {
                    Ok(b) => Some(b),
                    Err(e) => return Some(Err(e)),
                }
            });
        }
        Some(Ok(ShardBatch {
            micro_batches,
            sizes,
            global_len: global.len(),
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.next;
        (left, Some(left))
    }
}

impl<D: BatchDataset> ExactSizeIterator for ShardedBatches<'_, D> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorDataset;
    use nn_tensor::Tensor;

    fn ds(n: usize) -> TensorDataset<f32> {
        let x = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n, 1]);
        TensorDataset::classification(x, (0..n).collect()).unwrap()
    }

    /// The sample indices (labels) of each global batch, as rank `rank` of `ranks` reads them.
    fn rows(
        l: &DataLoader<&TensorDataset<f32>>,
        rank: usize,
        ranks: usize,
        m: usize,
    ) -> Vec<Vec<usize>> {
        l.epoch_shard(2, Shard::new(rank, ranks, m).unwrap())
            .map(|b| {
                let b = b.unwrap();
                assert_eq!(b.micro_batches.len(), m / ranks);
                let got: Vec<usize> = b
                    .micro_batches
                    .iter()
                    .flatten()
                    .flat_map(|mb| mb.classes().to_vec())
                    .collect();
                assert_eq!(got.len(), b.local_len());
                got
            })
            .collect()
    }

    #[test]
    fn the_ranks_together_read_exactly_the_global_batches() {
        let d = ds(23);
        let l = DataLoader::new(&d, 8).unwrap().shuffle(5);
        let whole: Vec<Vec<usize>> = l.epoch(2).map(|b| b.unwrap().classes().to_vec()).collect();
        for ranks in [1, 2, 4] {
            let parts: Vec<Vec<Vec<usize>>> = (0..ranks).map(|r| rows(&l, r, ranks, 4)).collect();
            for (b, batch) in whole.iter().enumerate() {
                let joined: Vec<usize> = parts.iter().flat_map(|p| p[b].clone()).collect();
                assert_eq!(&joined, batch, "{ranks} ranks, batch {b}");
            }
        }
    }

    #[test]
    fn micro_batch_cuts_do_not_depend_on_the_rank_count() {
        // The last global batch has 7 rows: micro-batches of 1, 2, 2, 2 rows.
        let d = ds(15);
        let l = DataLoader::new(&d, 8).unwrap();
        let sizes = |rank, ranks| {
            l.epoch_shard(0, Shard::new(rank, ranks, 4).unwrap())
                .map(|b| b.unwrap().sizes)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(0, 1)[1], vec![1, 2, 2, 2]);
        assert_eq!(sizes(0, 2)[1], vec![1, 2]);
        assert_eq!(sizes(1, 2)[1], vec![2, 2]);
        assert_eq!(sizes(3, 4)[0], vec![2]);
        // A batch smaller than the micro-batch count leaves some empty.
        let tiny = ds(2);
        let l = DataLoader::new(&tiny, 8).unwrap();
        let b = l
            .epoch_shard(0, Shard::new(0, 1, 4).unwrap())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(b.sizes, vec![0, 1, 0, 1]);
        assert!(b.micro_batches[0].is_none() && b.micro_batches[1].is_some());
    }

    #[test]
    fn bad_shards_are_errors_naming_the_counts() {
        let e = Shard::new(2, 2, 4).unwrap_err();
        assert_eq!(e.to_string(), "Shard::new: rank 2 is not one of 2 ranks");
        let e = Shard::new(0, 3, 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Shard::new: the micro-batch count 4 must be a positive multiple of the rank count 3"
        );
    }

    #[test]
    fn skipping_resumes_mid_epoch() {
        let d = ds(40);
        let l = DataLoader::new(&d, 8).unwrap().shuffle(1);
        let s = Shard::new(1, 2, 2).unwrap();
        let all: Vec<_> = l.epoch_shard(3, s).map(|b| b.unwrap()).collect();
        let rest: Vec<_> = l
            .epoch_shard(3, s)
            .skip_batches(2)
            .map(|b| b.unwrap())
            .collect();
        assert_eq!(rest, all[2..].to_vec());
    }
}
