//! Errors of the trainer: bad training data, files, the network, and interruption.

use std::path::PathBuf;

/// Everything that can stop training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The training or validation data cannot be used.
    #[error("invalid training data: {0}")]
    Data(String),
    /// An option is out of range or inconsistent.
    #[error("invalid training option: {0}")]
    Config(String),
    /// The network refused a configuration, batch or file.
    #[error(transparent)]
    Model(#[from] dualenc_model::ModelError),
    /// Reading a collection failed.
    #[error(transparent)]
    Dataset(#[from] dualenc_dataset::DatasetError),
    /// Encoding or testing a collection failed.
    #[error(transparent)]
    Infer(#[from] dualenc_infer::InferError),
    /// Computing the validation metrics failed.
    #[error("validation metrics: {0}")]
    Metrics(#[from] dualenc_eval::MetricsError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file of a run folder has invalid content.
    #[error("{path}: {message}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong and what was expected.
        message: String,
    },
    /// Training was asked to stop before the end of an epoch (the last complete epoch's
    /// checkpoint is on disk).
    #[error("training interrupted during epoch {epoch} after {batches} batches")]
    Interrupted {
        /// The epoch that was cut short (0-based).
        epoch: usize,
        /// Batches of that epoch already trained.
        batches: usize,
    },
    /// A training step gave a loss or gradient norm that is NaN or infinite; the run stops
    /// before the epoch is saved, so the last checkpoint holds the last sound epoch.
    #[error(
        "epoch {epoch}, batch {batch}: the {what} is {value} (captions {captions}); training \
         stopped, the run folder keeps the last complete epoch"
    )]
    NonFinite {
        /// The epoch (1-based).
        epoch: usize,
        /// The batch within the epoch (1-based).
        batch: usize,
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The value.
        value: f32,
        /// The first caption ids of the batch.
        captions: String,
    },
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
