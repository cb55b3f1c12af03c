//! [`DataParallel`]: the distributed part of a training step, for a
//! hand-written loop: broadcast the starting weights, compute this rank's
//! micro-batch gradients, and average them across ranks in a fixed order.
//!
//! A step on every rank:
//!
//! 1. the [`ShardBatch`] from [`DataLoader::epoch_shard`](nn_data::DataLoader::epoch_shard)
//!    holds this rank's micro-batches of the global batch;
//! 2. for each, the loss closure returns the micro-batch's *mean* loss and
//!    its backward pass is seeded with the micro-batch's share of the global
//!    batch (`rows / global rows`), so the shares add up to the gradient of
//!    the global mean loss;
//! 3. the rank adds its micro-batch gradients by the halving tree
//!    ([`tree_sum`]), then the ranks all-reduce the flat gradient vector in
//!    buckets ([`AllReduce`]), with a small status record of each rank
//!    (failure, loss, which parameters got a gradient) riding on the first
//!    bucket's last message;
//! 4. the caller hands the averaged [`Gradients`] to its optimiser, which
//!    then takes the same step on every rank.
//!
//! Step 3's status record is how a failure on one rank stops all of them:
//! a rank whose loss closure returns an error still takes part in the
//! exchange, flagged as failed with its message, and every rank returns the
//! same [`DistributedError::RankFailed`] from that step.
//!
//! The backward pass is not overlapped with the all-reduce: the autograd
//! graph hands back every gradient at once when the pass ends, so there is
//! no point where an early bucket is complete and the later ones are still
//! being computed.

use std::fmt::Display;
use std::time::Instant;

use nn_autograd::{Gradients, Parameter, Var};
use nn_data::{Shard, ShardBatch};
use nn_tensor::Tensor;

use crate::communicator::Communicator;
use crate::error::{DistributedError, Result};
use crate::reduce::{tree_sum, AllReduce, ReduceAlgorithm, WireElement};

/// The longest failure message a rank passes to the others, in bytes.
const MESSAGE_BYTES: usize = 240;

/// Settings of a [`DataParallel`] step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataParallelConfig {
    /// Micro-batches per global batch (all ranks together); the rank count
    /// must divide it. Runs with the same value give bit-identical weights
    /// for 1, 2, 4, … ranks (powers of two dividing it). Default 1 (each
    /// rank's shard is one micro-batch, fastest; no cross-count guarantee).
    pub micro_batches: usize,
    /// The largest all-reduce message, in elements. Default 4 Mi (16 MiB of f32).
    pub bucket_elems: usize,
    /// How the all-reduce moves data. Default [`ReduceAlgorithm::Auto`].
    pub algorithm: ReduceAlgorithm,
}

impl Default for DataParallelConfig {
    fn default() -> Self {
        DataParallelConfig {
            micro_batches: 1,
            bucket_elems: 4 << 20,
            algorithm: ReduceAlgorithm::Auto,
        }
    }
}

impl DataParallelConfig {
    /// The default settings with `micro_batches` micro-batches per global batch.
    pub fn with_micro_batches(micro_batches: usize) -> Self {
        DataParallelConfig {
            micro_batches,
            ..Self::default()
        }
    }
}

/// What [`DataParallel::gradients`] returns: the averaged gradients and the
/// global batch's mean loss, the same bits on every rank.
#[derive(Clone, Debug)]
pub struct ReducedStep<T: WireElement> {
    /// The gradient of the global batch's mean loss for every parameter
    /// that got one on some rank.
    pub gradients: Gradients<T>,
    /// The global batch's mean loss (the micro-batch losses weighted by their rows).
    pub loss: f64,
    /// Seconds this rank spent on its forward and backward passes.
    pub compute_seconds: f64,
    /// Seconds this rank spent exchanging the status and all-reducing
    /// (waiting for slower ranks included).
    pub communicate_seconds: f64,
}

/// Data-parallel training over a [`Communicator`]: every rank holds a full
/// replica of the model and the same optimiser; see the module docs.
///
/// ```
/// use nn_autograd::Parameter;
/// use nn_data::{DataLoader, TensorDataset};
/// use nn_distributed::{DataParallel, DataParallelConfig, SingleProcess};
/// use nn_tensor::Tensor;
/// let x = Tensor::<f32>::from_vec((0..8).map(|i| i as f32).collect(), &[8, 1]);
/// let data = TensorDataset::regression(x.clone(), x.mul_scalar(3.0))?;
/// let w = Parameter::new(Tensor::<f32>::zeros(&[1, 1]));
/// let mut ddp = DataParallel::new(
///     SingleProcess,
///     vec![("w".to_string(), w.clone())],
///     DataParallelConfig::with_micro_batches(4),
/// )?;
/// ddp.broadcast_parameters();
/// let loader = DataLoader::new(&data, 8)?;
/// for batch in loader.epoch_shard(0, ddp.shard()) {
///     let step = ddp.gradients(&batch?, |b| {
///         Ok::<_, String>(b.inputs().matmul(&w.var()).mse_loss(b.targets()))
///     })?;
///     // d/dw mean((w·x − 3x)²) at w = 0 is −6·mean(x²) = −105.
///     assert_eq!(step.gradients.get_id(w.id()).unwrap().to_vec(), vec![-105.0]);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DataParallel<T: WireElement, C: Communicator> {
    comm: C,
    params: Vec<(String, Parameter<T>)>,
    /// Where each parameter starts in the flat gradient vector.
    offsets: Vec<usize>,
    total: usize,
    config: DataParallelConfig,
    all_reduce: AllReduce<T>,
}

