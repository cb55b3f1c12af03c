//! [`DataLoader`]: mini-batches of a data set, reshuffled every epoch.
//!
//! Full-batch gradient descent, stochastic gradient descent and mini-batch
//! gradient descent are one training loop with three batch sizes:
//!
//! | method | batch size | updates per epoch |
//! |---|---|---|
//! | full-batch (batch) gradient descent | `N` (the whole training set) | 1 |
//! | stochastic gradient descent | `1` | `N` |
//! | mini-batch gradient descent | `B` (typically 32–256) | `ceil(N / B)` |
//!
//! ```
//! use nn_data::{DataLoader, TensorDataset};
//! use nn_tensor::Tensor;
//! let x = Tensor::<f32>::zeros(&[10, 3]);
//! let ds = TensorDataset::classification(x, vec![0; 10]).unwrap();
//! for batch_size in [10, 1, 4] {
//!     let loader = DataLoader::new(&ds, batch_size).unwrap().shuffle(42);
//!     let mut updates = 0;
//!     for epoch in 0..2 {
//!         for batch in loader.epoch(epoch) {
//!             let batch = batch.unwrap();
//!             assert!(batch.features.shape()[0] <= batch_size);
//!             updates += 1; // forward, backward and an optimiser step go here
//!         }
//!     }
//!     assert_eq!(updates, 2 * loader.num_batches());
//! }
//! ```

use crate::dataset::BatchDataset;
use crate::error::{DataError, Result};

/// Yields a data set in mini-batches, like PyTorch's `DataLoader`.
///
/// With [`DataLoader::shuffle`], the order of epoch `e` is a permutation that
/// depends only on the seed and `e`: the same seed gives the same batches on
/// every run, each epoch sees a different order, and a run resumed at epoch
/// `e` (even mid-epoch, with [`Batches::skip_batches`]) sees exactly the
/// batches the uninterrupted run would have. Without it, samples come in
/// data-set order.
///
/// Each batch is gathered into one contiguous buffer (one copy of the rows it
/// holds), so a batch costs one allocation for the features and one for the
/// targets.
///
/// ```
/// use nn_data::{DataLoader, TensorDataset};
/// use nn_tensor::Tensor;
/// let x = Tensor::<f64>::from_vec((0..10).map(f64::from).collect(), &[5, 2]);
/// let ds = TensorDataset::classification(x, vec![0, 1, 0, 1, 0]).unwrap();
/// let loader = DataLoader::new(ds, 2).unwrap().drop_last(true);
/// let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
/// assert_eq!(batches.len(), 2); // the fifth sample is dropped
/// assert_eq!(batches[1].features.to_vec(), vec![4., 5., 6., 7.]);
/// assert_eq!(batches[1].classes(), &[0, 1]);
/// ```
#[derive(Clone, Debug)]
pub struct DataLoader<D> {
    dataset: D,
    batch_size: usize,
    seed: Option<u64>,
    drop_last: bool,
}

impl<D: BatchDataset> DataLoader<D> {
    /// A loader over `dataset` with the given batch size, in data-set order
    /// and keeping a last smaller batch. Errors when `batch_size` is 0.
    /// A batch size larger than the data set gives one batch of everything.
    pub fn new(dataset: D, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(DataError::invalid(
                "DataLoader::new",
                "batch_size must be at least 1, got 0",
            ));
        }
        Ok(DataLoader {
            dataset,
            batch_size,
            seed: None,
            drop_last: false,
        })
    }

    /// A loader giving the whole data set as one batch (full-batch gradient descent).
    pub fn full_batch(dataset: D) -> Self {
        let batch_size = dataset.len().max(1);
        DataLoader {
            dataset,
            batch_size,
            seed: None,
            drop_last: false,
        }
    }

    /// Shuffles every epoch with an order derived from `seed` and the epoch number.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// When true, drops the last batch if it is smaller than the batch size
    /// (so every update averages over the same number of samples).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The data set.
    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits the samples (a permutation of
    /// `0..len`, or the identity without shuffling).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let n = self.dataset.len();
        match self.seed {
            Some(seed) => nn_tensor::Rng::seed_from(epoch_seed(seed, epoch)).permutation(n),
            None => (0..n).collect(),
        }
    }

    /// The batches of epoch `epoch` (counting from 0).
    pub fn epoch(&self, epoch: u64) -> Batches<'_, D> {
        Batches {
            loader: self,
            order: self.order(epoch),
            next: 0,
            end: self.num_batches(),
        }
    }
}

/// A seed for one epoch's shuffle, mixing the loader's seed and the epoch
/// with SplitMix64 so nearby seeds and epochs give unrelated orders.
fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    splitmix64(seed ^ splitmix64(epoch.wrapping_add(0x6A09_E667_F3BC_C909)))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The batches of one epoch, from [`DataLoader::epoch`]. Batches are gathered
/// lazily, so skipping ahead costs nothing.
#[derive(Debug)]
pub struct Batches<'a, D> {
    loader: &'a DataLoader<D>,
    order: Vec<usize>,
    next: usize,
    end: usize,
}

