//! Errors of the model crate: configuration, named-tensor import, batches and model folders.

use std::path::PathBuf;

/// Everything that can go wrong while building, loading, feeding or saving the network.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// A tensor the network needs is not in the named-tensor list.
    #[error("missing tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        /// Parameter name in the original PyTorch layout, e.g. `video.rnn.weight_ih_l0`.
        name: String,
        /// Shape the configuration requires.
        expected: Vec<usize>,
    },
    /// The named-tensor list holds a tensor the network does not have.
    #[error(
        "unexpected tensor `{name}` (shape {shape:?}): no such parameter in this configuration"
    )]
    UnexpectedTensor {
        /// Name of the surplus tensor.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor has the wrong shape or its data length does not match its shape.
    #[error("tensor `{name}`: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// Parameter name.
        name: String,
        /// Shape the configuration requires.
        expected: Vec<usize>,
        /// Shape (or `[data length]` when the data does not fill the shape) that was given.
        found: Vec<usize>,
    },
    /// The same tensor name appears twice.
    #[error("tensor `{0}` is listed twice")]
    DuplicateTensor(String),
    /// Input data for a batch is malformed (empty batch, ragged frames, bad ids...).
    #[error("invalid batch: {0}")]
    Batch(String),
    /// Collating a batch failed.
    #[error(transparent)]
    Dataset(#[from] dualenc_dataset::DatasetError),
    /// Reading a tensor back from the backend failed.
    #[error("backend data error: {0}")]
    Backend(String),
    /// A file of a model folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file of a model folder has invalid content.
    #[error("{path}: {message}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong and what was expected.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