impl<T: WireElement, C: Communicator> DataParallel<T, C> {
    /// Data-parallel training of `params` (in the same order on every rank,
    /// e.g. a model's `named_parameters()`). Checks, with one collective,
    /// that every rank has the same parameter count and sizes, and that the
    /// rank count divides `config.micro_batches`.
    pub fn new(
        comm: C,
        params: Vec<(String, Parameter<T>)>,
        config: DataParallelConfig,
    ) -> Result<Self> {
        let ranks = comm.size();
        if config.micro_batches == 0 || !config.micro_batches.is_multiple_of(ranks) {
            return Err(DistributedError::invalid(
                "DataParallel::new",
                format!(
                    "the micro-batch count {} must be a positive multiple of the rank count {ranks}",
                    config.micro_batches
                ),
            ));
        }
        let mut offsets = Vec::with_capacity(params.len());
        let mut total = 0;
        for (_, p) in &params {
            offsets.push(total);
            total += p.numel();
        }
        // Compare a signature of the model across ranks before any
        // collective whose size depends on it: a mismatch would otherwise
        // be a truncated message deep inside MPI.
        let signature = [params.len() as u64, total as u64];
        let mut all = vec![0u64; 2 * ranks];
        comm.all_gather(
            bytemuck::cast_slice(&signature),
            bytemuck::cast_slice_mut(&mut all),
        );
        for (rank, theirs) in all.chunks(2).enumerate() {
            if theirs != signature {
                return Err(DistributedError::invalid(
                    "DataParallel::new",
                    format!(
                        "rank {rank} has {} parameters of {} elements, rank {} has {} of {}: every rank must build the same model",
                        theirs[0], theirs[1], comm.rank(), signature[0], signature[1]
                    ),
                ));
            }
        }
        Ok(DataParallel {
            comm,
            params,
            offsets,
            total,
            all_reduce: AllReduce::new(config.algorithm, config.bucket_elems),
            config,
        })
    }

    /// The communicator.
    pub fn comm(&self) -> &C {
        &self.comm
    }

    /// The settings.
    pub fn config(&self) -> DataParallelConfig {
        self.config
    }

    /// The number of elements all-reduced per step (every parameter's).
    pub fn gradient_elems(&self) -> usize {
        self.total
    }

    /// The part of every global batch this rank reads, for
    /// [`DataLoader::epoch_shard`](nn_data::DataLoader::epoch_shard).
    pub fn shard(&self) -> Shard {
        Shard::new(
            self.comm.rank(),
            self.comm.size(),
            self.config.micro_batches,
        )
        .expect("DataParallel::new checked the rank count divides the micro-batch count")
    }

    /// Gives every rank rank 0's parameter values (call once before
    /// training, so replicas initialised from different seeds, or a
    /// checkpoint loaded on rank 0 only, start equal).
    pub fn broadcast_parameters(&self) {
        let mut flat = vec![T::zero(); self.total];
        if self.comm.is_root() {
            for ((_, p), &off) in self.params.iter().zip(&self.offsets) {
                flat[off..off + p.numel()].copy_from_slice(p.value().as_slice());
            }
        }
        self.comm.broadcast(0, bytemuck::cast_slice_mut(&mut flat));
        if !self.comm.is_root() {
            for ((_, p), &off) in self.params.iter().zip(&self.offsets) {
                p.set_value(Tensor::from_vec(
                    flat[off..off + p.numel()].to_vec(),
                    &p.shape(),
                ));
            }
        }
    }

