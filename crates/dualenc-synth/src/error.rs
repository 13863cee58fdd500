//! The one error type of the synthetic-collection generator.
//!
//! Each variant says which option or file is concerned and what was expected, so that a
//! user who mistypes a flag gets a message naming the flag and the accepted form.

use std::path::PathBuf;

/// Why a synthetic collection could not be configured, generated or written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A textual option (e.g. `--videos 600,100`) does not have the expected form.
    #[error("{option}: cannot parse {value:?}: expected {expected}")]
    Parse {
        /// The option, e.g. "--videos".
        option: &'static str,
        /// The text as given.
        value: String,
        /// The accepted form, e.g. "three non-negative integers TRAIN,VAL,TEST".
        expected: &'static str,
    },

    /// A configuration value is out of range.
    #[error("invalid {option}: {message}")]
    InvalidConfig {
        /// The option concerned, e.g. "--frames".
        option: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },

    /// The test split offers fewer distinct concept combinations than AVS topics requested.
    #[error(
        "--avs {requested}: the test collection only shows {available} distinct \
         subject+action / subject+scene combinations; ask for fewer topics or more test videos"
    )]
    TooFewTopics {
        /// Topics asked for.
        requested: usize,
        /// Distinct combinations available.
        available: usize,
    },

    /// A collection folder already exists and overwriting was not asked for.
    #[error("{path}: collection folder already exists (pass --overwrite to replace it)")]
    Exists {
        /// The existing collection folder.
        path: PathBuf,
    },

    /// A labels file could not be parsed.
    #[error("{path}: {message}")]
    BadLabels {
        /// The labels file.
        path: PathBuf,
        /// What was expected and found (with serde_json's line and column).
        message: String,
    },

    /// A file or folder could not be read, written or removed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The data layer refused to write a file (it names the file).
    #[error(transparent)]
    Data(#[from] dualenc_data::error::DataError),
}

impl SynthError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SynthError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`SynthError`].
pub type Result<T> = std::result::Result<T, SynthError>;
