//! The error of every fallible operation of this crate.

use std::fmt;

use nn_tensor::TensorError;

/// What went wrong loading, running or writing an ONNX model. Every message
/// names what it is about: the file, or the node, its operator and the
/// opset it binds to.
#[derive(Debug)]
pub enum OnnxError {
    /// The file could not be read or written.
    Io {
        /// The path.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The bytes are not a valid protobuf message of the ONNX schema.
    Decode(String),
    /// A well-formed file that describes something impossible: a value
    /// used before it is produced, a cycle, a tensor whose data does not
    /// fill its shape, a missing required input or attribute.
    Invalid(String),
    /// An operator, an attribute value or a data type this crate does not
    /// implement. Never a silently wrong answer: the model is refused.
    Unsupported {
        /// The node's name (or its first output when unnamed).
        node: String,
        /// The operator.
        op: String,
        /// The opset version of the operator's domain in the model.
        opset: i64,
        /// What exactly is not supported (the operator itself, or an
        /// attribute and its value).
        what: String,
    },
    /// A node failed while running (wrong shapes, out-of-range indices).
    Node {
        /// The node's name.
        node: String,
        /// The operator.
        op: String,
        /// Why.
        message: String,
    },
    /// The inputs given to [`Model::run`](crate::Model::run) do not match the
    /// graph's inputs.
    Input(String),
}

/// Result of this crate's fallible operations.
pub type Result<T> = std::result::Result<T, OnnxError>;

impl OnnxError {
    /// True for [`OnnxError::Unsupported`]: the model uses something this
    /// crate does not implement (as opposed to a broken file or a bug).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, OnnxError::Unsupported { .. })
    }
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxError::Io { path, source } => write!(f, "onnx: {path}: {source}"),
            OnnxError::Decode(m) => write!(f, "onnx: not a valid ONNX protobuf: {m}"),
            OnnxError::Invalid(m) => write!(f, "onnx: invalid model: {m}"),
            OnnxError::Unsupported {
                node,
                op,
                opset,
                what,
            } => write!(
                f,
                "onnx: node {node:?}: op {op} (opset {opset}): {what} is not supported"
            ),
            OnnxError::Node { node, op, message } => {
                write!(f, "onnx: node {node:?} ({op}): {message}")
            }
            OnnxError::Input(m) => write!(f, "onnx: inputs: {m}"),
        }
    }
}

impl std::error::Error for OnnxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OnnxError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<prost::DecodeError> for OnnxError {
    fn from(e: prost::DecodeError) -> Self {
        OnnxError::Decode(e.to_string())
    }
}

/// A tensor error inside an op, before the node is known: the dispatcher
/// ([`crate::ops`]) turns it into [`OnnxError::Node`] with the node's name.
#[derive(Debug)]
pub(crate) enum OpError {
    /// Bad shapes or values.
    Failed(String),
    /// An attribute value or input kind the op does not implement.
    Unsupported(String),
    /// A fully formed error (e.g. from decoding a tensor attribute).
    Onnx(OnnxError),
}

impl From<TensorError> for OpError {
    fn from(e: TensorError) -> Self {
        OpError::Failed(e.to_string())
    }
}

impl From<OnnxError> for OpError {
    fn from(e: OnnxError) -> Self {
        OpError::Onnx(e)
    }
}

/// Result of an op's implementation.
pub(crate) type OpResult<T> = std::result::Result<T, OpError>;

/// Shorthand for a failed op: `fail(format!(..))`.
pub(crate) fn fail<T>(message: impl Into<String>) -> OpResult<T> {
    Err(OpError::Failed(message.into()))
}

/// Shorthand for an unsupported attribute value or input kind.
pub(crate) fn unsupported<T>(what: impl Into<String>) -> OpResult<T> {
    Err(OpError::Unsupported(what.into()))
}
