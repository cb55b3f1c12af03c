//! [`Communicator`]: the few collectives data-parallel training needs, and
//! [`SingleProcess`], the communicator of a run without MPI.
//!
//! The collectives move bytes: the reduction code above them
//! ([`crate::reduce`]) decides the element type and, above all, the order in
//! which partial sums are added, which is what makes results independent of
//! the number of ranks. An MPI reduction (`MPI_Allreduce`) would pick its own
//! order, varying with the rank count and the message size.
//!
//! A transport failure never comes back as a value: MPI's default error
//! handler (errors are fatal) ends the whole job with MPI's own message, and
//! `MpiCommunicator` (feature `mpi`) adds a watchdog for the one
//! failure MPI does not see, a peer that hangs.

/// The collective operations of a group of ranks, each holding a replica of
/// the model. Every rank must call the same collectives in the same order
/// with the same sizes, as in MPI.
pub trait Communicator {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn size(&self) -> usize;

    /// All-to-all exchange of equal blocks: `send` and `recv` hold `size()`
    /// blocks of `send.len() / size()` bytes; block `j` of `send` goes to
    /// rank `j`, and block `i` of `recv` comes from rank `i`.
    fn all_to_all(&self, send: &[u8], recv: &mut [u8]);

    /// Gathers every rank's `send` (the same length on all ranks) into
    /// `recv`, in rank order, on every rank: `recv.len() == size() * send.len()`.
    fn all_gather(&self, send: &[u8], recv: &mut [u8]);

    /// Copies rank `root`'s `buf` into every other rank's `buf` (same length everywhere).
    fn broadcast(&self, root: usize, buf: &mut [u8]);

    /// Waits until every rank has reached this call.
    fn barrier(&self);

    /// True on rank 0, which writes checkpoints, logs and history.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// The communicator of a single process: one rank, every collective a copy.
/// It runs the same deterministic reduction as a multi-rank job, so a
/// script written for `mpirun` also runs, with the same results, as a plain
/// program.
///
/// ```
/// use nn_distributed::{Communicator, SingleProcess};
/// let comm = SingleProcess;
/// let mut recv = [0u8; 3];
/// comm.all_gather(&[1, 2, 3], &mut recv);
/// assert_eq!((comm.rank(), comm.size(), recv), (0, 1, [1, 2, 3]));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) {
        recv.copy_from_slice(send);
    }

    fn all_gather(&self, send: &[u8], recv: &mut [u8]) {
        recv.copy_from_slice(send);
    }

    fn broadcast(&self, root: usize, _buf: &mut [u8]) {
        assert_eq!(root, 0, "broadcast: root {root} of a single process");
    }

    fn barrier(&self) {}
}

impl<C: Communicator + ?Sized> Communicator for &C {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn size(&self) -> usize {
        (**self).size()
    }
    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) {
        (**self).all_to_all(send, recv)
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) {
        (**self).all_gather(send, recv)
    }
    fn broadcast(&self, root: usize, buf: &mut [u8]) {
        (**self).broadcast(root, buf)
    }
    fn barrier(&self) {
        (**self).barrier()
    }
}
