//! Errors of the inference crate: every message names the file, caption, video or key
//! concerned and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong while importing, loading, encoding, testing or predicting.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A data file of the collection could not be read or parsed.
    #[error(transparent)]
    Data(#[from] dualenc_data::DataError),
    /// A collection could not be read as the network sees it.
    #[error(transparent)]
    Dataset(#[from] dualenc_dataset::DatasetError),
    /// The network rejected its configuration, weights or a batch.
    #[error(transparent)]
    Model(#[from] dualenc_model::ModelError),
    /// A torch checkpoint could not be read.
    #[error(transparent)]
    Torch(#[from] dualenc_pickle::TorchError),
    /// The checkpoint reads but is not what a Dual Encoding checkpoint holds.
    #[error("{path}: not a Dual Encoding checkpoint: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was expected and found.
        message: String,
    },
    /// The inputs do not fit together (sizes, counts, options).
    #[error("{0}")]
    Invalid(String),
    /// Evaluation failed (metrics, AVS files, infAP).
    #[error("{0}")]
    Eval(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The requested device is not available in this build.
    #[error("{0}")]
    Device(String),
}

impl InferError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InferError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = InferError> = std::result::Result<T, E>;
