//! The error type of the optimiser crate.

use std::fmt;

/// What went wrong while configuring, stepping, saving or loading an
/// optimiser. Every variant names where it happened, so a message read in a
/// log points at the call that failed.
#[derive(Debug, Clone, PartialEq)]
pub enum OptimError {
    /// A hyper-parameter outside its valid range.
    InvalidArgument {
        /// Who rejected it, e.g. `"Adam"` or `"StepLr"`.
        op: &'static str,
        /// The argument, e.g. `"lr"` or `"betas[0]"`.
        argument: String,
        /// The value given, as written by `Display`.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// A gradient whose shape differs from its parameter's.
    ShapeMismatch {
        /// Who noticed it.
        op: &'static str,
        /// The parameter's name.
        param: String,
        /// The parameter's shape.
        param_shape: Vec<usize>,
        /// The gradient's shape.
        grad_shape: Vec<usize>,
    },
    /// The parameters handed to an optimiser do not make a valid set
    /// (a name or a parameter given twice, ...).
    InvalidParams {
        /// Who rejected them.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A saved optimiser state that cannot be read or does not fit this
    /// optimiser (corrupt file, other algorithm, other parameters).
    InvalidState {
        /// What was wrong.
        message: String,
    },
    /// Reading or writing a state file failed.
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
}

impl OptimError {
    /// Builds an [`OptimError::InvalidArgument`].
    pub fn invalid(
        op: &'static str,
        argument: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        OptimError::InvalidArgument {
            op,
            argument: argument.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Builds an [`OptimError::InvalidState`].
    pub fn state(message: impl Into<String>) -> Self {
        OptimError::InvalidState {
            message: message.into(),
        }
    }
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::InvalidArgument {
                op,
                argument,
                value,
                expected,
            } => write!(f, "{op}: invalid {argument} = {value}, expected {expected}"),
            OptimError::ShapeMismatch {
                op,
                param,
                param_shape,
                grad_shape,
            } => write!(
                f,
                "{op}: the gradient of parameter `{param}` has shape {grad_shape:?} but the parameter has shape {param_shape:?}"
            ),
            OptimError::InvalidParams { op, message } => write!(f, "{op}: {message}"),
            OptimError::InvalidState { message } => write!(f, "optimiser state: {message}"),
            OptimError::Io { path, message } => write!(f, "optimiser state file {path}: {message}"),
        }
    }
}

impl std::error::Error for OptimError {}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, OptimError>;

/// Range checks shared by every config. Each names the argument and value.
pub(crate) mod check {
    use super::{OptimError, Result};

    /// A learning rate: finite and `>= 0`.
    pub fn lr(op: &'static str, lr: f64) -> Result<()> {
        if lr.is_finite() && lr >= 0.0 {
            Ok(())
        } else {
            Err(OptimError::invalid(op, "lr", lr, "a finite value >= 0"))
        }
    }

    /// A finite value `>= 0` (weight decay, eps, momentum, ...).
    pub fn non_negative(op: &'static str, name: &str, v: f64) -> Result<()> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(OptimError::invalid(op, name, v, "a finite value >= 0"))
        }
    }

    /// A value in `[0, 1)` (Adam's betas).
    pub fn unit_interval_open(op: &'static str, name: &str, v: f64) -> Result<()> {
        if (0.0..1.0).contains(&v) {
            Ok(())
        } else {
            Err(OptimError::invalid(op, name, v, "a value in [0, 1)"))
        }
    }

    /// A value in `[0, 1]`.
    pub fn unit_interval(op: &'static str, name: &str, v: f64) -> Result<()> {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(OptimError::invalid(op, name, v, "a value in [0, 1]"))
        }
    }
}
