//! Errors of the search crate: each names the index, model or collection concerned. The
//! wrapped error is part of the message (not a `source`), so that a report that prints the
//! chain does not repeat it.

use std::path::PathBuf;

/// Everything that can go wrong while indexing, opening an engine or timing searches.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The index could not be read or written.
    #[error("{context}: {error}")]
    Index {
        /// What was being done (names the index folder).
        context: String,
        /// The index error.
        error: Box<dualenc_index::IndexError>,
    },
    /// The model could not be loaded or could not encode.
    #[error("{context}: {error}")]
    Infer {
        /// What was being done (names the model or the collection).
        context: String,
        /// The inference error.
        error: Box<dualenc_infer::InferError>,
    },
    /// The collection could not be read.
    #[error("{context}: {error}")]
    Dataset {
        /// What was being done (names the collection).
        context: String,
        /// The dataset error.
        error: Box<dualenc_dataset::DatasetError>,
    },
    /// A query cannot be searched (no word, or no known word).
    #[error("{context}: {error}")]
    Query {
        /// The query concerned.
        context: String,
        /// Why it cannot be searched.
        error: Box<dualenc_server::SearchError>,
    },
    /// The inputs do not fit together (sizes, an empty index, a missing graph, a duplicate).
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read.
    #[error("{context}: {error}")]
    Io {
        /// What was being read (names the file).
        context: String,
        /// The OS error.
        error: Box<std::io::Error>,
    },
    /// A path cannot be recorded (not valid UTF-8).
    #[error("{0}: the path is not valid UTF-8")]
    Path(PathBuf),
}

/// Adds context to an error of another crate.
pub(crate) trait Context<T> {
    /// Wraps the error with `context()`.
    fn context_with(self, context: impl FnOnce() -> String) -> Result<T>;
}

macro_rules! context_for {
    ($source:ty, $variant:ident) => {
        impl<T> Context<T> for std::result::Result<T, $source> {
            fn context_with(self, context: impl FnOnce() -> String) -> Result<T> {
                self.map_err(|error| Error::$variant {
                    context: context(),
                    error: Box::new(error),
                })
            }
        }
    };
}

context_for!(dualenc_index::IndexError, Index);
context_for!(dualenc_infer::InferError, Infer);
context_for!(dualenc_dataset::DatasetError, Dataset);
context_for!(dualenc_server::SearchError, Query);
context_for!(std::io::Error, Io);

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
