//! [`MpiCommunicator`]: the [`Communicator`] of a job started by `mpirun`,
//! on MPI's world communicator (feature `mpi`).
//!
//! # Failure behaviour
//!
//! * **A rank's own error** (its loss closure fails): reported through the
//!   step's status exchange, every rank returns the same error
//!   ([`DataParallel::gradients`](crate::DataParallel::gradients)), and the
//!   program ends normally on every rank.
//! * **A rank panics**: the panic hook installed by [`MpiCommunicator::init`]
//!   prints the panic, then which rank it was, and calls `MPI_Abort`, which
//!   ends every rank at once (unwinding would reach `MPI_Finalize` and wait
//!   there for ranks that wait for it).
//! * **A rank dies** (killed, crashed): `mpirun` notices the exit and ends
//!   the other ranks with its own message naming the rank.
//! * **A rank hangs** (or calls a different collective): the watchdog
//!   ([`crate::watchdog`]) ends the job when a collective has waited longer
//!   than the limit (`NN_DISTRIBUTED_TIMEOUT` seconds, default 300), printing
//!   the rank and the operation.
//! * **MPI itself fails** (a lost connection): MPI's default error handler,
//!   errors are fatal, ends the job with MPI's message. It is kept on
//!   purpose: the `mpi` crate does not check the codes MPI returns, so
//!   switching to `MPI_ERRORS_RETURN` would turn a failed transfer into
//!   silently wrong gradients.

use std::time::Duration;

use mpi::collective::{CommunicatorCollectives, Root};
use mpi::environment::Universe;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::Threading;

use crate::communicator::Communicator;
use crate::error::{DistributedError, Result};
use crate::watchdog::Watchdog;

/// The environment variable holding the watchdog's limit, in seconds.
pub const TIMEOUT_VAR: &str = "NN_DISTRIBUTED_TIMEOUT";

/// The watchdog's limit when [`TIMEOUT_VAR`] is not set: long enough for
/// rank 0 to evaluate and write a checkpoint while the others wait at the
/// next collective.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The exit code every rank gets when the job is aborted (`EX_SOFTWARE`).
const ABORT_CODE: i32 = 70;

/// The world communicator of an MPI job. Create it once, at the start of
/// `main`; dropping it finalises MPI.
///
/// ```no_run
/// use nn_distributed::{Communicator, MpiCommunicator};
/// let comm = MpiCommunicator::init()?;
/// println!("rank {} of {}", comm.rank(), comm.size());
/// # Ok::<(), nn_distributed::DistributedError>(())
/// ```
pub struct MpiCommunicator {
    // Field order is drop order: stop the watchdog before MPI finalises.
    watchdog: Watchdog,
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    _universe: Universe,
}

impl MpiCommunicator {
    /// Initialises MPI with the watchdog limit from [`TIMEOUT_VAR`]
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn init() -> Result<Self> {
        let limit = match std::env::var(TIMEOUT_VAR) {
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
                _ => {
                    return Err(DistributedError::Init(format!(
                        "{TIMEOUT_VAR}={v:?} is not a positive number of seconds"
                    )))
                }
            },
            Err(_) => DEFAULT_TIMEOUT,
        };
        Self::with_timeout(limit)
    }

    /// Initialises MPI; a collective waiting longer than `limit` aborts the job.
    pub fn with_timeout(limit: Duration) -> Result<Self> {
        // The watchdog calls MPI_Abort from its own thread while the main
        // thread may be inside a collective: that needs MPI_THREAD_MULTIPLE.
        let (universe, threading) = mpi::initialize_with_threading(Threading::Multiple)
            .ok_or_else(|| {
                DistributedError::Init("MPI is already initialised in this process".into())
            })?;
        let world = universe.world();
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        let can_abort_from_thread = threading == Threading::Multiple;
        install_panic_hook(rank, size);
        let watchdog = Watchdog::start(
            limit,
            Box::new(move |op, waited| {
                say(&format!(
                    "nn-distributed: rank {rank} of {size}: {op} has waited {:.1} s for the other ranks \
                     (limit {:.1} s, {TIMEOUT_VAR}): a rank has died, hung, or called a different \
                     collective; aborting the job",
                    waited.as_secs_f64(),
                    limit.as_secs_f64()
                ));
                if can_abort_from_thread {
                    SimpleCommunicator::world().abort(ABORT_CODE);
                }
                // Without thread support MPI_Abort from here is undefined:
                // end this process, and mpirun ends the others.
                std::process::exit(ABORT_CODE);
            }),
        );
        Ok(MpiCommunicator {
            watchdog,
            world,
            rank,
            size,
            _universe: universe,
        })
    }

    /// The watchdog's limit.
    pub fn timeout(&self) -> Duration {
        self.watchdog.limit()
    }

    /// The name of the host this rank runs on.
    pub fn processor_name(&self) -> String {
        mpi::environment::processor_name().unwrap_or_else(|_| "?".into())
    }

    /// Ends every rank of the job at once with `code`, after printing `message`.
    pub fn abort(&self, message: &str, code: i32) -> ! {
        say(&format!(
            "nn-distributed: rank {} of {}: {message}; aborting the job",
            self.rank, self.size
        ));
        self.world.abort(code)
    }
}

/// Writes `line` and a newline to stderr in one call: mpirun merges the
/// ranks' output, and `eprintln!` may write a line in pieces that another
/// rank's line then splits.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// After the default hook prints the panic, abort the whole job: unwinding
/// would finalise MPI on this rank while the others wait in a collective.
fn install_panic_hook(rank: usize, size: usize) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        say(&format!(
            "nn-distributed: rank {rank} of {size} panicked; aborting the job"
        ));
        SimpleCommunicator::world().abort(ABORT_CODE);
    }));
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) {
        assert_eq!(
            send.len(),
            recv.len(),
            "all_to_all: send and receive sizes differ"
        );
        assert_eq!(
            send.len() % self.size,
            0,
            "all_to_all: {} bytes in {} blocks",
            send.len(),
            self.size
        );
        let _watch = self.watchdog.guard("all_to_all");
        self.world.all_to_all_into(send, recv);
    }

    fn all_gather(&self, send: &[u8], recv: &mut [u8]) {
        assert_eq!(
            recv.len(),
            send.len() * self.size,
            "all_gather: receive size"
        );
        let _watch = self.watchdog.guard("all_gather");
        self.world.all_gather_into(send, recv);
    }

    fn broadcast(&self, root: usize, buf: &mut [u8]) {
        let _watch = self.watchdog.guard("broadcast");
        self.world.process_at_rank(root as i32).broadcast_into(buf);
    }

    fn barrier(&self) {
        let _watch = self.watchdog.guard("barrier");
        self.world.barrier();
    }
}