impl<D: BatchDataset> Batches<'_, D> {
    /// Skips the first `n` batches without gathering them: to resume an
    /// epoch that was interrupted after `n` batches.
    pub fn skip_batches(mut self, n: usize) -> Self {
        self.next = self.next.saturating_add(n).min(self.end);
        self
    }
}

impl<D: BatchDataset> Iterator for Batches<'_, D> {
    type Item = Result<D::Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let bs = self.loader.batch_size;
        let start = self.next * bs;
        let stop = (start + bs).min(self.order.len());
        self.next += 1;
        Some(self.loader.dataset.get_batch(&self.order[start..stop]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.next;
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.next = self.next.saturating_add(n).min(self.end);
        self.next()
    }
}

impl<D: BatchDataset> ExactSizeIterator for Batches<'_, D> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorDataset;
    use nn_tensor::Tensor;

    fn ds(n: usize) -> TensorDataset<f32> {
        let x = Tensor::from_vec((0..2 * n).map(|i| i as f32).collect(), &[n, 2]);
        TensorDataset::classification(x, (0..n).collect()).unwrap()
    }

    /// The sample indices an epoch visits, read back from the class labels (label i = sample i).
    fn visited(loader: &DataLoader<&TensorDataset<f32>>, epoch: u64) -> Vec<Vec<usize>> {
        loader
            .epoch(epoch)
            .map(|b| b.unwrap().classes().to_vec())
            .collect()
    }

    #[test]
    fn batch_size_zero_is_an_error() {
        let d = ds(3);
        let e = DataLoader::new(&d, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "DataLoader::new: batch_size must be at least 1, got 0"
        );
    }

    #[test]
    fn unshuffled_batches_cover_everything_in_order() {
        let d = ds(7);
        let l = DataLoader::new(&d, 3).unwrap();
        assert_eq!(l.num_batches(), 3);
        assert_eq!(visited(&l, 0), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        let b = l.epoch(0).nth(1).unwrap().unwrap();
        assert_eq!(b.features.shape(), &[3, 2]);
        assert_eq!(b.features.to_vec(), vec![6., 7., 8., 9., 10., 11.]);
    }

    #[test]
    fn drop_last_drops_the_short_batch() {
        let d = ds(7);
        let l = DataLoader::new(&d, 3).unwrap().drop_last(true);
        assert_eq!(l.num_batches(), 2);
        assert_eq!(visited(&l, 0).concat(), vec![0, 1, 2, 3, 4, 5]);
        // A batch bigger than the data set: one batch, or none with drop_last.
        assert_eq!(DataLoader::new(&d, 10).unwrap().num_batches(), 1);
        assert_eq!(
            DataLoader::new(&d, 10)
                .unwrap()
                .drop_last(true)
                .num_batches(),
            0
        );
    }

    #[test]
    fn shuffling_is_a_permutation_that_changes_each_epoch() {
        let d = ds(50);
        let l = DataLoader::new(&d, 8).unwrap().shuffle(3);
        let e0 = visited(&l, 0).concat();
        let e1 = visited(&l, 1).concat();
        let mut sorted = e0.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(e0, (0..50).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        let other_seed = DataLoader::new(&d, 8).unwrap().shuffle(4);
        assert_ne!(visited(&other_seed, 0).concat(), e0);
    }

    #[test]
    fn epoch_order_depends_only_on_seed_and_epoch() {
        let d = ds(30);
        let a = DataLoader::new(&d, 4).unwrap().shuffle(9);
        // A fresh loader asked directly for epoch 5 (a resumed run) agrees
        // with one that went through epochs 0..5 first.
        for e in 0..5 {
            let _ = visited(&a, e);
        }
        let a5 = visited(&a, 5);
        let b = DataLoader::new(&d, 4).unwrap().shuffle(9);
        assert_eq!(visited(&b, 5), a5);
        // Resuming mid-epoch gives the remaining batches.
        let rest: Vec<Vec<usize>> = b
            .epoch(5)
            .skip_batches(3)
            .map(|x| x.unwrap().classes().to_vec())
            .collect();
        assert_eq!(rest, a5[3..].to_vec());
        assert_eq!(b.epoch(5).skip_batches(3).len(), a5.len() - 3);
    }

    #[test]
    fn full_batch_stochastic_and_mini_batch_see_every_sample_once() {
        let d = ds(10);
        for (loader, batches) in [
            (DataLoader::full_batch(&d), 1),
            (DataLoader::new(&d, 1).unwrap(), 10),
            (DataLoader::new(&d, 4).unwrap(), 3),
        ] {
            let loader = loader.shuffle(1);
            let seen = visited(&loader, 0);
            assert_eq!(seen.len(), batches);
            let mut all = seen.concat();
            all.sort_unstable();
            assert_eq!(all, (0..10).collect::<Vec<_>>());
        }
    }
}