    /// One step's gradients: `loss` maps each of this rank's micro-batches
    /// to its mean loss; the result holds the gradient of the global mean
    /// loss, summed across ranks in a fixed order. When `loss` fails on any
    /// rank, every rank returns [`DistributedError::RankFailed`] naming it.
    pub fn gradients<B, E: Display>(
        &mut self,
        batch: &ShardBatch<B>,
        mut loss: impl FnMut(&B) -> std::result::Result<Var<T>, E>,
    ) -> Result<ReducedStep<T>> {
        let started = Instant::now();
        let expected = self.config.micro_batches / self.comm.size();
        if batch.micro_batches.len() != expected {
            return Err(DistributedError::invalid(
                "DataParallel::gradients",
                format!(
                    "the batch holds {} micro-batches, this rank owns {expected}: load it with DataParallel::shard()",
                    batch.micro_batches.len()
                ),
            ));
        }
        let mut present = vec![false; self.params.len()];
        let local = self.local_tree(batch, 0, expected, &mut loss, &mut present);
        let compute_seconds = started.elapsed().as_secs_f64();
        let exchanged = Instant::now();
        let (mut flat, status) = match local {
            Ok((flat, loss_sum)) => (flat, Ok(loss_sum)),
            // A failed rank still takes part, with zeros, so that no rank
            // waits for it; the status says the step is void.
            Err(message) => (vec![T::zero(); self.total], Err(message)),
        };
        let record = self.status_record(&status, &present);
        let records = self
            .all_reduce
            .sum_with_headers(&self.comm, &mut flat, &record);
        let (loss, present) = self.read_status_records(&records)?;
        let mut gradients = Gradients::new();
        for (((_, p), &off), &has) in self.params.iter().zip(&self.offsets).zip(&present) {
            if has {
                let g = Tensor::from_vec(flat[off..off + p.numel()].to_vec(), &p.shape());
                gradients.insert(p.id(), g);
            }
        }
        Ok(ReducedStep {
            gradients,
            loss,
            compute_seconds,
            communicate_seconds: exchanged.elapsed().as_secs_f64(),
        })
    }

    /// The sum of this rank's micro-batches `lo..hi` (the flat gradient and
    /// the weighted loss), added by the halving tree; an error is the
    /// message to pass to the other ranks.
    fn local_tree<B, E: Display>(
        &self,
        batch: &ShardBatch<B>,
        lo: usize,
        hi: usize,
        loss: &mut impl FnMut(&B) -> std::result::Result<Var<T>, E>,
        present: &mut [bool],
    ) -> std::result::Result<(Vec<T>, f64), String> {
        if hi - lo == 1 {
            return self.leaf(batch, lo, loss, present);
        }
        let mid = lo + (hi - lo) / 2;
        let (mut left, left_loss) = self.local_tree(batch, lo, mid, loss, present)?;
        let (right, right_loss) = self.local_tree(batch, mid, hi, loss, present)?;
        for (l, &r) in left.iter_mut().zip(&right) {
            *l += r;
        }
        Ok((left, left_loss + right_loss))
    }

    /// Micro-batch `index`'s weighted gradient and loss, flattened.
    fn leaf<B, E: Display>(
        &self,
        batch: &ShardBatch<B>,
        index: usize,
        loss: &mut impl FnMut(&B) -> std::result::Result<Var<T>, E>,
        present: &mut [bool],
    ) -> std::result::Result<(Vec<T>, f64), String> {
        let mut flat = vec![T::zero(); self.total];
        let Some(micro) = &batch.micro_batches[index] else {
            return Ok((flat, 0.0));
        };
        let share = batch.sizes[index] as f64 / batch.global_len as f64;
        let value = loss(micro).map_err(|e| e.to_string())?;
        if value.value().numel() != 1 {
            return Err(format!(
                "the loss closure returned shape {:?}, not a scalar mean loss",
                value.shape()
            ));
        }
        let weighted_loss = share * value.value().item().to_f64_lossless();
        let grads = value.backward_with(Tensor::full(value.shape(), T::of(share)));
        drop(value);
        for (((_, p), &off), has) in self.params.iter().zip(&self.offsets).zip(present) {
            if let Some(g) = grads.get_id(p.id()) {
                flat[off..off + p.numel()].copy_from_slice(g.as_slice());
                *has = true;
            }
        }
        Ok((flat, weighted_loss))
    }

    /// This rank's status record: failed flag, loss partial sum (f64),
    /// one byte per parameter (got a gradient), and the failure message.
    fn status_record(
        &self,
        status: &std::result::Result<f64, String>,
        present: &[bool],
    ) -> Vec<u8> {
        let n = self.params.len();
        let mut record = vec![0u8; 1 + 8 + n + MESSAGE_BYTES];
        match status {
            Ok(loss) => record[1..9].copy_from_slice(&loss.to_le_bytes()),
            Err(message) => {
                record[0] = 1;
                let bytes = truncate_utf8(message, MESSAGE_BYTES);
                record[9 + n..9 + n + bytes.len()].copy_from_slice(bytes);
            }
        }
        for (m, &p) in record[9..9 + n].iter_mut().zip(present) {
            *m = u8::from(p);
        }
        record
    }

