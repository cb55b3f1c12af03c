//! The ordered all-reduce: sums across ranks that add the partial sums in a
//! fixed tree, so the result does not depend on the number of ranks.
//!
//! # Why a tree, and which one
//!
//! Floating-point addition is commutative but not associative: `(a + b) + c`
//! and `a + (b + c)` can differ in the last bit. A data-parallel step sums
//! `M` micro-batch gradients; if one process sums them as `((g0 + g1) + g2) +
//! g3` and two ranks as `(g0 + g1) + (g2 + g3)`, the weights drift apart
//! bit by bit. [`tree_sum`] always adds by *halving*: the sum of `g[lo..hi]`
//! is the sum of its first half plus the sum of its second half. When the
//! rank count `R` is a power of two dividing `M`, each rank's `M/R`
//! consecutive micro-batches form one whole subtree, so a rank first sums its
//! own (locally) and the ranks' partial sums are then added by the top
//! levels of the same tree: one process, 2 ranks and 4 ranks perform the
//! very same additions. (Other rank counts are still deterministic from run
//! to run, but the tree's top then cuts through a rank's micro-batches.)
//!
//! # Two ways to move the partial sums
//!
//! * [`ReduceAlgorithm::ReduceScatter`]: every rank owns `1/R` of the
//!   vector; an all-to-all sends each rank the `R` partial sums of its
//!   slice, which it adds in rank order; an all-gather shares the reduced
//!   slices. Each rank sends and receives `2·(R−1)/R` of the vector, MPI's
//!   bandwidth-optimal figure.
//! * [`ReduceAlgorithm::GatherSum`]: one all-gather of every rank's whole
//!   partial sum; each rank adds all `R` of them. `(R−1)` vectors in and out
//!   per rank: the same as the reduce-scatter for 2 ranks, twice as much
//!   for 4, but one collective instead of two.
//!
//! Either way, the vector travels in buckets of at most
//! [`AllReduce::bucket_elems`] elements, so a large model sends a few large
//! messages and the scratch space stays bounded.

use nn_tensor::Element;

use crate::communicator::Communicator;

/// An element type that can travel as bytes: `f32` and `f64`.
pub trait WireElement: Element + bytemuck::Pod {}

impl<T: Element + bytemuck::Pod> WireElement for T {}

/// How an [`AllReduce`] moves the partial sums (see the module docs). The
/// choice changes the speed only: every algorithm adds in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceAlgorithm {
    /// [`ReduceAlgorithm::GatherSum`] on 2 ranks (one collective instead
    /// of two for the same bytes), [`ReduceAlgorithm::ReduceScatter`] on
    /// more (it moves `2·(R−1)/R` vectors per rank instead of `R−1`). This
    /// is also what measured faster on loopback (`docs/distributed.md`).
    Auto,
    /// All-to-all of slices, ordered sum of each slice, all-gather.
    ReduceScatter,
    /// All-gather of whole partial sums, ordered sum on every rank.
    GatherSum,
}

/// Adds `parts` element-wise into `out` by the halving tree over the parts'
/// order (see the module docs). Every part has `out.len()` elements; there
/// is at least one part.
///
/// ```
/// use nn_distributed::reduce::tree_sum;
/// let parts: [&[f32]; 3] = [&[1e8], &[1.0], &[-1e8]];
/// let mut out = [0.0f32];
/// tree_sum(&parts, &mut out);
/// // 1e8 + (1 + -1e8): the 1 is lost in the second half's sum.
/// assert_eq!(out, [0.0]);
/// ```
pub fn tree_sum<T: Element>(parts: &[&[T]], out: &mut [T]) {
    assert!(!parts.is_empty(), "tree_sum: no parts to add");
    for p in parts {
        assert_eq!(p.len(), out.len(), "tree_sum: parts of unequal lengths");
    }
    match parts {
        [one] => out.copy_from_slice(one),
        [a, b] => {
            for ((o, &x), &y) in out.iter_mut().zip(a.iter()).zip(b.iter()) {
                *o = x + y;
            }
        }
        _ => {
            let (left, right) = parts.split_at(parts.len() / 2);
            tree_sum(left, out);
            let mut tmp = vec![T::zero(); out.len()];
            tree_sum(right, &mut tmp);
            for (o, &t) in out.iter_mut().zip(&tmp) {
                *o += t;
            }
        }
    }
}

