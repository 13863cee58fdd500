//! Errors of the index crate: each names the file, the id or the value concerned and what was
//! expected, so that a user can act on it without reading the code.

use std::path::PathBuf;

/// Everything that can go wrong while writing, opening or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file of the index could not be read, written, renamed or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `manifest.json` is not valid JSON of the expected shape.
    #[error("{path}: invalid manifest: {source}")]
    ManifestParse {
        /// The manifest file.
        path: PathBuf,
        /// What serde_json found wrong (with line and column).
        source: serde_json::Error,
    },
    /// The manifest was written by an incompatible version of the format.
    #[error("{path}: index format version {found}, but this program reads version {expected}; rebuild the index")]
    VersionMismatch {
        /// The manifest file.
        path: PathBuf,
        /// The version found in the manifest.
        found: u32,
        /// The version this crate reads and writes.
        expected: u32,
    },
    /// The manifest contradicts itself (for example the collections' counts do not add up).
    #[error("{path}: inconsistent manifest: {detail}")]
    ManifestInconsistent {
        /// The manifest file.
        path: PathBuf,
        /// What does not agree.
        detail: String,
    },
    /// A data file is shorter than the manifest says, or not a whole number of rows.
    #[error("{path}: expected {expected} for {count} rows (manifest.json), found {found}")]
    SizeMismatch {
        /// The data file.
        path: PathBuf,
        /// Rows the manifest announces.
        count: usize,
        /// What was expected (bytes or lines, in words).
        expected: String,
        /// What was found.
        found: String,
    },
    /// A data file became shorter while the index was open: it was modified in place, which
    /// the writers never do (they replace files by rename).
    #[error("{path}: the file shrank to {found} bytes while the index was open (it needs {expected}); index files must only be replaced by rename, never modified in place: reopen the index")]
    FileShrank {
        /// The data file.
        path: PathBuf,
        /// Bytes the open index uses.
        expected: u64,
        /// Bytes the file holds now.
        found: u64,
    },
    /// A vector does not have the index's dimension.
    #[error("{what}: expected {expected} values (the index dimension), got {found}")]
    DimMismatch {
        /// Which vector (a query, or the row of a given id).
        what: String,
        /// The index dimension.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// An embedding holds NaN or an infinity.
    #[error("embedding of id {id:?}: value {position} is {value}, expected a finite number")]
    NonFinite {
        /// The id whose row is wrong.
        id: String,
        /// The 0-based position of the value in the row.
        position: usize,
        /// The value found.
        value: f32,
    },
    /// A query holds NaN or an infinity.
    #[error("{what}: value {position} is {value}, expected a finite number")]
    NonFiniteQuery {
        /// Which query (`query`, or its place in a batch).
        what: String,
        /// The 0-based position of the value in the query.
        position: usize,
        /// The value found.
        value: f32,
    },
    /// A row of a matrix gave a non-finite score for a finite query (see
    /// [`NonFiniteRow`](IndexError::NonFiniteRow) for rows of an index).
    #[error("row {row} scores {score} for a finite query: it holds NaN or an infinity, or values so large that the dot product overflows")]
    NonFiniteScore {
        /// The 0-based row.
        row: usize,
        /// The score (or value) found.
        score: f32,
    },
    /// A row of an index's embeddings is not usable: it holds NaN or an infinity, or values
    /// so large that its dot product overflows.
    #[error("{path}: row {row} (id {id:?}) gives the non-finite value {value}: its embedding holds NaN or an infinity, or values so large that a dot product overflows; the index is corrupt, rebuild it")]
    NonFiniteRow {
        /// The embeddings file.
        path: PathBuf,
        /// The 0-based row.
        row: usize,
        /// The id of that row.
        id: String,
        /// The score or value found.
        value: f32,
    },
    /// An id is already in the index (or earlier in the same commit).
    #[error("duplicate video id {id:?}: already in collection {collection:?} of the index (ids must stay unique)")]
    DuplicateId {
        /// The id added twice.
        id: String,
        /// The collection that already holds it.
        collection: String,
    },
    /// `ids.txt` lists an id twice.
    #[error("{path}: line {line}: id {id:?} appears a second time (ids must be unique)")]
    DuplicateIdInFile {
        /// The ids file.
        path: PathBuf,
        /// 1-based line of the second occurrence.
        line: usize,
        /// The repeated id.
        id: String,
    },
    /// An id cannot be stored in `ids.txt` (one id per line).
    #[error("invalid video id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A line of `ids.txt` is not a valid id (empty, or holding whitespace).
    #[error("{path}: line {line}: invalid video id {id:?}: {reason}")]
    InvalidIdInFile {
        /// The ids file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The line's text.
        id: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The caller used the writer in the wrong order or with wrong arguments.
    #[error("{0}")]
    Usage(String),
    /// An appended collection was encoded by another model than the index's.
    #[error("{path}: the index holds embeddings of model {index_model:?}, not {given:?}; embeddings of different models cannot be compared")]
    ModelMismatch {
        /// The manifest file.
        path: PathBuf,
        /// The model recorded in the index.
        index_model: String,
        /// The model given by the caller.
        given: String,
    },
    /// Approximate search was asked for but the index has no ANN graph.
    #[error(
        "{path}: no approximate (ANN) graph in this index; build one first or use exact search"
    )]
    NoAnn {
        /// The index folder.
        path: PathBuf,
    },
    /// The graph file does not match the manifest (length, hash or shape): it is not
    /// handed to usearch.
    #[error("{path}: HNSW graph file not trusted, not loaded: {reason}")]
    AnnRejected {
        /// The graph file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// usearch reported an error.
    #[error("{path}: usearch: {message}")]
    Ann {
        /// The ANN file concerned.
        path: PathBuf,
        /// The library's message.
        message: String,
    },
}

impl IndexError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| IndexError::Io { path, source }
    }
}