    /// Reads every rank's status record (in rank order): the global loss
    /// and the union of the gradients' presence, or the lowest failed
    /// rank's error (the same on every rank).
    fn read_status_records(&self, records: &[u8]) -> Result<(f64, Vec<bool>)> {
        let n = self.params.len();
        let record = 1 + 8 + n + MESSAGE_BYTES;
        let mut losses = Vec::with_capacity(self.comm.size());
        let mut union = vec![false; n];
        for (rank, r) in records.chunks(record).enumerate() {
            if r[0] != 0 {
                let text = &r[9 + n..];
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                return Err(DistributedError::RankFailed {
                    op: "DataParallel::gradients",
                    rank,
                    message: String::from_utf8_lossy(&text[..end]).into_owned(),
                });
            }
            losses.push(f64::from_le_bytes(r[1..9].try_into().expect("8 bytes")));
            for (u, &b) in union.iter_mut().zip(&r[9..9 + n]) {
                *u |= b != 0;
            }
        }
        let parts: Vec<&[f64]> = losses.iter().map(std::slice::from_ref).collect();
        let mut loss = [0.0];
        tree_sum(&parts, &mut loss);
        Ok((loss[0], union))
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &[u8] {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SingleProcess;
    use nn_data::{DataLoader, TensorDataset};
    use nn_tensor::Rng;

    fn regression(n: usize) -> TensorDataset<f64> {
        let mut rng = Rng::seed_from(2);
        let x = Tensor::<f64>::rand_uniform(&[n, 3], -1.0, 1.0, &mut rng);
        let y = Tensor::<f64>::rand_uniform(&[n, 1], -1.0, 1.0, &mut rng);
        TensorDataset::regression(x, y).unwrap()
    }

    fn mse(w: &Parameter<f64>, b: &nn_data::Batch<f64>) -> Var<f64> {
        Var::constant(b.features.clone())
            .matmul(&w.var())
            .sub(&Var::constant(b.values().clone()))
            .square()
            .mean()
    }

    /// The averaged micro-batch gradients equal the whole batch's gradient
    /// (up to rounding), including a short last batch with uneven cuts.
    #[test]
    fn micro_batch_shares_add_up_to_the_global_mean_gradient() {
        let data = regression(11);
        let w = Parameter::new(Tensor::<f64>::from_vec(vec![0.5, -1.0, 2.0], &[3, 1]));
        let mut ddp = DataParallel::new(
            SingleProcess,
            vec![("w".into(), w.clone())],
            DataParallelConfig::with_micro_batches(4),
        )
        .unwrap();
        let loader = DataLoader::new(&data, 7).unwrap().shuffle(0);
        let shard = ddp.shard();
        for (split, whole) in loader.epoch_shard(0, shard).zip(loader.epoch(0)) {
            let whole = whole.unwrap();
            let step = ddp
                .gradients(&split.unwrap(), |b| Ok::<_, String>(mse(&w, b)))
                .unwrap();
            let loss = mse(&w, &whole);
            let reference = loss.backward();
            let got = step.gradients.get_id(w.id()).unwrap().to_vec();
            for (g, r) in got.iter().zip(reference.get_id(w.id()).unwrap().to_vec()) {
                assert!((g - r).abs() < 1e-12, "{g} vs {r}");
            }
            assert!((step.loss - loss.value().item()).abs() < 1e-12);
        }
    }

    #[test]
    fn a_failing_loss_closure_is_reported_with_its_rank() {
        let data = regression(4);
        let w = Parameter::new(Tensor::<f64>::zeros(&[3, 1]));
        let mut ddp = DataParallel::new(
            SingleProcess,
            vec![("w".into(), w.clone())],
            DataParallelConfig::default(),
        )
        .unwrap();
        let loader = DataLoader::new(&data, 4).unwrap();
        let batch = loader.epoch_shard(0, ddp.shard()).next().unwrap().unwrap();
        let e = ddp
            .gradients(&batch, |_| Err::<Var<f64>, _>("bad input on this rank"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "DataParallel::gradients: rank 0 failed: bad input on this rank"
        );
    }

    #[test]
    fn a_micro_batch_count_the_ranks_cannot_share_is_refused() {
        let w = Parameter::new(Tensor::<f32>::zeros(&[1]));
        let e = DataParallel::new(
            SingleProcess,
            vec![("w".into(), w)],
            DataParallelConfig::with_micro_batches(0),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "DataParallel::new: the micro-batch count 0 must be a positive multiple of the rank count 1"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_utf8("héllo", 2), b"h");
        assert_eq!(truncate_utf8("héllo", 3), "hé".as_bytes());
        assert_eq!(truncate_utf8("ok", 240), b"ok");
    }
}
