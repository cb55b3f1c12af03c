//! The typed error of every fallible tensor operation.

use std::fmt;

/// What went wrong in a tensor operation. Every variant names the operation,
/// so a message read in a log points at the call that failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorError {
    /// Two shapes that had to agree (or broadcast) did not.
    ShapeMismatch {
        /// The operation, e.g. `"add"` or `"matmul"`.
        op: &'static str,
        /// Shape of the left / first operand.
        lhs: Vec<usize>,
        /// Shape of the right / second operand.
        rhs: Vec<usize>,
        /// Why they do not fit together.
        reason: String,
    },
    /// A dimension index out of range for the tensor's rank.
    InvalidDim {
        /// The operation.
        op: &'static str,
        /// The dimension asked for (negative values count from the end).
        dim: isize,
        /// The tensor's rank.
        rank: usize,
    },
    /// An argument with a value the operation cannot accept.
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What was wrong, naming the argument and its value.
        message: String,
    },
}

impl TensorError {
    /// Builds an [`TensorError::InvalidArgument`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        TensorError::InvalidArgument {
            op,
            message: message.into(),
        }
    }

    /// Builds a [`TensorError::ShapeMismatch`].
    pub fn shapes(
        op: &'static str,
        lhs: &[usize],
        rhs: &[usize],
        reason: impl Into<String>,
    ) -> Self {
        TensorError::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorError::ShapeMismatch {
                op,
                lhs,
                rhs,
                reason,
            } => write!(f, "{op}: shapes {lhs:?} and {rhs:?} do not match: {reason}"),
            TensorError::InvalidDim { op, dim, rank } => write!(
                f,
                "{op}: dimension {dim} is out of range for a tensor of rank {rank}"
            ),
            TensorError::InvalidArgument { op, message } => write!(f, "{op}: {message}"),
        }
    }
}

impl std::error::Error for TensorError {}

/// The result type of fallible tensor operations.
pub type Result<T> = std::result::Result<T, TensorError>;

/// Unwraps the `Result` of a `try_*` op, panicking with the error's message
/// at the caller's line.
///
/// Every panicking twin of a fallible op, in every crate of the workspace,
/// goes through this one function, so the two forms say the same thing and
/// the panic points at user code: it is `#[track_caller]`, and so must be
/// each public twin that calls it (a closure such as
/// `unwrap_or_else(|e| panic!("{e}"))` would lose the location).
///
/// ```
/// use nn_tensor::{or_panic, Tensor};
/// let a = Tensor::<f32>::ones(&[2, 3]);
/// let b = or_panic(a.try_reshape(&[3, 2]));
/// assert_eq!(b.shape(), &[3, 2]);
/// ```
#[track_caller]
pub fn or_panic<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}
