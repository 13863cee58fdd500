//! Errors of the text crate.

use std::path::PathBuf;

/// Why a vocabulary could not be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON vocabulary that does not parse (serde names line and column).
    #[error("{path}: not a dualenc vocabulary JSON file: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A pickled vocabulary that does not unpickle.
    #[error("{path}: {source}")]
    Pickle {
        /// The file.
        path: PathBuf,
        /// The pickle error (with its byte offset).
        source: dualenc_pickle::PickleError,
    },
    /// A vocabulary whose content is inconsistent.
    #[error("{path}: {message}")]
    Format {
        /// The file (or `<memory>` for a vocabulary built in memory).
        path: PathBuf,
        /// What was expected and found.
        message: String,
    },
    /// A caption file that cannot be read.
    #[error(transparent)]
    Data(#[from] dualenc_data::DataError),
}
