//! [`DistributedError`]: why a distributed step or set-up failed.

use std::fmt;

/// Why a distributed operation failed. Every variant names the operation
/// and, where another rank is the cause, that rank, so the message printed
/// on a surviving rank says where to look.
#[derive(Clone, Debug, PartialEq)]
pub enum DistributedError {
    /// A rank reported a failure of its own part of a step (its loss
    /// closure returned an error or panicked); every rank returns this same
    /// error from that step, so all of them stop together.
    RankFailed {
        /// The operation in which the failure was reported.
        op: &'static str,
        /// The rank that failed (the lowest, when several did).
        rank: usize,
        /// What that rank said.
        message: String,
    },
    /// The arguments or the set-up are inconsistent (a rank count that does
    /// not divide the micro-batch count, a parameter of another shape, …).
    Invalid {
        /// The operation that refused.
        op: &'static str,
        /// Why.
        message: String,
    },
    /// MPI could not be started (already initialised in this process, or
    /// not launched in a way the library understands).
    Init(String),
}

impl DistributedError {
    pub(crate) fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        DistributedError::Invalid {
            op,
            message: message.into(),
        }
    }
}

impl fmt::Display for DistributedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistributedError::RankFailed { op, rank, message } => {
                write!(f, "{op}: rank {rank} failed: {message}")
            }
            DistributedError::Invalid { op, message } => write!(f, "{op}: {message}"),
            DistributedError::Init(message) => write!(f, "MPI initialisation: {message}"),
        }
    }
}

impl std::error::Error for DistributedError {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, DistributedError>;