/// An ordered, bucketed all-reduce (sum) over a [`Communicator`], with its
/// scratch buffers kept between calls.
#[derive(Clone, Debug)]
pub struct AllReduce<T> {
    algorithm: ReduceAlgorithm,
    bucket_elems: usize,
    send: Vec<T>,
    recv: Vec<T>,
    mine: Vec<T>,
}

impl<T: WireElement> AllReduce<T> {
    /// An all-reduce moving at most `bucket_elems` elements (at least 1) per bucket.
    pub fn new(algorithm: ReduceAlgorithm, bucket_elems: usize) -> Self {
        AllReduce {
            algorithm,
            bucket_elems: bucket_elems.max(1),
            send: Vec::new(),
            recv: Vec::new(),
            mine: Vec::new(),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ReduceAlgorithm {
        self.algorithm
    }

    /// The largest bucket, in elements.
    pub fn bucket_elems(&self) -> usize {
        self.bucket_elems
    }

    /// The number of buckets (each one or two collectives) a vector of
    /// `len` elements travels in.
    pub fn buckets(&self, len: usize) -> usize {
        len.div_ceil(self.bucket_elems)
    }

    /// Replaces `data` (this rank's partial sum, the same length on every
    /// rank) by the sum over all ranks, added in rank order by
    /// [`tree_sum`]. Every rank gets the same bits.
    pub fn sum(&mut self, comm: &impl Communicator, data: &mut [T]) {
        self.sum_with_headers(comm, data, &[]);
    }

    /// [`AllReduce::sum`], and every rank's `header` (the same length on
    /// every rank) gathered on the way: returns the headers in rank order,
    /// concatenated. The headers ride on the first bucket's last
    /// collective, so a step's status costs no message of its own: with
    /// [`ReduceAlgorithm::GatherSum`] a one-bucket step is one collective.
    pub fn sum_with_headers(
        &mut self,
        comm: &impl Communicator,
        data: &mut [T],
        header: &[u8],
    ) -> Vec<u8> {
        if comm.size() == 1 {
            return header.to_vec();
        }
        if data.is_empty() {
            let mut all = vec![0u8; header.len() * comm.size()];
            comm.all_gather(header, &mut all);
            return all;
        }
        let gather = match self.algorithm {
            ReduceAlgorithm::Auto => comm.size() <= 2,
            ReduceAlgorithm::GatherSum => true,
            ReduceAlgorithm::ReduceScatter => false,
        };
        let mut headers = Vec::new();
        for (i, bucket) in data.chunks_mut(self.bucket_elems).enumerate() {
            let header = if i == 0 { header } else { &[] };
            let got = if gather {
                self.gather_sum_bucket(comm, bucket, header)
            } else {
                self.reduce_scatter_bucket(comm, bucket, header)
            };
            if i == 0 {
                headers = got;
            }
        }
        headers
    }

    /// The all-to-all, this rank's ordered sum of its slice, and an
    /// all-gather of `[header | reduced slice]` from every rank.
    fn reduce_scatter_bucket(
        &mut self,
        comm: &impl Communicator,
        bucket: &mut [T],
        header: &[u8],
    ) -> Vec<u8> {
        let ranks = comm.size();
        let seg = bucket.len().div_ceil(ranks);
        let padded = seg * ranks;
        // The slices must be of equal length: pad the bucket's tail with zeros.
        self.send.clear();
        self.send.extend_from_slice(bucket);
        self.send.resize(padded, T::zero());
        self.recv.resize(padded, T::zero());
        comm.all_to_all(
            bytemuck::cast_slice(&self.send),
            bytemuck::cast_slice_mut(&mut self.recv),
        );
        let h = header_elems::<T>(header);
        self.mine.clear();
        self.mine.resize(h + seg, T::zero());
        bytemuck::cast_slice_mut::<T, u8>(&mut self.mine)[..header.len()].copy_from_slice(header);
        let parts: Vec<&[T]> = self.recv.chunks(seg).collect();
        tree_sum(&parts, &mut self.mine[h..]);
        self.recv.resize(ranks * (h + seg), T::zero());
        comm.all_gather(
            bytemuck::cast_slice(&self.mine),
            bytemuck::cast_slice_mut(&mut self.recv),
        );
        let mut headers = Vec::with_capacity(header.len() * ranks);
        for (r, block) in self.recv.chunks(h + seg).enumerate() {
            headers.extend_from_slice(&bytemuck::cast_slice::<T, u8>(&block[..h])[..header.len()]);
            let len = bucket.len();
            let dst = &mut bucket[(r * seg).min(len)..((r + 1) * seg).min(len)];
            dst.copy_from_slice(&block[h..h + dst.len()]);
        }
        headers
    }

    /// One all-gather of `[header | bucket]` from every rank, then the
    /// ordered sum of the ranks' buckets.
    fn gather_sum_bucket(
        &mut self,
        comm: &impl Communicator,
        bucket: &mut [T],
        header: &[u8],
    ) -> Vec<u8> {
        let ranks = comm.size();
        let n = bucket.len();
        let h = header_elems::<T>(header);
        self.send.clear();
        self.send.resize(h, T::zero());
        bytemuck::cast_slice_mut::<T, u8>(&mut self.send)[..header.len()].copy_from_slice(header);
        self.send.extend_from_slice(bucket);
        self.recv.resize(ranks * (h + n), T::zero());
        comm.all_gather(
            bytemuck::cast_slice(&self.send),
            bytemuck::cast_slice_mut(&mut self.recv),
        );
        let mut headers = Vec::with_capacity(header.len() * ranks);
        let mut parts = Vec::with_capacity(ranks);
        for block in self.recv.chunks(h + n) {
            headers.extend_from_slice(&bytemuck::cast_slice::<T, u8>(&block[..h])[..header.len()]);
            parts.push(&block[h..]);
        }
        tree_sum(&parts, bucket);
        headers
    }
}

/// The number of elements of type `T` that hold `header`'s bytes.
fn header_elems<T>(header: &[u8]) -> usize {
    header.len().div_ceil(std::mem::size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four leaves add as two pairs; the left-to-right sum of the same
    /// leaves gives another answer, which is why the order is fixed.
    #[test]
    fn four_leaves_add_as_two_pairs() {
        let g: [&[f32]; 4] = [&[1.0], &[1e8], &[-1e8], &[1.0]];
        let mut out = [7.0f32];
        tree_sum(&g, &mut out);
        assert_eq!(out[0], (1.0f32 + 1e8) + (-1e8 + 1.0));
        assert_eq!(out[0], 0.0);
        assert_eq!(((1.0f32 + 1e8) + -1e8) + 1.0, 1.0);
    }

    /// A local sum over each rank's subtree, then the sum of the ranks'
    /// partial sums, gives the bits of the one-process tree for R = 1, 2, 4
    /// and 8 of 8 leaves.
    #[test]
    fn rank_partial_sums_compose_into_the_same_tree() {
        let mut rng = nn_tensor::Rng::seed_from(4);
        let leaves: Vec<Vec<f32>> = (0..8)
            .map(|i| {
                (0..64)
                    .map(|_| (rng.uniform_f64() as f32 - 0.5) * 10f32.powi(i % 5))
                    .collect()
            })
            .collect();
        let all: Vec<&[f32]> = leaves.iter().map(|v| v.as_slice()).collect();
        let mut whole = vec![0.0; 64];
        tree_sum(&all, &mut whole);
        for ranks in [1usize, 2, 4, 8] {
            let per = 8 / ranks;
            let partials: Vec<Vec<f32>> = all
                .chunks(per)
                .map(|c| {
                    let mut p = vec![0.0; 64];
                    tree_sum(c, &mut p);
                    p
                })
                .collect();
            let parts: Vec<&[f32]> = partials.iter().map(|v| v.as_slice()).collect();
            let mut out = vec![0.0; 64];
            tree_sum(&parts, &mut out);
            assert_eq!(
                out.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                whole.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{ranks} ranks"
            );
        }
    }

    #[test]
    fn one_rank_leaves_the_data_alone_and_buckets_are_counted() {
        let mut data = vec![1.5f64, -2.0, 3.0];
        let mut ar = AllReduce::new(ReduceAlgorithm::ReduceScatter, 2);
        ar.sum(&crate::SingleProcess, &mut data);
        assert_eq!(data, vec![1.5, -2.0, 3.0]);
        assert_eq!((ar.buckets(3), ar.buckets(4), ar.buckets(5)), (2, 2, 3));
    }
}
